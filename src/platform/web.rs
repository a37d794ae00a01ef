//! Browser file access: model files fetched over HTTP (the bundled model, a Hub repo).

use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::Response;

use crate::checkpoint::{KNOWN_FILES, ModelFiles};

/// The global scope's `fetch(url)`, in a page or a worker.
fn global_fetch(url: &str) -> Result<js_sys::Promise, String> {
    let global = js_sys::global();
    if let Some(window) = global.dyn_ref::<web_sys::Window>() {
        return Ok(window.fetch_with_str(url));
    }
    match global.dyn_ref::<web_sys::WorkerGlobalScope>() {
        Some(worker) => Ok(worker.fetch_with_str(url)),
        None => Err("fetch needs a browser page or worker".into()),
    }
}

/// The global scope's Cache API, in a page or a worker.
fn global_caches() -> Result<web_sys::CacheStorage, String> {
    let global = js_sys::global();
    let caches = match (global.dyn_ref::<web_sys::Window>(), global.dyn_ref::<web_sys::WorkerGlobalScope>()) {
        (Some(window), _) => window.caches(),
        (None, Some(worker)) => worker.caches(),
        (None, None) => return Err("no Cache API here".into()),
    };
    caches.map_err(|e| format!("no Cache API: {e:?}"))
}

/// The global scope's `setTimeout(callback, ms)`, in a page or a worker.
fn set_timeout(callback: &js_sys::Function, ms: i32) {
    let global = js_sys::global();
    if let Some(window) = global.dyn_ref::<web_sys::Window>() {
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(callback, ms);
    } else if let Some(worker) = global.dyn_ref::<web_sys::WorkerGlobalScope>() {
        let _ = worker.set_timeout_with_callback_and_timeout_and_arguments_0(callback, ms);
    }
}

/// Fetches `url` and returns its body, or a message naming the URL and the HTTP status.
/// `Ok(None)` for a 404, so optional files can be absent.
pub async fn fetch_bytes(url: &str) -> Result<Option<Vec<u8>>, String> {
    let response = JsFuture::from(global_fetch(url)?)
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
    let promise = js_sys::Promise::new(&mut |resolve, _| set_timeout(&resolve, 0));
    let _ = JsFuture::from(promise).await;
}

/// Bytes read per slice of a user's file.
const FILE_CHUNK: u64 = 8 << 20;

/// Reads a file the user picked or dropped, in slices of 8 MiB, into one buffer, telling
/// `on_progress(read, total)` after each: the tab never holds the file as one JavaScript
/// string or a second whole copy, and a progress bar can move for large files.
pub async fn read_file(file: &web_sys::File, mut on_progress: impl FnMut(u64, u64)) -> Result<Vec<u8>, String> {
    let name = file.name();
    let total = file.size() as u64;
    let mut out = Vec::with_capacity(total as usize);
    let mut start = 0;
    while start < total {
        let end = (start + FILE_CHUNK).min(total);
        let slice = file
            .slice_with_f64_and_f64(start as f64, end as f64)
            .map_err(|e| format!("{name}: cannot read bytes {start}–{end}: {e:?}"))?;
        let buffer = JsFuture::from(slice.array_buffer())
            .await
            .map_err(|e| format!("{name}: reading failed at byte {start}: {e:?}; is the file still there?"))?;
        let array = Uint8Array::new(&buffer);
        let at = out.len();
        out.resize(at + array.length() as usize, 0);
        array.copy_to(&mut out[at..]);
        start = end;
        on_progress(start, total);
    }
    Ok(out)
}

/// The Cache API store that keeps downloaded model files between visits.
pub const MODEL_CACHE: &str = "webtune-models";

async fn promise(p: js_sys::Promise, what: &str) -> Result<wasm_bindgen::JsValue, String> {
    JsFuture::from(p).await.map_err(|e| format!("{what} failed: {e:?}"))
}

/// Reads a response body as it arrives, telling `on_progress(received, total)` (total
/// from Content-Length, 0 when unknown).
async fn body_with_progress(response: &Response, url: &str, on_progress: &mut impl FnMut(u64, u64)) -> Result<Vec<u8>, String> {
    let total = response.headers().get("content-length").ok().flatten().and_then(|v| v.parse().ok()).unwrap_or(0u64);
    let Some(body) = response.body() else { return Ok(Vec::new()) };
    let reader: web_sys::ReadableStreamDefaultReader =
        body.get_reader().dyn_into().map_err(|_| format!("reading {url}: the body has no default reader"))?;
    let mut out = Vec::with_capacity(total as usize);
    loop {
        let chunk = promise(reader.read(), &format!("downloading {url}")).await?;
        let done = js_sys::Reflect::get(&chunk, &"done".into()).map(|d| d.is_truthy()).unwrap_or(true);
        if done {
            break;
        }
        let value = js_sys::Reflect::get(&chunk, &"value".into()).map_err(|e| format!("downloading {url}: {e:?}"))?;
        out.extend_from_slice(&Uint8Array::new(&value).to_vec());
        on_progress(out.len() as u64, total.max(out.len() as u64));
    }
    Ok(out)
}

/// Fetches `url` through the model cache: served from the browser's Cache API when it was
/// downloaded before (`from_cache` is then true), else downloaded with progress and
/// stored. `Ok(None)` for a 404. A full or unavailable cache only costs the reuse.
pub async fn fetch_cached(url: &str, mut on_progress: impl FnMut(u64, u64)) -> Result<Option<(Vec<u8>, bool)>, String> {
    let cache: Option<web_sys::Cache> = match global_caches() {
        Ok(caches) => promise(caches.open(MODEL_CACHE), "opening the model cache").await.ok().and_then(|c| c.dyn_into().ok()),
        Err(_) => None,
    };
    if let Some(cache) = &cache {
        let hit = promise(cache.match_with_str(url), "reading the model cache").await?;
        if let Ok(response) = hit.dyn_into::<Response>() {
            return Ok(Some((body_with_progress(&response, url, &mut on_progress).await?, true)));
        }
    }
    let response: Response = promise(global_fetch(url)?, &format!("fetching {url}"))
        .await
        .map_err(|e| format!("{e}; check the address and your connection (the page may only reach its own site and huggingface.co)"))?
        .dyn_into()
        .map_err(|_| format!("fetching {url} gave no response"))?;
    if response.status() == 404 {
        return Ok(None);
    }
    if !response.ok() {
        let hint = match response.status() {
            401 | 403 => "; the repository may be private or gated, which webtune cannot open without an account",
            _ => "",
        };
        return Err(format!("fetching {url} failed: HTTP {}{hint}", response.status()));
    }
    let mut bytes = body_with_progress(&response, url, &mut on_progress).await?;
    if let Some(cache) = &cache
        && let Ok(stored) = Response::new_with_opt_u8_array(Some(&mut bytes))
        && let Err(e) = promise(cache.put_with_str(url, &stored), "storing in the model cache").await
    {
        web_sys::console::warn_1(&format!("webtune: {e}; the file will be downloaded again next time").into());
    }
    Ok(Some((bytes, false)))
}

/// Bytes this site stores in the browser (all storage: the model cache is most of it), as
/// the browser estimates it.
pub async fn stored_bytes() -> Option<f64> {
    let storage = web_sys::window()?.navigator().storage();
    let estimate = promise(storage.estimate().ok()?, "estimating storage").await.ok()?;
    js_sys::Reflect::get(&estimate, &"usage".into()).ok()?.as_f64()
}

/// Deletes every stored model file.
pub async fn clear_model_cache() -> Result<(), String> {
    let caches = global_caches()?;
    promise(caches.delete(MODEL_CACHE), "clearing the model cache").await.map(|_| ())
}

/// Offers `bytes` as a download named `file_name`, as the browser's own save does.
pub fn download(bytes: &[u8], file_name: &str, mime: &str) -> Result<(), String> {
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let parts = js_sys::Array::of1(&Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).map_err(|e| format!("{e:?}"))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|e| format!("{e:?}"))?;
    let anchor: web_sys::HtmlAnchorElement =
        document.create_element("a").map_err(|e| format!("{e:?}"))?.dyn_into().map_err(|_| "not an anchor")?;
    anchor.set_href(&url);
    anchor.set_download(file_name);
    anchor.click();
    // Revoke after the click has been handled.
    let revoke = wasm_bindgen::closure::Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    if let Some(window) = web_sys::window() {
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 10_000);
    }
    Ok(())
}

/// Waits `ms` milliseconds without blocking the page.
pub async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| set_timeout(&resolve, ms));
    let _ = JsFuture::from(promise).await;
}

/// Calls `method` on `target` with `args` (for the non-standard entry API web-sys lacks).
fn call(target: &wasm_bindgen::JsValue, method: &str, args: &[wasm_bindgen::JsValue]) -> Result<wasm_bindgen::JsValue, String> {
    let function: js_sys::Function =
        js_sys::Reflect::get(target, &method.into()).ok().and_then(|f| f.dyn_into().ok()).ok_or_else(|| format!("this browser has no {method}"))?;
    function.apply(target, &args.iter().collect::<js_sys::Array>()).map_err(|e| format!("{method} failed: {e:?}"))
}

/// Runs a callback-style entry method (`file`, `readEntries`) as a future.
async fn entry_call(target: &wasm_bindgen::JsValue, method: &str) -> Result<wasm_bindgen::JsValue, String> {
    let mut failure = None;
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        if let Err(e) = call(target, method, &[resolve.into(), reject.into()]) {
            failure = Some(e);
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    JsFuture::from(promise).await.map_err(|e| format!("{method} failed: {e:?}"))
}

/// What was dropped, taken while the drop event lasts: the entries (files and folders)
/// to walk with [`dropped_files`].
pub fn dropped_entries(data: &web_sys::DataTransfer) -> Vec<wasm_bindgen::JsValue> {
    let Ok(items) = js_sys::Reflect::get(data, &"items".into()) else { return Vec::new() };
    let length = js_sys::Reflect::get(&items, &"length".into()).ok().and_then(|l| l.as_f64()).unwrap_or(0.0) as u32;
    (0..length)
        .filter_map(|i| js_sys::Reflect::get_u32(&items, i).ok())
        .filter_map(|item| call(&item, "webkitGetAsEntry", &[]).ok())
        .filter(|entry| !entry.is_null() && !entry.is_undefined())
        .collect()
}

/// The files under dropped `entries`, folders walked, each with its path from the drop
/// (`my-model/1_Pooling/config.json`).
pub async fn dropped_files(entries: Vec<wasm_bindgen::JsValue>) -> Result<Vec<(String, web_sys::File)>, String> {
    let mut out = Vec::new();
    let mut pending = entries;
    while let Some(entry) = pending.pop() {
        let is_dir = js_sys::Reflect::get(&entry, &"isDirectory".into()).map(|v| v.is_truthy()).unwrap_or(false);
        if is_dir {
            let reader = call(&entry, "createReader", &[])?;
            // readEntries returns a batch at a time until an empty one.
            loop {
                let batch: js_sys::Array = entry_call(&reader, "readEntries").await?.dyn_into().map_err(|_| "readEntries gave no list")?;
                if batch.length() == 0 {
                    break;
                }
                pending.extend(batch.iter());
            }
        } else {
            let path = js_sys::Reflect::get(&entry, &"fullPath".into()).ok().and_then(|p| p.as_string()).unwrap_or_default();
            let file: web_sys::File = entry_call(&entry, "file").await?.dyn_into().map_err(|_| "a dropped entry is not a file")?;
            out.push((path.trim_start_matches('/').to_string(), file));
        }
    }
    Ok(out)
}

/// Runs the module's static constructors (cubecl registers its IR dialects through
/// `inventory`) once; later calls do nothing. The site's `main` calls it first thing, and
/// creating a device calls it too, so tests and other entry points get it as well.
///
/// Referencing `__wasm_call_ctors` anywhere also tells wasm-ld that the module calls
/// its constructors itself. Without that, wasm-ld links "command-style" and runs every
/// constructor again at the start of every export call, and wasm-bindgen's glue calls
/// exports (malloc, externref slots) for nearly every WebGPU call: that was about half
/// of the page's main-thread time while training (see BENCHMARKS.md).
pub fn run_static_constructors() {
    unsafe extern "C" {
        fn __wasm_call_ctors();
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: the linker synthesises this function to be called once after
    // instantiation, and `ONCE` calls it once, before the first device exists (nothing
    // reads cubecl's registries without a device).
    ONCE.call_once(|| unsafe { __wasm_call_ctors() });
}
