//! Browser file access: model files fetched over HTTP (the bundled model, a Hub repo).

use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::Response;

use crate::checkpoint::{KNOWN_FILES, ModelFiles};

/// Fetches `url` and returns its body, or a message naming the URL and the HTTP status.
/// `Ok(None)` for a 404, so optional files can be absent.
pub async fn fetch_bytes(url: &str) -> Result<Option<Vec<u8>>, String> {
    let window = web_sys::window().ok_or("no window: fetch needs a browser page")?;
    let response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| format!("fetching {url} failed: {e:?}"))?;
    let response: Response = response
        .dyn_into()
        .map_err(|_| format!("fetching {url} gave no response"))?;
    if response.status() == 404 {
        return Ok(None);
    }
    if !response.ok() {
        return Err(format!("fetching {url} failed: HTTP {}", response.status()));
    }
    let buffer = JsFuture::from(
        response
            .array_buffer()
            .map_err(|e| format!("reading {url} failed: {e:?}"))?,
    )
    .await
    .map_err(|e| format!("reading {url} failed: {e:?}"))?;
    Ok(Some(Uint8Array::new(&buffer).to_vec()))
}

/// Fetches the files webtune knows from the folder at `base_url` (ending in `/`);
/// absent optional files are skipped, and the loader names any required one missing.
/// `on_file` is told each file name as it arrives.
pub async fn fetch_model_files(
    base_url: &str,
    mut on_file: impl FnMut(&str, usize),
) -> Result<ModelFiles, String> {
    let mut files = ModelFiles::new(base_url);
    for name in KNOWN_FILES {
        if let Some(bytes) = fetch_bytes(&format!("{base_url}{name}")).await? {
            on_file(name, bytes.len());
            files.insert(*name, bytes);
        }
    }
    Ok(files)
}

/// Yields to the browser's event loop (a zero-delay timeout), so the page can paint and
/// handle input before long work. Unlike an animation frame it also fires in hidden tabs.
pub async fn yield_to_browser() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
        }
    });
    let _ = JsFuture::from(promise).await;
}
