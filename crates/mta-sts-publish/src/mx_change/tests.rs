use super::*;

const CURRENT: &[u8] =
    b"version: STSv1\nmode: enforce\nmx: mx1.acme.test\nmx: mx2.acme.test\nmax_age: 604800\n";

fn now() -> Timestamp {
    Timestamp::parse("2026-12-07T08:00:00Z").expect("valid")
}

fn hosts(names: &[&str]) -> Vec<String> {
    names.iter().map(|h| (*h).to_string()).collect()
}

#[test]
fn moving_to_new_hosts_takes_four_steps_at_the_right_times() {
    let plan = plan_mx_change(
        "acme.test",
        CURRENT,
        &hosts(&["contoso-com.mail.protection.outlook.com"]),
        &MxChangeOptions::default(),
        now(),
    )
    .expect("plan");
    let kinds: Vec<StepKind> = plan.steps.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            StepKind::PublishTransition,
            StepKind::WaitOldMaxAge,
            StepKind::SwitchMx,
            StepKind::PublishFinal
        ]
    );
    assert!(!plan.already_covered);
    let transition = plan.steps[0].policy.as_deref().expect("policy");
    assert_eq!(
        transition,
        "version: STSv1\nmode: enforce\nmx: *.mail.protection.outlook.com\nmx: mx1.acme.test\nmx: mx2.acme.test\nmax_age: 604800\n"
    );
    assert_eq!(plan.steps[0].earliest, now());
    // The switch waits the old max_age (a week), the drop the MX TTL (a day) after that.
    assert_eq!(plan.steps[2].earliest.to_string(), "2026-12-14T08:00:00Z");
    assert_eq!(plan.steps[1].until, Some(plan.steps[2].earliest));
    assert_eq!(plan.steps[3].earliest.to_string(), "2026-12-15T08:00:00Z");
    let last = plan.steps[3].policy.as_deref().expect("policy");
    assert_eq!(
        last,
        "version: STSv1\nmode: enforce\nmx: *.mail.protection.outlook.com\nmax_age: 604800\n"
    );
    // Every published policy gets its own content id, and senders read both.
    let ids: Vec<&str> = plan
        .steps
        .iter()
        .filter_map(|s| s.sts_record.as_deref())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    assert_eq!(ids[0], StsRecord::for_policy(transition).to_string());
    for policy in [transition, last] {
        let parsed = Policy::parse(policy.as_bytes()).expect("valid");
        assert!(parsed.matches_mx("contoso-com.mail.protection.outlook.com"));
    }
    assert!(
        Policy::parse(transition.as_bytes())
            .expect("valid")
            .matches_mx("mx1.acme.test")
    );
}

#[test]
fn hosts_the_policy_already_names_can_be_switched_now() {
    let current = b"version: STSv1\nmode: enforce\nmx: *.acme.test\nmax_age: 604800\n";
    let plan = plan_mx_change(
        "acme.test",
        current,
        &hosts(&["mx3.acme.test", "mx4.acme.test"]),
        &MxChangeOptions {
            wildcard: true,
            mx_ttl: 3600,
        },
        now(),
    )
    .expect("plan");
    assert!(plan.already_covered);
    assert_eq!(plan.steps.len(), 1);
    assert_eq!(plan.steps[0].kind, StepKind::SwitchMx);
    assert_eq!(plan.steps[0].earliest, now());
}

#[test]
fn a_covered_switch_still_drops_hosts_no_longer_used() {
    let plan = plan_mx_change(
        "acme.test",
        CURRENT,
        &hosts(&["mx2.acme.test"]),
        &MxChangeOptions {
            wildcard: false,
            mx_ttl: 3600,
        },
        now(),
    )
    .expect("plan");
    let kinds: Vec<StepKind> = plan.steps.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [StepKind::SwitchMx, StepKind::PublishFinal]);
    assert_eq!(plan.steps[1].earliest.to_string(), "2026-12-07T09:00:00Z");
}

#[test]
fn an_invalid_current_policy_or_no_new_host_is_refused() {
    let err = plan_mx_change(
        "acme.test",
        b"version: STSv1\nmode: enforced\n",
        &hosts(&["mx3.acme.test"]),
        &MxChangeOptions::default(),
        now(),
    )
    .expect_err("invalid");
    assert!(matches!(err, PublishError::CurrentPolicyInvalid { .. }));
    let err = plan_mx_change(
        "acme.test",
        CURRENT,
        &[],
        &MxChangeOptions::default(),
        now(),
    )
    .expect_err("no host");
    assert!(matches!(err, PublishError::NoNewMx { .. }));
}

#[test]
fn durations_read_as_people_say_them() {
    assert_eq!(seconds(604_800), "7 days (604800 seconds)");
    assert_eq!(seconds(86_400), "1 day (86400 seconds)");
    assert_eq!(seconds(7200), "2 hours (7200 seconds)");
    assert_eq!(seconds(90), "90 seconds");
}
