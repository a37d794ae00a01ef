//! Type a sentence, see its embedding.

use leptos::prelude::*;

use super::bridge::{self, Command, EmbeddingView, Event};
use super::state::{ModelState, Studio};

const EXAMPLE: &str = "webtune turns a sentence into a vector, right here in the browser.";

/// One embedding, summarised for display.
#[derive(Clone, Debug, PartialEq)]
struct Shown {
    tokens: usize,
    width: usize,
    norm: f32,
    head: Vec<f32>,
    millis: f64,
    since_load: f64,
}

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or(0.0)
}

/// Embeds `text` with the sentence-transformers model (in the worker, which holds it).
pub(super) async fn embed(studio: Studio, text: String) -> Result<EmbeddingView, String> {
    let embedder = studio.embedder.get_value().ok_or("The model is not a sentence-transformers model.")?;
    let started = js_sys::Date::now();
    let mut out = embedder.embed(&[text]).await.map_err(|e| format!("Embedding failed: {e}"))?;
    let e = out.remove(0);
    Ok(EmbeddingView { tokens: e.ids.len(), vector: e.vector, millis: js_sys::Date::now() - started })
}

/// The text box and the embedding it gives.
#[component]
pub fn EmbedPanel() -> impl IntoView {
    let studio = expect_context::<Studio>();
    let text = RwSignal::new(EXAMPLE.to_string());
    let shown = RwSignal::new(None::<Shown>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let first = StoredValue::new(true);

    let embed = move || {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        let input = text.get_untracked();
        bridge::request(
            move |id| Command::Embed { id, text: input },
            move |answer| {
                let Event::Embedding { result, .. } = answer else { return true };
                match result {
                    Ok(e) => {
                        let norm = e.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
                        let since_load = now_ms();
                        if first.get_value() {
                            first.set_value(false);
                            web_sys::console::log_1(&format!("webtune: first embedding {since_load:.0} ms after page load").into());
                        }
                        shown.set(Some(Shown { tokens: e.tokens, width: e.vector.len(), norm, head: e.vector.iter().take(8).copied().collect(), millis: e.millis, since_load }));
                        error.set(None);
                    }
                    Err(e) => error.set(Some(e.clone())),
                }
                busy.set(false);
                true
            },
        );
    };

    let ready = move || matches!(studio.model.get(), ModelState::Ready(ref facts) if facts.embedding.is_some());
    // Embed the example as soon as the model is ready.
    Effect::new(move |_| {
        if ready() {
            embed();
        }
    });

    view! {
        <section class="card" aria-labelledby="embed-title" hidden=move || !ready()>
            <h3 id="embed-title">"Check it: embed a sentence"</h3>
            <p class="hint">"A sentence-transformers model: this is the vector it gives a sentence, computed here on your device."</p>
            <form on:submit=move |ev| { ev.prevent_default(); embed(); }>
                <label for="sentence">"Sentence"</label>
                <textarea id="sentence" rows="3"
                    prop:value=move || text.get()
                    on:input=move |ev| text.set(event_target_value(&ev))></textarea>
                <button type="submit" disabled=move || !ready() || busy.get()>
                    {move || if busy.get() { "Embedding…" } else { "Embed" }}
                </button>
            </form>
            {move || error.get().map(|e| view! { <p class="status error">{e}</p> })}
            {move || shown.get().map(|s| view! {
                <dl class="result" id="embedding" data-since-load-ms=format!("{:.0}", s.since_load)>
                    <dt>"Tokens"</dt><dd id="token-count">{s.tokens}</dd>
                    <dt>"Dimensions"</dt><dd id="dimensions">{s.width}</dd>
                    <dt>"L2 norm"</dt><dd id="norm">{format!("{:.4}", s.norm)}</dd>
                    <dt>"First values"</dt>
                    <dd id="first-values"><code>{s.head.iter().map(|v| format!("{v:+.4}")).collect::<Vec<_>>().join("  ")}</code></dd>
                    <dt>"Time"</dt><dd>{format!("{:.0} ms", s.millis)}</dd>
                </dl>
            })}
        </section>
    }
}
