//! End to end in real headless Chromium (WebGPU on SwiftShader) against the Trunk-built
//! site: the page loads the bundled all-MiniLM-L6-v2 on WebGPU and shows the embedding of
//! the sentence in its box, matching the CLI's (itself checked against
//! sentence-transformers).
//!
//! Needs `dist/` (built by Trunk, with the model) and chromedriver: `cargo xtask test`
//! builds the site and then runs these with `--ignored`.

#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use webtune::model::SentenceEmbedder;
use webtune::platform::{cpu_device, read_model_folder};

const EXAMPLE: &str = "webtune turns a sentence into a vector, right here in the browser.";

fn dist() -> PathBuf {
    std::env::var_os("WEBTUNE_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("dist"))
}

/// Serves `root` on an ephemeral localhost port; returns the base URL.
fn serve(root: PathBuf) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("bind a localhost port");
    let port = server.server_addr().to_ip().unwrap().port();
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let rel = request.url().split('?').next().unwrap_or("/").trim_start_matches('/').to_string();
            let rel = if rel.is_empty() { "index.html".to_string() } else { rel };
            let path = root.join(&rel);
            let response = match (rel.contains(".."), std::fs::read(&path)) {
                (false, Ok(bytes)) => {
                    let kind = match path.extension().and_then(|e| e.to_str()) {
                        Some("html") => "text/html; charset=utf-8",
                        Some("js") => "text/javascript",
                        Some("wasm") => "application/wasm",
                        Some("css") => "text/css",
                        Some("json") => "application/json",
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
    format!("http://127.0.0.1:{port}/")
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

async fn browser() -> (Driver, Client) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let chromedriver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let child = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {chromedriver}: {e} (cargo xtask test installs it)"));
    let driver = Driver(child);
    let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
        "goog:chromeOptions": {
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": ["--headless=new", "--no-sandbox", "--enable-unsafe-webgpu", "--enable-unsafe-swiftshader",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--disable-dev-shm-usage", "--window-size=1280,800"]
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
async fn text_of(client: &Client, css: &str) -> String {
    let element = client.find(Locator::Css(css)).await.unwrap();
    element.prop("textContent").await.unwrap().unwrap_or_default().trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the Trunk-built site and chromedriver: run by `cargo xtask test` after the site build"]
async fn page_embeds_the_example_sentence_on_webgpu() {
    let dist = dist();
    assert!(dist.join("index.html").is_file(), "{} has no index.html: build the site with trunk first", dist.display());
    let base = serve(dist);
    let (_driver, client) = browser().await;
    let started = Instant::now();
    client.goto(&base).await.unwrap();
    let result = client
        .wait()
        .at_most(Duration::from_secs(600))
        .every(Duration::from_millis(500))
        .for_element(Locator::Css("#embedding"))
        .await
        .unwrap_or_else(|e| panic!("no embedding on the page: {e}"));
    let since_load = result.attr("data-since-load-ms").await.unwrap().unwrap_or_default();
    eprintln!("page load to first embedding: {since_load} ms (test wall time {:.1} s)", started.elapsed().as_secs_f64());

    assert_eq!(text_of(&client, "#gpu-backend").await, "BrowserWebGpu");
    assert_eq!(text_of(&client, "#dimensions").await, "384");
    assert_eq!(text_of(&client, "#norm").await, "1.0000");
    let shown: Vec<f32> = text_of(&client, "#first-values").await.split_whitespace().map(|v| v.parse().unwrap()).collect();

    let files = read_model_folder(&Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/all-MiniLM-L6-v2")).unwrap();
    let (model, _) = SentenceEmbedder::load(&files, &cpu_device(), None).unwrap();
    let expected = pollster::block_on(model.embed(&[EXAMPLE.to_string()])).unwrap().remove(0);
    assert_eq!(text_of(&client, "#token-count").await, expected.ids.len().to_string());
    assert_eq!(shown.len(), 8);
    for (i, (s, e)) in shown.iter().zip(&expected.vector).enumerate() {
        assert!((s - e).abs() <= 6e-5, "value {i}: page shows {s}, CPU gives {e}");
    }
    client.close().await.unwrap();
}
