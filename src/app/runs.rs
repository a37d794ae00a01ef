//! The studio's runs kept in the browser's private file system, so that a reload, a
//! closed tab, a crash or a lost GPU costs at most the steps since the last checkpoint.
//!
//! Layout, under `webtune-runs/`:
//! ```text
//! <run id>/run.json          what the runs list shows, and which checkpoint is current
//! <run id>/data/<role>/<file> the data files, so a resumed run needs nothing from the user
//! <run id>/ckpt-<step>/…     the checkpoint (see crate::session::RunCheckpoint)
//! ```
//! A checkpoint is written to its own folder, then `run.json` is switched to it (a file
//! write the browser commits whole), then the previous checkpoint is removed: a crash at any
//! point leaves a whole checkpoint that `run.json` or the folder list names.

use serde::{Deserialize, Serialize};

use crate::checkpoint::ModelFiles;
use crate::platform::{StoredFolder, storage_root};
use crate::session::{DataRole, Host, RunCheckpoint, STATE_FILE};

/// The folder of the studio's runs.
const RUNS: &str = "webtune-runs";
/// A run's summary.
const SUMMARY: &str = "run.json";

/// A data file kept with a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredData {
    /// `train`, `valid` or `test`.
    pub role: String,
    /// The file's name as the user gave it.
    pub file: String,
}

/// A run kept in the browser, as the runs list shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredRun {
    /// Its folder's name.
    pub id: String,
    /// The model it fine-tunes.
    pub base_model: String,
    /// The training file's name.
    pub train_file: String,
    /// Steps done at the current checkpoint (0 before the first).
    pub step: usize,
    /// Steps in the whole run.
    pub total_steps: usize,
    /// When the current checkpoint was saved (ms since 1970), or the run started.
    pub saved_at_ms: u64,
    /// The current checkpoint's folder, once there is one.
    pub checkpoint: Option<String>,
    /// The current checkpoint's size in bytes.
    pub bytes: u64,
    /// The data files kept with the run.
    pub data: Vec<StoredData>,
}

impl StoredRun {
    /// One line for the runs list.
    pub fn summary(&self) -> String {
        format!("{} on {} — step {} of {}", self.base_model, self.train_file, self.step, self.total_steps)
    }
}

/// The role's folder name.
fn role_name(role: DataRole) -> &'static str {
    match role {
        DataRole::Train => "train",
        DataRole::Valid => "valid",
        DataRole::Test => "test",
    }
}

/// Milliseconds since 1970.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// The runs kept in this browser.
#[derive(Clone, Debug)]
pub struct RunStore {
    root: StoredFolder,
}

impl RunStore {
    /// Opens (creating) the runs folder, or says why the browser cannot keep runs.
    pub async fn open() -> Result<Self, String> {
        let root = storage_root().await?.folder(RUNS, true).await?.ok_or("the runs folder could not be created")?;
        Ok(Self { root })
    }

    async fn run_folder(&self, id: &str) -> Result<StoredFolder, String> {
        self.root.folder(id, false).await?.ok_or_else(|| format!("the run {id} is no longer stored"))
    }

    /// Every stored run, the latest saved first. A run whose summary cannot be read is left
    /// out of the list (and named in the console).
    pub async fn list(&self) -> Result<Vec<StoredRun>, String> {
        let mut runs = Vec::new();
        for (name, is_folder) in self.root.entries().await? {
            if !is_folder {
                continue;
            }
            let folder = self.run_folder(&name).await?;
            match folder.read(SUMMARY).await {
                Ok(Some(bytes)) => match serde_json::from_slice::<StoredRun>(&bytes) {
                    Ok(run) => runs.push(run),
                    Err(e) => web_sys::console::warn_1(&format!("webtune: {}/{SUMMARY} cannot be read: {e}", folder.path()).into()),
                },
                Ok(None) => {}
                Err(e) => web_sys::console::warn_1(&format!("webtune: {e}").into()),
            }
        }
        runs.sort_by_key(|r| std::cmp::Reverse(r.saved_at_ms));
        Ok(runs)
    }

    /// Starts a run's record: its data files are kept with it, so a resumed run reads them
    /// from here.
    pub async fn create(&self, run: StoredRun, data: &[(DataRole, &str, &[u8])]) -> Result<StoredRun, String> {
        let folder = self.root.folder(&run.id, true).await?.ok_or("the run's folder could not be created")?;
        let mut run = run;
        for (role, name, bytes) in data {
            folder.write(&format!("data/{}/{name}", role_name(*role)), bytes).await?;
            run.data.push(StoredData { role: role_name(*role).into(), file: (*name).to_string() });
        }
        folder.write(SUMMARY, &serde_json::to_vec_pretty(&run).map_err(|e| e.to_string())?).await?;
        Ok(run)
    }

    /// Saves the checkpoint `files` of `run` at `step` of `total_steps` (see the module's
    /// notes on why a crash never leaves half of one), and returns the run's new summary.
    pub async fn save(&self, run: &StoredRun, files: &ModelFiles, step: usize, total_steps: usize) -> Result<StoredRun, String> {
        let folder = self.run_folder(&run.id).await?;
        let name = format!("ckpt-{step}");
        folder.remove(&name).await?;
        let target = folder.folder(&name, true).await?.ok_or("the checkpoint's folder could not be created")?;
        // The state file last: a checkpoint without it is not one.
        let written = async {
            for file in files.names().filter(|n| *n != STATE_FILE) {
                target.write(file, files.get(file).unwrap_or_default()).await?;
            }
            target.write(STATE_FILE, files.get(STATE_FILE).unwrap_or_default()).await
        }
        .await;
        if let Err(e) = written {
            // A half-written checkpoint (a full quota) would only hold space the previous one may need.
            let _ = folder.remove(&name).await;
            return Err(e);
        }
        let mut next = run.clone();
        next.step = step;
        next.total_steps = total_steps;
        next.saved_at_ms = now_ms();
        next.bytes = files.total_bytes() as u64;
        next.checkpoint = Some(name.clone());
        folder.write(SUMMARY, &serde_json::to_vec_pretty(&next).map_err(|e| e.to_string())?).await?;
        for (entry, is_folder) in folder.entries().await? {
            if is_folder && entry.starts_with("ckpt-") && entry != name {
                folder.remove(&entry).await?;
            }
        }
        Ok(next)
    }

    /// The run's checkpoint, checked file by file: the current one, else (after a crash
    /// between writing a checkpoint and switching to it) the newest whole one.
    pub async fn checkpoint(&self, run: &StoredRun, host: &impl Host) -> Result<RunCheckpoint, String> {
        let folder = self.run_folder(&run.id).await?;
        let mut candidates: Vec<(usize, String)> = folder
            .entries()
            .await?
            .into_iter()
            .filter(|(name, is_folder)| *is_folder && name.starts_with("ckpt-"))
            .filter_map(|(name, _)| name.trim_start_matches("ckpt-").parse().ok().map(|step| (step, name)))
            .collect();
        candidates.sort_by_key(|(step, name)| (Some(name) != run.checkpoint.as_ref(), std::cmp::Reverse(*step)));
        let mut refused = Vec::new();
        for (_, name) in candidates {
            let Some(checkpoint) = folder.folder(&name, false).await? else { continue };
            let mut files = ModelFiles::new(format!("the saved run's {name}"));
            let Some(state) = checkpoint.read(STATE_FILE).await? else {
                refused.push(format!("{name} has no {STATE_FILE}"));
                continue;
            };
            for file in RunCheckpoint::listed_files(&state) {
                if let Some(bytes) = checkpoint.read(&file).await? {
                    files.insert(file, bytes);
                }
            }
            files.insert(STATE_FILE, state);
            match RunCheckpoint::read(files, host).await {
                Ok(checkpoint) => return Ok(checkpoint),
                Err(e) => refused.push(e.to_string()),
            }
        }
        Err(match refused.is_empty() {
            true => "this run has no checkpoint yet (one is saved at each evaluation, on Pause and on the interval in the settings)".into(),
            false => format!("none of this run's checkpoints can be read: {}", refused.join("; ")),
        })
    }

    /// A data file kept with the run, if it is there.
    pub async fn data(&self, run: &StoredRun, role: DataRole) -> Result<Option<(String, Vec<u8>)>, String> {
        let Some(kept) = run.data.iter().find(|d| d.role == role_name(role)) else { return Ok(None) };
        let folder = self.run_folder(&run.id).await?;
        Ok(folder.read(&format!("data/{}/{}", kept.role, kept.file)).await?.map(|bytes| (kept.file.clone(), bytes)))
    }

    /// Forgets a run and everything kept with it.
    pub async fn delete(&self, id: &str) -> Result<(), String> {
        self.root.remove(id).await
    }
}
