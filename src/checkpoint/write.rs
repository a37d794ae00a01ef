//! Files written from bytes: a fine-tuned classifier's `config.json` and the zip the
//! browser downloads. Nothing here knows models or training.

use super::ModelFiles;

/// `config.json` of the source with the classification head's architecture (the family's
/// `…ForSequenceClassification`) and labels.
pub fn classifier_config(source_config: &[u8], labels: &[String]) -> Result<Vec<u8>, String> {
    let encode_err = |e: serde_json::Error| e.to_string();
    let family = super::ModelConfig::from_json(source_config)
        .map_err(|e| e.to_string())?
        .family();
    let mut config: serde_json::Value = serde_json::from_slice(source_config).map_err(encode_err)?;
    let object = config.as_object_mut().ok_or("the source config.json is not a JSON object")?;
    object.insert("architectures".into(), serde_json::json!([family.classifier_class()]));
    object.insert(
        "id2label".into(),
        labels.iter().enumerate().map(|(i, l)| (i.to_string(), serde_json::json!(l))).collect::<serde_json::Map<_, _>>().into(),
    );
    object.insert(
        "label2id".into(),
        labels.iter().enumerate().map(|(i, l)| (l.clone(), serde_json::json!(i))).collect::<serde_json::Map<_, _>>().into(),
    );
    object.insert("problem_type".into(), serde_json::json!("single_label_classification"));
    object.remove("num_labels");
    serde_json::to_vec_pretty(&config).map_err(encode_err)
}

/// `files` as a .zip holding one folder named `folder` (what the browser downloads).
/// Weights are stored uncompressed (float weights barely compress and would cost seconds);
/// JSON and text are deflated.
pub fn zip_files(files: &ModelFiles, folder: &str) -> Result<Vec<u8>, String> {
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    let fail = |e: &dyn std::fmt::Display| format!("writing {folder}.zip failed: {e}");
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::with_capacity(files.total_bytes() + 4096)));
    for name in files.names() {
        let bytes = files.get(name).unwrap_or_default();
        let method = if name.ends_with(".safetensors") { zip::CompressionMethod::Stored } else { zip::CompressionMethod::Deflated };
        let options = SimpleFileOptions::default().compression_method(method).large_file(bytes.len() >= u32::MAX as usize);
        writer.start_file(format!("{folder}/{name}"), options).map_err(|e| fail(&e))?;
        writer.write_all(bytes).map_err(|e| fail(&e))?;
    }
    Ok(writer.finish().map_err(|e| fail(&e))?.into_inner())
}

/// The files of a .zip (as [`zip_files`] writes it, or any zip of one folder): every file,
/// named by its path with the one top folder all share removed. `source` names it in
/// messages.
pub fn unzip_files(bytes: &[u8], source: &str) -> Result<ModelFiles, String> {
    let fail = |e: &dyn std::fmt::Display| format!("{source} cannot be read as a .zip: {e}");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| fail(&e))?;
    let mut entries = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(|e| fail(&e))?;
        if file.is_dir() {
            continue;
        }
        let name = file.name().map_err(|e| fail(&e))?.to_string();
        let mut content = Vec::with_capacity(file.size() as usize);
        std::io::Read::read_to_end(&mut file, &mut content).map_err(|e| fail(&e))?;
        entries.push((name, content));
    }
    let top = entries.first().and_then(|(n, _)| n.split_once('/')).map(|(folder, _)| format!("{folder}/"));
    let strip = top.filter(|top| entries.iter().all(|(n, _)| n.starts_with(top.as_str())));
    let mut files = ModelFiles::new(source);
    for (name, content) in entries {
        let name = match &strip {
            Some(top) => name[top.len()..].to_string(),
            None => name,
        };
        files.insert(name, content);
    }
    Ok(files)
}

#[cfg(test)]
mod zip_tests {
    use super::*;

    #[test]
    fn unzipping_gives_the_files_back_without_their_folder() {
        let files = ModelFiles::new("x").with("config.json", b"{}".to_vec()).with("1_Pooling/config.json", b"[1]".to_vec());
        let back = unzip_files(&zip_files(&files, "checkpoint-12").unwrap(), "checkpoint-12.zip").unwrap();
        assert_eq!(back.names().collect::<Vec<_>>(), ["1_Pooling/config.json", "config.json"]);
        assert_eq!(back.get("1_Pooling/config.json"), Some(&b"[1]"[..]));
        assert_eq!(back.source(), "checkpoint-12.zip");
        assert!(unzip_files(b"not a zip", "x.zip").unwrap_err().starts_with("x.zip cannot be read as a .zip: "));
    }

    #[test]
    fn zip_holds_every_file_in_one_folder() {
        let files = ModelFiles::new("export").with("config.json", b"{\"a\": 1}".to_vec()).with("model.safetensors", vec![7u8; 1000]);
        let bytes = zip_files(&files, "my-model").unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut names: Vec<String> = archive.file_names().map(|n| n.unwrap().into_owned()).collect();
        names.sort();
        assert_eq!(names, vec!["my-model/config.json", "my-model/model.safetensors"]);
        let mut config = String::new();
        std::io::Read::read_to_string(&mut archive.by_name("my-model/config.json").unwrap(), &mut config).unwrap();
        assert_eq!(config, "{\"a\": 1}");
        assert_eq!(archive.by_name("my-model/model.safetensors").unwrap().compression(), zip::CompressionMethod::Stored);
    }
}
