//! The plugin's editor (nice-plug-egui): every parameter, the engine status, the model
//! setting and a live input/output spectrum.
//!
//! The editor only reads what the audio thread publishes without waiting: the status
//! atomics and the spectrum tap ([`crate::spectrum`]). The FFTs run here, on the GUI
//! thread. The engine counters give the deadline misses and the inference load (the last
//! inference's duration over the hop's duration).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::{Color32, Pos2, Rect, Sense, Stroke, Vec2};
use nice_plug::context::gui::GuiContext;
use nice_plug::prelude::*;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{
    create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp,
    RepaintNotifier,
};

use crate::dsp::{NeuralAvailability, PluginStatus};
use crate::model::ModelShared;
use crate::spectrum::{SpectrumAnalyzer, FLOOR_DB, SPECTRUM_FFT};
use crate::XodVoxParams;

/// Editor window size (logical pixels).
pub const EDITOR_SIZE: (u32, u32) = (720, 560);

/// Builds the editor.
pub(crate) fn create(
    params: Arc<XodVoxParams>,
    status: Arc<PluginStatus>,
    state: Arc<EguiEditorState>,
) -> Option<EguiEditor<XodVoxEditor>> {
    let model = params.model.shared();
    let app = XodVoxEditor {
        model_text: model.dir(),
        params,
        status,
        model,
        gui: None,
        analyzer: SpectrumAnalyzer::default(),
        counters: Counters::default(),
    };
    create_egui_editor(
        state,
        RepaintNotifier::new(),
        EguiNiceSettings::new().with_tile("XodVox"),
        app,
    )
}

/// Misses and frames over the last second, from the engine's running counters.
#[derive(Default)]
struct Counters {
    at: Option<Instant>,
    frames: u64,
    misses: u64,
    recent_frames: u64,
    recent_misses: u64,
}

impl Counters {
    fn update(&mut self, frames: u64, misses: u64) {
        let now = Instant::now();
        match self.at {
            Some(t) if now.duration_since(t) < Duration::from_secs(1) => return,
            Some(_) => {
                self.recent_frames = frames.saturating_sub(self.frames);
                self.recent_misses = misses.saturating_sub(self.misses);
            }
            None => {}
        }
        self.at = Some(now);
        self.frames = frames;
        self.misses = misses;
    }
}

/// The editor's state (GUI thread).
pub struct XodVoxEditor {
    params: Arc<XodVoxParams>,
    status: Arc<PluginStatus>,
    model: Arc<ModelShared>,
    model_text: String,
    gui: Option<GuiContext>,
    analyzer: SpectrumAnalyzer,
    counters: Counters,
}

impl NiceEguiApp for XodVoxEditor {
    fn build(
        &mut self,
        _egui_ctx: egui::Context,
        nice_gui_ctx: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        self.gui = Some(nice_gui_ctx);
        self.model_text = self.model.dir();
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut Frame) {
        ui.ctx().request_repaint_after(Duration::from_millis(33));
        if crate::quit_requested() {
            // Only the standalone app sets this (Ctrl-C): close its window so that
            // nice-plug's standalone wrapper stops the audio and returns.
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
        }
        self.model.collect_retired();
        self.analyzer.update(&self.status.spectrum);
        ui.heading("XodVox");
        self.status_ui(ui);
        ui.separator();
        if let Some(gui) = self.gui.clone() {
            let setter = gui.param_setter();
            self.controls_ui(ui, &setter);
        }
        ui.separator();
        self.model_ui(ui);
        ui.separator();
        self.spectrum_ui(ui);
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }
}

impl XodVoxEditor {
    fn status_ui(&mut self, ui: &mut egui::Ui) {
        let lines = status_lines(&self.status, &mut self.counters);
        for (text, warn) in lines {
            if warn {
                ui.colored_label(Color32::from_rgb(230, 160, 60), text);
            } else {
                ui.label(text);
            }
        }
    }

    fn controls_ui(&self, ui: &mut egui::Ui, setter: &ParamSetter) {
        let p = &self.params;
        egui::Grid::new("controls")
            .num_columns(2)
            .spacing([12.0, 4.0])
            .show(ui, |ui| {
                ui.label("Pitch");
                ui.add(ParamSlider::for_param(&p.pitch, setter).with_width(300.0));
                ui.end_row();
                ui.label("Fine Tune");
                ui.add(ParamSlider::for_param(&p.fine, setter).with_width(300.0));
                ui.end_row();
                ui.label("Style");
                ui.add(ParamSlider::for_param(&p.style, setter).with_width(300.0));
                ui.end_row();
                ui.label("Engine");
                ui.add(ParamSlider::for_param(&p.engine, setter).with_width(300.0));
                ui.end_row();
                ui.label("Mix");
                ui.add(ParamSlider::for_param(&p.mix, setter).with_width(300.0));
                ui.end_row();
                ui.label("Output Gain");
                ui.add(ParamSlider::for_param(&p.gain, setter).with_width(300.0));
                ui.end_row();
                ui.label("Bypass");
                ui.add(ParamSlider::for_param(&p.bypass, setter).with_width(300.0));
                ui.end_row();
            });
    }

    fn model_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label("Model folder");
            ui.add(egui::TextEdit::singleline(&mut self.model_text).desired_width(360.0));
            if ui.button("Load").clicked() {
                self.model.set_dir_in_background(&self.model_text);
            }
            if ui.button("Default").clicked() {
                self.model_text.clear();
                self.model.set_dir_in_background("");
            }
        });
        let report = self.model.report();
        let text = if report.loading {
            "loading…".to_string()
        } else {
            report.message
        };
        if report.fallback {
            ui.colored_label(Color32::from_rgb(230, 90, 70), text);
        } else {
            ui.label(text);
        }
    }

    fn spectrum_ui(&self, ui: &mut egui::Ui) {
        let sr = f64::from(self.status.sample_rate.load(Ordering::Relaxed)).max(8_000.0);
        let size = Vec2::new(ui.available_width(), ui.available_height().max(120.0));
        let (response, painter) = ui.allocate_painter(size, Sense::hover());
        let rect = response.rect;
        painter.rect_filled(rect, 2.0, Color32::from_gray(18));
        let grid = Stroke::new(1.0, Color32::from_gray(45));
        for f in [100.0, 1_000.0, 10_000.0] {
            let x = freq_to_x(f, sr, rect);
            painter.line_segment(
                [Pos2::new(x, rect.top()), Pos2::new(x, rect.bottom())],
                grid,
            );
        }
        for db in [-24.0, -48.0, -72.0, -96.0] {
            let y = db_to_y(db, rect);
            painter.line_segment(
                [Pos2::new(rect.left(), y), Pos2::new(rect.right(), y)],
                grid,
            );
        }
        for (db, color) in [
            (&self.analyzer.input_db, Color32::from_rgb(110, 150, 220)),
            (&self.analyzer.output_db, Color32::from_rgb(240, 190, 90)),
        ] {
            let points = spectrum_points(db, sr, rect);
            painter.add(egui::Shape::line(points, Stroke::new(1.5, color)));
        }
        let font = egui::FontId::proportional(11.0);
        painter.text(
            rect.left_top() + Vec2::new(6.0, 4.0),
            egui::Align2::LEFT_TOP,
            "input",
            font.clone(),
            Color32::from_rgb(110, 150, 220),
        );
        painter.text(
            rect.left_top() + Vec2::new(50.0, 4.0),
            egui::Align2::LEFT_TOP,
            "output",
            font,
            Color32::from_rgb(240, 190, 90),
        );
    }
}

/// The status lines the editor shows (text, warning), from what the plugin publishes.
fn status_lines(status: &PluginStatus, counters: &mut Counters) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let sr = status.sample_rate.load(Ordering::Relaxed);
    let latency = status.latency_samples.load(Ordering::Relaxed);
    let availability = status.availability();
    let active = status.neural_active.load(Ordering::Relaxed);
    let engine = if active {
        "Engine: neural".to_string()
    } else {
        format!("Engine: classical ({})", availability.message())
    };
    out.push((engine, availability != NeuralAvailability::Ready));
    if sr > 0 {
        out.push((
            format!(
                "Latency: {latency} samples ({:.1} ms at {:.1} kHz)",
                1000.0 * f64::from(latency) / f64::from(sr),
                f64::from(sr) / 1000.0
            ),
            false,
        ));
    } else {
        out.push(("Not processing yet".to_string(), false));
    }
    if let Some(e) = status.engine_status() {
        let frames = e.frames.load(Ordering::Relaxed);
        let misses = e.misses.load(Ordering::Relaxed);
        counters.update(frames, misses);
        // The engines run at 48 kHz whatever the host's rate (the rate bridge), so one
        // hop is always the STFT hop (512 samples) at 48 kHz.
        let hop = xodvox_dsp::StftConfig::default().hop as f64;
        let hop_us = hop * 1e6 / f64::from(crate::dsp::MODEL_SAMPLE_RATE);
        let last_us = f64::from(e.last_inference_us.load(Ordering::Relaxed));
        out.push((
            format!(
                "Neural: {frames} frames, {misses} deadline misses ({} of {} in the last second), \
                 {} errors; inference load {:.0} % (last inference {:.1} ms of a {:.1} ms hop)",
                counters.recent_misses,
                counters.recent_frames,
                e.errors.load(Ordering::Relaxed),
                100.0 * last_us / hop_us,
                last_us / 1000.0,
                hop_us / 1000.0
            ),
            counters.recent_misses > 0,
        ));
    }
    out
}

const MIN_HZ: f64 = 20.0;

fn freq_to_x(f: f64, sr: f64, rect: Rect) -> f32 {
    let max = sr / 2.0;
    let t = (f.max(MIN_HZ) / MIN_HZ).ln() / (max / MIN_HZ).ln();
    rect.left() + rect.width() * t as f32
}

fn db_to_y(db: f32, rect: Rect) -> f32 {
    let top = 0.0;
    let t = ((db - top) / (FLOOR_DB - top)).clamp(0.0, 1.0);
    rect.top() + rect.height() * t
}

/// One point per pixel column: the loudest bin the column covers (log frequency axis).
fn spectrum_points(db: &[f32], sr: f64, rect: Rect) -> Vec<Pos2> {
    let columns = rect.width().max(1.0) as usize;
    let max = sr / 2.0;
    let bin_hz = sr / SPECTRUM_FFT as f64;
    let last = db.len().saturating_sub(1);
    (0..columns)
        .map(|c| {
            let f0 = MIN_HZ * (max / MIN_HZ).powf(c as f64 / columns as f64);
            let f1 = MIN_HZ * (max / MIN_HZ).powf((c + 1) as f64 / columns as f64);
            let k0 = ((f0 / bin_hz).round() as usize).min(last);
            let k1 = ((f1 / bin_hz).round() as usize).clamp(k0, last);
            let v = db[k0..=k1].iter().cloned().fold(FLOOR_DB, f32::max);
            Pos2::new(rect.left() + c as f32, db_to_y(v, rect))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_report_the_fallback_reason_latency_and_misses() {
        let status = PluginStatus::default();
        status.sample_rate.store(44_100, Ordering::Relaxed);
        status.latency_samples.store(9616, Ordering::Relaxed);
        status.set_engine(NeuralAvailability::WrongModelRate, None);
        let mut c = Counters::default();
        let lines = status_lines(&status, &mut c);
        assert_eq!(
            lines[0],
            (
                "Engine: classical (model is not a 48 kHz model: classical engine)".to_string(),
                true
            )
        );
        assert!(
            lines[1].0.contains("9616 samples (218.0 ms at 44.1 kHz)"),
            "{lines:?}"
        );
        assert_eq!(lines.len(), 2, "no neural counters without a neural engine");

        let e = Arc::new(xodvox_infer::EngineStatus::default());
        e.frames.store(100, Ordering::Relaxed);
        e.misses.store(7, Ordering::Relaxed);
        e.last_inference_us.store(5_333, Ordering::Relaxed);
        // At 96 kHz too: the hop is the engine's (48 kHz), not the host's.
        status.sample_rate.store(96_000, Ordering::Relaxed);
        status.set_engine(NeuralAvailability::Ready, Some(e.clone()));
        status.neural_active.store(true, Ordering::Relaxed);
        let lines = status_lines(&status, &mut c);
        assert_eq!(lines[0], ("Engine: neural".to_string(), false));
        assert!(
            lines[2].0.contains("100 frames, 7 deadline misses"),
            "{lines:?}"
        );
        assert!(lines[2].0.contains("inference load 50 %"), "{lines:?}");
    }

    #[test]
    fn spectrum_points_cover_the_width_and_follow_the_levels() {
        let rect = Rect::from_min_size(Pos2::ZERO, Vec2::new(200.0, 100.0));
        let mut db = vec![FLOOR_DB; SPECTRUM_FFT / 2 + 1];
        let k = (1000.0 / (48_000.0 / SPECTRUM_FFT as f64)).round() as usize;
        db[k] = 0.0;
        let pts = spectrum_points(&db, 48_000.0, rect);
        assert_eq!(pts.len(), 200);
        let top = pts
            .iter()
            .min_by(|a, b| a.y.total_cmp(&b.y))
            .expect("points");
        assert_eq!(top.y, 0.0, "0 dB at the top");
        assert!(
            (top.x - freq_to_x(1000.0, 48_000.0, rect)).abs() <= 1.5,
            "{top:?}"
        );
        assert!(pts.iter().filter(|p| p.y == 100.0).count() > 150);
    }
}
