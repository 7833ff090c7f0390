//! The standalone XodVox app (JACK, ALSA through cpal, or a dummy backend): run with
//! `--help` for the audio options.

fn main() {
    nice_plug::prelude::nice_export_standalone::<xodvox_plugin::XodVox>();
}
