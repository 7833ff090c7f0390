//! The standalone XodVox app (JACK, ALSA through cpal, or a dummy backend): run with
//! `--help` for the audio options.
//!
//! Ctrl-C (SIGINT) quits: nice-plug's standalone wrapper only looks at SIGINT when it runs
//! without an editor, and its editor's event loop never returns on it, so the app installs
//! its own handler first. It asks the editor to close its window (which stops the audio and
//! returns from the wrapper) and exits with status 130 if that has not happened within two
//! seconds (no editor, or a window that does not close).

use std::time::Duration;

fn main() {
    if let Err(e) = ctrlc::set_handler(|| {
        xodvox_plugin::request_quit();
        std::thread::sleep(Duration::from_secs(2));
        eprintln!("XodVox: interrupted");
        std::process::exit(130);
    }) {
        eprintln!("XodVox: cannot handle Ctrl-C ({e}); close the window to quit");
    }
    nice_plug::prelude::nice_export_standalone::<xodvox_plugin::XodVox>();
}
