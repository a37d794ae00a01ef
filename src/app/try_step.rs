//! Step 6: try it. For a classifier: type a text (and a second one for pairs): the
//! fine-tuned model's label and a probability bar per class, live as you type, next to the
//! model before fine-tuning when that one already had a classifier for these labels. For a
//! generative model: a chat (or completion) playground whose reply streams in token by
//! token, with temperature, top-p and a maximum of new tokens.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::bridge::{self, Command, Event};
use super::components::Bars;
use super::worker::post;
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
    let has_model = move || studio.trained_view.with(Option::is_some);
    let generative = move || studio.trained_view.with(|t| t.as_ref().map(|t| t.task)) == Some(TaskKind::CausalLanguageModelling);
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

/// Generates the reply to `prompt` (in the worker, which holds the model), streaming it
/// to the page as [`Event::Reply`]s of `id`.
pub(super) fn generate_reply(studio: Studio, id: u64, prompt: String, chat: bool, temperature: &str, top_p: &str, max_new: &str) {
    let reply = move |text: String, done: bool, error: Option<String>| post(&Event::Reply { id, text, done, error });
    let Some(trained) = studio.trained.get_value() else { return reply(String::new(), true, Some("Train a model first.".into())) };
    let Trained::LanguageModel { model, stop_ids, .. } = &trained.trained else { return reply(String::new(), true, Some("This model classifies; it does not generate.".into())) };
    let (sampling, max_new_tokens) = match parse_settings(temperature, top_p, max_new) {
        Ok(s) => s,
        Err(e) => return reply(String::new(), true, Some(e)),
    };
    let ids = match trained.prompt_ids(&prompt, chat) {
        Ok(ids) => ids,
        Err(e) => return reply(String::new(), true, Some(format!("Cannot generate: {e}."))),
    };
    // As many new tokens as asked, and as the model's context leaves after the prompt.
    let room = model.max_tokens().saturating_sub(ids.len());
    if room == 0 {
        return reply(String::new(), true, Some(format!("Cannot generate: the prompt is {} tokens, and this model takes at most {}; shorten it.", ids.len(), model.max_tokens())));
    }
    let settings = GenerationSettings {
        max_new_tokens: max_new_tokens.min(room),
        sampling: sampling.map(|(temperature, top_p)| Sampling { temperature, top_k: None, top_p: (top_p < 1.0).then_some(top_p), seed: id }),
        repetition_penalty: 1.0,
        eos_token_ids: stop_ids.clone(),
        pad_token_id: trained.tokenizer.pad_id(),
        use_cache: true,
    };
    let (model, trained) = (model.clone(), trained.clone());
    spawn_local(async move {
        let mut tokens = Vec::new();
        let mut text = String::new();
        let result = generate_streaming(&model, &[ids], &settings, &trained.device, |_, token| {
            tokens.push(token);
            if let Ok(now) = trained.tokenizer.decode(settings.text_ids(&tokens), true) {
                text = now;
                reply(text.clone(), false, None);
            }
        })
        .await;
        let error = match result {
            Ok(_) => None,
            Err(crate::model::ModelError::Readback(detail)) => Some(format!("Generation failed: {}.", super::read_failed(&trained.device, &detail))),
            Err(e) => Some(format!("Generation failed: {e}")),
        };
        reply(text, true, error);
    });
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
    // Chats are rendered with the chat template; anything else is continued as written.
    let chat = move || studio.data.with(|d| d.as_ref().and_then(|d| d.layout)) == Some(LmLayout::Chat);
    let send = move || {
        if let Err(e) = parse_settings(&temperature.get_untracked(), &top_p.get_untracked(), &max_new.get_untracked()) {
            return error.set(Some(e));
        }
        error.set(None);
        reply.set(String::new());
        busy.set(true);
        let (prompt, chat) = (prompt.get_untracked(), chat());
        let (temperature, top_p, max_new) = (temperature.get_untracked(), top_p.get_untracked(), max_new.get_untracked());
        bridge::request(
            move |id| Command::Generate { id, prompt, chat, temperature, top_p, max_new },
            move |answer| {
                let Event::Reply { text, done, error: failed, .. } = answer else { return true };
                reply.set(text.clone());
                if *done {
                    error.set(failed.clone());
                    busy.set(false);
                }
                *done
            },
        );
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

/// The fine-tuned classifier's prediction for a text (and the starting model's, when it
/// had a head for these labels), with the label names: in the worker, which holds them.
pub(super) async fn predict_both(studio: Studio, text: String, pair: Option<String>) -> Result<(Vec<String>, Option<Prediction>, Option<Prediction>), String> {
    let Some(trained) = studio.trained.get_value() else { return Ok((Vec::new(), None, None)) };
    let crate::session::Trained::Classifier { model, base, labels, .. } = &trained.trained else { return Ok((Vec::new(), None, None)) };
    if text.trim().is_empty() {
        return Ok((labels.clone(), None, None));
    }
    let inputs = [TextInput { text, pair }];
    let tuned = match predict(model, &trained.tokenizer, &inputs, labels, 1, &trained.device).await {
        Ok(mut p) => p.pop(),
        Err(crate::model::ModelError::Readback(detail)) => return Err(format!("Prediction failed: {}.", super::read_failed(&trained.device, &detail))),
        Err(e) => return Err(format!("Prediction failed: {e}")),
    };
    let before = match base {
        Some(base) => predict(base, &trained.tokenizer, &inputs, labels, 1, &trained.device).await.ok().and_then(|mut p| p.pop()),
        None => None,
    };
    Ok((labels.clone(), tuned, before))
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
            if studio.trained_view.with_untracked(Option::is_none) {
                // The model is gone (a new run, or the GPU failed): nothing stale stays.
                tuned.set(None);
                before.set(None);
                error.set(None);
                return;
            }
            let has_pair = studio.data.with_untracked(|d| d.as_ref().is_some_and(|d| d.train.roles.text_pair.is_some()));
            let (input, second) = (text.get_untracked(), has_pair.then(|| pair.get_untracked()));
            bridge::request(
                move |id| Command::Predict { id, text: input, pair: second },
                move |answer| {
                    // A later keystroke has its own answer coming.
                    if typed.get_untracked() != version {
                        return true;
                    }
                    if let Event::Prediction { result, .. } = answer {
                        match result {
                            Ok((names, t, b)) => {
                                labels.set(names.clone());
                                tuned.set(t.clone());
                                before.set(b.clone());
                                error.set(None);
                            }
                            Err(e) => error.set(Some(e.clone())),
                        }
                    }
                    true
                },
            );
        });
    };
    let on_type = move || {
        typed.update(|v| *v += 1);
        run();
    };
    // A new model: predict again for what is in the box.
    Effect::new(move |_| {
        studio.trained_view.track();
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
                    {move || match studio.trained_view.with(|t| t.as_ref().map(|t| t.has_base)) {
                        Some(false) => view! { <p class="hint">"The starting model had no classifier for these labels (it was added for your data), so there is nothing meaningful to compare."</p> }.into_any(),
                        _ => view! { {move || before.get().map(|p| probabilities(p, "probabilities-before"))} }.into_any(),
                    }}
                </div>
            </div>
    }
}
