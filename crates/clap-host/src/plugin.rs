//! A loaded CLAP plugin instance and what this host does with it: read its descriptor,
//! parameters and audio ports, choose an audio-ports configuration, set parameters, load and
//! save its state, activate it and process audio in blocks on an audio thread while the main
//! thread answers the plugin's `on_main_thread` requests.//!
//! This module holds loading, instantiation, the extensions, state and activation; the
//! parameters are in `params`, the audio ports in `ports`, processing in `process`.

mod params;
mod ports;
mod process;

use std::ffi::CString;
use std::io::Cursor;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use clack_extensions::audio_ports::PluginAudioPorts;
use clack_extensions::audio_ports_config::PluginAudioPortsConfig;
use clack_extensions::latency::PluginLatency;
use clack_extensions::params::PluginParams;
use clack_extensions::render::{PluginRender, RenderMode};
use clack_extensions::state::PluginState;
use clack_host::prelude::*;
use serde_json::{json, Value};

use crate::host::{Host, MainThread, Shared};

pub use params::Param;
pub use ports::Port;

/// A plugin's descriptor, as the factory lists it.
pub struct Descriptor {
    /// The plugin ID (`clap_plugin_descriptor.id`), used to instantiate it.
    pub id: CString,
    /// The descriptor as JSON: id, name, vendor, version, url, description, features.
    pub json: Value,
}

/// Loads the `.clap` library at `path` and picks a plugin from its factory: the one whose ID
/// is `plugin_id`, or the first one.
pub fn load_entry(path: &Path, plugin_id: Option<&str>) -> Result<(PluginEntry, Descriptor)> {
    // SAFETY: loading a CLAP library runs its initialisation code; that is what a host does,
    // and the user named the library to load.
    let entry = unsafe { PluginEntry::load(path) }
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("loading {}", path.display()))?;
    let factory = entry
        .get_plugin_factory()
        .ok_or_else(|| anyhow!("{} has no plugin factory", path.display()))?;
    let mut found = None;
    let mut ids = Vec::new();
    for d in factory.plugin_descriptors() {
        let Some(id) = d.id() else { continue };
        let id_text = id.to_string_lossy().into_owned();
        ids.push(id_text.clone());
        if found.is_none() && plugin_id.is_none_or(|want| want == id_text) {
            let text = |s: Option<&std::ffi::CStr>| s.map(|s| s.to_string_lossy().into_owned());
            let features: Vec<String> = d
                .features()
                .map(|f| f.to_string_lossy().into_owned())
                .collect();
            found = Some(Descriptor {
                id: id.to_owned(),
                json: json!({
                    "id": id_text,
                    "name": text(d.name()),
                    "vendor": text(d.vendor()),
                    "version": text(d.version()),
                    "url": text(d.url()),
                    "description": text(d.description()),
                    "features": features,
                }),
            });
        }
    }
    let descriptor = found.ok_or_else(|| match plugin_id {
        Some(want) => anyhow!("no plugin {want:?} in {} (it has {ids:?})", path.display()),
        None => anyhow!("{} holds no plugin", path.display()),
    })?;
    Ok((entry, descriptor))
}

/// The extensions of a plugin instance this host uses (each `None` where the plugin lacks it).
#[derive(Clone, Copy)]
pub struct Extensions {
    /// `clap.params`.
    pub params: Option<PluginParams>,
    /// `clap.latency`.
    pub latency: Option<PluginLatency>,
    /// `clap.state`.
    pub state: Option<PluginState>,
    /// `clap.audio-ports`.
    pub audio_ports: Option<PluginAudioPorts>,
    /// `clap.audio-ports-config`.
    pub audio_ports_config: Option<PluginAudioPortsConfig>,
    /// `clap.render`.
    pub render: Option<PluginRender>,
}

impl Extensions {
    /// The names of the extensions found, for the JSON output.
    pub fn names(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (present, name) in [
            (self.params.is_some(), "params"),
            (self.latency.is_some(), "latency"),
            (self.state.is_some(), "state"),
            (self.audio_ports.is_some(), "audio-ports"),
            (self.audio_ports_config.is_some(), "audio-ports-config"),
            (self.render.is_some(), "render"),
        ] {
            if present {
                out.push(name);
            }
        }
        out
    }
}

/// What the plugin announced through host callbacks, for the JSON output.
pub fn callbacks_json(instance: &PluginInstance<Host>) -> Value {
    let (restart, flush, logs) = instance.access_shared_handler(|s: &Shared| {
        (s.restart_requests(), s.flush_requests(), s.log_messages())
    });
    let (latency, dirty, rescans, port_rescans) = instance.access_handler(|m: &MainThread| {
        (
            m.latency_changed(),
            m.state_dirty(),
            m.param_rescans(),
            m.audio_port_rescans(),
        )
    });
    json!({
        "latency_changed": latency,
        "restart_requested": restart,
        "params_flush_requested": flush,
        "params_rescan": rescans,
        "state_mark_dirty": dirty,
        "audio_ports_rescan": port_rescans,
        "log_messages": logs,
    })
}

/// A plugin instance with its extension handles.
pub struct Plugin {
    /// The clack-host instance.
    pub instance: PluginInstance<Host>,
    /// Its extensions.
    pub ext: Extensions,
    /// How often a restart request was honoured by deactivating and activating again.
    pub restarts: u32,
}

impl Plugin {
    /// Instantiates the plugin `descriptor` from `entry` (not activated yet).
    pub fn new(entry: &PluginEntry, descriptor: &Descriptor) -> Result<Self> {
        let host_info = HostInfo::new(
            "xodvox-clap-host",
            "XodVox",
            "https://example.invalid/xodvox",
            env!("CARGO_PKG_VERSION"),
        )?;
        let instance = PluginInstance::<Host>::new(
            |_| Shared::default(),
            |_| MainThread::default(),
            entry,
            &descriptor.id,
            &host_info,
        )
        .map_err(|e| anyhow!("instantiating {:?}: {e}", descriptor.id))?;
        let handle = instance.plugin_shared_handle();
        let ext = Extensions {
            params: handle.get_extension(),
            latency: handle.get_extension(),
            state: handle.get_extension(),
            audio_ports: handle.get_extension(),
            audio_ports_config: handle.get_extension(),
            render: handle.get_extension(),
        };
        let mut plugin = Self {
            instance,
            ext,
            restarts: 0,
        };
        plugin.pump();
        Ok(plugin)
    }

    /// Runs the plugin's `on_main_thread` callback if it asked for it.
    pub fn pump(&mut self) {
        if self
            .instance
            .access_shared_handler(|s: &Shared| s.take_callback_request())
        {
            self.instance.call_on_main_thread_callback();
        }
    }

    /// Sets the render mode (the render extension): realtime or offline. Only while
    /// inactive.
    pub fn set_render_mode(&mut self, offline: bool) -> Result<()> {
        let ext = self
            .ext
            .render
            .ok_or_else(|| anyhow!("the plugin has no render extension"))?;
        let mode = if offline {
            RenderMode::Offline
        } else {
            RenderMode::Realtime
        };
        ext.set(&self.instance.plugin_handle(), mode)
            .map_err(|e| anyhow!("setting render mode {mode:?}: {e}"))
    }

    /// Loads a state (the state extension) from bytes.
    pub fn load_state(&mut self, bytes: &[u8]) -> Result<()> {
        let ext = self
            .ext
            .state
            .ok_or_else(|| anyhow!("the plugin has no state extension"))?;
        ext.load(&self.instance.plugin_handle(), &mut Cursor::new(bytes))
            .map_err(|e| anyhow!("{e}"))
    }

    /// Saves the state (the state extension) to bytes.
    pub fn save_state(&mut self) -> Result<Vec<u8>> {
        let ext = self
            .ext
            .state
            .ok_or_else(|| anyhow!("the plugin has no state extension"))?;
        let mut out = Vec::new();
        ext.save(&self.instance.plugin_handle(), &mut out)
            .map_err(|e| anyhow!("{e}"))?;
        Ok(out)
    }

    /// The latency the plugin reports (0 without the latency extension).
    pub fn latency(&mut self) -> Option<u32> {
        let ext = self.ext.latency?;
        Some(ext.get(&self.instance.plugin_handle()))
    }

    /// Activates the plugin, returning its audio processor (stopped). A restart the plugin
    /// requests during activation (`request_restart`, e.g. to announce a latency the way
    /// nice-plug does: its activation ends with a latency change, which it reports with a
    /// restart request) is honoured as a DAW would: deactivate and activate again, up to 4
    /// times; [`Plugin::restarts`] counts them.
    pub fn activate(
        &mut self,
        sample_rate: f64,
        max_block: u32,
    ) -> Result<StoppedPluginAudioProcessor<Host>> {
        let config = PluginAudioConfiguration {
            sample_rate,
            min_frames_count: 1,
            max_frames_count: max_block,
        };
        let mut handled = self.restart_requests();
        let mut processor = self
            .instance
            .activate(|_, _| (), config)
            .map_err(|e| anyhow!("activating at {sample_rate} Hz: {e}"))?;
        self.pump();
        for _ in 0..4 {
            let requested = self.restart_requests();
            if requested == handled {
                break;
            }
            handled = requested;
            self.instance.deactivate(processor);
            self.pump();
            processor = self
                .instance
                .activate(|_, _| (), config)
                .map_err(|e| anyhow!("reactivating at {sample_rate} Hz: {e}"))?;
            self.restarts += 1;
            self.pump();
        }
        Ok(processor)
    }

    /// How often the plugin asked for a restart so far.
    fn restart_requests(&self) -> u32 {
        self.instance
            .access_shared_handler(|s: &Shared| s.restart_requests())
    }
}
