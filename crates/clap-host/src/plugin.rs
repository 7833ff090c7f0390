//! A loaded CLAP plugin instance and what this host does with it: read its descriptor,
//! parameters and audio ports, choose an audio-ports configuration, set parameters, load and
//! save its state, activate it and process audio in blocks on an audio thread while the main
//! thread answers the plugin's `on_main_thread` requests.

use std::ffi::CString;
use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clack_extensions::audio_ports::{AudioPortFlags, AudioPortInfoBuffer, PluginAudioPorts};
use clack_extensions::audio_ports_config::{AudioPortsConfigBuffer, PluginAudioPortsConfig};
use clack_extensions::latency::PluginLatency;
use clack_extensions::params::{ParamInfoBuffer, ParamInfoFlags, PluginParams};
use clack_extensions::render::{PluginRender, RenderMode};
use clack_extensions::state::PluginState;
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;
use serde_json::{json, Value};

use crate::host::{Host, MainThread, Shared};

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

/// One parameter as the params extension describes it.
#[derive(Clone, Debug)]
pub struct Param {
    /// CLAP parameter ID.
    pub id: ClapId,
    /// Display name.
    pub name: String,
    /// Module path (`"Group/Subgroup"`, may be empty).
    pub module: String,
    /// Smallest plain value.
    pub min: f64,
    /// Largest plain value.
    pub max: f64,
    /// Default plain value.
    pub default: f64,
    /// The `CLAP_PARAM_*` flags.
    pub flags: ParamInfoFlags,
}

impl Param {
    /// The flags as a list of lower-case words (`automatable`, `stepped`, `bypass`, ...).
    pub fn flag_names(&self) -> Vec<&'static str> {
        let all = [
            (ParamInfoFlags::IS_STEPPED, "stepped"),
            (ParamInfoFlags::IS_PERIODIC, "periodic"),
            (ParamInfoFlags::IS_HIDDEN, "hidden"),
            (ParamInfoFlags::IS_READONLY, "readonly"),
            (ParamInfoFlags::IS_BYPASS, "bypass"),
            (ParamInfoFlags::IS_AUTOMATABLE, "automatable"),
            (
                ParamInfoFlags::IS_AUTOMATABLE_PER_NOTE_ID,
                "automatable_per_note_id",
            ),
            (
                ParamInfoFlags::IS_AUTOMATABLE_PER_KEY,
                "automatable_per_key",
            ),
            (
                ParamInfoFlags::IS_AUTOMATABLE_PER_CHANNEL,
                "automatable_per_channel",
            ),
            (
                ParamInfoFlags::IS_AUTOMATABLE_PER_PORT,
                "automatable_per_port",
            ),
            (ParamInfoFlags::IS_MODULATABLE, "modulatable"),
            (
                ParamInfoFlags::IS_MODULATABLE_PER_NOTE_ID,
                "modulatable_per_note_id",
            ),
            (
                ParamInfoFlags::IS_MODULATABLE_PER_KEY,
                "modulatable_per_key",
            ),
            (
                ParamInfoFlags::IS_MODULATABLE_PER_CHANNEL,
                "modulatable_per_channel",
            ),
            (
                ParamInfoFlags::IS_MODULATABLE_PER_PORT,
                "modulatable_per_port",
            ),
            (ParamInfoFlags::REQUIRES_PROCESS, "requires_process"),
            (ParamInfoFlags::IS_ENUM, "enum"),
        ];
        all.iter()
            .filter(|(flag, _)| self.flags.contains(*flag))
            .map(|(_, name)| *name)
            .collect()
    }
}

/// One audio port as the audio-ports extension describes it.
#[derive(Clone, Debug)]
pub struct Port {
    /// Port ID.
    pub id: u32,
    /// Display name.
    pub name: String,
    /// Channel count.
    pub channels: u32,
    /// Whether this is the main port (`CLAP_AUDIO_PORT_IS_MAIN`).
    pub main: bool,
    /// Port type (`"mono"`, `"stereo"`, ...), if given.
    pub port_type: Option<String>,
}

impl Port {
    /// The port as JSON.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "channels": self.channels,
            "main": self.main,
            "type": self.port_type,
        })
    }
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

    /// The parameters, in the plugin's order.
    pub fn params(&mut self) -> Vec<Param> {
        let Some(ext) = self.ext.params else {
            return Vec::new();
        };
        let handle = self.instance.plugin_handle();
        let mut buffer = ParamInfoBuffer::new();
        (0..ext.count(&handle))
            .filter_map(|i| {
                let info = ext.get_info(&handle, i, &mut buffer)?;
                Some(Param {
                    id: info.id,
                    name: String::from_utf8_lossy(info.name).into_owned(),
                    module: String::from_utf8_lossy(info.module).into_owned(),
                    min: info.min_value,
                    max: info.max_value,
                    default: info.default_value,
                    flags: info.flags,
                })
            })
            .collect()
    }

    /// The current plain value of a parameter.
    pub fn param_value(&mut self, id: ClapId) -> Option<f64> {
        let ext = self.ext.params?;
        ext.get_value(&self.instance.plugin_handle(), id)
    }

    /// The plugin's text for a plain value of a parameter.
    pub fn value_text(&mut self, id: ClapId, value: f64) -> Option<String> {
        let ext = self.ext.params?;
        let mut buffer = [0u8; 256];
        let text = ext
            .value_to_text(&self.instance.plugin_handle(), id, value, &mut buffer)
            .ok()?;
        Some(String::from_utf8_lossy(text).into_owned())
    }

    /// The plain value the plugin parses from `text` for a parameter.
    pub fn text_value(&mut self, id: ClapId, text: &str) -> Option<f64> {
        let ext = self.ext.params?;
        let text = CString::new(text).ok()?;
        ext.text_to_value(&self.instance.plugin_handle(), id, &text)
    }

    /// The audio ports, inputs (`true`) or outputs (`false`).
    pub fn ports(&mut self, input: bool) -> Vec<Port> {
        let Some(ext) = self.ext.audio_ports else {
            return Vec::new();
        };
        let handle = self.instance.plugin_handle();
        let mut buffer = AudioPortInfoBuffer::new();
        (0..ext.count(&handle, input))
            .filter_map(|i| {
                let info = ext.get(&handle, i, input, &mut buffer)?;
                Some(Port {
                    id: info.id.get(),
                    name: String::from_utf8_lossy(info.name).into_owned(),
                    channels: info.channel_count,
                    main: info.flags.contains(AudioPortFlags::IS_MAIN),
                    port_type: info.port_type.map(|t| t.0.to_string_lossy().into_owned()),
                })
            })
            .collect()
    }

    /// The audio-ports configurations the plugin offers, as JSON.
    pub fn port_configs(&mut self) -> Vec<Value> {
        let Some(ext) = self.ext.audio_ports_config else {
            return Vec::new();
        };
        let handle = self.instance.plugin_handle();
        let mut buffer = AudioPortsConfigBuffer::new();
        (0..ext.count(&handle))
            .filter_map(|i| {
                let c = ext.get(&handle, i, &mut buffer)?;
                Some(json!({
                    "id": c.id.get(),
                    "name": String::from_utf8_lossy(c.name),
                    "input_ports": c.input_port_count,
                    "output_ports": c.output_port_count,
                    "main_input_channels": c.main_input.map(|p| p.channel_count),
                    "main_output_channels": c.main_output.map(|p| p.channel_count),
                }))
            })
            .collect()
    }

    /// Makes the main input and output ports `channels` wide: nothing to do if they already
    /// are, else selects the first audio-ports configuration whose main ports have that many
    /// channels. Returns the selected configuration's ID, if one was selected. Only while
    /// inactive.
    pub fn use_channels(&mut self, channels: u32) -> Result<Option<u32>> {
        let main_channels = |ports: Vec<Port>| {
            ports
                .iter()
                .find(|p| p.main)
                .or(ports.first())
                .map(|p| p.channels)
        };
        let fits = |plugin: &mut Self| {
            let inp = main_channels(plugin.ports(true));
            let out = main_channels(plugin.ports(false));
            inp.is_none_or(|c| c == channels) && out == Some(channels)
        };
        if fits(self) {
            return Ok(None);
        }
        let ext = self.ext.audio_ports_config.ok_or_else(|| {
            anyhow!("the plugin's main ports are not {channels} channels wide and it offers no other audio-ports configuration")
        })?;
        let handle = self.instance.plugin_handle();
        let mut buffer = AudioPortsConfigBuffer::new();
        let chosen = (0..ext.count(&handle)).find_map(|i| {
            let c = ext.get(&handle, i, &mut buffer)?;
            let out_ok = c.main_output.is_some_and(|p| p.channel_count == channels);
            let in_ok = c.main_input.is_none_or(|p| p.channel_count == channels);
            (out_ok && in_ok).then_some(c.id)
        });
        let id = chosen
            .ok_or_else(|| anyhow!("no audio-ports configuration with {channels} channels"))?;
        ext.select(&handle, id)
            .map_err(|e| anyhow!("selecting audio-ports configuration {id}: {e}"))?;
        if !fits(self) {
            bail!("selected configuration {id}, but the main ports are still not {channels} channels wide");
        }
        Ok(Some(id.get()))
    }

    /// Finds a parameter by name (case-insensitive) or by numeric ID.
    pub fn find_param<'p>(params: &'p [Param], name: &str) -> Result<&'p Param> {
        params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .or_else(|| {
                let id: u32 = name.parse().ok()?;
                params.iter().find(|p| p.id.get() == id)
            })
            .ok_or_else(|| {
                let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
                anyhow!("no parameter {name:?}; the plugin has {names:?}")
            })
    }

    /// Parses `NAME=VALUE` settings into parameter values. With `as_text` false, VALUE is
    /// the CLAP value (a number within the parameter's min..max) or, when it is not a
    /// number, a text for the plugin to parse; with `as_text` true, VALUE is always a text
    /// the plugin parses (`text_to_value`, e.g. `12` for "12 st" where the plugin's CLAP
    /// range is 0..1, or an enum's name).
    pub fn param_values(
        &mut self,
        settings: &[String],
        as_text: bool,
    ) -> Result<Vec<(Param, f64)>> {
        let params = self.params();
        let flag = if as_text { "--param-text" } else { "--param" };
        let mut out = Vec::new();
        for setting in settings {
            let (name, value) = setting
                .split_once('=')
                .ok_or_else(|| anyhow!("{flag} {setting:?}: expected NAME=VALUE"))?;
            let param = Self::find_param(&params, name.trim())?.clone();
            let number = if as_text {
                None
            } else {
                value.trim().parse::<f64>().ok()
            };
            let value = match number {
                Some(v) => v,
                None => self.text_value(param.id, value.trim()).ok_or_else(|| {
                    anyhow!("{flag} {setting:?}: the plugin does not parse {value:?}")
                })?,
            };
            if !(param.min..=param.max).contains(&value) {
                bail!(
                    "{flag} {setting:?}: {value} is outside {}..{}",
                    param.min,
                    param.max
                );
            }
            out.push((param, value));
        }
        Ok(out)
    }

    /// Sends parameter values through the params extension's `flush` (plugin inactive).
    pub fn flush_params(&mut self, values: &[(Param, f64)]) -> Result<()> {
        let ext = self
            .ext
            .params
            .ok_or_else(|| anyhow!("the plugin has no params extension"))?;
        let mut events = EventBuffer::with_capacity(values.len());
        for (param, value) in values {
            events.push(&ParamValueEvent::new(
                0,
                param.id,
                Pckn::match_all(),
                *value,
            ));
        }
        let mut out = EventBuffer::new();
        let mut handle = self
            .instance
            .inactive_plugin_handle()
            .ok_or_else(|| anyhow!("params flush needs an inactive plugin"))?;
        ext.flush(&mut handle, &events.as_input(), &mut out.as_output());
        Ok(())
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

    /// Processes `input` (one `Vec` per channel of the main input port; the other input ports
    /// get silence) in blocks of the given sizes on an audio thread, with `events` (time 0)
    /// in the first block. While it runs, the main thread answers `on_main_thread` requests.
    /// With `honour_sleep`, a plugin that returned `CLAP_PROCESS_SLEEP` is not called again
    /// (its output is silence) until a block of input is not silent, as a DAW skips idle
    /// tracks. Returns the stopped processor, the main output port's channels and what the
    /// plugin reported per block.
    pub fn process(
        &mut self,
        processor: StoppedPluginAudioProcessor<Host>,
        input: &[Vec<f32>],
        blocks: &[usize],
        events: &[(Param, f64)],
        honour_sleep: bool,
    ) -> Result<(
        StoppedPluginAudioProcessor<Host>,
        Vec<Vec<f32>>,
        ProcessReport,
    )> {
        let inputs = self.ports(true);
        let outputs = self.ports(false);
        if outputs.is_empty() {
            bail!("the plugin has no audio output port");
        }
        let main_in = inputs.iter().position(|p| p.main).unwrap_or(0);
        let main_out = outputs.iter().position(|p| p.main).unwrap_or(0);
        let main_in_channels = inputs.get(main_in).map(|p| p.channels as usize);
        if main_in_channels.is_some_and(|c| c != input.len()) {
            let port = &inputs[main_in];
            bail!(
                "main input port has {} channels, the input {}",
                port.channels,
                input.len()
            );
        }
        let max_block = blocks.iter().copied().max().unwrap_or(1);
        let frames: usize = blocks.iter().sum();
        let events: Vec<ParamValueEvent> = events
            .iter()
            .map(|(p, v)| ParamValueEvent::new(0, p.id, Pckn::match_all(), *v))
            .collect();

        let work = move || -> Result<(
            StoppedPluginAudioProcessor<Host>,
            Vec<Vec<f32>>,
            ProcessReport,
        )> {
            let mut started = processor
                .start_processing()
                .map_err(|e| anyhow!("start_processing: {e}"))?;
            let alloc = |ports: &[Port]| -> Vec<Vec<Vec<f32>>> {
                ports
                    .iter()
                    .map(|p| vec![vec![0.0f32; max_block]; p.channels as usize])
                    .collect()
            };
            let mut in_bufs = alloc(&inputs);
            let mut out_bufs = alloc(&outputs);
            let channel_total = |b: &Vec<Vec<Vec<f32>>>| b.iter().map(Vec::len).sum::<usize>();
            let mut in_ports = AudioPorts::with_capacity(channel_total(&in_bufs), in_bufs.len());
            let mut out_ports = AudioPorts::with_capacity(channel_total(&out_bufs), out_bufs.len());
            let mut in_events = EventBuffer::with_capacity(events.len());
            let mut out_events = EventBuffer::new();
            let mut output = vec![Vec::with_capacity(frames); outputs[main_out].channels as usize];
            let mut pos = 0usize;
            let mut report = ProcessReport::default();
            let mut asleep = false;
            let all_channels = (1u64 << outputs[main_out].channels.min(63)) - 1;
            for (i, &n) in blocks.iter().enumerate() {
                if let Some(port) = in_bufs.get_mut(main_in) {
                    for (buf, src) in port.iter_mut().zip(input) {
                        buf[..n].copy_from_slice(&src[pos..pos + n]);
                    }
                }
                let silent_in = input.iter().all(|c| c[pos..pos + n].iter().all(|&x| x == 0.0));
                if honour_sleep && asleep && silent_in && i > 0 {
                    // Asleep: a DAW skips the plugin and its track is silent.
                    for dst in output.iter_mut() {
                        dst.resize(dst.len() + n, 0.0);
                    }
                    report.skipped_blocks += 1;
                    pos += n;
                    continue;
                }
                in_events.clear();
                if i == 0 {
                    for e in &events {
                        in_events.push(e);
                    }
                }
                out_events.clear();
                {
                    let audio_in = in_ports.with_input_buffers(in_bufs.iter_mut().map(|port| {
                        AudioPortBuffer {
                            latency: 0,
                            channels: AudioPortBufferType::f32_input_only(
                                port.iter_mut().map(|c| InputChannel::variable(&mut c[..n])),
                            ),
                        }
                    }));
                    let mut audio_out =
                        out_ports.with_output_buffers(out_bufs.iter_mut().map(|port| {
                            AudioPortBuffer {
                                latency: 0,
                                channels: AudioPortBufferType::f32_output_only(
                                    port.iter_mut().map(|c| &mut c[..n]),
                                ),
                            }
                        }));
                    let status = started
                        .process(
                            &audio_in,
                            &mut audio_out,
                            &in_events.as_input(),
                            &mut out_events.as_output(),
                            Some(pos as u64),
                            None,
                        )
                        .map_err(|e| anyhow!("process (block {i}, frame {pos}): {e}"))?;
                    let mask = audio_out
                        .as_raw_buffers()
                        .get(main_out)
                        .map_or(0, |b| b.constant_mask);
                    report.record(status, mask & all_channels == all_channels, pos);
                    asleep = status == ProcessStatus::Sleep;
                }
                for (dst, src) in output.iter_mut().zip(&out_bufs[main_out]) {
                    dst.extend_from_slice(&src[..n]);
                }
                pos += n;
            }
            Ok((started.stop_processing(), output, report))
        };

        let result = std::thread::scope(|scope| {
            let worker = std::thread::Builder::new()
                .name("clap-audio".into())
                .spawn_scoped(scope, work)?;
            while !worker.is_finished() {
                self.pump();
                std::thread::sleep(Duration::from_millis(1));
            }
            worker
                .join()
                .map_err(|_| anyhow!("the audio thread panicked"))?
        });
        self.pump();
        result
    }
}

/// What a plugin's `process` calls reported, per block.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProcessReport {
    /// Blocks per returned status: continue, continue-if-not-quiet, tail, sleep.
    pub statuses: [u64; 4],
    /// Blocks whose main output had every channel flagged constant (`constant_mask`).
    pub constant_blocks: u64,
    /// Frame at which the plugin first returned `CLAP_PROCESS_SLEEP`.
    pub first_sleep: Option<usize>,
    /// Frame of the last block processed after a sleep (the plugin woken up).
    pub last_wake: Option<usize>,
    /// Blocks not processed because the plugin was asleep (with `honour_sleep`).
    pub skipped_blocks: u64,
    slept: bool,
}

impl ProcessReport {
    fn record(&mut self, status: ProcessStatus, constant: bool, pos: usize) {
        let index = match status {
            ProcessStatus::Continue => 0,
            ProcessStatus::ContinueIfNotQuiet => 1,
            ProcessStatus::Tail => 2,
            ProcessStatus::Sleep => 3,
        };
        self.statuses[index] += 1;
        self.constant_blocks += u64::from(constant);
        if status == ProcessStatus::Sleep {
            self.first_sleep.get_or_insert(pos);
            self.slept = true;
        } else if self.slept {
            self.last_wake = Some(pos);
            self.slept = false;
        }
    }

    /// The report as JSON.
    pub fn json(&self) -> Value {
        json!({
            "continue": self.statuses[0],
            "continue_if_not_quiet": self.statuses[1],
            "tail": self.statuses[2],
            "sleep": self.statuses[3],
            "constant_blocks": self.constant_blocks,
            "first_sleep": self.first_sleep,
            "last_wake": self.last_wake,
            "skipped_blocks": self.skipped_blocks,
        })
    }
}
