//! The model setting: which neural model the plugin uses, persisted with the plugin's state
//! (nice-plug `#[persist = "model"]` field [`ModelSetting`]), chosen in the editor or, when
//! the saved setting is empty, by the environment variable [`MODEL_ENV`].
//!
//! Loading happens off the audio thread: in the host's state restore (the persisted field's
//! `set`), in `activate`, or on a thread the editor starts. A model that cannot be used (a
//! missing folder, invalid files, another STFT framing, a graph the backend rejects) is
//! replaced by the embedded default, and [`ModelReport`] says so; nothing panics. While the
//! plugin runs, a new neural engine reaches the audio thread through the chain's
//! [`EngineHandoff`].

use std::path::Path;
use std::sync::{Arc, Mutex};

use nice_plug::params::persist::PersistentField;
use serde::{Deserialize, Serialize};
use xodvox_infer::{EngineHandoff, ModelBundle, RealtimePhaseEngine};

use crate::dsp::{build_neural, DspSettings, NeuralAvailability, PluginStatus};

/// Environment variable naming a model folder (`model.json` + `model.onnx`), used when the
/// saved setting is empty (hosts without the editor).
pub const MODEL_ENV: &str = "XODVOX_MODEL";

/// What the plugin saves for the model (the JSON of the `model` field in its state). Only
/// `dir` is read back on restore; the rest records what was in use when it was saved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelState {
    /// The chosen model folder; empty: `$XODVOX_MODEL`, else the embedded default.
    #[serde(default)]
    pub dir: String,
    /// The model in use (a folder, or `embedded default`); informational.
    #[serde(default)]
    pub in_use: String,
    /// What happened when it was loaded; informational.
    #[serde(default)]
    pub message: String,
    /// The chosen model could not be used and the embedded default replaced it.
    #[serde(default)]
    pub fallback: bool,
}

/// What the model setting resolved to, for the editor and the saved state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelReport {
    /// The folder asked for (the setting, else `$XODVOX_MODEL`); empty: the default.
    pub requested: String,
    /// The model in use (a folder, or `embedded default`).
    pub in_use: String,
    /// One line for the UI.
    pub message: String,
    /// The requested model could not be used and the embedded default replaced it.
    pub fallback: bool,
    /// A load is in progress.
    pub loading: bool,
}

#[derive(Default)]
struct Loaded {
    /// The setting's value this was loaded for.
    dir: String,
    /// The environment variable's value when it was loaded.
    env: Option<String>,
    bundle: Option<ModelBundle>,
    /// A load has happened (the fields above describe it).
    done: bool,
}

/// The shared state behind [`ModelSetting`] (plugin, editor and loader threads).
pub struct ModelShared {
    status: Arc<PluginStatus>,
    dir: Mutex<String>,
    loaded: Mutex<Loaded>,
    report: Mutex<ModelReport>,
    /// The running chain's settings and handoff, once activated.
    active: Mutex<Option<(DspSettings, Arc<EngineHandoff>)>>,
    /// Serialises loads (editor thread vs host restore).
    load_lock: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ModelShared {
    /// The chosen folder (empty: the default).
    pub fn dir(&self) -> String {
        lock(&self.dir).clone()
    }

    /// What the setting resolved to.
    pub fn report(&self) -> ModelReport {
        lock(&self.report).clone()
    }

    /// Chooses another model folder (empty: the default) and loads it now, on this thread
    /// (not the audio thread). A running chain gets the new engine at its next frame.
    pub fn set_dir(&self, dir: &str) {
        *lock(&self.dir) = dir.trim().to_string();
        self.reload();
    }

    /// Like [`set_dir`](Self::set_dir), on a new thread (for the editor).
    pub fn set_dir_in_background(self: &Arc<Self>, dir: &str) {
        *lock(&self.dir) = dir.trim().to_string();
        lock(&self.report).loading = true;
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name("xodvox-model-load".into())
            .spawn(move || me.reload());
        if spawned.is_err() {
            self.reload();
        }
    }

    /// The model for the current setting, loading it first if the setting (or the
    /// environment variable) changed since the last load.
    pub fn bundle(&self) -> Option<ModelBundle> {
        let _g = lock(&self.load_lock);
        self.load_locked(false)
    }

    /// Builds the neural engine for a chain with `settings`: the setting's model, or the
    /// embedded default (reported as a fallback) when the backend rejects it.
    pub fn build_engine(
        &self,
        settings: &DspSettings,
    ) -> (Option<RealtimePhaseEngine>, NeuralAvailability) {
        let _g = lock(&self.load_lock);
        let bundle = self.load_locked(false);
        self.build_locked(settings, bundle)
    }

    /// Registers the running chain: later loads hand it their engine.
    pub fn attach(&self, settings: DspSettings, handoff: Arc<EngineHandoff>) {
        *lock(&self.active) = Some((settings, handoff));
    }

    /// Drops the engine the audio thread replaced, if any (GUI timer, loads).
    pub fn collect_retired(&self) {
        if let Some((_, h)) = lock(&self.active).as_ref() {
            h.collect();
        }
    }

    fn reload(&self) {
        let _g = lock(&self.load_lock);
        let bundle = self.load_locked(true);
        let active = lock(&self.active).clone();
        if let Some((settings, handoff)) = active {
            handoff.collect();
            let (engine, availability) = self.build_locked(&settings, bundle);
            let engine_status = engine.as_ref().map(RealtimePhaseEngine::status);
            if let Some(engine) = engine {
                handoff.offer(engine);
            }
            self.status.set_engine(availability, engine_status);
        }
        lock(&self.report).loading = false;
    }

    /// Loads the bundle for the current setting unless it is loaded already (`force`:
    /// always). Holds `load_lock`.
    fn load_locked(&self, force: bool) -> Option<ModelBundle> {
        let dir = self.dir();
        let env = std::env::var(MODEL_ENV)
            .ok()
            .filter(|s| !s.trim().is_empty());
        {
            let loaded = lock(&self.loaded);
            if !force && loaded.done && loaded.dir == dir && loaded.env == env {
                return loaded.bundle.clone();
            }
        }
        let (requested, origin) = if !dir.is_empty() {
            (dir.clone(), "")
        } else if let Some(e) = env.as_ref() {
            (e.trim().to_string(), " (from XODVOX_MODEL)")
        } else {
            (String::new(), "")
        };
        let (bundle, report) = if requested.is_empty() {
            let bundle = ModelBundle::embedded_default().ok();
            let report = ModelReport {
                in_use: "embedded default".into(),
                message: "embedded default model".into(),
                ..ModelReport::default()
            };
            (bundle, report)
        } else {
            match load_dir(Path::new(&requested)) {
                Ok(bundle) => {
                    let report = ModelReport {
                        requested: requested.clone(),
                        in_use: bundle.source.clone(),
                        message: format!("model {requested}{origin}"),
                        ..ModelReport::default()
                    };
                    (Some(bundle), report)
                }
                Err(why) => fallback(&requested, origin, &why),
            }
        };
        if report.fallback {
            nice_plug::prelude::nice_log!("XodVox: {}", report.message);
        }
        *lock(&self.report) = report;
        let mut loaded = lock(&self.loaded);
        *loaded = Loaded {
            dir,
            env,
            bundle: bundle.clone(),
            done: true,
        };
        bundle
    }

    /// Builds the engine from `bundle`, falling back to the embedded default when the
    /// backend rejects a folder's model. Holds `load_lock`.
    fn build_locked(
        &self,
        settings: &DspSettings,
        bundle: Option<ModelBundle>,
    ) -> (Option<RealtimePhaseEngine>, NeuralAvailability) {
        let Some(bundle) = bundle else {
            return (None, NeuralAvailability::NoModel);
        };
        let (engine, availability) = build_neural(settings, &bundle);
        let is_default = bundle.source == "embedded default";
        if availability != NeuralAvailability::LoadFailed || is_default {
            return (engine, availability);
        }
        let requested = lock(&self.report).requested.clone();
        let (default, report) =
            fallback(&requested, "", "the tract backend could not load its graph");
        nice_plug::prelude::nice_log!("XodVox: {}", report.message);
        *lock(&self.report) = report;
        lock(&self.loaded).bundle = default.clone();
        match default {
            Some(d) => build_neural(settings, &d),
            None => (None, NeuralAvailability::NoModel),
        }
    }
}

/// Loads a model folder and checks that its rate and framing are the chain's (48 kHz,
/// 2048/512, 1025 bins; [`xodvox_infer::check_framing`]).
fn load_dir(dir: &Path) -> Result<ModelBundle, String> {
    let bundle = ModelBundle::from_dir(dir).map_err(|e| e.to_string())?;
    xodvox_infer::check_framing(&bundle.meta).map_err(|e| e.to_string())?;
    Ok(bundle)
}

fn fallback(requested: &str, origin: &str, why: &str) -> (Option<ModelBundle>, ModelReport) {
    let report = ModelReport {
        requested: requested.to_string(),
        in_use: "embedded default".into(),
        message: format!("model {requested}{origin} not usable ({why}): embedded default in use"),
        fallback: true,
        loading: false,
    };
    (ModelBundle::embedded_default().ok(), report)
}

/// The persisted model setting (the params struct's `#[persist = "model"]` field).
/// Restoring a state loads the model it names (see the module docs).
pub struct ModelSetting {
    shared: Arc<ModelShared>,
}

impl ModelSetting {
    /// A setting with no folder chosen, reporting into `status`.
    pub fn new(status: Arc<PluginStatus>) -> Self {
        Self {
            shared: Arc::new(ModelShared {
                status,
                dir: Mutex::new(String::new()),
                loaded: Mutex::new(Loaded::default()),
                report: Mutex::new(ModelReport::default()),
                active: Mutex::new(None),
                load_lock: Mutex::new(()),
            }),
        }
    }

    /// The shared state (editor, plugin).
    pub fn shared(&self) -> Arc<ModelShared> {
        self.shared.clone()
    }
}

impl<'a> PersistentField<'a, ModelState> for ModelSetting {
    fn set(&self, new_value: ModelState) {
        // Called by the host's state restore (main thread), never by the audio thread.
        self.shared.set_dir(&new_value.dir);
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&ModelState) -> R,
    {
        // Resolve the setting first, so a saved state says what is really in use.
        let _ = self.shared.bundle();
        let report = self.shared.report();
        f(&ModelState {
            dir: self.shared.dir(),
            in_use: report.in_use,
            message: report.message,
            fallback: report.fallback,
        })
    }
}
