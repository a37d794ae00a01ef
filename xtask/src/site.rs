//! The built site: its Content-Security-Policy, a static server for `serve`, and the
//! release build for `dist` (wasm-opt from binaryen 132, installed from npm).

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::{Result, run};

/// Where network requests may go: this site and the Hugging Face Hub (model downloads
/// redirect to its CDN hosts). User data has nowhere else to go.
const CONNECT_SRC: &str = "'self' https://huggingface.co https://*.huggingface.co https://*.hf.co";

/// The policy for `index.html`, allowing its inline module scripts (Trunk's loader) by
/// hash. `'wasm-unsafe-eval'` lets the page compile its own WebAssembly.
pub fn policy(inline_script_hashes: &[String]) -> String {
    let hashes: String = inline_script_hashes.iter().map(|h| format!(" '{h}'")).collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: blob:; connect-src {CONNECT_SRC}; worker-src 'self' blob:; object-src 'none'; \
         base-uri 'self'; form-action 'none'"
    )
}

/// The bodies of `<script …>…</script>` elements without `src` in `html`.
fn inline_scripts(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(open_end) = after.find('>') else { break };
        let tag = &after[..open_end];
        let body_start = open_end + 1;
        let Some(close) = after[body_start..].find("</script>") else { break };
        if !tag.contains(" src=") {
            out.push(&after[body_start..body_start + close]);
        }
        rest = &after[body_start + close..];
    }
    out
}

/// Writes the Content-Security-Policy into `dist/index.html` as the first `<meta>` of its
/// head, with the hashes of the inline scripts Trunk generated. Idempotent.
pub fn apply_csp(dist: &Path) -> Result {
    let path = dist.join("index.html");
    let html = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let html = match (html.find("<meta http-equiv=\"Content-Security-Policy\""), html.find("<!-- csp -->")) {
        (Some(start), _) => {
            let end = start + html[start..].find('>').ok_or("unterminated CSP meta")? + 1;
            format!("{}<!-- csp -->{}", &html[..start], &html[end..])
        }
        (None, Some(_)) => html,
        (None, None) => html.replacen("<head>", "<head>\n    <!-- csp -->", 1),
    };
    let hashes: Vec<String> = inline_scripts(&html)
        .iter()
        .map(|body| format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body.as_bytes()))))
        .collect();
    let meta = format!("<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">", policy(&hashes));
    let html = html.replacen("<!-- csp -->", &meta, 1);
    std::fs::write(&path, html).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("xtask: {} sets a Content-Security-Policy (connect-src {CONNECT_SRC})", path.display());
    Ok(())
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css",
        Some("json") => "application/json",
        Some("jsonl") | Some("txt") | Some("md") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Serves `dist` on 127.0.0.1:`port` until interrupted, like any static host would.
pub fn serve_static(dist: &Path, port: u16) -> Result {
    let server = tiny_http::Server::http(("127.0.0.1", port)).map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    eprintln!("xtask: serving {} on http://127.0.0.1:{port}/ (Ctrl-C stops)", dist.display());
    for request in server.incoming_requests() {
        let rel = request.url().split('?').next().unwrap_or("/").trim_start_matches('/').to_string();
        let rel = if rel.is_empty() || rel.ends_with('/') { format!("{rel}index.html") } else { rel };
        let path: PathBuf = dist.join(&rel);
        let response = match (rel.split('/').any(|part| part == ".."), std::fs::read(&path)) {
            (false, Ok(bytes)) => tiny_http::Response::from_data(bytes)
                .with_header(tiny_http::Header::from_bytes("Content-Type", content_type(&path)).map_err(|_| "bad header")?),
            _ => tiny_http::Response::from_data(b"not found".to_vec()).with_status_code(404),
        };
        let _ = request.respond(response);
    }
    Ok(())
}

/// binaryen's wasm-opt at the version Trunk.toml names, from npm's `binaryen` package
/// (a Node build of the same release); returns the folder to put first on PATH.
pub fn wasm_opt(cache: &Path) -> Result<PathBuf> {
    const VERSION: &str = "132.0.0";
    let prefix = cache.join(format!("binaryen-{VERSION}"));
    let bin = prefix.join("node_modules/.bin");
    let works = Command::new(bin.join("wasm-opt"))
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("version 132"));
    if !works {
        if Command::new("npm").arg("--version").output().is_err() {
            crate::tools::apt_install(&["nodejs", "npm"])?;
        }
        std::fs::create_dir_all(&prefix).map_err(|e| e.to_string())?;
        run(Command::new("npm").args(["install", "--no-save", "--no-audit", "--no-fund", "--prefix"]).arg(&prefix).arg(format!("binaryen@{VERSION}")))?;
    }
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_inline_scripts_only() {
        let html = "<head><script src=\"a.js\"></script></head><body><script type=\"module\">\nimport init from './x.js';\n</script></body>";
        assert_eq!(inline_scripts(html), vec!["\nimport init from './x.js';\n"]);
    }
}
