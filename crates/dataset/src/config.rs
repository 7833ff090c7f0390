//! `dataset.toml`: clip length, silence threshold, control ranges, styles, seed and split.
//!
//! Every key is optional; [`DatasetConfig::default`] documents the defaults. Unknown keys are an
//! error so that a typo never silently falls back to a default.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{DatasetError, Result};
use crate::styles::Style;

/// Fractions of sources (or source groups) per split; they must sum to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitFractions {
    /// Fraction of source groups in `train`, 0 to 1.
    pub train: f64,
    /// Fraction of source groups in `val`, 0 to 1.
    pub val: f64,
    /// Fraction of source groups in `test`, 0 to 1.
    pub test: f64,
}

impl Default for SplitFractions {
    fn default() -> Self {
        Self {
            train: 0.8,
            val: 0.1,
            test: 0.1,
        }
    }
}

/// The whole configuration of a dataset build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatasetConfig {
    /// Seed of every random choice (controls, styles, split). Default 0.
    pub seed: u64,
    /// Sample rate of clips and targets in Hz. Default 48000 (the model rate).
    pub sample_rate: u32,
    /// Channels of clips and targets (1 or 2). Default 2; mono sources are duplicated.
    pub channels: u16,
    /// Clip length in seconds (0.5 to 60). Default 6.
    pub clip_seconds: f64,
    /// A source shorter than `clip_seconds` but at least this long (seconds) becomes one shorter
    /// clip; shorter sources are skipped. Default 1.
    pub min_clip_seconds: f64,
    /// At most this many clips per source, taken from its start (0 = no limit). Default 0.
    pub max_clips_per_source: u32,
    /// A 100 ms block is "active" when its RMS (all channels) is above this level in dBFS.
    /// Default −50.
    pub silence_threshold_dbfs: f64,
    /// A clip is kept when at least this fraction (0 to 1) of its 100 ms blocks is active.
    /// Default 0.3.
    pub min_active_fraction: f64,
    /// Number of (controls, style) pairs drawn per clip (1 to 100). Default 2.
    pub pairs_per_clip: u32,
    /// Smallest duration ratio drawn (target duration / input duration). Default 0.5.
    pub stretch_min: f64,
    /// Largest duration ratio drawn; stretch is drawn log-uniformly in `[stretch_min, stretch_max]`
    /// and rounded to 3 decimals. Default 2.
    pub stretch_max: f64,
    /// Smallest pitch shift drawn, semitones. Default −12.
    pub pitch_min_semitones: f64,
    /// Largest pitch shift drawn, semitones; drawn uniformly and rounded to 0.01 (1 cent).
    /// Default +12.
    pub pitch_max_semitones: f64,
    /// Styles drawn uniformly per pair. Default all: `rb-fine`, `rb-crisp`, `rb-formant`, `sox`.
    pub styles: Vec<Style>,
    /// Rubber Band R2 crispness (`--crisp N`, 0 to 6) of the `rb-crisp` style. Default 4: the
    /// highest level that keeps a steady tone in tune (Rubber Band 3.1.2 R2 at 5, its own
    /// default, and 6 moves a sine by −5 to −22 cents, measured in `tests/conventions.rs`).
    pub crispness: u8,
    /// Split fractions (by source group). Default 0.8 / 0.1 / 0.1.
    pub split: SplitFractions,
    /// Licence written for sources that no `corpus.jsonl` row describes. Default `"unknown"`.
    pub default_licence: String,
    /// A generator or conversion running longer than this many seconds is killed and the item
    /// skipped. Default 600.
    pub tool_timeout_seconds: u64,
}

impl Default for DatasetConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            sample_rate: 48_000,
            channels: 2,
            clip_seconds: 6.0,
            min_clip_seconds: 1.0,
            max_clips_per_source: 0,
            silence_threshold_dbfs: -50.0,
            min_active_fraction: 0.3,
            pairs_per_clip: 2,
            stretch_min: 0.5,
            stretch_max: 2.0,
            pitch_min_semitones: -12.0,
            pitch_max_semitones: 12.0,
            styles: Style::ALL.to_vec(),
            crispness: 4,
            split: SplitFractions::default(),
            default_licence: "unknown".to_owned(),
            tool_timeout_seconds: 600,
        }
    }
}

impl DatasetConfig {
    /// Reads and validates a `dataset.toml`.
    ///
    /// # Errors
    /// [`DatasetError::ConfigFile`] for unreadable files, TOML errors and unknown keys;
    /// [`DatasetError::InvalidConfig`] for values out of range.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| DatasetError::ConfigFile {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Self::from_toml_str(&text).map_err(|e| match e {
            DatasetError::ConfigFile { message, .. } => DatasetError::ConfigFile {
                path: path.to_owned(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates TOML text.
    ///
    /// # Errors
    /// As [`DatasetConfig::from_file`] (the path in a [`DatasetError::ConfigFile`] is empty).
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let config: Self = toml::from_str(text).map_err(|e| DatasetError::ConfigFile {
            path: Default::default(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value's range.
    ///
    /// # Errors
    /// [`DatasetError::InvalidConfig`] naming the key, the value and the allowed range.
    pub fn validate(&self) -> Result<()> {
        self.validate_audio()?;
        self.validate_pairs()?;
        self.validate_split()?;
        if self.default_licence.trim().is_empty() {
            return invalid("default_licence must not be empty".to_owned());
        }
        if self.tool_timeout_seconds == 0 {
            return invalid("tool_timeout_seconds must be > 0".to_owned());
        }
        Ok(())
    }

    /// Checks the format, clip length and silence keys.
    fn validate_audio(&self) -> Result<()> {
        let bad = invalid;
        if !(8_000..=192_000).contains(&self.sample_rate) {
            return bad(format!(
                "sample_rate = {} is outside 8000..=192000",
                self.sample_rate
            ));
        }
        if !(1..=2).contains(&self.channels) {
            return bad(format!("channels = {} must be 1 or 2", self.channels));
        }
        if !(self.clip_seconds.is_finite() && (0.5..=60.0).contains(&self.clip_seconds)) {
            return bad(format!(
                "clip_seconds = {} is outside 0.5..=60",
                self.clip_seconds
            ));
        }
        if !(self.min_clip_seconds.is_finite()
            && self.min_clip_seconds > 0.0
            && self.min_clip_seconds <= self.clip_seconds)
        {
            return bad(format!(
                "min_clip_seconds = {} must be > 0 and <= clip_seconds ({})",
                self.min_clip_seconds, self.clip_seconds
            ));
        }
        if !(self.silence_threshold_dbfs.is_finite() && self.silence_threshold_dbfs < 0.0) {
            return bad(format!(
                "silence_threshold_dbfs = {} must be a negative number",
                self.silence_threshold_dbfs
            ));
        }
        if !(0.0..=1.0).contains(&self.min_active_fraction) {
            return bad(format!(
                "min_active_fraction = {} is outside 0..=1",
                self.min_active_fraction
            ));
        }
        Ok(())
    }

    /// Checks the pair keys: count, stretch and pitch ranges, styles, crispness.
    fn validate_pairs(&self) -> Result<()> {
        let bad = invalid;
        if !(1..=100).contains(&self.pairs_per_clip) {
            return bad(format!(
                "pairs_per_clip = {} is outside 1..=100",
                self.pairs_per_clip
            ));
        }
        let stretch_ok = |x: f64| x.is_finite() && (0.1..=10.0).contains(&x);
        if !(stretch_ok(self.stretch_min)
            && stretch_ok(self.stretch_max)
            && self.stretch_min <= self.stretch_max)
        {
            return bad(format!(
                "stretch range {}..{} must lie within 0.1..=10 with min <= max",
                self.stretch_min, self.stretch_max
            ));
        }
        let pitch_ok = |x: f64| x.is_finite() && (-36.0..=36.0).contains(&x);
        if !(pitch_ok(self.pitch_min_semitones)
            && pitch_ok(self.pitch_max_semitones)
            && self.pitch_min_semitones <= self.pitch_max_semitones)
        {
            return bad(format!(
                "pitch range {}..{} semitones must lie within -36..=36 with min <= max",
                self.pitch_min_semitones, self.pitch_max_semitones
            ));
        }
        if self.styles.is_empty() {
            return bad("styles must name at least one style".to_owned());
        }
        let mut seen = Vec::new();
        for s in &self.styles {
            if seen.contains(s) {
                return bad(format!("style {} is listed twice", s.name()));
            }
            seen.push(*s);
        }
        if self.crispness > 6 {
            return bad(format!("crispness = {} is outside 0..=6", self.crispness));
        }
        Ok(())
    }

    /// Checks the split fractions (each in 0..=1, summing to 1).
    fn validate_split(&self) -> Result<()> {
        let bad = invalid;
        let f = self.split;
        let parts = [("train", f.train), ("val", f.val), ("test", f.test)];
        for (name, x) in parts {
            if !(x.is_finite() && (0.0..=1.0).contains(&x)) {
                return bad(format!("split.{name} = {x} is outside 0..=1"));
            }
        }
        if (f.train + f.val + f.test - 1.0).abs() > 1e-6 {
            return bad(format!(
                "split fractions sum to {}, not 1",
                f.train + f.val + f.test
            ));
        }
        Ok(())
    }

    /// Clip length in frames at [`DatasetConfig::sample_rate`].
    pub fn clip_frames(&self) -> usize {
        (self.clip_seconds * f64::from(self.sample_rate)).round() as usize
    }

    /// Shortest accepted clip in frames.
    pub fn min_clip_frames(&self) -> usize {
        (self.min_clip_seconds * f64::from(self.sample_rate)).round() as usize
    }

    /// SHA-256 (hex) of the canonical JSON form of the configuration: two builds with the same
    /// fingerprint and the same inputs produce the same dataset.
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        crate::hash::sha256_hex(&json)
    }

    /// The configuration as TOML text (what `dataset.toml` in the output folder holds).
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

/// The error for an invalid configuration value.
fn invalid(message: String) -> Result<()> {
    Err(DatasetError::InvalidConfig(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let c = DatasetConfig::default();
        c.validate().expect("defaults valid");
        let back = DatasetConfig::from_toml_str(&c.to_toml_string()).expect("parse back");
        assert_eq!(back, c);
    }

    #[test]
    fn partial_file_keeps_defaults() {
        let c = DatasetConfig::from_toml_str("clip_seconds = 4\nstyles = [\"sox\", \"rb-fine\"]\n")
            .expect("parse");
        assert_eq!(c.clip_seconds, 4.0);
        assert_eq!(c.styles, vec![Style::Sox, Style::RbFine]);
        assert_eq!(c.stretch_max, 2.0);
    }

    #[test]
    fn bad_values_are_named() {
        for (text, needle) in [
            ("clip_seconds = 0.1", "clip_seconds"),
            ("stretch_min = 3", "stretch range"),
            ("styles = []", "styles"),
            ("styles = [\"rubberband\"]", "unknown variant"),
            ("crispness = 9", "crispness"),
            ("colour = 1", "unknown field"),
            ("[split]\ntrain = 0.5\nval = 0.1\ntest = 0.1", "sum"),
        ] {
            let err = DatasetConfig::from_toml_str(text).expect_err(text);
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
    }
}
