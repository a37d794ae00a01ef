//! The browser benchmarks of `cargo xtask bench-browser` that need the built site (ignored
//! tests, numbers printed as JSON for BENCHMARKS.md): the page's main thread while its
//! worker reads a 100 MB CSV and trains, and the bundled model's first step on a first and
//! a second visit.

use super::*;

/// The page's main thread while the worker reads a 100 MB CSV, tokenises it and trains the
/// bundled all-MiniLM-L6-v2 on the CPU fallback (no WebGPU): every main-thread task over
/// 50 ms after the first paint (PerformanceObserver `longtask`) and the slowest keystroke in
/// Try it during training (Event Timing), printed as one JSON line for BENCHMARKS.md. A
/// benchmark, not part of the suite: `cargo xtask bench-browser` runs it.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: run by `cargo xtask bench-browser`"]
async fn bench_main_thread_with_a_100mb_csv_on_the_cpu_fallback() {
    let dist = dist();
    assert!(dist.join("index.html").is_file(), "{} has no index.html: build the site first", dist.display());
    let base = serve(dist);
    let work = std::env::temp_dir().join(format!("webtune-bench-main-thread-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    // About 100 MB of review-like sentences: whole English words the model knows.
    let words = ["the", "movie", "was", "really", "good", "bad", "and", "i", "loved", "hated", "it", "plot", "acting", "great", "boring", "not", "very", "fun", "story", "ending"];
    let csv_path = work.join("reviews-100mb.csv");
    let mut csv = String::from("text,label\n");
    let mut rng = webtune::rng::SeededRng::new(1);
    while csv.len() < 100_000_000 {
        let n = 12 + rng.below(12);
        let text: Vec<&str> = (0..n).map(|_| words[rng.below(words.len())]).collect();
        csv += &format!("{},{}\n", text.join(" "), if rng.below(2) == 0 { "pos" } else { "neg" });
    }
    std::fs::write(&csv_path, &csv).unwrap();
    let rows = csv.lines().count() - 1;
    drop(csv);

    let (_driver, client) = browser_with(None, false).await;
    client.goto(&base).await.unwrap();
    wait_for(&client, "#model-facts", 600).await;
    wait_for(&client, "#no-webgpu", 60).await;
    client
        .execute(
            "window.__longTasks = []; new PerformanceObserver(l => window.__longTasks.push(...l.getEntries().map(e => [e.name, Math.round(e.startTime), Math.round(e.duration)]))).observe({type: 'longtask'}); \
             window.__events = []; new PerformanceObserver(l => window.__events.push(...l.getEntries().filter(e => e.name === 'keydown' || e.name === 'input' || e.name === 'keyup').map(e => e.duration))).observe({type: 'event', durationThreshold: 16});",
            vec![],
        )
        .await
        .unwrap();
    let clock = Instant::now();
    go_to(&client, "data").await;
    client.find(Locator::Css("#data-file")).await.unwrap().send_keys(&csv_path.display().to_string()).await.unwrap();
    wait_until(&client, "the 100 MB CSV is read", "return document.getElementById('train-report') !== null && document.querySelector('#step-data .status.busy') === null", 1800).await;
    let read_s = clock.elapsed().as_secs_f64();
    go_to(&client, "settings").await;
    for (id, value) in [("setting-epochs", "1"), ("setting-batch", "8"), ("setting-max-length", "64"), ("setting-valid-split", "0"), ("setting-checkpoint-minutes", "")] {
        type_into(&client, id, value).await;
    }
    go_to(&client, "train").await;
    let started = Instant::now();
    client.find(Locator::Css("#start-training")).await.unwrap().click().await.unwrap();
    let step = "return Number(document.getElementById('train-step').textContent.split(' / ')[0])";
    wait_until(&client, "the first step", &format!("{step} >= 1"), 3600).await;
    let first_step_s = started.elapsed().as_secs_f64();
    // Typing in Try it while the worker trains.
    go_to(&client, "try").await;
    let typing = Instant::now();
    for word in ["the ", "movie ", "was ", "really ", "good "] {
        client.find(Locator::Css("#try-text")).await.unwrap().send_keys(word).await.unwrap();
    }
    let typing_s = typing.elapsed().as_secs_f64();
    go_to(&client, "train").await;
    wait_until(&client, "three more steps", &format!("{step} >= 4"), 600).await;
    let steps_s = started.elapsed().as_secs_f64() - first_step_s;
    // Pause saves the run: the bundled model's whole checkpoint, in the browser's storage.
    let pausing = Instant::now();
    client.find(Locator::Css("#pause-training")).await.unwrap().click().await.unwrap();
    wait_until(&client, "the paused run is saved", "return /at step \\d+/.test(document.getElementById('train-saved')?.textContent || '')", 600).await;
    let checkpoint_s = pausing.elapsed().as_secs_f64();
    let long: Vec<(String, f64, f64)> = serde_json::from_value(client.execute("return window.__longTasks", vec![]).await.unwrap()).unwrap();
    let events: Vec<f64> = serde_json::from_value(client.execute("return window.__events", vec![]).await.unwrap()).unwrap();
    let longest = long.iter().map(|t| t.2).fold(0.0, f64::max);
    let kept = text_of(&client, "#runs-list .run").await;
    // After a reload: the run resumes (model from the checkpoint, the 100 MB of data from the
    // browser's storage, tokenised again) and takes its next step.
    client.refresh().await.unwrap();
    wait_for(&client, "#unfinished-runs", 600).await;
    client.find(Locator::Css("#go-to-runs")).await.unwrap().click().await.unwrap();
    let resuming = Instant::now();
    wait_for(&client, "#runs-list .resume-run", 60).await.click().await.unwrap();
    let saved_at: usize = kept.split(" — step ").nth(1).and_then(|s| s.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(0);
    wait_until(&client, "the resumed run takes a step", &format!("{step} > {saved_at}"), 3600).await;
    let resume_s = resuming.elapsed().as_secs_f64();
    client.execute("document.getElementById('stop-training').click()", vec![]).await.unwrap();
    println!(
        "{}",
        serde_json::json!({
            "workload": "main-thread", "rows": rows, "bytes": std::fs::metadata(&csv_path).unwrap().len(), "model": "all-MiniLM-L6-v2", "device": "cpu (wasm, in the worker)",
            "read_and_report_s": read_s, "to_first_step_s": first_step_s, "three_steps_s": steps_s,
            "long_tasks": long.len(), "longest_task_ms": longest, "long_task_total_ms": long.iter().map(|t| t.2).sum::<f64>(), "long_tasks_list": long,
            "slowest_keystroke_ms": events.iter().copied().fold(0.0, f64::max), "keystroke_events_over_16ms": events.len(), "typing_s": typing_s,
            "pause_to_saved_checkpoint_s": checkpoint_s, "kept_run": kept, "reload_resume_to_next_step_s": resume_s,
        })
    );
    let _ = std::fs::remove_dir_all(&work);
    client.close().await.unwrap();
}

/// Benchmark, not a test (ignored; run by `cargo xtask bench-browser`): the bundled model's
/// first training step on WebGPU on a first visit and on a second one (the page reloaded
/// in the same browser profile, so whatever the browser keeps between visits — its
/// compiled-shader caches — is kept). The first step is mostly kernel generation and
/// compilation; the studio shows it as "First step". Small batches: dispatches and
/// pipelines do not depend on them. Prints one JSON line.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: run by `cargo xtask bench-browser`"]
async fn bench_first_step_on_a_first_and_a_second_visit() {
    let dist = dist();
    assert!(dist.join("index.html").is_file(), "{} has no index.html: build the site first", dist.display());
    let base = serve(dist);
    let work = std::env::temp_dir().join(format!("webtune-bench-first-step-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let csv_path = work.join("reviews.csv");
    let rows: String = (0..16).map(|i| format!("{} review number {i},{}\n", if i % 2 == 0 { "a great film that i loved" } else { "a dull film that i hated" }, if i % 2 == 0 { "pos" } else { "neg" })).collect();
    std::fs::write(&csv_path, format!("text,label\n{rows}")).unwrap();
    let shots = Shots(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/e2e-screenshots"));
    std::fs::create_dir_all(&shots.0).unwrap();
    let (_driver, client) = browser().await;
    let mut visits = Vec::new();
    for visit in 1..=2 {
        if visit == 1 {
            client.goto(&base).await.unwrap();
        } else {
            client.refresh().await.unwrap();
        }
        let page = Instant::now();
        wait_for(&client, "#model-facts", 600).await;
        let model_s = page.elapsed().as_secs_f64();
        eprintln!("visit {visit}: the bundled model is ready after {model_s:.1} s");
        go_to(&client, "data").await;
        client.find(Locator::Css("#data-file")).await.unwrap().send_keys(&csv_path.display().to_string()).await.unwrap();
        wait_until(&client, "the data is read", "return document.getElementById('train-report') !== null && document.querySelector('#step-data .status.busy') === null", 120).await;
        go_to(&client, "settings").await;
        for (id, value) in [("setting-epochs", "1"), ("setting-batch", "2"), ("setting-max-length", "32"), ("setting-valid-split", "0"), ("setting-checkpoint-minutes", "")] {
            type_into(&client, id, value).await;
        }
        go_to(&client, "train").await;
        shots.take(&client, &format!("bench-visit-{visit}-before-start")).await;
        let started = Instant::now();
        client.find(Locator::Css("#start-training")).await.unwrap().click().await.unwrap();
        wait_until(&client, "the first step", "return /^[0-9.]+ s/.test(document.getElementById('compile-seconds')?.textContent || '')", 400).await;
        let to_first_step_s = started.elapsed().as_secs_f64();
        eprintln!("visit {visit}: first step after {to_first_step_s:.1} s");
        let shown = text_of(&client, "#compile-seconds").await;
        let first_step_s: f64 = shown.split(' ').next().unwrap().parse().unwrap();
        assert_eq!(text_of(&client, "#gpu-backend").await, "BrowserWebGpu", "on WebGPU, not the CPU fallback");
        client.execute("document.getElementById('stop-training').click()", vec![]).await.unwrap();
        wait_until(&client, "the run stops", "return document.getElementById('stop-training').disabled === true", 600).await;
        visits.push(serde_json::json!({"visit": visit, "model_ready_s": model_s, "first_step_s": first_step_s, "start_to_first_step_s": to_first_step_s}));
    }
    let ratio = visits[1]["first_step_s"].as_f64().unwrap() / visits[0]["first_step_s"].as_f64().unwrap();
    println!("{}", serde_json::json!({"workload": "first step, first and second visit", "model": "all-MiniLM-L6-v2", "batch": [2, 32], "visits": visits, "second_over_first": ratio}));
    let _ = std::fs::remove_dir_all(&work);
    client.close().await.unwrap();
}
