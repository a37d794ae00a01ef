//! A model folder on disk read into [`ModelFiles`].

use std::path::{Path, PathBuf};

use crate::checkpoint::{KNOWN_FILES, ModelFiles};

/// A model folder that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    /// The path is not a directory.
    #[error("{0} is not a model folder (it does not exist or is not a directory)")]
    NotAFolder(PathBuf),
    /// A file exists but cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Reads the files webtune knows (config, weights, tokenizer, sentence-transformers files)
/// from `dir`; absent optional files are simply not there, and missing required ones are
/// reported by the loader with the folder's name.
pub fn read_model_folder(dir: &Path) -> Result<ModelFiles, FolderError> {
    if !dir.is_dir() {
        return Err(FolderError::NotAFolder(dir.to_path_buf()));
    }
    let mut files = ModelFiles::new(dir.display().to_string());
    for name in KNOWN_FILES {
        let path = dir.join(name);
        if path.is_file() {
            let bytes = std::fs::read(&path).map_err(|source| FolderError::Read { path, source })?;
            files.insert(*name, bytes);
        }
    }
    Ok(files)
}
