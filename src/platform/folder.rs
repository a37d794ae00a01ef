//! A model folder on disk read into [`ModelFiles`].

use std::path::{Path, PathBuf};

use crate::checkpoint::{KNOWN_FILES, ModelFiles};

/// A model folder that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    /// The path is not a directory.
    #[error("{0} is not a model folder (it does not exist or is not a directory)")]
    NotAFolder(PathBuf),
    /// A file cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
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

/// Opens a data file to stream it through the reader.
pub fn open_data_file(path: &Path) -> Result<std::fs::File, FolderError> {
    std::fs::File::open(path).map_err(|source| FolderError::Read { path: path.to_path_buf(), source })
}


/// Writes `files` into `dir` (created if needed), overwriting files of the same name.
pub fn write_model_folder(files: &ModelFiles, dir: &Path) -> Result<(), FolderError> {
    let write = |path: PathBuf, bytes: &[u8]| {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| FolderError::Write { path: parent.to_path_buf(), source })?;
        }
        std::fs::write(&path, bytes).map_err(|source| FolderError::Write { path, source })
    };
    for name in files.names() {
        write(dir.join(name), files.get(name).unwrap_or_default())?;
    }
    Ok(())
}

/// The `checkpoint-N` folders in `dir`, with their step N (none when `dir` does not exist).
/// Unfinished writes (`checkpoint-N.partial`) are not among them.
pub fn checkpoint_folders(dir: &Path) -> Result<Vec<(usize, PathBuf)>, FolderError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(FolderError::Read { path: dir.to_path_buf(), source }),
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(step) = name.strip_prefix("checkpoint-").and_then(|n| n.parse::<usize>().ok())
            && entry.path().is_dir()
        {
            found.push((step, entry.path()));
        }
    }
    Ok(found)
}

/// Writes a run checkpoint's `files` to `dir/checkpoint-{step}` atomically: into
/// `checkpoint-{step}.partial` first, renamed when every file is written, so a crash
/// mid-write leaves the earlier checkpoints as they were and no half checkpoint under a
/// checkpoint's name.
pub fn write_checkpoint_folder(files: &ModelFiles, dir: &Path, step: usize) -> Result<PathBuf, FolderError> {
    let target = dir.join(format!("checkpoint-{step}"));
    let partial = dir.join(format!("checkpoint-{step}.partial"));
    let clear = |path: &Path| match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(FolderError::Write { path: path.to_path_buf(), source: e }),
        _ => Ok(()),
    };
    clear(&partial)?;
    write_model_folder(files, &partial)?;
    clear(&target)?;
    std::fs::rename(&partial, &target).map_err(|source| FolderError::Write { path: target.clone(), source })?;
    Ok(target)
}

/// Reads the files `names` (paths inside `dir`) that exist; an absent one is left out for
/// the caller to name, and a name that would leave the folder is not read.
pub fn read_named_files(dir: &Path, names: &[String]) -> Result<ModelFiles, FolderError> {
    if !dir.is_dir() {
        return Err(FolderError::NotAFolder(dir.to_path_buf()));
    }
    let mut files = ModelFiles::new(dir.display().to_string());
    for name in names {
        if name.split('/').any(|part| part.is_empty() || part == "..") {
            continue;
        }
        let path = dir.join(name);
        if path.is_file() {
            let bytes = std::fs::read(&path).map_err(|source| FolderError::Read { path, source })?;
            files.insert(name.clone(), bytes);
        }
    }
    Ok(files)
}
