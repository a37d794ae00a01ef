//! Step 6: try it. Type a text (and a second one for pairs): the fine-tuned model's label
//! and a probability bar per class, live as you type, next to the model before
//! fine-tuning when that one already had a classifier for these labels.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::components::Bars;
use super::state::{Step, Studio};
use super::{NextButton, StepSection};
use crate::checkpoint::TextInput;
use crate::train::{Prediction, predict};

/// Milliseconds of quiet typing before predicting.
const DEBOUNCE_MS: i32 = 250;

/// The try-it step.
#[component]
pub fn TryStep() -> impl IntoView {
    let studio = expect_context::<Studio>();
    let text = RwSignal::new(String::new());
    let pair = RwSignal::new(String::new());
    let typed = RwSignal::new(0u32);
    let tuned = RwSignal::new(None::<Prediction>);
    let before = RwSignal::new(None::<Prediction>);
    let error = RwSignal::new(None::<String>);
    let labels = RwSignal::new(Vec::<String>::new());
    let pairs = move || studio.data.get().is_some_and(|d| d.train.roles.text_pair.is_some());

    let run = move || {
        let version = typed.get_untracked();
        spawn_local(async move {
            crate::platform::sleep_ms(DEBOUNCE_MS).await;
            if typed.get_untracked() != version {
                return;
            }
            let Some(trained) = studio.trained.get_value() else {
                // The model is gone (a new run, or the GPU failed): nothing stale stays.
                tuned.set(None);
                before.set(None);
                error.set(None);
                return;
            };
            let has_pair = studio.data.with_untracked(|d| d.as_ref().is_some_and(|d| d.train.roles.text_pair.is_some()));
            let input = TextInput { text: text.get_untracked(), pair: has_pair.then(|| pair.get_untracked()) };
            if input.text.trim().is_empty() {
                tuned.set(None);
                before.set(None);
                return;
            }
            // The studio trains classifiers (generative models: the CLI, for now).
            let crate::session::Trained::Classifier { model, base, labels: names, .. } = &trained.trained else { return };
            labels.set(names.clone());
            let inputs = [input];
            match predict(model, &trained.tokenizer, &inputs, names, 1, &trained.device).await {
                Ok(mut p) => {
                    tuned.set(p.pop());
                    error.set(None);
                }
                Err(crate::model::ModelError::Readback(detail)) => error.set(Some(format!("Prediction failed: {}.", super::read_failed(&trained.device, &detail)))),
                Err(e) => error.set(Some(format!("Prediction failed: {e}"))),
            }
            if let Some(base) = base
                && let Ok(mut p) = predict(base, &trained.tokenizer, &inputs, names, 1, &trained.device).await
            {
                before.set(p.pop());
            }
        });
    };
    let on_type = move || {
        typed.update(|v| *v += 1);
        run();
    };
    // A new model: predict again for what is in the box.
    Effect::new(move |_| {
        studio.trained_version.get();
        on_type();
    });
    let probabilities = move |p: Prediction, id: &'static str| {
        let items: Vec<(String, f64)> = labels.get_untracked().into_iter().zip(p.probs.iter().map(|&x| x as f64)).collect();
        view! {
            <p class="predicted">"Predicted: "<strong class="predicted-label">{p.label.clone()}</strong>{format!(" ({:.1}%)", p.probs.get(p.index).copied().unwrap_or(0.0) * 100.0)}</p>
            <Bars items=items format=|v| format!("{:.1}%", v * 100.0) id=id/>
        }
    };
    view! {
        <StepSection step=Step::Try>
            {move || { studio.trained_version.get(); studio.trained.with_value(|t| t.is_none()) }.then(|| view! { <p class="hint">"Train a model first; then type here to see what it predicts."</p> })}
            <label for="try-text">"Text"</label>
            <textarea id="try-text" rows="3" placeholder="Type a text to classify…"
                prop:value=move || text.get() on:input=move |ev| { text.set(event_target_value(&ev)); on_type(); }></textarea>
            {move || pairs().then(|| view! {
                <label for="try-pair">"Second text"</label>
                <textarea id="try-pair" rows="2" prop:value=move || pair.get() on:input=move |ev| { pair.set(event_target_value(&ev)); on_type(); }></textarea>
            })}
            {move || error.get().map(|e| view! { <p class="status error" role="alert">{e}</p> })}
            <div class="side-by-side">
                <div id="try-tuned">
                    <h3>"Fine-tuned"</h3>
                    {move || tuned.get().map(|p| probabilities(p, "probabilities"))}
                </div>
                <div id="try-before">
                    <h3>"Before fine-tuning"</h3>
                    {move || match (studio.trained_version.get(), studio.trained.with_value(|t| t.as_ref().map(|t| matches!(&t.trained, crate::session::Trained::Classifier { base: Some(_), .. })))) {
                        (_, Some(false)) => view! { <p class="hint">"The starting model had no classifier for these labels (it was added for your data), so there is nothing meaningful to compare."</p> }.into_any(),
                        _ => view! { {move || before.get().map(|p| probabilities(p, "probabilities-before"))} }.into_any(),
                    }}
                </div>
            </div>
            <NextButton to=Step::Export enabled=Signal::derive(move || { studio.trained_version.get(); studio.trained.with_value(|t| t.is_some()) })/>
        </StepSection>
    }
}
