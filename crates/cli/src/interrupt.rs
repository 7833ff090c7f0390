//! SIGINT/SIGTERM during a render: the first one sets a flag that the render loop checks
//! between chunks (it then stops, drops its unfinished output and exits 128 + signal); a second
//! one terminates at once, as the signal would by default.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::errors::{CliError, ExitKind};

/// The signal flag of a render.
pub struct Interrupt {
    received: Arc<AtomicUsize>,
}

impl Interrupt {
    /// Installs the handlers for SIGINT and SIGTERM.
    ///
    /// # Errors
    /// [`ExitKind::Other`] if the handlers cannot be installed.
    pub fn install() -> Result<Self, CliError> {
        let received = Arc::new(AtomicUsize::new(0));
        #[cfg(unix)]
        {
            use signal_hook::consts::{SIGINT, SIGTERM};
            let armed = Arc::new(AtomicBool::new(false));
            for signal in [SIGINT, SIGTERM] {
                let fail = |e: std::io::Error| {
                    CliError::new(
                        ExitKind::Other,
                        format!("cannot install the signal handlers: {e}"),
                    )
                };
                // Order matters: the default action runs only once the flag is armed.
                signal_hook::flag::register_conditional_default(signal, Arc::clone(&armed))
                    .map_err(fail)?;
                signal_hook::flag::register_usize(signal, Arc::clone(&received), signal as usize)
                    .map_err(fail)?;
                signal_hook::flag::register(signal, Arc::clone(&armed)).map_err(fail)?;
            }
        }
        Ok(Self { received })
    }

    /// `Err` once a signal has arrived: one line naming it, exit code 128 + its number.
    ///
    /// # Errors
    /// [`ExitKind::Interrupted`] after SIGINT or SIGTERM.
    pub fn check(&self) -> Result<(), CliError> {
        match self.received.load(Ordering::SeqCst) {
            0 => Ok(()),
            signal => {
                let signal = i32::try_from(signal).unwrap_or(0);
                Err(CliError::new(
                    ExitKind::Interrupted(signal),
                    format!(
                        "interrupted by {}; the unfinished output was removed",
                        signal_name(signal)
                    ),
                ))
            }
        }
    }
}

fn signal_name(signal: i32) -> String {
    match signal {
        2 => "SIGINT".into(),
        15 => "SIGTERM".into(),
        n => format!("signal {n}"),
    }
}
