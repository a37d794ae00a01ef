//! The web app (wasm32 only). The page loads the bundled model on WebGPU and embeds the
//! text typed into a box; the GPU panel shows the adapter and its limits.

mod embed_panel;
mod gpu_panel;
mod state;

use leptos::prelude::*;

use embed_panel::EmbedPanel;
use gpu_panel::GpuPanel;
use state::{Phase, Studio};

/// Mounts the app on `<body>`.
pub fn mount() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let studio = Studio::new();
    provide_context(studio.clone());
    studio.start();
    view! {
        <header class="top">
            <h1>"webtune"</h1>
            <p class="tagline">"Fine-tune language models privately, on your own GPU, in this tab. Nothing you load leaves it."</p>
        </header>
        <main>
            <StatusLine/>
            <EmbedPanel/>
            <GpuPanel/>
        </main>
    }
}

/// What the page is doing, in words; errors in full.
#[component]
fn StatusLine() -> impl IntoView {
    let studio = expect_context::<Studio>();
    move || {
        let phase = studio.phase.get();
        let class = match phase {
            Phase::Failed(_) => "status error",
            Phase::Ready => "status ready",
            _ => "status busy",
        };
        view! { <p class=class role="status" aria-live="polite">{phase.describe()}</p> }
    }
}
