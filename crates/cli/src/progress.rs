//! Progress bars on standard error, shown only when it is a terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether progress should be drawn.
pub fn enabled(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

/// A bar counting items, or a hidden one.
pub fn items(total: u64, label: &str, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style =
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} texts, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(label.to_string());
    bar
}

/// Download progress for model files.
pub struct FetchProgress {
    bar: ProgressBar,
    show: bool,
}

impl FetchProgress {
    pub fn new(show: bool) -> Self {
        FetchProgress {
            bar: ProgressBar::hidden(),
            show,
        }
    }
}

impl Drop for FetchProgress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

// indicatif's bar is internally synchronised; swapping it needs a cell.
pub struct SharedFetchProgress(std::sync::Mutex<FetchProgress>);

impl SharedFetchProgress {
    pub fn new(show: bool) -> Self {
        SharedFetchProgress(std::sync::Mutex::new(FetchProgress::new(show)))
    }
}

impl embedrock_local::Progress for SharedFetchProgress {
    fn begin(&self, label: &str, total: Option<u64>) {
        let Ok(mut p) = self.0.lock() else { return };
        if !p.show {
            return;
        }
        let bar = match total {
            Some(t) => {
                let b = ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr());
                b.set_style(
                    ProgressStyle::with_template(
                        "{msg:30} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                b
            }
            None => {
                let b = ProgressBar::new_spinner();
                b.set_draw_target(ProgressDrawTarget::stderr());
                b.enable_steady_tick(std::time::Duration::from_millis(120));
                b
            }
        };
        bar.set_message(label.to_string());
        p.bar = bar;
    }

    fn advance(&self, bytes: u64) {
        if let Ok(p) = self.0.lock() {
            p.bar.inc(bytes);
        }
    }

    fn end(&self) {
        if let Ok(p) = self.0.lock() {
            p.bar.finish_and_clear();
        }
    }
}
