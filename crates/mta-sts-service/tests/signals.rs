//! Real signals sent to this test process. Safe here: the handlers are installed before any
//! signal is raised, and this test binary holds this one test only, so nothing else runs in the
//! process meanwhile.

use mta_sts_service::{Shutdown, Signal, handle_signals};
use nix::sys::signal::{Signal as Sig, raise};

#[tokio::test]
async fn sighup_reloads_and_sigterm_stops() {
    let shutdown = Shutdown::new();
    let mut signals = handle_signals(shutdown.clone()).expect("handlers installed");
    raise(Sig::SIGHUP).expect("raise SIGHUP");
    assert_eq!(signals.recv().await, Some(Signal::Hangup));
    assert!(!shutdown.is_triggered(), "SIGHUP must not stop the service");
    raise(Sig::SIGTERM).expect("raise SIGTERM");
    assert_eq!(signals.recv().await, Some(Signal::Terminate));
    // The shutdown was triggered before the signal was handed over.
    assert!(shutdown.is_triggered());
    shutdown.triggered().await;
}
