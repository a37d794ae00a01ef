//! What the end-to-end tests share: the static server for the built site, headless
//! Chromium through chromedriver, waiting on the page, downloads, zips, and comparing the
//! studio's outputs with the CLI's.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

pub(crate) fn dist() -> PathBuf {
    std::env::var_os("WEBTUNE_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("dist"))
}

/// Serves `root` on an ephemeral localhost port; returns the base URL.
pub(crate) fn serve(root: PathBuf) -> String {
    serve_logged(root).0
}

/// Serves `root` (the built site) and, under `/fixtures/`, the test fixtures, on a free
/// localhost port; returns the base URL and the paths requested so far.
pub(crate) fn serve_logged(root: PathBuf) -> (String, Arc<Mutex<Vec<String>>>) {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("bind a localhost port");
    let port = server.server_addr().to_ip().unwrap().port();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let rel = request.url().split('?').next().unwrap_or("/").trim_start_matches('/').to_string();
            log.lock().unwrap().push(rel.clone());
            let rel = if rel.is_empty() { "index.html".to_string() } else { rel };
            let path = match rel.strip_prefix("fixtures/") {
                Some(inner) => fixtures.join(inner),
                None => root.join(&rel),
            };
            let response = match (rel.contains(".."), std::fs::read(&path)) {
                (false, Ok(bytes)) => {
                    let kind = match path.extension().and_then(|e| e.to_str()) {
                        Some("html") => "text/html; charset=utf-8",
                        Some("js") => "text/javascript",
                        Some("wasm") => "application/wasm",
                        Some("css") => "text/css",
                        Some("json") => "application/json",
                        Some("jsonl") => "text/plain; charset=utf-8",
                        _ => "application/octet-stream",
                    };
                    tiny_http::Response::from_data(bytes)
                        .with_header(tiny_http::Header::from_bytes("Content-Type", kind).unwrap())
                }
                _ => tiny_http::Response::from_data(b"not found".to_vec()).with_status_code(404),
            };
            let _ = request.respond(response);
        }
    });
    (format!("http://127.0.0.1:{port}/"), requests)
}

pub(crate) struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

pub(crate) async fn browser() -> (Driver, Client) {
    browser_with_downloads(None).await
}

pub(crate) async fn browser_with_downloads(downloads: Option<&Path>) -> (Driver, Client) {
    browser_with(downloads, true).await
}

/// A headless Chromium; `webgpu` false leaves WebGPU off, so the studio trains on its CPU
/// fallback.
pub(crate) async fn browser_with(downloads: Option<&Path>, webgpu: bool) -> (Driver, Client) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let chromedriver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let child = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {chromedriver}: {e} (cargo xtask test installs it)"));
    let driver = Driver(child);
    let prefs = downloads.map(|dir| serde_json::json!({
        "download.default_directory": dir.display().to_string(),
        "download.prompt_for_download": false,
    }));
    let mut args = vec!["--headless=new", "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--window-size=1280,800"];
    if webgpu {
        args.extend(["--enable-unsafe-webgpu", "--enable-unsafe-swiftshader"]);
    }
    let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
        "goog:chromeOptions": {
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": args,
            "prefs": prefs.unwrap_or_else(|| serde_json::json!({}))
        }
    }))
    .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps.clone());
        match builder.connect(&url).await {
            Ok(client) => return (driver, client),
            Err(e) if Instant::now() > deadline => panic!("chromedriver did not answer: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// The element's text content (also inside the collapsed GPU panel, where WebDriver's
/// visible text would be empty).
pub(crate) async fn text_of(client: &Client, css: &str) -> String {
    let element = client.find(Locator::Css(css)).await.unwrap();
    element.prop("textContent").await.unwrap().unwrap_or_default().trim().to_string()
}

/// Waits until `css` matches an element (up to `seconds`).
pub(crate) async fn wait_for(client: &Client, css: &str, seconds: u64) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(Duration::from_secs(seconds))
        .every(Duration::from_millis(250))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear within {seconds} s: {e}"))
}

/// Waits until `check` on the page's JavaScript state is true.
pub(crate) async fn wait_until(client: &Client, what: &str, script: &str, seconds: u64) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if client.execute(script, vec![]).await.unwrap().as_bool() == Some(true) {
            return;
        }
        if Instant::now() > deadline {
            let status = client.execute("return document.getElementById('train-status')?.textContent", vec![]).await.unwrap();
            let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/e2e-screenshots");
            let _ = std::fs::create_dir_all(&shots);
            if let Ok(png) = client.screenshot().await {
                let _ = std::fs::write(shots.join("failure.png"), png);
            }
            panic!("{what}: not within {seconds} s (train status: {status}; screenshot failure.png)");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Sets an input's value the way typing does (an `input` event follows).
pub(crate) async fn type_into(client: &Client, id: &str, value: &str) {
    let script = "const el = document.getElementById(arguments[0]); el.value = arguments[1]; el.dispatchEvent(new Event('input', {bubbles: true}));";
    client.execute(script, vec![serde_json::json!(id), serde_json::json!(value)]).await.unwrap();
}

pub(crate) async fn go_to(client: &Client, step: &str) {
    client.find(Locator::Css(&format!("#nav-step-{step}"))).await.unwrap().click().await.unwrap();
    wait_for(client, &format!("#step-{step}:not([hidden])"), 10).await;
}

pub(crate) struct Shots(pub(crate) PathBuf);

impl Shots {
    pub(crate) async fn take(&self, client: &Client, name: &str) {
        let png = client.screenshot().await.unwrap();
        std::fs::write(self.0.join(format!("{name}.png")), png).unwrap();
    }
}

/// Waits until Chromium has finished writing `name` into `dir`. Chromium
/// reserves the final name with an empty file while it writes to a
/// `.crdownload` file beside it, so a name that exists is not yet a download:
/// wait for no partial file and a non-empty size that holds still.
pub(crate) async fn downloaded(dir: &Path, name: &str, seconds: u64) -> PathBuf {
    let path = dir.join(name);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut last = None;
    loop {
        let partial = std::fs::read_dir(dir).unwrap().flatten().any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"));
        let size = std::fs::metadata(&path).map(|m| m.len()).ok().filter(|&n| n > 0);
        if !partial && size.is_some() && size == last {
            return path;
        }
        assert!(Instant::now() < deadline, "{name} was not downloaded within {seconds} s (size now {size:?}, partial file: {partial})");
        last = size;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every file in a zip, by name.
pub(crate) fn unzip(path: &Path) -> std::collections::HashMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).expect("the zip was downloaded")).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut file, &mut bytes).unwrap();
            (file.name().unwrap().into_owned(), bytes)
        })
        .collect()
}

/// The numbers of one training-log row.
pub(crate) struct Logged {
    pub(crate) step: usize,
    pub(crate) epoch: usize,
    pub(crate) loss: f64,
    pub(crate) learning_rate: f64,
    pub(crate) valid_loss: Option<f64>,
    pub(crate) valid_accuracy: Option<f64>,
}

/// Fields the studio and the CLI may write differently for the same run: wall times, the
/// device, and the base model's name (the studio sees loose files, not the folder's name).
pub(crate) const RUN_SPECIFIC: [&str; 3] = ["training_seconds", "device", "base_model"];

/// Compares the studio's and the CLI's `training_args.json` or `metrics.json` whole: the
/// same keys and values everywhere except [`RUN_SPECIFIC`], numbers within `tolerance`
/// (WebGPU and the CPU round differently).
pub(crate) fn assert_same_json(web: &serde_json::Value, cli: &serde_json::Value, tolerance: f64, path: &str) {
    use serde_json::Value;
    match (web, cli) {
        (Value::Object(w), Value::Object(c)) => {
            let keys = |m: &serde_json::Map<String, Value>| m.keys().filter(|k| !RUN_SPECIFIC.contains(&k.as_str())).cloned().collect::<Vec<_>>();
            assert_eq!(keys(w), keys(c), "{path}: the studio's keys are the CLI's");
            for key in keys(w) {
                assert_same_json(&w[&key], &c[&key], tolerance, &format!("{path}.{key}"));
            }
        }
        (Value::Array(w), Value::Array(c)) => {
            assert_eq!(w.len(), c.len(), "{path}: lengths differ");
            for (i, (a, b)) in w.iter().zip(c).enumerate() {
                assert_same_json(a, b, tolerance, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(a), Value::Number(b)) if a.is_f64() || b.is_f64() => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!((a - b).abs() <= tolerance, "{path}: {a} in the studio, {b} from the CLI");
        }
        (a, b) => assert_eq!(a, b, "{path}: the studio wrote {a}, the CLI {b}"),
    }
}

/// The rows of a training log written by `webtune::train::log_csv`.
pub(crate) fn log_rows(csv: &str) -> Vec<Logged> {
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(webtune::train::LOG_CSV_HEADER));
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 10, "{line}");
            let opt = |s: &str| (!s.is_empty()).then(|| s.parse::<f64>().unwrap());
            Logged {
                step: f[0].parse().unwrap(),
                epoch: f[1].parse().unwrap(),
                loss: f[2].parse().unwrap(),
                learning_rate: f[3].parse().unwrap(),
                valid_loss: opt(f[7]),
                valid_accuracy: opt(f[8]),
            }
        })
        .collect()
}

/// The largest relative difference, ‖a − b‖ / ‖b‖ per tensor, between two safetensors
/// files' f32 tensors (which must have the same names and shapes), and its tensor.
pub(crate) fn max_weight_difference(a: &[u8], b: &[u8]) -> (f64, String) {
    let (a, b) = (safetensors::SafeTensors::deserialize(a).unwrap(), safetensors::SafeTensors::deserialize(b).unwrap());
    let mut names = a.names();
    names.sort();
    let mut other = b.names();
    other.sort();
    assert_eq!(names, other, "the two exports hold different tensors");
    let floats = |v: &safetensors::tensor::TensorView| -> Vec<f32> {
        assert_eq!(v.dtype(), safetensors::Dtype::F32);
        v.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
    };
    let mut worst = (0.0f64, String::new());
    for name in names {
        let (x, y) = (a.tensor(name).unwrap(), b.tensor(name).unwrap());
        assert_eq!(x.shape(), y.shape(), "{name}");
        let (x, y) = (floats(&x), floats(&y));
        let diff: f64 = x.iter().zip(&y).map(|(p, q)| ((p - q) as f64).powi(2)).sum::<f64>().sqrt();
        let norm: f64 = y.iter().map(|q| (*q as f64).powi(2)).sum::<f64>().sqrt();
        let relative = diff / norm.max(1e-12);
        if relative > worst.0 {
            worst = (relative, name.to_string());
        }
    }
    worst
}

/// Pause (or Resume) by script: the step headings stay on top of a page scrolled down to
/// the saved-run line, and would take a pointer click.
pub(crate) async fn click_pause(client: &Client) {
    client.execute("document.getElementById('pause-training').click()", vec![]).await.unwrap();
}

/// A Chrome DevTools Protocol command through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
pub(crate) struct Cdp {
    pub(crate) cmd: &'static str,
    pub(crate) params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/goog/cdp/execute", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(serde_json::json!({"cmd": self.cmd, "params": self.params}).to_string()))
    }
}
