//! Step 1: the model. The bundled all-MiniLM-L6-v2, a local Hugging Face folder (picker,
//! files or drag and drop), or a Hub repository fetched file by file and kept in the
//! browser for the next visit.

use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use super::bridge::{self, Command};
use super::embed_panel::EmbedPanel;
use super::state::{DEFAULT_MODEL_URL, FileProgress, ModelFacts, ModelState, Step, Studio};
use super::{NextButton, StepSection, megabytes};
use crate::checkpoint::{CausalCheckpoint, Checkpoint, KNOWN_FILES, ModelFiles, Pretrained};
use crate::model::{CausalLm, SequenceClassifier, ModelError, SentenceEmbedder};
use crate::session::TaskKind;
use crate::studio::hub_base_url;
use crate::platform::{clear_model_cache, dropped_entries, dropped_files, fetch_cached, fetch_model_files, read_file, stored_bytes, yield_to_browser};

/// Reads `files` (checked on `studio`'s device) into the model step's facts, or says
/// what is wrong. On success the files, facts and (for sentence-transformers models)
/// the embedding check are stored.
pub(super) async fn finish_loading(studio: Studio, files: ModelFiles, source: String, name: String, hub_id: Option<String>) {
    studio.model.set(ModelState::Checking { source: source.clone() });
    yield_to_browser().await;
    let Some(device) = studio.device() else {
        return studio.model.set(ModelState::Failed("The device is not ready yet; try again in a moment.".into()));
    };
    if files.get("config.json").is_some_and(Pretrained::is_causal_config) {
        return finish_loading_causal(studio, files, source, name, hub_id, &device);
    }
    // A sentence-transformers model loads as an embedder (for the check panel); that load
    // already checks the encoder's tensors.
    let is_sentence_model = files.get("modules.json").is_some() || files.get("sentence_bert_config.json").is_some();
    let checkpoint = match Checkpoint::from_files(files) {
        Ok(checkpoint) => checkpoint,
        Err(e) => return studio.model.set(ModelState::Failed(format!("{source} cannot be used: {e}"))),
    };
    let embedder = if is_sentence_model { SentenceEmbedder::load(&checkpoint, &device, None).ok() } else { None };
    let files = checkpoint.files();
    let facts = (|| -> Result<ModelFacts, String> {
        let config = checkpoint.config();
        // A classifier head needs id2label; without one, an embedder that loaded has checked
        // the weights and a second upload to the device is skipped. Otherwise a checkpoint
        // with a head loads as it is, and one without gets a placeholder head, which checks
        // every other tensor.
        let labels = if embedder.is_some() && config.id2label().is_none() {
            None
        } else {
            match SequenceClassifier::load(&checkpoint, &device, None, 0) {
                Ok((_, report)) => Some(report.labels),
                Err(ModelError::NoClassifier(_)) => {
                    SequenceClassifier::load(&checkpoint, &device, Some(&["LABEL_0".into(), "LABEL_1".into()]), 0).map_err(|e| e.to_string())?;
                    None
                }
                Err(e) => return Err(e.to_string()),
            }
        };
        let dims = config.dims();
        Ok(ModelFacts {
            source: source.clone(),
            name: name.clone(),
            hub_id: hub_id.clone(),
            architecture: with_architectures(config.family().model_type(), files),
            task: TaskKind::SequenceClassification,
            parameters: config.classifier_parameters(2),
            vocabulary: dims.vocab_size,
            max_length: checkpoint.limit(),
            shape: format!("{} hidden × {} layers × {} heads", dims.hidden_size, dims.layers, dims.heads),
            labels,
            bytes: files.total_bytes(),
            embedding: None,
            fetched: None,
        })
    })();
    let mut facts = match facts {
        Ok(facts) => facts,
        Err(e) => return studio.model.set(ModelState::Failed(format!("{source} cannot be used: {e}"))),
    };
    studio.embedder.set_value(None);
    if let Some((embedder, report)) = embedder {
        studio.embedder.set_value(Some(Rc::new(embedder)));
        facts.embedding = Some(report);
    }
    studio.causal.set_value(None);
    studio.checkpoint.set_value(Some(Rc::new(checkpoint)));
    studio.model.set(ModelState::Ready(facts));
}

/// `model_type`, with config.json's `architectures` when it lists them.
fn with_architectures(model_type: &str, files: &ModelFiles) -> String {
    let architectures = serde_json::from_slice::<serde_json::Value>(files.get("config.json").unwrap_or_default())
        .ok()
        .and_then(|v| v.get("architectures").and_then(|a| a.as_array()).map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect::<Vec<_>>()))
        .unwrap_or_default();
    if architectures.is_empty() { model_type.to_string() } else { format!("{model_type} ({})", architectures.join(", ")) }
}

/// [`finish_loading`] for a generative checkpoint: its weights are loaded once onto the
/// device, which checks every tensor's name and shape.
fn finish_loading_causal(studio: Studio, files: ModelFiles, source: String, name: String, hub_id: Option<String>, device: &burn::tensor::Device) {
    let failed = |e: String| studio.model.set(ModelState::Failed(format!("{source} cannot be used: {e}")));
    let checkpoint = match CausalCheckpoint::from_files(files) {
        Ok(checkpoint) => checkpoint,
        Err(e) => return failed(e.to_string()),
    };
    let report = match CausalLm::load(checkpoint.files(), checkpoint.config(), device) {
        Ok((_, report)) => report,
        Err(e) => return failed(e.to_string()),
    };
    let config = checkpoint.config();
    let (hidden, layers, heads, _) = config.shape();
    let facts = ModelFacts {
        source: source.clone(),
        name,
        hub_id,
        architecture: with_architectures(config.model_type(), checkpoint.files()),
        task: TaskKind::CausalLanguageModelling,
        parameters: report.parameters as u64,
        vocabulary: config.vocab_size(),
        max_length: checkpoint.limit(),
        shape: format!("{hidden} hidden × {layers} layers × {heads} heads"),
        labels: None,
        bytes: checkpoint.files().total_bytes(),
        embedding: None,
        fetched: None,
    };
    studio.embedder.set_value(None);
    studio.checkpoint.set_value(None);
    studio.causal.set_value(Some(Rc::new(checkpoint)));
    studio.model.set(ModelState::Ready(facts));
}

/// Loads the model the site bundles.
pub async fn load_bundled(studio: Studio) {
    let source = "all-MiniLM-L6-v2 (bundled with this site)".to_string();
    studio.model.set(ModelState::Fetching { source: source.clone(), files: Vec::new() });
    let fetched = fetch_model_files(DEFAULT_MODEL_URL, |name, len| {
        studio.model.update(|m| {
            if let ModelState::Fetching { files, .. } = m {
                files.push(FileProgress { name: name.to_string(), received: len as u64, total: len as u64, from_cache: false, done: true });
            }
        })
    })
    .await;
    match fetched {
        Ok(files) => finish_loading(studio, files, source, "all-MiniLM-L6-v2".into(), Some("sentence-transformers/all-MiniLM-L6-v2".into())).await,
        Err(e) => studio.model.set(ModelState::Failed(format!("{e}. Was the site built with `cargo xtask serve` or `cargo xtask dist`, which fetch the model?"))),
    }
}

/// Loads a model from the Hub (or any folder URL), file by file through the cache.
pub(super) async fn load_hub(studio: Studio, input: String) {
    let base = match hub_base_url(&input) {
        Ok(base) => base,
        Err(e) => return studio.model.set(ModelState::Failed(e)),
    };
    let label = if base.starts_with("https://huggingface.co/") { format!("{} (Hugging Face Hub)", input.trim()) } else { input.trim().to_string() };
    studio.model.set(ModelState::Fetching { source: label.clone(), files: Vec::new() });
    let mut files = ModelFiles::new(base.clone());
    let (mut fetched, mut stored) = (0, 0);
    for (i, name) in KNOWN_FILES.iter().enumerate() {
        studio.model.update(|m| {
            if let ModelState::Fetching { files, .. } = m {
                files.push(FileProgress { name: name.to_string(), received: 0, total: 0, from_cache: false, done: false });
            }
        });
        let progress = |received, total| {
            studio.model.update(|m| {
                if let ModelState::Fetching { files, .. } = m
                    && let Some(f) = files.get_mut(i)
                {
                    (f.received, f.total) = (received, total);
                }
            })
        };
        match fetch_cached(&format!("{base}{name}"), progress).await {
            Ok(Some((bytes, from_cache))) => {
                studio.model.update(|m| {
                    if let ModelState::Fetching { files, .. } = m
                        && let Some(f) = files.get_mut(i)
                    {
                        (f.received, f.total, f.from_cache, f.done) = (bytes.len() as u64, bytes.len() as u64, from_cache, true);
                    }
                });
                files.insert(*name, bytes);
                fetched += 1;
                stored += usize::from(from_cache);
            }
            Ok(None) => studio.model.update(|m| {
                if let ModelState::Fetching { files, .. } = m {
                    files.pop();
                }
            }),
            Err(e) => return studio.model.set(ModelState::Failed(e)),
        }
    }
    if files.get("model.safetensors").is_none() {
        return studio.model.set(ModelState::Failed(format!(
            "{input} has no model.safetensors at {base}: webtune reads safetensors weights only (pytorch_model.bin is not read). Pick a repository that has one."
        )));
    }
    let note = match stored {
        0 => format!("{fetched} files downloaded"),
        n if n == fetched => format!("{fetched} files from this browser's storage"),
        n => format!("{fetched} files ({n} from this browser's storage)"),
    };
    let hub_id = base.starts_with("https://huggingface.co/").then(|| input.trim().split('@').next().unwrap_or_default().trim_start_matches("https://huggingface.co/").trim_end_matches('/').to_string());
    let name = hub_id.clone().unwrap_or_else(|| input.trim().trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_string());
    finish_loading(studio, files, label, name, hub_id).await;
    studio.model.update(|m| {
        if let ModelState::Ready(facts) = m {
            facts.fetched = Some(note);
        }
    });
}

/// `webkitRelativePath`: the file's path from the picked folder, the folder's name first
/// (empty when a file was picked alone). Not in web-sys: it is non-standard, though every
/// browser has it.
fn relative_path(file: &web_sys::File) -> String {
    js_sys::Reflect::get(file, &"webkitRelativePath".into()).ok().and_then(|v| v.as_string()).unwrap_or_default()
}

/// Splits off the folder every path starts with (the folder picked or dropped), if any.
fn strip_common_folder(files: Vec<(String, web_sys::File)>) -> (Option<String>, Vec<(String, web_sys::File)>) {
    let first = files.first().and_then(|(p, _)| p.split_once('/')).map(|(folder, _)| folder.to_string());
    match first {
        Some(folder) if files.iter().all(|(p, _)| p.starts_with(&format!("{folder}/"))) => {
            let inner = files.into_iter().map(|(p, f)| (p[folder.len() + 1..].to_string(), f)).collect();
            (Some(folder), inner)
        }
        _ => (None, files),
    }
}

/// Loads a model from files the user picked or dropped, each with its path from the pick
/// or drop (`my-model/config.json`, or just `config.json`).
pub(super) async fn load_local(studio: Studio, picked: Vec<(String, web_sys::File)>) {
    let (folder, picked) = strip_common_folder(picked);
    let name = folder.clone().unwrap_or_else(|| "model files from this computer".into());
    let source = match folder {
        Some(folder) => format!("the folder {folder} on this computer"),
        None => format!("{} files from this computer", picked.len()),
    };
    studio.model.set(ModelState::Fetching { source: source.clone(), files: Vec::new() });
    let mut files = ModelFiles::new(source.clone());
    let known: Vec<(&str, &web_sys::File)> =
        KNOWN_FILES.iter().filter_map(|name| picked.iter().find(|(path, _)| path == name).map(|(_, f)| (*name, f))).collect();
    if known.is_empty() {
        let names: Vec<&str> = picked.iter().take(8).map(|(p, _)| p.as_str()).collect();
        return studio.model.set(ModelState::Failed(format!(
            "None of the picked files is a model file ({}). Pick the folder that holds config.json, model.safetensors and tokenizer.json.",
            names.join(", ")
        )));
    }
    for (i, (name, file)) in known.into_iter().enumerate() {
        studio.model.update(|m| {
            if let ModelState::Fetching { files, .. } = m {
                files.push(FileProgress { name: name.to_string(), received: 0, total: file.size() as u64, from_cache: false, done: false });
            }
        });
        let bytes = read_file(file, |read, total| {
            studio.model.update(|m| {
                if let ModelState::Fetching { files, .. } = m
                    && let Some(f) = files.get_mut(i)
                {
                    (f.received, f.total, f.done) = (read, total, read == total);
                }
            })
        })
        .await;
        match bytes {
            Ok(bytes) => files.insert(name, bytes),
            Err(e) => return studio.model.set(ModelState::Failed(e)),
        }
    }
    finish_loading(studio, files, source, name, None).await;
}

/// The files of a file input, each with its path from the picked folder (or its name).
fn files_of(list: Option<web_sys::FileList>) -> Vec<(String, web_sys::File)> {
    let Some(list) = list else { return Vec::new() };
    (0..list.length())
        .filter_map(|i| list.get(i))
        .map(|f| {
            let path = relative_path(&f);
            (if path.is_empty() { f.name() } else { path }, f)
        })
        .collect()
}

/// The model step.
#[component]
pub fn ModelStep() -> impl IntoView {
    let studio = expect_context::<Studio>();
    let hub_input = RwSignal::new(String::new());
    let stored = RwSignal::new(None::<f64>);
    let dragging = RwSignal::new(false);
    // `webkitdirectory` makes the picker choose a folder; the view macro has no such attribute.
    let folder_input = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(input) = folder_input.get() {
            let _ = input.set_attribute("webkitdirectory", "");
        }
    });
    // What the site stores, again whenever a model is ready (the worker may have stored it).
    Effect::new(move |_| {
        let _ = studio.model.with(|m| matches!(m, ModelState::Ready(_)));
        spawn_local(async move { stored.set(stored_bytes().await) });
    });
    let busy = move || matches!(studio.model.get(), ModelState::Fetching { .. } | ModelState::Checking { .. }) || studio.training();
    // The worker reads the files; the page hands them over with their paths.
    let pick = move |files: Vec<(String, web_sys::File)>| {
        if !files.is_empty() && !busy() {
            let (paths, files): (Vec<String>, Vec<web_sys::File>) = files.into_iter().unzip();
            bridge::send_with_files(Command::LoadFiles(paths), &files);
        }
    };
    view! {
        <StepSection step=Step::Model>
            <p class="hint">"Start from a pretrained model. It is checked and loaded on your device; nothing is uploaded."</p>
            <div class="choices">
                <div class="choice">
                    <h3>"Bundled"</h3>
                    <p>"all-MiniLM-L6-v2: small (23 M parameters), fast, a good start for English text classification."</p>
                    <button type="button" id="use-bundled" disabled=busy on:click=move |_| bridge::send(Command::LoadBundled)>"Use the bundled model"</button>
                </div>
                <div class=move || if dragging.get() { "choice drop active" } else { "choice drop" }
                    on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); dragging.set(true); }
                    on:dragleave=move |_| dragging.set(false)
                    on:drop=move |ev: leptos::ev::DragEvent| {
                        ev.prevent_default();
                        dragging.set(false);
                        // Entries must be taken during the event; folders are walked after.
                        let entries = ev.data_transfer().map(|d| dropped_entries(&d)).unwrap_or_default();
                        spawn_local(async move {
                            match dropped_files(entries).await {
                                Ok(files) => pick(files),
                                Err(e) => studio.model.set(ModelState::Failed(format!("The dropped files cannot be read: {e}"))),
                            }
                        });
                    }>
                    <h3>"From this computer"</h3>
                    <p>"A Hugging Face model folder (config.json, model.safetensors, tokenizer.json). Drop the folder or its files here, or:"</p>
                    <label for="model-folder">"Pick the folder"</label>
                    <input type="file" id="model-folder" node_ref=folder_input multiple=true disabled=busy
                        on:change=move |ev| {
                            let input: web_sys::HtmlInputElement = ev.target().unwrap().unchecked_into();
                            pick(files_of(input.files()));
                        }/>
                    <label for="model-files">"or pick its files"</label>
                    <input type="file" id="model-files" multiple=true disabled=busy
                        on:change=move |ev| {
                            let input: web_sys::HtmlInputElement = ev.target().unwrap().unchecked_into();
                            pick(files_of(input.files()));
                        }/>
                </div>
                <form class="choice" on:submit=move |ev| {
                    ev.prevent_default();
                    if !busy() {
                        bridge::send(Command::LoadHub(hub_input.get_untracked()));
                    }
                }>
                    <h3>"From the Hugging Face Hub"</h3>
                    <label for="hub-repo">"Repository id or folder URL"</label>
                    <input type="text" id="hub-repo" placeholder="sentence-transformers/all-MiniLM-L6-v2" autocomplete="off" spellcheck="false"
                        prop:value=move || hub_input.get() on:input=move |ev| hub_input.set(event_target_value(&ev))/>
                    <button type="submit" disabled=busy>"Fetch"</button>
                    <p class="small">"Files are kept in this browser, so the next visit starts without downloading. "
                        {move || stored.get().map(|b| format!("Stored by this site now: {}. ", megabytes(b)))}
                        <button type="button" class="link" id="clear-models" on:click=move |_| spawn_local(async move {
                            if let Err(e) = clear_model_cache().await {
                                web_sys::console::warn_1(&e.into());
                            }
                            stored.set(stored_bytes().await);
                        })>"Clear stored models"</button>
                    </p>
                </form>
            </div>
            <ModelStatus/>
            <EmbedPanel/>
            <NextButton to=Step::Data enabled=Signal::derive(move || matches!(studio.model.get(), ModelState::Ready(_)))/>
        </StepSection>
    }
}

/// Progress while fetching, the facts once ready, or the error.
#[component]
fn ModelStatus() -> impl IntoView {
    let studio = expect_context::<Studio>();
    move || match studio.model.get() {
        ModelState::Empty => view! { <p class="status busy" id="model-status">"Waiting for the device…"</p> }.into_any(),
        ModelState::Fetching { source, files } => view! {
            <div id="model-status" class="status busy" role="status">
                <p>{format!("Loading {source}…")}</p>
                <ul class="file-progress">
                    {files.into_iter().map(|f| {
                        let label = if f.from_cache { format!("{} (stored)", f.name) } else { f.name.clone() };
                        view! {
                            <li>
                                <span>{label}</span>
                                <progress max=f.total.max(1) value=f.received></progress>
                                <span>{megabytes(f.received as f64)}</span>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            </div>
        }
        .into_any(),
        ModelState::Checking { source } => view! { <p class="status busy" id="model-status" role="status">{format!("Checking {source} on the device…")}</p> }.into_any(),
        ModelState::Failed(message) => view! { <p class="status error" id="model-status" role="alert">{message}</p> }.into_any(),
        ModelState::Ready(facts) => view! {
            <div id="model-status" class="status ready">
                <p>{format!("Ready: {}{}", facts.source, facts.fetched.as_ref().map(|n| format!(", {n}")).unwrap_or_default())}</p>
                <dl class="facts" id="model-facts">
                    <dt>"Architecture"</dt><dd>{facts.architecture.clone()}</dd>
                    <dt>"Parameters"</dt><dd id="model-parameters">{format!("{:.1} M", facts.parameters as f64 / 1e6)}</dd>
                    <dt>"Shape"</dt><dd>{facts.shape.clone()}</dd>
                    <dt>"Vocabulary"</dt><dd>{format!("{} tokens", facts.vocabulary)}</dd>
                    <dt>"Max length"</dt><dd>{format!("{} tokens", facts.max_length)}</dd>
                    <dt>"Files"</dt><dd>{megabytes(facts.bytes as f64)}</dd>
                    <dt>"Task"</dt><dd id="model-task">{match facts.task {
                        TaskKind::CausalLanguageModelling => "text generation: fine-tuned on your chats, prompt/completion pairs or text",
                        TaskKind::SequenceClassification => "classification: fine-tuned on your labelled texts",
                    }}</dd>
                    {(facts.task == TaskKind::SequenceClassification).then(|| view! {
                        <dt>"Classifier"</dt><dd>{match &facts.labels {
                            Some(labels) => format!("trained for: {}", labels.join(", ")),
                            None => "none yet: one is added for your labels".to_string(),
                        }}</dd>
                    })}
                </dl>
            </div>
        }
        .into_any(),
    }
}
