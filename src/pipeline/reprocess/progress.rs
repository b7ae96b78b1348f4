//! Progress of a reprocess run on standard error (indicatif): bytes and files done, events per
//! second, time left. Readers only add to atomics; the run's coordinating thread redraws a few
//! times a second, so the hot path never touches the terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// `--progress`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// Shown when standard error is a terminal (never in pipes, files and CI logs).
    #[default]
    Auto,
    /// Not shown.
    Never,
}

impl ProgressMode {
    pub fn enabled(self) -> bool {
        match self {
            ProgressMode::Auto => std::io::stderr().is_terminal(),
            ProgressMode::Never => false,
        }
    }
}

/// The bar, or nothing when progress is off.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(mode: ProgressMode, total_bytes: u64) -> Progress {
        if !mode.enabled() {
            return Progress { bar: None };
        }
        // Redrawn by `update`; the draw target's own rate limit keeps a slow terminal cheap.
        let bar =
            ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr_with_hz(4));
        let style = ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(500));
        Progress { bar: Some(bar) }
    }

    pub fn is_shown(&self) -> bool {
        self.bar.is_some()
    }

    /// New figures: bytes read so far, files finished, events and their rate.
    pub fn update(&self, bytes: u64, files_done: usize, files: usize, events_per_sec: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
            bar.set_message(format!(
                "files {files_done}/{files}, {} events/s",
                super::summary::group_digits(events_per_sec.round() as u64)
            ));
        }
    }

    /// Removes the bar, so the summary starts on a clean line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
