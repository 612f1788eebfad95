//! How far a scan is, on standard error: a progress bar when it is a terminal, plain lines
//! every `--progress-every` seconds when it is not (a log file, a pipe), the last line always.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How one domain's check ended, for the counts shown.
pub enum Ending {
    /// The verdict is `fail`.
    Failing,
    /// The check could not learn everything (`outcome` is not `complete`).
    Incomplete,
    /// The check went over `--check-timeout`.
    TimedOut,
    /// Anything else (pass, warn).
    Other,
}

/// The counts, and the bar when standard error is a terminal.
pub struct Progress {
    started: Instant,
    total: usize,
    checked: usize,
    failing: usize,
    incomplete: usize,
    timed_out: usize,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Counts for `total` domains; `terminal` draws a bar instead of writing lines.
    pub fn new(total: usize, terminal: bool) -> Progress {
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(u64::try_from(total).unwrap_or(u64::MAX)),
                ProgressDrawTarget::stderr(),
            );
            // The template is a constant; a mistake in it shows as the default style, never
            // as a failed scan.
            if let Ok(style) = ProgressStyle::with_template(
                "scan: [{bar:30}] {pos}/{len} checked ({per_sec}, about {eta} left); {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        let progress = Progress {
            started: Instant::now(),
            total,
            checked: 0,
            failing: 0,
            incomplete: 0,
            timed_out: 0,
            bar,
        };
        if let Some(bar) = &progress.bar {
            bar.set_message(progress.counts());
        }
        progress
    }

    /// Counts one finished check.
    pub fn record(&mut self, ending: &Ending) {
        self.checked += 1;
        match ending {
            Ending::Failing => self.failing += 1,
            Ending::Incomplete => self.incomplete += 1,
            Ending::TimedOut => self.timed_out += 1,
            Ending::Other => {}
        }
        if let Some(bar) = &self.bar {
            bar.set_message(self.counts());
            bar.inc(1);
        }
    }

    /// Every `--progress-every`: a plain line when there is no bar (the bar redraws itself).
    pub fn tick(&self) {
        if self.bar.is_none() {
            eprintln!("{}", self.line());
        }
    }

    /// At the end: the bar is removed and the last line written, terminal or not.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!("{}", self.line());
    }

    /// `3 failing, 1 incomplete, 0 timed out`.
    fn counts(&self) -> String {
        format!(
            "{} failing, {} incomplete, {} timed out",
            self.failing, self.incomplete, self.timed_out
        )
    }

    /// `scan: 120/1000 checked (35.2/s, about 25 s left); 3 failing, 1 incomplete, 0 timed out`.
    fn line(&self) -> String {
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 {
            self.checked as f64 / elapsed
        } else {
            0.0
        };
        let left = self.total - self.checked;
        let eta = if left == 0 {
            "done".to_string()
        } else if rate > 0.0 {
            format!("about {:.0} s left", left as f64 / rate)
        } else {
            "time left not known yet".to_string()
        };
        format!(
            "scan: {}/{} checked ({rate:.1}/s, {eta}); {}",
            self.checked,
            self.total,
            self.counts()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_count_each_ending() {
        let mut progress = Progress::new(4, false);
        for ending in [Ending::Failing, Ending::TimedOut, Ending::Other] {
            progress.record(&ending);
        }
        let line = progress.line();
        assert!(line.starts_with("scan: 3/4 checked ("), "{line}");
        assert!(
            line.ends_with("; 1 failing, 0 incomplete, 1 timed out"),
            "{line}"
        );
        progress.record(&Ending::Incomplete);
        assert!(progress.line().contains("done); 1 failing, 1 incomplete"));
    }

    #[test]
    fn the_bar_follows_the_counts() {
        // Drawn to a hidden target here: what is tested is what the bar is given.
        let mut progress = Progress::new(3, true);
        if let Some(bar) = &progress.bar {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        progress.record(&Ending::Failing);
        let bar = progress.bar.as_ref().expect("a bar on a terminal");
        assert_eq!((bar.position(), bar.length()), (1, Some(3)));
        assert_eq!(bar.message(), "1 failing, 0 incomplete, 0 timed out");
    }
}
