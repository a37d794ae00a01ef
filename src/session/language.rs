//! Causal language modelling: text, prompt/completion and chat records become examples
//! (completions and assistant turns learnt, unless the plan learns everything; plain text
//! packed into blocks when asked), the validation loss and perplexity, and what the model
//! says to a few fixed validation prompts at each evaluation.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use web_time::Instant;

use super::checkpoint::{Parts, RunCheckpoint};
use super::run::Run;
use super::{Common, Evaluation, Finished, Host, LanguageData, LmOptions, Note, Plan, RunMetrics, SessionError, Sources, TaskKind, Trained, TrainingArgs, check_plan};
use crate::checkpoint::CausalCheckpoint;
use crate::data::{DataReport, Example, Finding, FindingKind, LmLayout, LmRecord, LmRow, Severity, compare_splits, seeded_split};
use crate::export::{ExportError, LmCardInfo, export_causal_lm, lm_model_card, safetensors_bytes};
use crate::model::{CausalLm, GenerationSettings, ModelError, generate};
use crate::train::{
    CausalLanguageModelling, GenerationScores, exact_match, rouge_l_f1, LmEncoding, LmExample, LmSet, LogKind, Setting, SettingError, TrainError, Trainer, language_model_loss, log_csv, pack,
};

/// The max length of a language-modelling run when none is asked for (lowered to the
/// model's limit).
pub const LM_DEFAULT_MAX_LENGTH: usize = 512;
/// Validation prompts the model answers at each evaluation.
const SAMPLE_PROMPTS: usize = 3;
/// New tokens of those answers (greedy).
const SAMPLE_TOKENS: usize = 32;

/// What the model said to a fixed validation prompt at an evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The step evaluated.
    pub step: usize,
    /// The validation example's line.
    pub line: usize,
    /// The prompt as the user wrote it (a chat: its last user message).
    pub prompt: String,
    /// The greedy reply (without the stop token).
    pub reply: String,
    /// What the data says should follow.
    pub reference: String,
}

/// A validation answer scored against its reference (see [`LmOptions::score_generations`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoredAnswer {
    /// The validation example's line.
    pub line: usize,
    /// The prompt as the user wrote it (a chat: its last user message).
    pub prompt: String,
    /// The greedy answer (without the stop token).
    pub prediction: String,
    /// What the data says should follow.
    pub reference: String,
    /// Its ROUGE-L F1 against the reference.
    pub rouge_l: f64,
    /// Whether it equals the reference (surrounding whitespace aside).
    pub exact: bool,
}

/// The scores of one evaluation's answers, and the answers, worst first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoredAnswers {
    /// The step evaluated.
    pub step: usize,
    /// BLEU, ROUGE-L and exact match over all of them.
    pub scores: GenerationScores,
    /// Every answer: the wrong ones first, then by ROUGE-L, lowest first.
    pub answers: Vec<ScoredAnswer>,
}

/// A prompt the model answers at each evaluation.
#[derive(Clone)]
struct SamplePrompt {
    line: usize,
    shown: String,
    ids: Vec<u32>,
    reference: String,
}

/// A prepared run of language-model fine-tuning.
pub(super) struct Language {
    pub run: Run<CausalLanguageModelling>,
    checkpoint: CausalCheckpoint,
    options: LmOptions,
    layout: LmLayout,
    stop_ids: Vec<u32>,
    sample_prompts: Vec<SamplePrompt>,
    pub samples: Vec<Sample>,
    /// The validation prompts scored at each evaluation (when the options ask for it).
    scored_prompts: Vec<SamplePrompt>,
    /// Each evaluation's scored answers, oldest first.
    pub scored: Vec<ScoredAnswers>,
    test: Option<LmSet>,
    rows: (usize, usize),
}

/// The text compared between splits for leakage: the record's content.
fn leak_key(row: &LmRow) -> Example {
    let text = match &row.record {
        LmRecord::Text(t) => t.clone(),
        LmRecord::Prompt { prompt, completion } => format!("{prompt}\u{0}{}", completion.as_deref().unwrap_or("")),
        LmRecord::Chat(messages) => messages.iter().map(|m| format!("{}\u{0}{}", m.role, m.content)).collect::<Vec<_>>().join("\u{1}"),
    };
    Example { text, pair: None, label: None, line: row.line }
}

/// The prompt a user recognises: a chat's last user message, else the prompt.
fn shown_prompt(record: &LmRecord) -> String {
    match record {
        LmRecord::Chat(messages) => messages.iter().rev().find(|m| m.role == "user").map(|m| m.content.clone()).unwrap_or_default(),
        LmRecord::Prompt { prompt, .. } => prompt.clone(),
        LmRecord::Text(text) => text.clone(),
    }
}

/// Tokenises `rows` of `file` into examples, a slice at a time: learning everything when
/// the plan says so, truncated to `max_length` (or packed into blocks of it). A row with
/// nothing left to learn is an error naming its line. With `report`, records the token
/// lengths and what truncation removes.
async fn encode_rows(
    encoding: &LmEncoding<'_>,
    rows: &[LmRow],
    file: &str,
    options: LmOptions,
    max_length: usize,
    host: &impl Host,
    report: Option<&mut DataReport>,
) -> Result<Vec<LmExample>, SessionError> {
    let row_error = |line: usize, message: String| SessionError::Row { file: file.to_string(), line, message };
    let (mut examples, mut lengths, mut lines) = (Vec::with_capacity(rows.len()), Vec::with_capacity(rows.len()), Vec::with_capacity(rows.len()));
    let (mut cut_tokens, mut learnt_tokens, mut cut_rows) = (0usize, 0usize, Vec::new());
    for (i, row) in rows.iter().enumerate() {
        if i > 0 && i % 256 == 0 {
            host.breathe().await;
        }
        let mut example = encoding.encode(&row.record, row.line).map_err(|m| row_error(row.line, m))?;
        if options.train_on_prompt {
            example.learn_everything();
        }
        lengths.push(example.ids.len());
        lines.push(row.line);
        learnt_tokens += example.predicted();
        if !options.packing {
            let full = example.ids.len();
            let cut = example.truncate(max_length);
            if cut > 0 {
                cut_tokens += cut;
                cut_rows.push(row.line);
            }
            if example.predicted() == 0 {
                let message = if full > max_length {
                    format!("the prompt alone fills the max length of {max_length} tokens (the example has {full}), so nothing is left to learn; shorten the prompt or raise the max length")
                } else {
                    "it has nothing to learn: a text needs at least two tokens, and a completion or assistant turn at least one".to_string()
                };
                return Err(row_error(row.line, message));
            }
        }
        examples.push(example);
    }
    if let Some(report) = report {
        report.add_lengths(&lengths, &lines, max_length);
        if options.packing {
            report.findings.retain(|f| f.kind != FindingKind::Truncated);
        } else if cut_tokens > 0 {
            let what = match options.train_on_prompt {
                true => "tokens",
                false => "completion tokens",
            };
            let share = 100.0 * cut_tokens as f64 / learnt_tokens.max(1) as f64;
            report.add_findings([Finding::new(
                FindingKind::Truncated,
                Severity::Warning,
                format!("truncation at {max_length} tokens removes {cut_tokens} of the {learnt_tokens} {what} to learn ({share:.1}%); raise the max length if the ends of the answers matter"),
                &cut_rows,
                cut_rows.len(),
            )]);
        }
    }
    if options.packing {
        examples = pack(&examples, max_length, encoding.eos);
    }
    Ok(examples)
}

/// Prepares a language-modelling run (see [`super::Session::prepare`]).
pub(super) async fn prepare(checkpoint: CausalCheckpoint, data: LanguageData, mut plan: Plan, sources: Sources, device: Device, host: &impl Host) -> Result<(Common, Language), SessionError> {
    let max_length = check_plan(&mut plan, |r, d| checkpoint.max_length(r, d), LM_DEFAULT_MAX_LENGTH)?;
    let options = plan.lm;
    if options.packing && data.layout != LmLayout::Text {
        return Err(SettingError {
            setting: Setting::Packing,
            value: "on".into(),
            reason: format!("packing joins plain texts into blocks, and {} holds {}; turn it off", data.train_report.file, data.layout),
        }
        .into());
    }
    let config = plan.settings.clone();
    let mut notes = Vec::new();
    if let Some(message) = max_length.note() {
        notes.push(Note { file: String::new(), finding: None, message });
    }
    let LanguageData { train, layout, mut train_report, valid, test } = data;
    let (train, valid, valid_file) = match valid {
        Some(valid) => (train, valid, sources.valid.clone().unwrap_or_default()),
        None if plan.valid_split > 0.0 => {
            let (train, valid) = seeded_split(train, plan.valid_split, config.seed);
            (train, valid, sources.train.clone())
        }
        None => (train, Vec::new(), String::new()),
    };
    let train_keys: Vec<Example> = train.iter().map(leak_key).collect();
    let leaks = |file: &str, other: &[LmRow], what: &str| -> Vec<Note> {
        let keys: Vec<Example> = other.iter().map(leak_key).collect();
        compare_splits(&train_keys, &keys, what).into_iter().map(|f| Note { file: file.to_string(), finding: Some(f), message: String::new() }).collect()
    };
    notes.extend(leaks(&valid_file, &valid, "validation"));
    if let Some(test) = &test {
        notes.extend(leaks(sources.test.as_deref().unwrap_or_default(), test, "test"));
    }

    let tokenizer = checkpoint.tokenizer().clone();
    let eos = checkpoint.config().eos_token_ids().first().copied();
    let encoding = LmEncoding { tokenizer: &tokenizer, template: checkpoint.template(), end_of_turn: checkpoint.end_of_turn(), eos };
    host.preparing(&format!("Tokenising {} + {} examples…", train.len(), valid.len()));
    host.breathe().await;
    let train_set = encode_rows(&encoding, &train, &sources.train, options, max_length.tokens, host, Some(&mut train_report)).await?;
    for finding in train_report.findings.iter().filter(|f| f.kind == FindingKind::Truncated) {
        notes.push(Note { file: sources.train.clone(), finding: Some(finding.clone()), message: String::new() });
    }
    let valid_set = match valid.is_empty() {
        true => None,
        false => Some(encode_rows(&encoding, &valid, &valid_file, options, max_length.tokens, host, None).await?),
    };
    let test_set = match &test {
        Some(rows) => Some(encode_rows(&encoding, rows, sources.test.as_deref().unwrap_or_default(), options, max_length.tokens, host, None).await?),
        None => None,
    };
    let chat = layout == LmLayout::Chat;
    let stop_ids = checkpoint.stop_ids(chat);
    let mut sample_prompts = Vec::new();
    for row in valid.iter() {
        if sample_prompts.len() == SAMPLE_PROMPTS {
            break;
        }
        if let Ok(Some((ids, reference))) = encoding.reference(&row.record)
            && !ids.is_empty()
            && ids.len() + SAMPLE_TOKENS <= checkpoint.limit()
        {
            sample_prompts.push(SamplePrompt { line: row.line, shown: shown_prompt(&row.record), ids, reference });
        }
    }
    let scored_prompts = match options.score_generations {
        Some(new_tokens) => scored_prompts(&encoding, &valid, &valid_file, new_tokens, checkpoint.limit(), &mut notes)?,
        None => Vec::new(),
    };

    host.preparing("Building the model on the device…");
    host.breathe().await;
    let pad_id = checkpoint.config().pad_token_id();
    let (model, _) = CausalLm::load(checkpoint.files(), checkpoint.config(), &device.clone().autodiff())?;
    let examples = (train_set.len(), valid_set.as_ref().map_or(0, Vec::len));
    let task = CausalLanguageModelling { train: LmSet::new(train_set, pad_id), valid: valid_set.map(|examples| LmSet::new(examples, pad_id)) };
    let trainer = Trainer::with_task(model, task, config, device)?;
    let rows = (train.len(), valid.len());
    let common = Common { sources, plan, max_length, notes, train_report, examples };
    let test = test_set.map(|examples| LmSet::new(examples, pad_id));
    let language = Language { run: Run::new(trainer), checkpoint, options, layout, stop_ids, sample_prompts, samples: Vec::new(), scored_prompts, scored: Vec::new(), test, rows };
    Ok((common, language))
}

/// The validation prompts whose answers are scored (see [`LmOptions::score_generations`]):
/// every record with a reference whose prompt leaves room for `new_tokens` within the
/// model's `limit`. Those that do not are named in a note; plain text (nothing to score)
/// and no validation set are errors of the setting.
fn scored_prompts(encoding: &LmEncoding<'_>, valid: &[LmRow], file: &str, new_tokens: usize, limit: usize, notes: &mut Vec<Note>) -> Result<Vec<SamplePrompt>, SessionError> {
    let refuse = |reason: String| SessionError::Setting(SettingError { setting: Setting::MaxNewTokens, value: new_tokens.to_string(), reason });
    if new_tokens == 0 {
        return Err(refuse("an answer needs at least 1 new token (try 64)".into()));
    }
    if new_tokens >= limit {
        return Err(refuse(format!("the model takes at most {limit} tokens, prompt included; choose fewer (try 64)")));
    }
    if valid.is_empty() {
        return Err(refuse("there is no validation set to generate answers for; give a validation file or hold out a share of the training data".into()));
    }
    let (mut prompts, mut too_long) = (Vec::new(), Vec::new());
    for row in valid {
        match encoding.reference(&row.record) {
            Ok(Some((ids, reference))) if !ids.is_empty() && ids.len() + new_tokens <= limit => {
                prompts.push(SamplePrompt { line: row.line, shown: shown_prompt(&row.record), ids, reference });
            }
            Ok(Some(_)) => too_long.push(row.line),
            Ok(None) => {}
            Err(message) => return Err(SessionError::Row { file: file.to_string(), line: row.line, message }),
        }
    }
    if prompts.is_empty() && too_long.is_empty() {
        return Err(refuse(format!("{file} has no answers to score: plain text, or chats that do not end with an assistant message; turn scoring off or use prompt/completion or chat data")));
    }
    if !too_long.is_empty() {
        let lines = too_long.iter().take(10).map(|l| l.to_string()).collect::<Vec<_>>().join(", ");
        let more = if too_long.len() > 10 { format!(" and {} more", too_long.len() - 10) } else { String::new() };
        notes.push(Note {
            file: file.to_string(),
            finding: None,
            message: format!(
                "{} validation prompts leave no room for {new_tokens} new tokens within the model's {limit}, so their answers are not scored (lines {lines}{more}); lower the new tokens to score them",
                too_long.len()
            ),
        });
    }
    Ok(prompts)
}

fn device_error(e: ModelError) -> TrainError {
    match e {
        ModelError::Readback(detail) => TrainError::Device(detail),
        ModelError::Conversion(detail) => TrainError::Conversion(detail),
        other => TrainError::Data(other.to_string()),
    }
}

impl Language {
    /// Greedy answers of `model` to `prompts` (at most `new_tokens` each, without the stop
    /// token), a batch at a time.
    async fn answer(&self, model: &CausalLm, prompts: &[SamplePrompt], new_tokens: usize) -> Result<Vec<String>, TrainError> {
        let settings = GenerationSettings::greedy(new_tokens, self.stop_ids.clone(), self.checkpoint.config().pad_token_id());
        let mut answers = Vec::with_capacity(prompts.len());
        for chunk in prompts.chunks(self.run.trainer.config().batch_size.max(1)) {
            let ids: Vec<Vec<u32>> = chunk.iter().map(|p| p.ids.clone()).collect();
            for reply in generate(model, &ids, &settings, self.run.device()).await.map_err(device_error)? {
                answers.push(self.checkpoint.tokenizer().decode(settings.text_ids(&reply), false).map_err(|e| TrainError::Data(e.to_string()))?);
            }
        }
        Ok(answers)
    }

    /// `model`'s answers to the scored validation prompts, scored (`None` when the run
    /// does not score answers).
    async fn score(&self, model: &CausalLm, step: usize) -> Result<Option<ScoredAnswers>, TrainError> {
        let Some(new_tokens) = self.options.score_generations.filter(|_| !self.scored_prompts.is_empty()) else { return Ok(None) };
        let predictions = self.answer(model, &self.scored_prompts, new_tokens).await?;
        let references: Vec<String> = self.scored_prompts.iter().map(|p| p.reference.clone()).collect();
        let scores = GenerationScores::of(&predictions, &references);
        let mut answers: Vec<ScoredAnswer> = self
            .scored_prompts
            .iter()
            .zip(predictions)
            .map(|(p, prediction)| ScoredAnswer {
                line: p.line,
                prompt: p.shown.clone(),
                rouge_l: rouge_l_f1(&prediction, &p.reference),
                exact: exact_match(&prediction, &p.reference),
                prediction,
                reference: p.reference.clone(),
            })
            .collect();
        answers.sort_by(|a, b| a.exact.cmp(&b.exact).then(a.rouge_l.total_cmp(&b.rouge_l)).then(a.line.cmp(&b.line)));
        Ok(Some(ScoredAnswers { step, scores, answers }))
    }

    /// The validation loss and perplexity, the scored answers when the run asks for them,
    /// then the model's answers to the fixed prompts.
    pub(super) async fn evaluate(&mut self) -> Result<Option<Evaluation>, TrainError> {
        let Some(mut evaluation) = self.run.evaluate(|e| Evaluation::LanguageModel(e.clone())).await? else { return Ok(None) };
        let started = Instant::now();
        let model = self.run.trainer.current_model();
        let step = self.run.trainer.steps_done();
        if let Some(scored) = self.score(&model, step).await? {
            if let Evaluation::LanguageModel(e) = &mut evaluation {
                e.generation = Some(scored.scores);
            }
            self.scored.push(scored);
        }
        if !self.sample_prompts.is_empty() {
            let replies = self.answer(&model, &self.sample_prompts, SAMPLE_TOKENS).await?;
            for (prompt, reply) in self.sample_prompts.iter().zip(replies) {
                self.samples.push(Sample { step, line: prompt.line, prompt: prompt.shown.clone(), reply, reference: prompt.reference.clone() });
            }
        }
        self.run.seconds += started.elapsed().as_secs_f64();
        Ok(Some(evaluation))
    }

    /// The files the run started from.
    pub(super) fn source_files(&self) -> &crate::checkpoint::ModelFiles {
        self.checkpoint.files()
    }

    fn training_args(&self, common: &Common) -> TrainingArgs {
        common.training_args(TaskKind::CausalLanguageModelling, self.checkpoint.config().model_type(), self.run.trainer.config().clone(), Some(self.options))
    }

    /// The files of a checkpoint at the current step (see [`super::checkpoint`]).
    pub(super) async fn checkpoint_parts(&self, common: &Common) -> Result<Parts, SessionError> {
        let trainer = &self.run.trainer;
        let model = trainer.current_model();
        let export = export_causal_lm(model.named_tensors(), self.checkpoint.files(), &self.training_args(common), &serde_json::Value::Null).await?;
        let best = match trainer.best() {
            Some(best) => Some(safetensors_bytes(best.model.named_tensors()).await?),
            None => None,
        };
        let state = serde_json::to_value(trainer.state()).map_err(|e| ExportError::Encode { file: super::STATE_FILE.into(), message: e.to_string() })?;
        Ok(Parts { export, trainer: state, moments: trainer.moment_tensors()?, best })
    }

    /// The data layout (kept in a checkpoint's state).
    pub(super) fn layout(&self) -> LmLayout {
        self.layout
    }

    /// Continues from `checkpoint`, whose weights this run was prepared from.
    pub(super) fn restore(&mut self, checkpoint: &RunCheckpoint) -> Result<(), SessionError> {
        let state = checkpoint.state();
        let trainer = serde_json::from_value(state.trainer.clone()).map_err(|e| SessionError::Mismatch(format!("{}/{}: the trainer's state is unreadable ({e}); resume from an earlier checkpoint", checkpoint.place(), super::STATE_FILE)))?;
        let best = match checkpoint.best_files() {
            Some(files) => Some(CausalLm::load(&files, self.checkpoint.config(), self.run.device())?.0),
            None => None,
        };
        let mut moments = checkpoint.moments()?;
        self.run.trainer.restore(trainer, |name| moments.remove(name), best)?;
        self.run.restore(state);
        self.samples = state.samples.clone();
        self.scored = state.scored.clone();
        Ok(())
    }

    pub(super) async fn finish(self, common: Common) -> Result<Finished, SessionError> {
        let run = &self.run;
        let steps = run.trainer.steps_done();
        let stop_reason = run.ended();
        let device = run.device().clone();
        let batch = run.trainer.config().batch_size;
        let mut kept = run.kept().await?;
        // The kept weights' answers: scored at their evaluation, or now.
        let answers = match self.scored.iter().find(|s| s.step == kept.step) {
            Some(scored) => Some(scored.clone()),
            None => self.score(&kept.model, kept.step).await?,
        };
        if let (Some(validation), Some(answers)) = (kept.validation.as_mut(), &answers) {
            validation.generation = Some(answers.scores);
        }
        let test = match &self.test {
            Some(set) => Some(Evaluation::LanguageModel(language_model_loss(&kept.model, set, batch, &device).await?)),
            None => None,
        };
        let validation = kept.validation.clone().map(Evaluation::LanguageModel);
        let metrics = RunMetrics { steps, best_step: run.trainer.best().map(|b| b.step), kept_step: kept.step, stop_reason, training_seconds: run.seconds, validation, test };
        let settings = run.trainer.config().clone();
        let sources = &common.sources;
        let training_args = self.training_args(&common);
        let card = lm_model_card(&LmCardInfo {
            base_model: sources.base_model.clone(),
            base_model_id: sources.base_model_id.clone(),
            data_source: sources.train.clone(),
            layout: self.layout.to_string(),
            chat: self.layout == LmLayout::Chat,
            train_rows: self.rows.0,
            valid_rows: self.rows.1,
            packing: self.options.packing,
            train_on_prompt: self.options.train_on_prompt,
            settings,
            steps: (steps, kept.step),
            metrics: kept.validation.clone(),
        });
        Ok(Finished {
            trained: Trained::LanguageModel { model: kept.model, stop_ids: self.stop_ids.clone(), samples: self.samples.clone(), answers },
            tokenizer: self.checkpoint.tokenizer().clone(),
            device,
            task: TaskKind::CausalLanguageModelling,
            log_csv: log_csv(&run.log, LogKind::LanguageModel),
            log: run.log.clone(),
            training_args,
            metrics,
            card,
            source: self.checkpoint.files().clone(),
        })
    }
}
