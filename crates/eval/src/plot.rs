//! PNG figures: spectrogram comparisons (every engine on one clip, one colour scale) and bar
//! charts, drawn with `plotters`' bitmap backend. Text uses a TrueType font found on the
//! system (DejaVu Sans from `fonts-dejavu-core`, or `$XODVOX_FONT`); without one the figures
//! are drawn without text and the Markdown report carries the labels.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use realfft::RealFftPlanner;
use xodvox_dsp::window::hann_periodic;

use crate::error::{EvalError, Result};

/// Font files tried, in order, after `$XODVOX_FONT`.
pub const FONT_CANDIDATES: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
];

/// Registers a font for plotters once; returns the file used, or `None` (figures without text).
pub fn font() -> Option<&'static str> {
    static FONT: OnceLock<Option<String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let env = std::env::var("XODVOX_FONT").ok();
        for path in env.iter().map(String::as_str).chain(FONT_CANDIDATES) {
            let Ok(bytes) = std::fs::read(path) else {
                continue;
            };
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return Some(path.to_string());
            }
        }
        None
    })
    .as_deref()
}

fn plot_err(name: &Path) -> impl Fn(String) -> EvalError + '_ {
    move |message| EvalError::Plot {
        name: name.display().to_string(),
        message,
    }
}

/// FFT size of the spectrogram figures.
const SPEC_N_FFT: usize = 1024;
/// Hop of the spectrogram figures.
const SPEC_HOP: usize = 256;
/// Dynamic range shown, dB below the loudest bin of the whole figure.
pub const SPEC_RANGE_DB: f64 = 80.0;

/// Log-power spectrogram (dB) of `signal`: frames × bins up to `max_hz`.
pub fn spectrogram_db(signal: &[f32], sample_rate: f64, max_hz: f64) -> Vec<Vec<f64>> {
    let mut planner = RealFftPlanner::<f32>::new();
    let fft = planner.plan_fft_forward(SPEC_N_FFT);
    let window = hann_periodic(SPEC_N_FFT);
    let bins = ((max_hz / sample_rate * SPEC_N_FFT as f64) as usize).min(SPEC_N_FFT / 2);
    let mut buf = fft.make_input_vec();
    let mut spec = fft.make_output_vec();
    (0..signal.len().div_ceil(SPEC_HOP))
        .map(|k| {
            for (i, (b, w)) in buf.iter_mut().zip(&window).enumerate() {
                let pos = (k * SPEC_HOP + i) as isize - (SPEC_N_FFT / 2) as isize;
                *b = if pos >= 0 && (pos as usize) < signal.len() {
                    signal[pos as usize] * w
                } else {
                    0.0
                };
            }
            fft.process(&mut buf, &mut spec)
                .expect("sizes from the plan");
            spec[..bins]
                .iter()
                .map(|c| 10.0 * (f64::from(c.norm_sqr()) + 1e-12).log10())
                .collect()
        })
        .collect()
}

/// Colour for `t` in 0..=1 (dark blue → purple → orange → light yellow).
fn colormap(t: f64) -> RGBColor {
    const STOPS: [(f64, [f64; 3]); 5] = [
        (0.0, [0.0, 0.0, 4.0]),
        (0.25, [59.0, 15.0, 112.0]),
        (0.5, [140.0, 41.0, 129.0]),
        (0.75, [241.0, 96.0, 93.0]),
        (1.0, [252.0, 253.0, 191.0]),
    ];
    let t = t.clamp(0.0, 1.0);
    let i = STOPS
        .iter()
        .rposition(|s| s.0 <= t)
        .unwrap_or(0)
        .min(STOPS.len() - 2);
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let f = (t - a.0) / (b.0 - a.0);
    let c = |k: usize| (a.1[k] + (b.1[k] - a.1[k]) * f).round() as u8;
    RGBColor(c(0), c(1), c(2))
}

/// Draws stacked spectrograms of `panels` ((title, signal) pairs) into a PNG at `path`, all on
/// one colour scale: 0 dB = the loudest bin of any panel, black = −[`SPEC_RANGE_DB`].
/// Frequency axis linear 0..`max_hz`, time axis the longest panel's length.
///
/// # Errors
/// [`EvalError::Plot`] if the file cannot be drawn or written.
pub fn spectrogram_png(
    path: &Path,
    panels: &[(String, &[f32])],
    sample_rate: f64,
    max_hz: f64,
) -> Result<()> {
    let err = plot_err(path);
    let specs: Vec<Vec<Vec<f64>>> = panels
        .iter()
        .map(|(_, s)| spectrogram_db(s, sample_rate, max_hz))
        .collect();
    let top = specs
        .iter()
        .flatten()
        .flatten()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let frames = specs.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let (width, panel_h, title_h) = (720u32, 110u32, if font().is_some() { 22u32 } else { 4 });
    let height = (panel_h + title_h) * panels.len().max(1) as u32;
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    for (p, ((title, _), spec)) in panels.iter().zip(&specs).enumerate() {
        let y0 = p as u32 * (panel_h + title_h);
        if font().is_some() {
            root.draw_text(
                title,
                &("sans-serif", 16).into_font().color(&BLACK),
                (6, y0 as i32 + 3),
            )
            .map_err(|e| err(e.to_string()))?;
        }
        let bins = spec.first().map_or(1, Vec::len).max(1);
        for x in 0..width {
            let k = (x as usize * frames) / width as usize;
            for y in 0..panel_h {
                let b = ((panel_h - 1 - y) as usize * bins) / panel_h as usize;
                let db = spec.get(k).and_then(|f| f.get(b)).copied();
                let colour = match db {
                    Some(db) => colormap((db - top + SPEC_RANGE_DB) / SPEC_RANGE_DB),
                    None => RGBColor(40, 40, 40),
                };
                root.draw_pixel((x as i32, (y0 + title_h + y) as i32), &colour)
                    .map_err(|e| err(e.to_string()))?;
            }
        }
    }
    root.present().map_err(|e| err(e.to_string()))
}

/// Draws a bar chart (one bar per label; missing values are left empty) into a PNG.
///
/// # Errors
/// [`EvalError::Plot`] if the file cannot be drawn or written.
pub fn bar_chart_png(
    path: &Path,
    title: &str,
    labels: &[String],
    values: &[Option<f64>],
) -> Result<()> {
    let err = plot_err(path);
    let root = BitMapBackend::new(path, (760, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let max = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let max = if max > 0.0 { max * 1.15 } else { 1.0 };
    let n = labels.len().max(2) as i32;
    let text = font().is_some();
    let mut builder = ChartBuilder::on(&root);
    builder.margin(12);
    if text {
        builder
            .caption(title, ("sans-serif", 20))
            .x_label_area_size(36)
            .y_label_area_size(64);
    }
    let mut chart = builder
        .build_cartesian_2d((0..n - 1).into_segmented(), 0.0..max)
        .map_err(|e| err(e.to_string()))?;
    if text {
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(labels.len().max(1))
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| err(e.to_string()))?;
    }
    let palette = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
    ];
    for (i, v) in values.iter().enumerate() {
        let Some(v) = v.filter(|v| v.is_finite()) else {
            continue;
        };
        let colour = palette[i % palette.len()];
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [
                    (SegmentValue::Exact(i as i32), 0.0),
                    (SegmentValue::Exact(i as i32 + 1), v.min(max)),
                ],
                colour.filled(),
            )))
            .map_err(|e| err(e.to_string()))?;
    }
    root.present().map_err(|e| err(e.to_string()))
}
