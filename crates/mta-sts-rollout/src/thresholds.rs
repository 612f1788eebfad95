//! The conditions' thresholds: defaults from the issue, every one configurable.

use serde::{Deserialize, Serialize};

/// What "ready" requires. The defaults: reports on at least 7 distinct days of the last 14,
/// from at least 2 organisations, no `sts` failure in the window, every MX certificate valid for
/// more than 14 days.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// The window: the last this many UTC days, today included.
    pub window_days: u32,
    /// Distinct days with reports needed in the window.
    pub min_report_days: u32,
    /// Reporting organisations needed in the window.
    pub min_reporters: u32,
    /// The highest share of failed `sts` sessions allowed in the window, from 0 to 1 (0: none
    /// may fail).
    pub max_failure_rate: f64,
    /// Every MX certificate must stay valid for more than this many days.
    pub min_certificate_days: u32,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            window_days: 14,
            min_report_days: 7,
            min_reporters: 2,
            max_failure_rate: 0.0,
            min_certificate_days: 14,
        }
    }
}

/// The longest window: a year and a day.
pub const MAX_WINDOW_DAYS: u32 = 366;

/// Why [`Thresholds`] do not work.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ThresholdError {
    /// The window is empty or longer than [`MAX_WINDOW_DAYS`].
    #[error("the window must be from 1 to {MAX_WINDOW_DAYS} days, not {0}")]
    Window(u32),
    /// More days with reports are asked for than the window has.
    #[error("{days} days with reports cannot be found in a window of {window} days")]
    ReportDays {
        /// `min_report_days`.
        days: u32,
        /// `window_days`.
        window: u32,
    },
    /// The failure rate is not a share from 0 to 1.
    #[error("the highest failure rate must be from 0 to 1 (0.01 is 1 %), not {0}")]
    FailureRate(f64),
}

impl Thresholds {
    /// Checks that the thresholds can be met at all.
    pub fn validate(&self) -> Result<(), ThresholdError> {
        if self.window_days == 0 || self.window_days > MAX_WINDOW_DAYS {
            return Err(ThresholdError::Window(self.window_days));
        }
        if self.min_report_days > self.window_days {
            return Err(ThresholdError::ReportDays {
                days: self.min_report_days,
                window: self.window_days,
            });
        }
        if !(0.0..=1.0).contains(&self.max_failure_rate) {
            return Err(ThresholdError::FailureRate(self.max_failure_rate));
        }
        Ok(())
    }
}
