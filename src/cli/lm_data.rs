//! Data files of generative models, for `generate` and `evaluate`: JSONL with one object per
//! line — `{"prompt"}`, `{"prompt", "completion"}`, `{"text"}` or `{"messages": [{role,
//! content}, …]}` — or, for any other file, one plain text per line. Every problem names
//! its line.

use std::path::Path;

use serde::Deserialize;

use super::CliError;
use crate::checkpoint::{ChatTemplate, Message};

/// What one line holds.
#[derive(Clone, Debug, PartialEq)]
pub enum LmRecord {
    /// Text to model (or to continue, for `generate`).
    Text(String),
    /// A prompt, with the completion that should follow when the data gives one.
    Prompt {
        /// The prompt.
        prompt: String,
        /// What should follow.
        completion: Option<String>,
    },
    /// A conversation.
    Chat(Vec<Message>),
}

/// A record and its place (`file:line`).
#[derive(Clone, Debug)]
pub struct LmLine {
    /// The content.
    pub record: LmRecord,
    /// `file:line`.
    pub place: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonLine {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    completion: Option<String>,
    #[serde(default)]
    messages: Option<Vec<Message>>,
}

const SHAPES: &str = "each line must be a JSON object with \"prompt\" (and optionally \"completion\"), \"text\", or \"messages\" (a list of {\"role\", \"content\"})";

/// Reads `path`: JSONL when it ends in `.jsonl` or `.json`, else plain text lines. Empty
/// lines are skipped.
pub fn read_lm_file(path: &Path) -> Result<Vec<LmLine>, CliError> {
    let lines = super::embed::read_lines(&path.to_path_buf())?;
    let jsonl = path.extension().is_some_and(|e| e == "jsonl" || e == "json");
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let place = format!("{}:{}", path.display(), i + 1);
        if line.trim().is_empty() {
            continue;
        }
        if !jsonl {
            out.push(LmLine { record: LmRecord::Text(line.clone()), place });
            continue;
        }
        let bad = |message: String| CliError::Input { path: place.clone(), message };
        let parsed: JsonLine = serde_json::from_str(line).map_err(|e| bad(format!("{e}; {SHAPES}")))?;
        let record = match parsed {
            JsonLine { text: Some(text), prompt: None, completion: None, messages: None } => LmRecord::Text(text),
            JsonLine { text: None, prompt: Some(prompt), completion, messages: None } => LmRecord::Prompt { prompt, completion },
            JsonLine { text: None, prompt: None, completion: None, messages: Some(messages) } => {
                if messages.is_empty() {
                    return Err(bad("\"messages\" is empty".into()));
                }
                LmRecord::Chat(messages)
            }
            _ => return Err(bad(format!("give one of \"prompt\", \"text\" or \"messages\" ({SHAPES})"))),
        };
        out.push(LmLine { record, place });
    }
    Ok(out)
}

/// The chat template of the model folder: `chat_template.jinja`, else `tokenizer_config.json`'s.
pub fn chat_template(model: &Path, tokenizer_config: Option<&[u8]>) -> Result<Option<ChatTemplate>, CliError> {
    let jinja_path = model.join("chat_template.jinja");
    let jinja = read_optional(&jinja_path)?;
    ChatTemplate::from_files(tokenizer_config, jinja.as_deref())
        .map_err(|e| CliError::Input { path: model.join("tokenizer_config.json").display().to_string(), message: e.to_string() })
}

/// The bytes of `path`, `None` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, CliError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::Input { path: path.display().to_string(), message: format!("cannot read: {e}") }),
    }
}

/// The error for chat data given to a model without a template.
pub fn no_template(model: &Path) -> CliError {
    CliError::Input {
        path: model.display().to_string(),
        message: "the model has no chat template (chat_template in tokenizer_config.json, or chat_template.jinja), so \"messages\" cannot be rendered; give \"prompt\" text instead".into(),
    }
}
