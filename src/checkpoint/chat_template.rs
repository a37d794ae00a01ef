//! Chat templates: the Jinja `chat_template` of `tokenizer_config.json` (or of
//! `chat_template.jinja`, where newer transformers save it), rendered as transformers'
//! `apply_chat_template` renders it — a sandboxed Jinja environment with `trim_blocks` and
//! `lstrip_blocks`, loop controls, `raise_exception`, `strftime_now` and a `tojson` that
//! writes what Python's `json.dumps` writes — with the tokenizer's special tokens
//! (`bos_token`, `eos_token`, …), `messages`, `tools`, `documents`, `add_generation_prompt`
//! and any extra variables the caller gives.

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};
use serde::{Deserialize, Serialize};

/// One turn of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user`, `assistant` (or another role the template knows).
    pub role: String,
    /// The text.
    pub content: String,
}

/// Why a chat template cannot be read or rendered.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ChatTemplateError {
    /// tokenizer_config.json is not JSON.
    #[error("tokenizer_config.json is not valid JSON: {0}")]
    Config(String),
    /// The template is not valid Jinja, or uses what webtune's renderer lacks.
    #[error("the chat template cannot be read: {0}")]
    Syntax(String),
    /// The template called `raise_exception`: the conversation is not one it accepts.
    #[error("the chat template refuses this conversation: {0}")]
    Refused(String),
    /// Rendering failed for another reason.
    #[error("the chat template failed: {0}")]
    Render(String),
}

/// A model's chat template with the special tokens it may use.
#[derive(Clone, Debug)]
pub struct ChatTemplate {
    source: String,
    special_tokens: Vec<(String, String)>,
}

const SPECIAL_TOKEN_KEYS: &[&str] = &["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

impl ChatTemplate {
    /// The template of a model's files: `chat_template.jinja` when present, else
    /// `chat_template` of `tokenizer_config.json` (a string, or a list of named templates of
    /// which `default` is used). `None` when the model has no template.
    pub fn from_files(tokenizer_config: Option<&[u8]>, chat_template_jinja: Option<&[u8]>) -> Result<Option<Self>, ChatTemplateError> {
        let config: serde_json::Value = match tokenizer_config {
            Some(bytes) => serde_json::from_slice(bytes).map_err(|e| ChatTemplateError::Config(e.to_string()))?,
            None => serde_json::Value::Null,
        };
        let source = match chat_template_jinja {
            Some(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
            None => match config.get("chat_template") {
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(serde_json::Value::Array(named)) => named
                    .iter()
                    .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                    .and_then(|t| t.get("template")?.as_str().map(str::to_string)),
                _ => None,
            },
        };
        let Some(source) = source else { return Ok(None) };
        let special_tokens = SPECIAL_TOKEN_KEYS
            .iter()
            .filter_map(|key| {
                let value = config.get(*key)?;
                // A plain string, or an AddedToken written as {"content": …}.
                let text = value.as_str().or_else(|| value.get("content")?.as_str())?;
                Some((key.to_string(), text.to_string()))
            })
            .collect();
        let template = Self { source, special_tokens };
        template.environment().template_from_str(&template.source).map_err(|e| ChatTemplateError::Syntax(describe(&e)))?;
        Ok(Some(template))
    }

    /// A template from its source and special tokens (`("eos_token", "<|im_end|>")`).
    pub fn new(source: impl Into<String>, special_tokens: &[(&str, &str)]) -> Self {
        Self { source: source.into(), special_tokens: special_tokens.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
    }

    /// The special token `key` (`eos_token`) as the tokenizer config names it.
    pub fn special_token(&self, key: &str) -> Option<&str> {
        self.special_tokens.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn environment(&self) -> Environment<'_> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |message: String| -> Result<Value, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, format!("raise_exception: {message}")))
        });
        env.add_function("strftime_now", |format: String| -> Result<Value, Error> { strftime_now(&format).map(Value::from) });
        env.add_filter("tojson", |value: Value, kwargs: Kwargs| -> Result<Value, Error> {
            let indent: Option<usize> = kwargs.get("indent")?;
            let _: Option<bool> = kwargs.get("ensure_ascii")?;
            kwargs.assert_all_used()?;
            let mut out = String::new();
            python_json(&value, indent, 0, &mut out)?;
            Ok(Value::from_safe_string(out))
        });
        env
    }

    /// The conversation as the model sees it; with `add_generation_prompt`, followed by
    /// the opening of an assistant turn. `extra`, a JSON object, holds further template
    /// variables (`tools`, `date_string`, `enable_thinking`, …) as transformers passes
    /// keyword arguments; its keys keep their order (`tojson` writes them as given).
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool, extra: Option<&str>) -> Result<String, ChatTemplateError> {
        let env = self.environment();
        let template = env.template_from_str(&self.source).map_err(|e| ChatTemplateError::Syntax(describe(&e)))?;
        let mut context: std::collections::BTreeMap<String, Value> = std::collections::BTreeMap::new();
        for (key, token) in &self.special_tokens {
            context.insert(key.clone(), Value::from(token.clone()));
        }
        if let Some(json) = extra {
            let mut de = serde_json::Deserializer::from_str(json);
            let extra = <Value as serde::Deserialize>::deserialize(&mut de).map_err(|e| ChatTemplateError::Render(format!("the extra template variables are not a JSON object: {e}")))?;
            if extra.kind() != ValueKind::Map {
                return Err(ChatTemplateError::Render("the extra template variables must be a JSON object".into()));
            }
            for key in extra.try_iter().map_err(|e| ChatTemplateError::Render(describe(&e)))? {
                let value = extra.get_item(&key).map_err(|e| ChatTemplateError::Render(describe(&e)))?;
                context.insert(key.to_string(), value);
            }
        }
        context.insert("messages".into(), Value::from_serialize(messages));
        context.insert("add_generation_prompt".into(), Value::from(add_generation_prompt));
        context.entry("tools".into()).or_insert(Value::from(()));
        context.entry("documents".into()).or_insert(Value::from(()));
        template.render(context).map_err(|e| {
            let text = describe(&e);
            match text.split_once("raise_exception: ") {
                Some((_, message)) => ChatTemplateError::Refused(message.split(" (in ").next().unwrap_or(message).to_string()),
                None => ChatTemplateError::Render(text),
            }
        })
    }
}

/// minijinja's message with its cause, on one line.
fn describe(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// `json.dumps(value, ensure_ascii=False, indent=indent)`: `", "` and `": "` between items
/// without an indent; with one, each item on its own line.
fn python_json(value: &Value, indent: Option<usize>, level: usize, out: &mut String) -> Result<(), Error> {
    let newline = |out: &mut String, level: usize| {
        if let Some(width) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(width * level));
        }
    };
    let separator = if indent.is_some() { "," } else { ", " };
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if value.is_integer() {
                out.push_str(&value.to_string());
            } else {
                let f = f64::try_from(value.clone())?;
                out.push_str(&if f.fract() == 0.0 && f.abs() < 1e16 { format!("{f:.1}") } else { format!("{f}") });
            }
        }
        ValueKind::String => out.push_str(&serde_json::to_string(value.as_str().unwrap_or_default()).map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(separator);
                }
                newline(out, level + 1);
                python_json(item, indent, level + 1, out)?;
            }
            newline(out, level);
            out.push(']');
        }
        ValueKind::Map => {
            let keys: Vec<Value> = value.try_iter()?.collect();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(separator);
                }
                newline(out, level + 1);
                python_json(&Value::from(key.to_string()), None, 0, out)?;
                out.push_str(": ");
                python_json(&value.get_item(key)?, indent, level + 1, out)?;
            }
            newline(out, level);
            out.push('}');
        }
        other => return Err(Error::new(ErrorKind::InvalidOperation, format!("tojson cannot write a {other:?}"))),
    }
    Ok(())
}

/// `strftime_now(format)`: today's date and time (UTC) in `format`, with the directives
/// chat templates use (`%d %b %B %Y %y %m %H %M %S %a %A %j %%`).
fn strftime_now(format: &str) -> Result<String, Error> {
    let secs = web_time::SystemTime::now().duration_since(web_time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    Ok(strftime(format, secs)?)
}

fn strftime(format: &str, unix_seconds: u64) -> Result<String, Error> {
    const MONTHS: [&str; 12] = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
    const DAYS: [&str; 7] = ["Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday"];
    let days = (unix_seconds / 86_400) as i64;
    let (year, month, day) = civil_from_days(days);
    let day_of_year = days - days_from_civil(year, 1, 1) + 1;
    let (h, m, s) = ((unix_seconds % 86_400) / 3600, (unix_seconds % 3600) / 60, unix_seconds % 60);
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('b') => out.push_str(&MONTHS[month as usize - 1][..3]),
            Some('B') => out.push_str(MONTHS[month as usize - 1]),
            Some('Y') => out.push_str(&year.to_string()),
            Some('y') => out.push_str(&format!("{:02}", year % 100)),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('H') => out.push_str(&format!("{h:02}")),
            Some('M') => out.push_str(&format!("{m:02}")),
            Some('S') => out.push_str(&format!("{s:02}")),
            Some('A') => out.push_str(DAYS[days.rem_euclid(7) as usize]),
            Some('a') => out.push_str(&DAYS[days.rem_euclid(7) as usize][..3]),
            Some('j') => out.push_str(&format!("{day_of_year:03}")),
            Some('%') => out.push('%'),
            other => {
                return Err(Error::new(ErrorKind::InvalidOperation, format!("strftime_now: the directive %{} is not supported", other.map(String::from).unwrap_or_default())));
            }
        }
    }
    Ok(out)
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strftime_writes_the_directives_templates_use() {
        // 2024-07-26 13:05:09 UTC, a Friday, day 208.
        let t = 1_722_000_000 - 1_722_000_000 % 86_400 + 13 * 3600 + 5 * 60 + 9;
        assert_eq!(strftime("%d %b %Y|%B %m %y|%H:%M:%S|%a %A %j|%%", t).unwrap(), "26 Jul 2024|July 07 24|13:05:09|Fri Friday 208|%");
        assert!(strftime("%Q", t).unwrap_err().to_string().contains("%Q is not supported"));
        assert_eq!(civil_from_days(days_from_civil(2000, 2, 29)), (2000, 2, 29));
    }

    #[test]
    fn tojson_writes_what_python_json_dumps_writes() {
        let t = ChatTemplate::new("{{ x | tojson }}|{{ x | tojson(indent=2) }}", &[]);
        let extra = r#"{"x": {"name": "get \"it\"", "n": [1, 2.5, true, null], "é": {}}}"#;
        assert_eq!(
            t.render(&[], false, Some(extra)).unwrap(),
            "{\"name\": \"get \\\"it\\\"\", \"n\": [1, 2.5, true, null], \"é\": {}}|{\n  \"name\": \"get \\\"it\\\"\",\n  \"n\": [\n    1,\n    2.5,\n    true,\n    null\n  ],\n  \"é\": {}\n}"
        );
    }

    #[test]
    fn raise_exception_is_a_refusal_with_the_templates_words() {
        let t = ChatTemplate::new("{% for m in messages %}{% if m.role == 'tool' %}{{ raise_exception('Roles must be user or assistant') }}{% endif %}{{ m.content }}{% endfor %}", &[]);
        let messages = [Message { role: "tool".into(), content: "x".into() }];
        assert_eq!(t.render(&messages, false, None).unwrap_err(), ChatTemplateError::Refused("Roles must be user or assistant".into()));
        let err = ChatTemplate::from_files(Some(br#"{"chat_template": "{% for m in messages %}"}"#), None).unwrap_err();
        assert!(matches!(err, ChatTemplateError::Syntax(_)), "{err}");
    }
}
