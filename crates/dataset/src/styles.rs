//! Styles: named presets of reference processors that make a target from an input clip.
//!
//! Ratio conventions (tested in `tests/conventions.rs` by measuring a sine's length and pitch):
//! - `rubberband -t X` is a **duration** ratio (output X times as long), `-p N` is semitones;
//! - `sox tempo X` is a **speed** factor (output 1/X as long), so it gets `1 / stretch`;
//!   `sox pitch N` is in cents, so it gets `100 × pitch_semitones`.

use serde::{Deserialize, Serialize};

use crate::tools::ToolKind;

/// A target style: which tool, with which options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Style {
    /// Rubber Band R3 engine (`rubberband -3`), the finest quality.
    #[serde(rename = "rb-fine")]
    RbFine,
    /// Rubber Band R2 engine (`rubberband -2 --crisp N`), with a crispness level.
    #[serde(rename = "rb-crisp")]
    RbCrisp,
    /// Rubber Band R3 with formant preservation (`rubberband -3 --formant`).
    #[serde(rename = "rb-formant")]
    RbFormant,
    /// SoX WSOLA `tempo` and `pitch` effects.
    #[serde(rename = "sox")]
    Sox,
}

impl Style {
    /// Every style, in their canonical order.
    pub const ALL: [Style; 4] = [Style::RbFine, Style::RbCrisp, Style::RbFormant, Style::Sox];

    /// The name used in `dataset.toml` and in the manifest's `style` field.
    pub fn name(self) -> &'static str {
        match self {
            Self::RbFine => "rb-fine",
            Self::RbCrisp => "rb-crisp",
            Self::RbFormant => "rb-formant",
            Self::Sox => "sox",
        }
    }

    /// The style with this name, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The tool that makes this style's targets.
    pub fn tool(self) -> ToolKind {
        match self {
            Self::Sox => ToolKind::Sox,
            _ => ToolKind::Rubberband,
        }
    }

    /// The exact command line (program first) that makes `output` from `input` with duration
    /// ratio `stretch` and pitch shift `pitch_semitones`; `crispness` is used by `rb-crisp` only.
    pub fn command(
        self,
        input: &str,
        output: &str,
        stretch: f64,
        pitch_semitones: f64,
        crispness: u8,
    ) -> Vec<String> {
        let mut argv: Vec<String> = Vec::new();
        let rb = |engine: &str, extra: &[String]| {
            let mut v = vec!["rubberband".to_owned(), "-q".to_owned(), engine.to_owned()];
            v.extend_from_slice(extra);
            v.extend([
                "-t".to_owned(),
                number(stretch),
                "-p".to_owned(),
                number(pitch_semitones),
                input.to_owned(),
                output.to_owned(),
            ]);
            v
        };
        match self {
            Self::RbFine => argv = rb("-3", &[]),
            Self::RbFormant => argv = rb("-3", &["--formant".to_owned()]),
            Self::RbCrisp => argv = rb("-2", &["--crisp".to_owned(), crispness.to_string()]),
            Self::Sox => {
                argv.extend(["sox", "-R", "-V1", input, output].map(str::to_owned));
                if stretch != 1.0 {
                    argv.extend(["tempo".to_owned(), speed_factor(stretch)]);
                }
                let cents = (pitch_semitones * 100.0).round();
                if cents != 0.0 {
                    argv.extend(["pitch".to_owned(), number(cents)]);
                }
            }
        }
        argv
    }
}

impl std::fmt::Display for Style {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Shortest decimal form of a number (`1.25`, `-3`, `0.5`).
pub fn number(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// `1 / stretch` as a SoX speed factor with 9 significant decimals (trailing zeros dropped), so
/// the output length is `round(N × stretch)` for any clip shorter than 10⁸ frames.
pub fn speed_factor(stretch: f64) -> String {
    let s = format!("{:.9}", 1.0 / stretch);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

/// Joins an argv into one shell-readable line (arguments with spaces or quotes are single-quoted).
pub fn command_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=+:,@%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_follow_the_conventions() {
        let c = |s: Style, st, p| command_line(&s.command("in.wav", "out.wav", st, p, 5));
        assert_eq!(
            c(Style::RbFine, 2.0, 12.0),
            "rubberband -q -3 -t 2 -p 12 in.wav out.wav"
        );
        assert_eq!(
            c(Style::RbCrisp, 0.5, -3.25),
            "rubberband -q -2 --crisp 5 -t 0.5 -p -3.25 in.wav out.wav"
        );
        assert_eq!(
            c(Style::RbFormant, 1.25, 0.0),
            "rubberband -q -3 --formant -t 1.25 -p 0 in.wav out.wav"
        );
        assert_eq!(
            c(Style::Sox, 2.0, 3.5),
            "sox -R -V1 in.wav out.wav tempo 0.5 pitch 350"
        );
        assert_eq!(
            c(Style::Sox, 1.5, 0.0),
            "sox -R -V1 in.wav out.wav tempo 0.666666667"
        );
        assert_eq!(c(Style::Sox, 1.0, 0.0), "sox -R -V1 in.wav out.wav");
    }

    #[test]
    fn names_round_trip() {
        for s in Style::ALL {
            assert_eq!(Style::from_name(s.name()), Some(s));
        }
        assert_eq!(Style::from_name("rubberband"), None);
        assert_eq!(command_line(&["a b".to_owned()]), "'a b'");
    }
}
