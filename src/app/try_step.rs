//! Step 6: try it. For a classifier: type a text (and a second one for pairs): the
//! fine-tuned model's label and a probability bar per class, live as you type, next to the
//! model before fine-tuning when that one already had a classifier for these labels. For a
//! generative model: a chat (or completion) playground whose reply streams in token by
//! token, with temperature, top-p and a maximum of new tokens.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::components::Bars;
use super::state::{Step, Studio};
use super::{NextButton, StepSection};
use crate::checkpoint::TextInput;
use crate::data::LmLayout;
use crate::model::{GenerationSettings, Sampling, generate_streaming};
use crate::session::{TaskKind, Trained};
use crate::train::{Prediction, predict};

/// Milliseconds of quiet typing before predicting.
const DEBOUNCE_MS: i32 = 250;

/// The try-it step.
#[component]
pub fn TryStep() -> impl IntoView {
    let studio = expect_context::<Studio>();
    let has_model = move || {
        studio.trained_version.get();
        studio.trained.with_value(|t| t.is_some())
    };
    let generative = move || {
        studio.trained_version.get();
        studio.trained.with_value(|t| t.as_ref().map(|t| t.task)) == Some(TaskKind::CausalLanguageModelling)
    };
    view! {
        <StepSection step=Step::Try>
            {move || (!has_model()).then(|| view! { <p class="hint">"Train a model first; then try it here."</p> })}
            {move || if generative() { view! { <Playground/> }.into_any() } else { view! { <ClassifyTry/> }.into_any() }}
            <NextButton to=Step::Export enabled=Signal::derive(has_model)/>
        </StepSection>
    }
}

/// The playground's settings as typed.
fn parse_settings(temperature: &str, top_p: &str, max_new: &str) -> Result<(Option<(f32, f32)>, usize), String> {
    let temperature: f32 = temperature.trim().parse().map_err(|_| format!("Temperature: \"{temperature}\" is not a number (0 picks the most likely token)"))?;
    let top_p: f32 = top_p.trim().parse().map_err(|_| format!("Top-p: \"{top_p}\" is not a number between 0 and 1"))?;
    let max_new: usize = max_new.trim().parse().map_err(|_| format!("Max new tokens: \"{max_new}\" is not a whole number"))?;
    if !(temperature >= 0.0 && temperature.is_finite()) {
        return Err("Temperature must be 0 (greedy) or more.".into());
    }
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err("Top-p must be above 0 and at most 1.".into());
    }
    if max_new == 0 {
        return Err("Max new tokens must be at least 1.".into());
    }
    Ok(((temperature > 0.0).then_some((temperature, top_p)), max_new))
}

/// A generative model's playground: the reply streams in as tokens are chosen.
#[component]
fn Playground() -> impl IntoView {
    let studio = expect_context::<Studio>();
    let prompt = RwSignal::new(String::new());
    let temperature = RwSignal::new("0".to_string());
    let top_p = RwSignal::new("1".to_string());
    let max_new = RwSignal::new("32".to_string());
    let reply = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let runs = StoredValue::new(0u64);
    // Chats are rendered with the chat template; anything else is continued as written.
    let chat = move || studio.data.with(|d| d.as_ref().and_then(|d| d.layout)) == Some(LmLayout::Chat);
    let send = move || {
        let Some(trained) = studio.trained.get_value() else { return };
        let Trained::LanguageModel { model, stop_ids, .. } = &trained.trained else { return };
        let (sampling, max_new_tokens) = match parse_settings(&temperature.get_untracked(), &top_p.get_untracked(), &max_new.get_untracked()) {
            Ok(s) => s,
            Err(e) => return error.set(Some(e)),
        };
        let ids = match trained.prompt_ids(&prompt.get_untracked(), chat()) {
            Ok(ids) => ids,
            Err(e) => return error.set(Some(format!("Cannot generate: {e}."))),
        };
        // As many new tokens as asked, and as the model's context leaves after the prompt.
        let room = model.max_tokens().saturating_sub(ids.len());
        if room == 0 {
            return error.set(Some(format!("Cannot generate: the prompt is {} tokens, and this model takes at most {}; shorten it.", ids.len(), model.max_tokens())));
        }
        let max_new_tokens = max_new_tokens.min(room);
        runs.update_value(|n| *n += 1);
        let seed = runs.get_value();
        let settings = GenerationSettings {
            max_new_tokens,
            sampling: sampling.map(|(temperature, top_p)| Sampling { temperature, top_k: None, top_p: (top_p < 1.0).then_some(top_p), seed }),
            repetition_penalty: 1.0,
            eos_token_ids: stop_ids.clone(),
            pad_token_id: trained.tokenizer.pad_id(),
            use_cache: true,
        };
        let (model, trained) = (model.clone(), trained.clone());
        error.set(None);
        reply.set(String::new());
        busy.set(true);
        spawn_local(async move {
            let mut tokens = Vec::new();
            let result = generate_streaming(&model, &[ids], &settings, &trained.device, |_, token| {
                tokens.push(token);
                if let Ok(text) = trained.tokenizer.decode(settings.text_ids(&tokens), true) {
                    reply.set(text);
                }
            })
            .await;
            match result {
                Ok(_) => {}
                Err(crate::model::ModelError::Readback(detail)) => error.set(Some(format!("Generation failed: {}.", super::read_failed(&trained.device, &detail)))),
                Err(e) => error.set(Some(format!("Generation failed: {e}"))),
            }
            busy.set(false);
        });
    };
    view! {
        <p class="hint">{move || if chat() {
            "Write a message: it is sent as the user's turn through the model's chat template, and the reply streams in as it is generated."
        } else {
            "Write the start of a text: the model continues it, token by token."
        }}</p>
        <label for="try-prompt">{move || if chat() { "Message" } else { "Prompt" }}</label>
        <textarea id="try-prompt" rows="3" prop:value=move || prompt.get() on:input=move |ev| prompt.set(event_target_value(&ev))></textarea>
        <div class="settings compact">
            <div class="field"><label for="try-temperature">"Temperature (0: always the most likely token)"</label>
                <input type="text" inputmode="decimal" id="try-temperature" prop:value=move || temperature.get() on:input=move |ev| temperature.set(event_target_value(&ev))/></div>
            <div class="field"><label for="try-top-p">"Top-p"</label>
                <input type="text" inputmode="decimal" id="try-top-p" prop:value=move || top_p.get() on:input=move |ev| top_p.set(event_target_value(&ev))/></div>
            <div class="field"><label for="try-max-new">"Max new tokens"</label>
                <input type="text" inputmode="numeric" id="try-max-new" prop:value=move || max_new.get() on:input=move |ev| max_new.set(event_target_value(&ev))/></div>
        </div>
        <div class="controls">
            <button type="button" id="try-generate" disabled=move || busy.get() on:click=move |_| send()>{move || if busy.get() { "Generating…" } else { "Generate" }}</button>
        </div>
        {move || error.get().map(|e| view! { <p class="status error" role="alert">{e}</p> })}
        <h3>"Reply"</h3>
        <p class="reply" id="try-reply" aria-live="polite" data-done=move || (!busy.get()).to_string()>{move || reply.get()}</p>
    }
}

/// A classifier's try-it: the label as you type.
#[component]
fn ClassifyTry() -> impl IntoView {
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
    }
}
