//! What the user types in the Hub box, as the folder URL files are fetched from.

/// Turns what the user typed into the folder URL to fetch from: a repo id
/// (`owner/name`, optionally `@revision`) becomes `https://huggingface.co/owner/name/resolve/revision/`;
/// a URL (or a path on this site) is used as the folder itself.
pub fn hub_base_url(input: &str) -> Result<String, String> {
    let input = input.trim();
    if input.is_empty() {
        return Err("type a Hugging Face repository id such as sentence-transformers/all-MiniLM-L6-v2".into());
    }
    // A repository's page (https://huggingface.co/owner/name, maybe /tree/revision) means the repo.
    if let Some(path) = input.strip_prefix("https://huggingface.co/")
        && !path.contains("/resolve/")
    {
        let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        match parts[..] {
            [owner, name] => return hub_base_url(&format!("{owner}/{name}")),
            [owner, name, "tree", revision] => return hub_base_url(&format!("{owner}/{name}@{revision}")),
            _ => {}
        }
    }
    if input.starts_with("https://") || input.starts_with("http://") || input.starts_with('/') || input.starts_with("./") {
        let input = input.trim_end_matches('/');
        let input = input.strip_suffix("/tree/main").unwrap_or(input);
        return Ok(format!("{input}/"));
    }
    let (repo, revision) = input.split_once('@').unwrap_or((input, "main"));
    let valid = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    match repo.split('/').collect::<Vec<_>>()[..] {
        [owner, name] if valid(owner) && valid(name) && valid(revision) => {
            Ok(format!("https://huggingface.co/{owner}/{name}/resolve/{revision}/"))
        }
        _ => Err(format!("\"{input}\" is not a repository id: write it as owner/name, e.g. sentence-transformers/all-MiniLM-L6-v2")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids_pages_and_folders_become_resolve_urls() {
        let base = "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main/";
        assert_eq!(hub_base_url(" sentence-transformers/all-MiniLM-L6-v2 ").unwrap(), base);
        assert_eq!(hub_base_url("https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2").unwrap(), base);
        assert_eq!(hub_base_url("https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/").unwrap(), base);
        assert_eq!(hub_base_url("https://huggingface.co/prajjwal1/bert-tiny/tree/v1.0").unwrap(), "https://huggingface.co/prajjwal1/bert-tiny/resolve/v1.0/");
        assert_eq!(hub_base_url("owner/name@dev").unwrap(), "https://huggingface.co/owner/name/resolve/dev/");
        assert_eq!(hub_base_url("./models/mine").unwrap(), "./models/mine/");
        assert_eq!(hub_base_url("https://example.org/m/tree/main").unwrap(), "https://example.org/m/");
        assert_eq!(
            hub_base_url("not a repo").unwrap_err(),
            "\"not a repo\" is not a repository id: write it as owner/name, e.g. sentence-transformers/all-MiniLM-L6-v2"
        );
        assert!(hub_base_url("  ").unwrap_err().starts_with("type a Hugging Face repository id"));
        assert!(hub_base_url("a/b/c").is_err());
    }
}
