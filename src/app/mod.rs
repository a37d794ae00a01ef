//! The web studio (wasm32 only): one page whose steps — model, data, settings, train,
//! results, try it, export — the user moves between freely. The page holds plain reports
//! and renders them; a dedicated Web Worker running the same WebAssembly ([`worker`])
//! holds the device, the models, the data and the runs, and does all the work, so the page
//! never waits on a training step ([`bridge`] is how the two talk).

mod bridge;
pub mod components;
mod data_step;
mod embed_panel;
mod export_step;
mod gpu_panel;
pub mod model_step;
mod results_step;
mod run;
mod runs;
mod runs_panel;
pub mod settings_step;
mod state;
mod train_step;
mod try_step;
mod worker;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use crate::platform::{cpu_device, on_webgpu_failure, webgpu_device};
use gpu_panel::GpuPanel;
pub use state::{DeviceState, GpuNotice, Step, Studio};
use state::ModelState;

/// Runs the studio's worker side: called in the training worker (see [`worker`]).
pub fn start_worker() {
    worker::start();
}

/// Offers `bytes` as a download named `name`: from the page directly, from the worker
/// through the page.
pub(crate) fn offer_download(bytes: Vec<u8>, name: &str, mime: &str) -> Result<(), String> {
    if worker::in_worker() {
        worker::post(&bridge::Event::Download { name: name.to_string(), mime: mime.to_string(), bytes });
        Ok(())
    } else {
        crate::platform::download(&bytes, name, mime)
    }
}

/// Mounts the app on `<body>`.
pub fn mount() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        show_fatal(&info.to_string());
    }));
    leptos::mount::mount_to_body(App);
}

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let studio = Studio::new();
    provide_context(studio);
    // The device, the models and the training live in the worker.
    if let Err(e) = bridge::connect(studio) {
        show_fatal(&e);
    }
    guard_unload(studio);
    view! {
        <header class="top">
            <h1>"webtune"</h1>
            <p class="tagline">"Fine-tune a language model on your own data, on your own GPU, in this tab. Nothing you load leaves it."</p>
        </header>
        <NoGpuBanner/>
        <GpuFailedBanner/>
        <runs_panel::UnfinishedBanner/>
        <StepNav/>
        <main>
            <model_step::ModelStep/>
            <data_step::DataStep/>
            <settings_step::SettingsStep/>
            <train_step::TrainStep/>
            <results_step::ResultsStep/>
            <try_step::TryStep/>
            <export_step::ExportStep/>
            <GpuPanel/>
        </main>
        <footer class="bottom">
            <p>"webtune runs entirely in your browser: model files come from this site or the Hugging Face Hub, your data never leaves the tab. "
              </p>
        </footer>
    }
}

/// A crash (a panic cannot be recovered from in WebAssembly) still ends in words on the
/// page, not only in the console.
fn show_fatal(message: &str) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
    let Some(body) = document.body() else { return };
    if let Ok(div) = document.create_element("div") {
        div.set_id("fatal");
        div.set_class_name("banner error");
        let _ = div.set_attribute("role", "alert");
        div.set_text_content(Some(&format!(
            "webtune stopped because of an internal error: {message}. Reload the page to start again (your files never left this tab). \
             If the GPU ran out of memory, try a smaller batch size or max length."
        )));
        let _ = body.prepend_with_node_1(&div);
    }
}

/// Starts WebGPU, or the CPU backend when the browser has none (in the worker), loads the
/// bundled model and lists the runs kept in the browser.
fn start_device(studio: Studio) {
    spawn_local(async move {
        match webgpu_device().await {
            Ok((device, info)) => {
                web_sys::console::log_1(&format!("webtune: WebGPU {}", info.summary()).into());
                studio.device_handle.set_value(Some(device));
                studio.device.set(DeviceState::Gpu(info));
                on_webgpu_failure(move |reason| spawn_local(replace_gpu(studio, reason)));
            }
            Err(reason) => {
                web_sys::console::warn_1(&format!("webtune: no WebGPU ({reason})").into());
                studio.device_handle.set_value(Some(cpu_device()));
                studio.device.set(DeviceState::Cpu(reason));
            }
        }
        model_step::load_bundled(studio).await;
    });
    // The runs kept from earlier visits.
    spawn_local(runs_panel::refresh(studio));
}

/// After the GPU session ended: drops what lived on the old device (the fine-tuned
/// model, the embedding check), sets up a new GPU device for the next run — or the CPU
/// when that fails — and says so at the top of the page.
async fn replace_gpu(studio: Studio, reason: String) {
    // Nothing starts on the old device while the new one is set up.
    studio.device_handle.set_value(None);
    let lost_model = studio.trained.with_value(Option::is_some);
    studio.set_trained(None);
    studio.embedder.set_value(None);
    studio.model.update(|m| {
        if let ModelState::Ready(facts) = m {
            facts.embedding = None;
        }
    });
    studio.gpu_notice.set(Some(GpuNotice { reason: reason.clone(), lost_model, replaced: None }));
    let replaced = match webgpu_device().await {
        Ok((device, info)) => {
            studio.device_handle.set_value(Some(device));
            studio.device.set(DeviceState::Gpu(info));
            Ok(())
        }
        Err(e) => {
            studio.device_handle.set_value(Some(cpu_device()));
            studio.device.set(DeviceState::Cpu(format!("the GPU stopped working ({reason}) and a new device could not be set up: {e}")));
            Err(e)
        }
    };
    // Unless it was dismissed meanwhile.
    if studio.gpu_notice.with_untracked(Option::is_some) {
        studio.gpu_notice.set(Some(GpuNotice { reason, lost_model, replaced: Some(replaced) }));
    }
}

/// A read from `device` failed with `detail`: on the WebGPU device this ends the GPU
/// session (the banner explains, and a new device is set up), and the words point there;
/// otherwise they are the detail's innermost cause.
pub(crate) fn read_failed(device: &burn::tensor::Device, detail: &str) -> String {
    match crate::platform::webgpu_failed(device, detail) {
        true => "the GPU failed (see the message at the top of the page)".into(),
        false => crate::platform::gpu_error_summary(detail),
    }
}

/// The page-level notice after the GPU stopped working.
#[component]
fn GpuFailedBanner() -> impl IntoView {
    let studio = expect_context::<Studio>();
    move || {
        studio.gpu_notice.get().map(|notice| {
            let memory = notice.reason.to_lowercase().contains("memory");
            let next = match &notice.replaced {
                None => "Setting up a new GPU device…".to_string(),
                Some(Ok(())) if studio.runs.with(|r| r.iter().any(|r| r.checkpoint.is_some())) && !memory => {
                    "A new GPU device is ready, so you can go on without reloading: resume the run from its last checkpoint (Resume, beside Start in step 4).".to_string()
                }
                Some(Ok(())) => format!(
                    "A new GPU device is ready, so you can go on without reloading: start training again (step 4){}.",
                    if memory { " after lowering the batch size or the max length (step 3), since it ran out of memory" } else { "" }
                ),
                Some(Err(e)) => format!("A new GPU device could not be set up ({e}); training falls back to the CPU (slow). Reload the page to try the GPU again."),
            };
            let lost = notice.lost_model.then_some(" The fine-tuned model was on the old device and is gone: train again to get it back.");
            view! {
                <div class="banner error" role="alert" id="gpu-failed">
                    <strong>"The GPU stopped working"</strong>" (the browser said: " {notice.reason.clone()} "). " {next} {lost}
                    " "
                    <button type="button" class="link" on:click=move |_| {
                        studio.gpu_notice.set(None);
                        bridge::send(bridge::Command::DismissGpuNotice);
                    }>"Dismiss"</button>
                </div>
            }
        })
    }
}

/// Asks before leaving the page while a run is in progress.
fn guard_unload(studio: Studio) {
    let Some(window) = web_sys::window() else { return };
    let handler = wasm_bindgen::closure::Closure::<dyn Fn(web_sys::BeforeUnloadEvent)>::new(move |ev: web_sys::BeforeUnloadEvent| {
        if studio.training() {
            ev.prevent_default();
            ev.set_return_value("Training is in progress; leaving the page stops it (it can be resumed from its last checkpoint).");
        }
    });
    let _ = window.add_event_listener_with_callback("beforeunload", handler.as_ref().unchecked_ref());
    handler.forget();
}

/// The page-level notice when WebGPU is missing.
#[component]
fn NoGpuBanner() -> impl IntoView {
    let studio = expect_context::<Studio>();
    move || match studio.device.get() {
        DeviceState::Cpu(reason) => Some(view! {
            <div class="banner warn" role="alert" id="no-webgpu">
                <strong>"WebGPU is not available here"</strong>" (" {reason} "). "
                "webtune falls back to your CPU, which is fine for the tiny models and a few hundred examples, and very slow for more. "
                "WebGPU is on by default in Chrome and Edge 113+ (Windows, macOS, ChromeOS, Android), Safari 26+ and Firefox 141+ on Windows; "
                "on Linux, start Chrome with " <code>"--enable-unsafe-webgpu --enable-features=Vulkan"</code> ", or check chrome://gpu."
            </div>
        }),
        _ => None,
    }
}

/// The step navigation: a list of buttons, the current one marked.
#[component]
fn StepNav() -> impl IntoView {
    let studio = expect_context::<Studio>();
    view! {
        <nav class="steps" aria-label="Steps">
            <ol>
                {Step::ALL.iter().enumerate().map(|(i, &step)| view! {
                    <li>
                        <button type="button" class="step-button" id=format!("nav-{}", step.id())
                            aria-current=move || (studio.step.get() == step).then_some("step")
                            on:click=move |_| studio.step.set(step)>
                            <span class="step-number">{i + 1}</span>" "{step.title()}
                        </button>
                    </li>
                }).collect_view()}
            </ol>
        </nav>
    }
}

/// A step's section: shown when it is the current step, kept in the page otherwise so
/// its state survives moving back and forth.
#[component]
pub fn StepSection(step: Step, children: Children) -> impl IntoView {
    let studio = expect_context::<Studio>();
    view! {
        <section class="step card" id=step.id() hidden=move || studio.step.get() != step aria-labelledby=format!("{}-title", step.id())>
            <h2 id=format!("{}-title", step.id())>{step.title()}</h2>
            {children()}
        </section>
    }
}

/// "Next: …" at the end of a step.
#[component]
pub fn NextButton(to: Step, #[prop(into)] enabled: Signal<bool>) -> impl IntoView {
    let studio = expect_context::<Studio>();
    view! {
        <div class="next">
            <button type="button" class="secondary" id=format!("next-{}", to.id()) disabled=move || !enabled.get() on:click=move |_| studio.step.set(to)>
                {format!("Next: {} →", to.title())}
            </button>
        </div>
    }
}

pub use crate::studio::{duration, megabytes};
