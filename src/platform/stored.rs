//! The browser's Origin Private File System as folders of files: where the studio keeps its
//! runs' checkpoints. It works in a page and in a worker alike (the storage manager is
//! taken from the global scope). Each file is written through a writable stream, which the
//! browser commits as a whole when it is closed: a crash mid-write leaves the file as it
//! was before.

use js_sys::{Promise, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{FileSystemDirectoryHandle, FileSystemFileHandle, FileSystemGetDirectoryOptions, FileSystemGetFileOptions, FileSystemRemoveOptions, FileSystemWritableFileStream, StorageManager};

/// A folder of the private file system.
#[derive(Clone, Debug)]
pub struct StoredFolder {
    handle: FileSystemDirectoryHandle,
    path: String,
}

/// How much the site stores and may store, as the browser estimates it.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StorageUse {
    /// Bytes stored (every kind of storage: the model cache, runs).
    pub usage: f64,
    /// Bytes the browser lets this site store.
    pub quota: f64,
    /// Whether the browser promised not to evict the site's data under pressure.
    pub persisted: bool,
}

/// A JavaScript error in words; a full quota says what to do.
fn words(e: &JsValue, what: &str) -> String {
    let name = js_sys::Reflect::get(e, &"name".into()).ok().and_then(|n| n.as_string()).unwrap_or_default();
    let message = js_sys::Reflect::get(e, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_else(|| format!("{e:?}"));
    if name == "QuotaExceededError" {
        return format!(
            "{what} failed: the browser's storage for this site is full ({message}); delete old runs or stored models in the runs list, or free disk space"
        );
    }
    format!("{what} failed: {name} {message}")
}

async fn wait(p: Promise, what: &str) -> Result<JsValue, String> {
    JsFuture::from(p).await.map_err(|e| words(&e, what))
}

/// The storage manager of this page or worker.
fn storage() -> Result<StorageManager, String> {
    let navigator = js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).map_err(|_| "no navigator".to_string())?;
    let storage = js_sys::Reflect::get(&navigator, &"storage".into()).map_err(|_| "no storage manager".to_string())?;
    storage.dyn_into().map_err(|_| "this browser has no storage manager (navigator.storage), so runs cannot be kept".to_string())
}

/// The root of the private file system, or why the browser has none.
pub async fn storage_root() -> Result<StoredFolder, String> {
    let handle = wait(storage()?.get_directory(), "opening the browser's private file system").await?;
    Ok(StoredFolder { handle: handle.dyn_into().map_err(|_| "the private file system gave no folder")?, path: String::new() })
}

/// The site's storage use and quota.
pub async fn storage_use() -> Result<StorageUse, String> {
    let storage = storage()?;
    let estimate = wait(storage.estimate().map_err(|e| words(&e, "estimating storage"))?, "estimating storage").await?;
    let number = |key: &str| js_sys::Reflect::get(&estimate, &key.into()).ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
    let persisted = match storage.persisted() {
        Ok(p) => wait(p, "asking for persistence").await.map(|v| v.is_truthy()).unwrap_or(false),
        Err(_) => false,
    };
    Ok(StorageUse { usage: number("usage"), quota: number("quota"), persisted })
}

/// Asks the browser to keep the site's storage under pressure; whether it agreed.
pub async fn request_persistence() -> Result<bool, String> {
    let p = storage()?.persist().map_err(|e| words(&e, "asking for persistent storage"))?;
    Ok(wait(p, "asking for persistent storage").await?.is_truthy())
}

impl StoredFolder {
    /// Where this folder is, for messages (`runs/3f2a…/ckpt-40`).
    pub fn path(&self) -> &str {
        &self.path
    }

    fn child_path(&self, name: &str) -> String {
        if self.path.is_empty() { name.to_string() } else { format!("{}/{name}", self.path) }
    }

    /// The subfolder `name` (a path with `/` descends), created when `create`; `None` when
    /// it does not exist.
    pub async fn folder(&self, name: &str, create: bool) -> Result<Option<StoredFolder>, String> {
        let mut folder = self.clone();
        for part in name.split('/').filter(|p| !p.is_empty()) {
            let options = FileSystemGetDirectoryOptions::new();
            options.set_create(create);
            match JsFuture::from(folder.handle.get_directory_handle_with_options(part, &options)).await {
                Ok(handle) => folder = StoredFolder { handle: handle.unchecked_into(), path: folder.child_path(part) },
                Err(e) if !create && is_not_found(&e) => return Ok(None),
                Err(e) => return Err(words(&e, &format!("opening {}", folder.child_path(part)))),
            }
        }
        Ok(Some(folder))
    }

    /// The folder holding file `name` and the file's own name.
    async fn parent_of<'a>(&self, name: &'a str, create: bool) -> Result<Option<(StoredFolder, &'a str)>, String> {
        match name.rsplit_once('/') {
            Some((dir, file)) => Ok(self.folder(dir, create).await?.map(|f| (f, file))),
            None => Ok(Some((self.clone(), name))),
        }
    }

    /// Writes file `name` (a path with `/` goes into subfolders), replacing it whole.
    pub async fn write(&self, name: &str, bytes: &[u8]) -> Result<(), String> {
        let what = format!("writing {}", self.child_path(name));
        let (folder, file) = self.parent_of(name, true).await?.ok_or_else(|| what.clone())?;
        let options = FileSystemGetFileOptions::new();
        options.set_create(true);
        let handle: FileSystemFileHandle = wait(folder.handle.get_file_handle_with_options(file, &options), &what).await?.unchecked_into();
        let stream: FileSystemWritableFileStream = wait(handle.create_writable(), &what).await?.unchecked_into();
        let written = match stream.write_with_u8_array(bytes) {
            Ok(p) => wait(p, &what).await.map(|_| ()),
            Err(e) => Err(words(&e, &what)),
        };
        if let Err(e) = written {
            // Nothing is committed: the earlier content stays.
            let _ = JsFuture::from(stream.abort()).await;
            return Err(e);
        }
        wait(stream.close(), &what).await.map(|_| ())
    }

    /// The bytes of file `name`, or `None` when it does not exist.
    pub async fn read(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        let what = format!("reading {}", self.child_path(name));
        let Some((folder, file)) = self.parent_of(name, false).await? else { return Ok(None) };
        let handle: FileSystemFileHandle = match JsFuture::from(folder.handle.get_file_handle(file)).await {
            Ok(h) => h.unchecked_into(),
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(words(&e, &what)),
        };
        let file: web_sys::File = wait(handle.get_file(), &what).await?.unchecked_into();
        let buffer = wait(file.array_buffer(), &what).await?;
        Ok(Some(Uint8Array::new(&buffer).to_vec()))
    }

    /// The names in this folder, each with whether it is a folder, sorted by name.
    pub async fn entries(&self) -> Result<Vec<(String, bool)>, String> {
        let what = format!("listing {}", if self.path.is_empty() { "the private file system" } else { &self.path });
        let iterator = self.handle.values();
        let mut out = Vec::new();
        loop {
            let next = wait(iterator.next().map_err(|e| words(&e, &what))?, &what).await?;
            if js_sys::Reflect::get(&next, &"done".into()).map(|d| d.is_truthy()).unwrap_or(true) {
                break;
            }
            let handle = js_sys::Reflect::get(&next, &"value".into()).map_err(|e| words(&e, &what))?;
            let name = js_sys::Reflect::get(&handle, &"name".into()).ok().and_then(|n| n.as_string()).unwrap_or_default();
            let kind = js_sys::Reflect::get(&handle, &"kind".into()).ok().and_then(|k| k.as_string()).unwrap_or_default();
            out.push((name, kind == "directory"));
        }
        out.sort();
        Ok(out)
    }

    /// Removes `name` (a file, or a folder with everything in it); nothing when absent.
    pub async fn remove(&self, name: &str) -> Result<(), String> {
        let options = FileSystemRemoveOptions::new();
        options.set_recursive(true);
        match JsFuture::from(self.handle.remove_entry_with_options(name, &options)).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(words(&e, &format!("removing {}", self.child_path(name)))),
        }
    }
}

fn is_not_found(e: &JsValue) -> bool {
    js_sys::Reflect::get(e, &"name".into()).ok().and_then(|n| n.as_string()).is_some_and(|n| n == "NotFoundError" || n == "TypeMismatchError")
}
