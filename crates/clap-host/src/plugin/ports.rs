//! Audio ports through the audio-ports and audio-ports-config extensions: the ports, the
//! configurations offered, and choosing one for a channel count.

use anyhow::{anyhow, bail, Result};
use clack_extensions::audio_ports::{AudioPortFlags, AudioPortInfoBuffer};
use clack_extensions::audio_ports_config::AudioPortsConfigBuffer;
use serde_json::{json, Value};

use super::Plugin;

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

impl Plugin {
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
}
