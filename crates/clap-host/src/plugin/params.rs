//! Parameters through the params extension: their descriptions, values and texts, parsing
//! `NAME=VALUE` settings, and sending values with `flush`.

use std::ffi::CString;

use anyhow::{anyhow, bail, Result};
use clack_extensions::params::{ParamInfoBuffer, ParamInfoFlags};
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;

use super::Plugin;

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

impl Plugin {
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
}
