//! The studio's logic without its Leptos components: the settings form, the memory-fit
//! check, Hub addresses, chart arithmetic, confusion shading and number formats. It
//! compiles on every target, so `cargo test` reaches it; the components in `app` only
//! render what it computes and dispatch what the user does.

pub mod chart;
pub mod confusion;
mod fit;
mod format;
mod hub;
mod settings;

pub use fit::{FitDevice, check_fit, vocab_table};
pub use format::{duration, median, megabytes};
pub use hub::hub_base_url;
pub use settings::{FIELDS, FieldError, GENERATIVE_FIELDS, Form, STUDIO_PAD_MULTIPLE, SettingsForm, field_id, field_label};
