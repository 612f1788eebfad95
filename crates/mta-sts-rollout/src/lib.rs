//! The rollout advisor (testing → enforce, with evidence).
