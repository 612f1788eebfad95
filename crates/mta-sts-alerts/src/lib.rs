//! Alerts for the domain owner.
