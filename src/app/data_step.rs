//! Step 2: the data. Drop or pick a file (or take the sample), see what was found —
//! format, preview, columns, labels, token lengths, problems with line numbers — and
//! choose the columns and what to do with bad rows.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use super::bridge::{self, Command};
use super::components::Bars;
use super::state::{DataView, ModelState, SAMPLE_DATA_URL, Step, Studio};
use super::{NextButton, StepSection, megabytes};
use crate::checkpoint::{TextInput, TextTokenizer};
use crate::data::{Columns, DataError, DataField, DataReport, Example, Finding, Format, LmReadOptions, ReadOptions, RowPolicy, Severity, compare_splits, read_dataset, read_lm_dataset};
use crate::platform::{fetch_bytes, read_file, yield_to_browser};

/// A file's name and bytes.
use super::state::NamedBytes;

/// The tokenizer of the chosen model at the max length training will use (the same
/// policy: see [`crate::checkpoint::Checkpoint::max_length`]), for length statistics.
fn tokenizer(studio: Studio) -> Option<TextTokenizer> {
    let form = studio.settings.get_untracked().parse().ok();
    let checkpoint = studio.checkpoint.get_value()?;
    let length = match form {
        Some(form) => checkpoint.max_length(form.max_length, form.settings.max_length).ok()?,
        None => checkpoint.max_length(None, crate::train::TrainConfig::default().max_length).ok()?,
    };
    checkpoint.tokenizer(length.tokens).ok()
}

/// A data option as the page names it: the control that changes it.
fn control(field: DataField) -> &'static str {
    match field {
        DataField::TextColumn => "the Text column choice below",
        DataField::LabelColumn => "the Label column choice below",
        DataField::SkipBadRows => "tick \u{201c}Skip rows that cannot be used\u{201d} below",
    }
}

/// A data error worded for the page: the options that fix it are the controls below it.
fn page_message(e: &DataError) -> String {
    match e {
        DataError::BadRows { file, count, rows, details } => {
            format!("{file}: {count} of {rows} rows cannot be used; fix them in the file and load it again, or {}{details}", control(DataField::SkipBadRows))
        }
        other => other.worded(&control),
    }
}

/// Reads the stored bytes with the current choices; updates the report, the examples and
/// the error. Runs again whenever a choice changes. Token lengths are measured after,
/// in slices that let the page breathe (`generation` drops a stale measurement).
fn analyse(studio: Studio, train: &NamedBytes, valid: Option<&NamedBytes>, options: &ReadOptions, policy: RowPolicy, source: String, generation: u32) {
    if studio.causal.with_value(Option::is_some) {
        return analyse_lm(studio, train, valid, options, policy, source, generation);
    }
    let started = web_time::Instant::now();
    let read = |(name, bytes): &NamedBytes| read_dataset(name, &bytes[..], options);
    let result = (|| {
        let train_set = read(train).map_err(|e| page_message(&e))?;
        let mut valid_set = valid.map(read).transpose().map_err(|e| page_message(&e))?;
        if let Some(v) = valid_set.as_mut() {
            v.report.add_findings(compare_splits(&train_set.examples, &v.examples, "validation"));
        }
        Ok::<_, String>((train_set, valid_set))
    })();
    let (train_set, valid_set) = match result {
        Ok(sets) => sets,
        Err(e) => {
            studio.data.set(None);
            studio.examples.set_value(None);
            return studio.data_error.set(Some(e));
        }
    };
    let problem = train_set.report.check(policy).err().or_else(|| valid_set.as_ref().and_then(|v| v.report.check(policy).err()));
    studio.lm_examples.set_value(None);
    studio.data.set(Some(DataView {
        train: train_set.report.clone(),
        valid: valid_set.as_ref().map(|v| v.report.clone()),
        source,
        read_seconds: started.elapsed().as_secs_f64(),
        layout: None,
        lm_lengths: None,
    }));
    let to_measure = (train_set.examples.clone(), valid_set.as_ref().map(|v| v.examples.clone()));
    match problem {
        Some(e) => {
            studio.examples.set_value(None);
            studio.data_error.set(Some(page_message(&e)));
        }
        None => {
            studio.examples.set_value(Some((train_set.examples, valid_set.map(|v| v.examples))));
            studio.data_error.set(None);
        }
    }
    if let Some(tokenizer) = tokenizer(studio) {
        spawn_local(measure_lengths(studio, tokenizer, to_measure, generation));
    }
}

/// Reads the studio's data files again with its current choices (what the data step does
/// when a choice, the data or the model changes; a resumed run calls it directly).
pub(super) fn analyse_current(studio: Studio) {
    let options = ReadOptions { columns: studio.columns.get_untracked(), format: studio.format.get_untracked(), ..ReadOptions::default() };
    let policy = if studio.skip_bad_rows.get_untracked() { RowPolicy::Skip } else { RowPolicy::Fail };
    let source = studio.data_source.get_untracked();
    let generation = MEASURED.with(|g| {
        g.set(g.get() + 1);
        g.get()
    });
    studio.train_bytes.with_value(|train| {
        if let Some(train) = train {
            studio.valid_bytes.with_value(|valid| analyse(studio, train, valid.as_ref(), &options, policy, source, generation));
        }
    });
}

/// [`analyse`] for a generative model: the file's layout (chats, prompt/completion pairs,
/// Alpaca instructions, plain text) decides what is learnt. Token lengths of the prompts
/// and the answers are measured after, with the chat template, as training will see them.
fn analyse_lm(studio: Studio, train: &NamedBytes, valid: Option<&NamedBytes>, options: &ReadOptions, policy: RowPolicy, source: String, generation: u32) {
    let started = web_time::Instant::now();
    let lm_options = LmReadOptions { format: options.format, text_column: options.columns.text.clone(), require_target: true };
    let read = |(name, bytes): &NamedBytes| read_lm_dataset(name, &bytes[..], &lm_options);
    let result = (|| {
        let train_set = read(train).map_err(|e| page_message(&e))?;
        let valid_set = valid.map(read).transpose().map_err(|e| page_message(&e))?;
        Ok::<_, String>((train_set, valid_set))
    })();
    studio.examples.set_value(None);
    let (train_set, valid_set) = match result {
        Ok(sets) => sets,
        Err(e) => {
            studio.data.set(None);
            studio.lm_examples.set_value(None);
            return studio.data_error.set(Some(e));
        }
    };
    let problem = train_set.report.check(policy).err().or_else(|| valid_set.as_ref().and_then(|v| v.report.check(policy).err()));
    studio.data.set(Some(DataView {
        train: train_set.report.clone(),
        valid: valid_set.as_ref().map(|v| v.report.clone()),
        source,
        read_seconds: started.elapsed().as_secs_f64(),
        layout: Some(train_set.layout),
        lm_lengths: None,
    }));
    if let Some(causal) = studio.causal.get_value() {
        spawn_local(measure_lm_lengths(studio, causal, train_set.rows.clone(), train_set.report.file.clone(), generation));
    }
    match problem {
        Some(e) => {
            studio.lm_examples.set_value(None);
            studio.data_error.set(Some(page_message(&e)));
        }
        None => {
            studio.lm_examples.set_value(Some((train_set.rows, train_set.layout, valid_set.map(|v| v.rows))));
            studio.data_error.set(None);
        }
    }
}

/// Token lengths (before truncation) and lines of `examples`, yielding to the browser
/// every 50 ms of work.
async fn lengths_of(tokenizer: &TextTokenizer, examples: &[Example]) -> Option<(Vec<usize>, Vec<usize>)> {
    let mut lengths = Vec::with_capacity(examples.len());
    let mut slice = web_time::Instant::now();
    for (i, e) in examples.iter().enumerate() {
        lengths.push(tokenizer.token_count(i, &TextInput { text: e.text.clone(), pair: e.pair.clone() }).ok()?);
        if slice.elapsed().as_millis() >= 50 {
            yield_to_browser().await;
            slice = web_time::Instant::now();
        }
    }
    Some((lengths, examples.iter().map(|e| e.line).collect()))
}

async fn measure_lengths(studio: Studio, tokenizer: TextTokenizer, (train, valid): (Vec<Example>, Option<Vec<Example>>), generation: u32) {
    let max = tokenizer.max_length();
    let Some(train) = lengths_of(&tokenizer, &train).await else { return };
    let valid = match &valid {
        Some(v) => lengths_of(&tokenizer, v).await,
        None => None,
    };
    if MEASURED.with(|g| g.get()) != generation {
        return;
    }
    studio.data.update(|data| {
        if let Some(data) = data {
            data.train.add_lengths(&train.0, &train.1, max);
            if let (Some(report), Some((lengths, lines))) = (data.valid.as_mut(), &valid) {
                report.add_lengths(lengths, lines, max);
            }
        }
    });
}

/// Tokenises a generative model's training `rows` as training will (see
/// [`crate::train::LmEncoding`]), yielding to the browser every 50 ms, and records the
/// lengths of the whole examples, their prompts and their answers, or the first row that
/// cannot be tokenised.
async fn measure_lm_lengths(studio: Studio, causal: std::rc::Rc<crate::checkpoint::CausalCheckpoint>, rows: Vec<crate::data::LmRow>, file: String, generation: u32) {
    let typed = studio.settings.get_untracked().parse().ok().and_then(|f| f.max_length);
    let Ok(length) = causal.max_length(typed, crate::session::LM_DEFAULT_MAX_LENGTH) else { return };
    let eos = causal.config().eos_token_ids().first().copied();
    let encoding = crate::train::LmEncoding { tokenizer: causal.tokenizer(), template: causal.template(), end_of_turn: causal.end_of_turn(), eos };
    let (mut total, mut prompt, mut answer, mut lines) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut problem = None;
    let mut slice = web_time::Instant::now();
    for row in &rows {
        match encoding.encode(&row.record, row.line) {
            Ok(example) => {
                let learnt = example.predicted();
                total.push(example.ids.len());
                answer.push(learnt);
                prompt.push(example.ids.len().saturating_sub(learnt));
                lines.push(row.line);
            }
            Err(message) => {
                problem = Some(format!("{file}:{}: {message}", row.line));
                break;
            }
        }
        if slice.elapsed().as_millis() >= 50 {
            yield_to_browser().await;
            slice = web_time::Instant::now();
        }
    }
    if MEASURED.with(|g| g.get()) != generation {
        return;
    }
    let stats = |lengths: &[usize]| crate::data::length_report(lengths, &lines, length.tokens).0;
    let lengths = super::state::LmLengths { total: stats(&total), prompt: stats(&prompt), answer: stats(&answer), problem };
    studio.data.update(|data| {
        if let Some(data) = data {
            data.lm_lengths = Some(lengths);
        }
    });
}

thread_local! {
    /// The latest analysis; a measurement for an older one is dropped.
    static MEASURED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

fn first_file(list: Option<web_sys::FileList>) -> Option<web_sys::File> {
    list.and_then(|l| l.get(0))
}

/// Re-reads the data whenever a choice, the data or the model changes (in the worker).
pub(super) fn watch(studio: Studio) {
    Effect::new(move |_| {
        studio.columns.track();
        studio.format.track();
        studio.skip_bad_rows.track();
        studio.data_version.track();
        let _ = studio.model.with(|m| matches!(m, ModelState::Ready(_)));
        let _ = studio.generative();
        analyse_current(studio);
    });
}

/// Reads a data file the user gave (in the worker), for training or validation.
pub(super) fn load_file(studio: Studio, file: web_sys::File, validation: bool) {
    let name = file.name();
    studio.data_busy.set(Some(format!("Reading {name}…")));
    spawn_local(async move {
        match read_file(&file, |read, total| studio.data_busy.set(Some(format!("Reading {name}: {} of {}", megabytes(read as f64), megabytes(total as f64))))).await {
            Ok(bytes) => {
                if validation {
                    studio.valid_bytes.set_value(Some((name.clone(), bytes)));
                } else {
                    studio.train_bytes.set_value(Some((name.clone(), bytes)));
                    studio.columns.set(Columns::default());
                    studio.format.set(None);
                    studio.data_source.set(name);
                    super::worker::tell_page(studio, super::worker::Owned::Choices);
                }
                studio.data_version.update(|v| *v += 1);
            }
            Err(e) => studio.data_error.set(Some(e)),
        }
        studio.data_busy.set(None);
    });
}

/// Reads the sample dataset (in the worker).
pub(super) fn load_sample(studio: Studio) {
    studio.data_busy.set(Some("Fetching the sample dataset…".into()));
    spawn_local(async move {
        let train = fetch_bytes(&format!("{SAMPLE_DATA_URL}train.jsonl")).await;
        let test = fetch_bytes(&format!("{SAMPLE_DATA_URL}test.jsonl")).await;
        match (train, test) {
            (Ok(Some(train)), Ok(Some(test))) => {
                studio.train_bytes.set_value(Some(("sentiment train.jsonl".into(), train)));
                studio.valid_bytes.set_value(Some(("sentiment test.jsonl".into(), test)));
                studio.columns.set(Columns::default());
                studio.format.set(None);
                studio.data_source.set("the sample dataset (Sentiment Labelled Sentences)".into());
                super::worker::tell_page(studio, super::worker::Owned::Choices);
                studio.data_version.update(|v| *v += 1);
            }
            (Err(e), _) | (_, Err(e)) => studio.data_error.set(Some(e)),
            _ => studio.data_error.set(Some("The sample dataset is not on this site; build it with `cargo xtask serve` or `cargo xtask dist`.".into())),
        }
        studio.data_busy.set(None);
    });
}

/// The data step.
#[component]
pub fn DataStep() -> impl IntoView {
    let studio = expect_context::<Studio>();
    let (columns, format, skip) = (studio.columns, studio.format, studio.skip_bad_rows);
    let dragging = RwSignal::new(false);
    // The worker reads the file; the page only hands it over.
    let load_file = move |file: web_sys::File, validation: bool| {
        studio.data_busy.set(Some(format!("Reading {}…", file.name())));
        bridge::send_with_files(Command::DataFile { validation }, &[file]);
    };
    let load_sample = move |_| {
        studio.data_busy.set(Some("Fetching the sample dataset…".into()));
        bridge::send(Command::SampleData);
    };

    view! {
        <StepSection step=Step::Data>
            <p class="hint">{move || if studio.generative() {
                "For a generative model: JSON lines (or CSV) with a messages column (chats: a list of {role, content}), prompt and completion columns, instruction / input / output (Alpaca), or plain text (a .txt file or a text column). The file is read here and never uploaded."
            } else {
                "Your examples: CSV or TSV with a header row, JSON lines, or a JSON array of objects; a text column and a label column. The file is read here and never uploaded."
            }}</p>
            <div class="choices">
                <div class=move || if dragging.get() { "choice drop active" } else { "choice drop" } id="data-drop"
                    on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); dragging.set(true); }
                    on:dragleave=move |_| dragging.set(false)
                    on:drop=move |ev: leptos::ev::DragEvent| {
                        ev.prevent_default();
                        dragging.set(false);
                        if let Some(file) = first_file(ev.data_transfer().and_then(|d| d.files())) {
                            load_file(file, false);
                        }
                    }>
                    <h3>"Training data"</h3>
                    <p>"Drop the file here, or pick it:"</p>
                    <label for="data-file">"Training file"</label>
                    <input type="file" id="data-file" accept=".csv,.tsv,.txt,.jsonl,.ndjson,.json,text/csv,application/json"
                        on:change=move |ev| {
                            let input: web_sys::HtmlInputElement = ev.target().unwrap().unchecked_into();
                            if let Some(file) = first_file(input.files()) { load_file(file, false); }
                        }/>
                    <label for="valid-file">"Validation file (optional; otherwise part of the training file is held out)"</label>
                    <input type="file" id="valid-file" accept=".csv,.tsv,.txt,.jsonl,.ndjson,.json,text/csv,application/json"
                        on:change=move |ev| {
                            let input: web_sys::HtmlInputElement = ev.target().unwrap().unchecked_into();
                            if let Some(file) = first_file(input.files()) { load_file(file, true); }
                        }/>
                </div>
                <div class="choice">
                    <h3>"Sample"</h3>
                    <p>"3,000 review sentences labelled positive or negative: "
                        <cite>"Sentiment Labelled Sentences"</cite>" (Kotzias et al., KDD 2015; UCI Machine Learning Repository; CC BY 4.0)."</p>
                    <button type="button" id="use-sample" on:click=load_sample>"Use the sample dataset"</button>
                </div>
            </div>
            {move || studio.data_busy.get().map(|r| view! { <p class="status busy" role="status">{r}</p> })}
            {move || studio.data_error.get().map(|e| view! { <p class="status error" id="data-error" role="alert">{e}</p> })}
            {move || studio.data.get().map(|data| view! {
                {match data.layout {
                    None => view! { <DataChoices report=data.train.clone() columns=columns format=format skip=skip/> }.into_any(),
                    Some(layout) => view! { <p id="data-layout"><strong>"Learnt from: "</strong>{layout.to_string()}{format!(" — {}", learnt(layout))}</p> }.into_any(),
                }}
                {data.lm_lengths.clone().map(|l| lm_lengths_view(l, data.layout))}
                <p class="small">{format!("Read from {} in {:.0} ms.", data.source, data.read_seconds * 1000.0)}</p>
                <ReportView report=data.train.clone() id="train-report"/>
                {data.valid.clone().map(|v| view! { <h3>"Validation file"</h3><ReportView report=v id="valid-report"/> })}
            })}
            <NextButton to=Step::Settings enabled=Signal::derive(move || studio.data.get().is_some() && studio.data_error.get().is_none())/>
        </StepSection>
    }
}

/// What a layout trains on, in words.
fn learnt(layout: crate::data::LmLayout) -> &'static str {
    use crate::data::LmLayout;
    match layout {
        LmLayout::Chat => "rendered with the model's chat template; the loss is on the assistant turns",
        LmLayout::PromptCompletion | LmLayout::Prompt => "the loss is on the completions, each ended with the end-of-sequence token",
        LmLayout::Instruction => "with the Stanford Alpaca prompt; the loss is on the outputs",
        LmLayout::Text => "the loss is on every token",
    }
}

/// Column and format choices, pre-filled with what was detected.
#[component]
fn DataChoices(report: DataReport, columns: RwSignal<Columns>, format: RwSignal<Option<Format>>, skip: RwSignal<bool>) -> impl IntoView {
    let names = report.columns.clone();
    let roles = report.roles.clone();
    let option_list = move |selected: Option<String>, none: Option<&'static str>| {
        let mut items: Vec<AnyView> = Vec::new();
        if let Some(none) = none {
            items.push(view! { <option value="" selected=selected.is_none()>{none}</option> }.into_any());
        }
        for name in &names {
            let is = selected.as_deref() == Some(name.as_str());
            items.push(view! { <option value=name.clone() selected=is>{name.clone()}</option> }.into_any());
        }
        items
    };
    let formats: [(&str, Option<Format>); 7] = [
        ("detect", None),
        ("CSV (,)", Some(Format::Delimited { delimiter: ',' })),
        ("CSV (;)", Some(Format::Delimited { delimiter: ';' })),
        ("TSV", Some(Format::Delimited { delimiter: '\t' })),
        ("JSON lines", Some(Format::JsonLines)),
        ("JSON array", Some(Format::JsonArray)),
        ("plain text", Some(Format::PlainText)),
    ];
    let current = format.get_untracked();
    view! {
        <fieldset class="data-choices">
            <legend>"How to read it"</legend>
            <div class="field">
                <label for="format-select">"Format"</label>
                <select id="format-select" on:change=move |ev| {
                    let i: usize = event_target_value(&ev).parse().unwrap_or(0);
                    format.set(formats[i].1);
                }>
                    {formats.iter().enumerate().map(|(i, (name, f))| view! {
                        <option value=i.to_string() selected=*f == current>{if f.is_none() { format!("detect ({})", report.format) } else { name.to_string() }}</option>
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="text-column">"Text column"</label>
                <select id="text-column" on:change=move |ev| columns.update(|c| c.text = Some(event_target_value(&ev)))>
                    {option_list(Some(roles.text.clone()), None)}
                </select>
            </div>
            <div class="field">
                <label for="pair-column">"Second text (sentence pairs)"</label>
                <select id="pair-column" on:change=move |ev| {
                    let v = event_target_value(&ev);
                    columns.update(|c| c.text_pair = (!v.is_empty()).then_some(v));
                }>
                    {option_list(roles.text_pair.clone(), Some("(none: single texts)"))}
                </select>
            </div>
            <div class="field">
                <label for="label-column">"Label column"</label>
                <select id="label-column" on:change=move |ev| columns.update(|c| c.label = Some(event_target_value(&ev)))>
                    {option_list(roles.label.clone(), None)}
                </select>
            </div>
            <div class="field check">
                <input type="checkbox" id="skip-bad-rows" prop:checked=move || skip.get() on:change=move |ev| skip.set(event_target_checked(&ev))/>
                <label for="skip-bad-rows">{format!("Skip rows that cannot be used ({} now) instead of stopping", report.bad_rows())}</label>
            </div>
        </fieldset>
    }
}

/// One data file's report: summary, preview, labels, lengths, findings.
#[component]
pub fn ReportView(report: DataReport, id: &'static str) -> impl IntoView {
    let summary = format!(
        "{}: {} · {} rows, {} usable{}",
        report.file,
        report.format,
        report.rows,
        report.usable,
        if report.bad_rows() > 0 { format!(", {} cannot be used", report.bad_rows()) } else { String::new() }
    );
    let columns = report.columns.clone();
    let roles = report.roles.clone();
    let role_of = move |c: &str| {
        if c == roles.text {
            " (text)"
        } else if roles.text_pair.as_deref() == Some(c) {
            " (second text)"
        } else if roles.label.as_deref() == Some(c) {
            " (label)"
        } else {
            ""
        }
    };
    view! {
        <div class="report" id=id>
            <p class="summary">{summary}</p>
            <div class="table-scroll">
                <table class="preview">
                    <caption>"First rows"</caption>
                    <thead><tr><th scope="col">"line"</th>
                        {columns.iter().map(|c| view! { <th scope="col">{format!("{c}{}", role_of(c))}</th> }).collect_view()}
                    </tr></thead>
                    <tbody>
                        {report.preview.iter().map(|row| view! {
                            <tr><td class="num">{row.line}</td>{row.cells.iter().map(|c| view! { <td>{c.clone()}</td> }).collect_view()}</tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            {report.labels.clone().map(|labels| view! {
                <h4>{format!("Labels ({})", labels.names.len())}</h4>
                <Bars items=labels.names.iter().cloned().zip(labels.counts.iter().map(|&c| c as f64)).collect() format=|v| format!("{v:.0}") id="label-bars"/>
            })}
            {report.lengths.clone().map(|l| view! {
                <p class="lengths">{format!(
                    "Token lengths: median {} · 95th percentile {} · longest {} · {} rows ({:.1}%) are longer than {} and will be truncated.",
                    l.p50, l.p95, l.max, l.truncated, l.truncated_share * 100.0, l.max_length
                )}</p>
            })}
            <Findings findings=report.findings.clone()/>
        </div>
    }
}

/// A generative model's token lengths: whole examples against the max length, then the
/// prompts (not learnt) and answers (learnt) apart, unless the data is plain text.
fn lm_lengths_view(l: super::state::LmLengths, layout: Option<crate::data::LmLayout>) -> impl IntoView {
    let t = &l.total;
    let whole = format!(
        "Token lengths as training sees them: median {} · 95th percentile {} · longest {} · {} rows ({:.1}%) are longer than {} and will be truncated.",
        t.p50, t.p95, t.max, t.truncated, t.truncated_share * 100.0, t.max_length
    );
    let parts = (layout != Some(crate::data::LmLayout::Text)).then(|| {
        format!(
            " Prompts (not learnt): median {} · longest {}. Answers (learnt): median {} · longest {}.",
            l.prompt.p50, l.prompt.max, l.answer.p50, l.answer.max
        )
    });
    view! {
        <p class="lengths" id="data-lm-lengths">{whole}{parts}</p>
        {l.problem.map(|p| view! { <p class="status error" id="data-lm-problem" role="alert">{format!("{p}. Training would stop at this row; fix it in the file.")}</p> })}
    }
}

/// The findings as a list, errors first, each with its lines.
#[component]
fn Findings(findings: Vec<Finding>) -> impl IntoView {
    if findings.is_empty() {
        return view! { <p class="status ready findings-none">"No problems found."</p> }.into_any();
    }
    view! {
        <ul class="findings">
            {findings.into_iter().map(|f| {
                let class = if f.severity == Severity::Error { "finding error" } else { "finding warning" };
                view! { <li class=class>{f.to_string()}</li> }
            }).collect_view()}
        </ul>
    }
    .into_any()
}
