//! The engine kinds: [`EngineKind`] (command-line keys, parsing) and their default report
//! labels.

use xodvox_infer::BackendKind;

use crate::error::{EvalError, Result};

/// Which engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// XodVox with the neural phase engine on the given backend.
    Neural(BackendKind),
    /// XodVox with the classical phase vocoder.
    Classical,
    /// XodVox with the classical phase vocoder on the older resampling pitch path
    /// (stretch by the pitch ratio, then resample; pitch-dependent latency).
    ClassicalResample,
    /// `rubberband -3` (R3, "finer").
    RubberbandR3,
    /// `rubberband -2` (R2, "faster").
    RubberbandR2,
    /// `sox … tempo … pitch …`.
    Sox,
    /// Signalsmith Stretch (`signalsmith-stretch` crate, default preset).
    Signalsmith,
}

impl EngineKind {
    /// Every engine, in report order.
    pub const ALL: [EngineKind; 8] = [
        EngineKind::Neural(BackendKind::Tract),
        EngineKind::Neural(BackendKind::Ort),
        EngineKind::Classical,
        EngineKind::ClassicalResample,
        EngineKind::RubberbandR3,
        EngineKind::RubberbandR2,
        EngineKind::Sox,
        EngineKind::Signalsmith,
    ];

    /// The name used on the command line (`--engines`).
    pub fn key(&self) -> &'static str {
        match self {
            Self::Neural(BackendKind::Tract) => "neural",
            Self::Neural(BackendKind::Ort) => "neural-ort",
            Self::Classical => "classical",
            Self::ClassicalResample => "classical-resample",
            Self::RubberbandR3 => "rb-fine",
            Self::RubberbandR2 => "rb-fast",
            Self::Sox => "sox",
            Self::Signalsmith => "signalsmith",
        }
    }

    /// Parses a key (`neural`, `neural-tract`, `neural-ort`, `classical`, `classical-resample`,
    /// `rb-fine`, `rb-fast`, `sox`, `signalsmith`; `classic` and `classic-resample`, the
    /// earlier spelling, are still accepted).
    ///
    /// # Errors
    /// [`EvalError::Usage`] naming the unknown key and the valid ones.
    pub fn parse(key: &str) -> Result<Self> {
        match key.trim() {
            "neural-tract" => Ok(Self::Neural(BackendKind::Tract)),
            "classic" => Ok(Self::Classical),
            "classic-resample" => Ok(Self::ClassicalResample),
            k => Self::ALL.into_iter().find(|e| e.key() == k).ok_or_else(|| {
                EvalError::Usage(format!(
                    "unknown engine '{k}' (expected one of: {})",
                    Self::ALL.map(|e| e.key()).join(", ")
                ))
            }),
        }
    }

    /// Parses a comma-separated list; `all` means [`EngineKind::ALL`].
    ///
    /// # Errors
    /// An unknown key, or an empty list.
    pub fn parse_list(list: &str) -> Result<Vec<Self>> {
        if list.trim() == "all" {
            return Ok(Self::ALL.to_vec());
        }
        let mut out = Vec::new();
        for key in list.split(',').filter(|k| !k.trim().is_empty()) {
            let kind = Self::parse(key)?;
            if !out.contains(&kind) {
                out.push(kind);
            }
        }
        if out.is_empty() {
            return Err(EvalError::Usage("no engines given".into()));
        }
        Ok(out)
    }
}

/// The default label of an engine kind (before a model is known).
pub fn default_label(kind: EngineKind) -> String {
    match kind {
        EngineKind::Neural(BackendKind::Tract) => "XodVox neural (tract)".into(),
        EngineKind::Neural(BackendKind::Ort) => "XodVox neural (ONNX Runtime)".into(),
        EngineKind::Classical => "XodVox classical".into(),
        EngineKind::ClassicalResample => "XodVox classical (resampling pitch path)".into(),
        EngineKind::RubberbandR3 => "Rubber Band R3 (-3)".into(),
        EngineKind::RubberbandR2 => "Rubber Band R2 (-2)".into(),
        EngineKind::Sox => "SoX tempo/pitch".into(),
        EngineKind::Signalsmith => "Signalsmith Stretch".into(),
    }
}
