//! `mta-sts publish DOMAIN`: what to publish for a domain, from its live MX records (the policy,
//! the `_mta-sts` record with the policy's content id, the `_smtp._tls` record, a zone snippet);
//! and `--plan-mx-change`, the safe order for moving to new MX hosts.
//!
//! Exit status: 0 done; 2 refused (a null MX, no MX, a bad option: a sentence says why) or could
//! not run (DNS gave no answer, the current policy could not be fetched, a file not written).

use std::fmt::Write as _;
use std::path::Path;

use mta_sts_core::policy::MAX_MAX_AGE;
use mta_sts_core::{Clock, Mode, Severity};
use mta_sts_net::{DnsConfig, FetchConfig, SystemClock};
use mta_sts_publish::{
    MxChangeOptions, MxChangePlan, PatternReason, Publication, PublishError, PublishOptions,
    Publisher,
};

use super::{CommandError, emit, resolver, runtime, to_json, trust};
use crate::cli::{PublishArgs, PublishMode};
use crate::exit::Status;

/// Runs `mta-sts publish`.
pub fn run(args: &PublishArgs) -> Result<Status, CommandError> {
    let dns = DnsConfig {
        upstream: resolver(args.resolver.as_deref())?,
        timeout: args.timeout,
        ..DnsConfig::default()
    };
    let publisher = Publisher::from_dns_config(&dns).map_err(refused)?;
    if args.plan_mx_change {
        return plan(args, &publisher);
    }
    let options = options(args)?;
    let publication = runtime()?
        .block_on(publisher.publish(&args.domain, &options))
        .map_err(refused)?;
    if let Some(dir) = &args.out {
        write_files(dir, &publication)?;
    }
    if args.json {
        emit(&to_json(&publication)?)?;
    } else {
        emit(&human(&publication, args.out.as_deref()))?;
    }
    Ok(Status::Valid)
}

/// The owner's choices from the flags; an over-long max_age is refused before any lookup.
fn options(args: &PublishArgs) -> Result<PublishOptions, CommandError> {
    let max_age = u32::try_from(args.max_age)
        .ok()
        .filter(|age| *age <= MAX_MAX_AGE)
        .ok_or_else(|| {
            refused(PublishError::MaxAgeTooLarge {
                max_age: args.max_age,
            })
        })?;
    Ok(PublishOptions {
        mode: match args.mode {
            PublishMode::Testing => Mode::Testing,
            PublishMode::Enforce => Mode::Enforce,
            PublishMode::None => Mode::None,
        },
        max_age,
        rua: args.rua.clone(),
        wildcard: args.wildcard,
    })
}

/// `--plan-mx-change`: the current policy fetched, then the steps.
fn plan(args: &PublishArgs, publisher: &Publisher) -> Result<Status, CommandError> {
    let mut fetch = FetchConfig::new(trust(args.ca_file.as_deref())?);
    fetch.port = args.https_port;
    fetch.timeout = args.timeout;
    let options = MxChangeOptions {
        wildcard: args.wildcard,
        mx_ttl: args.mx_ttl,
    };
    let plan = runtime()?
        .block_on(publisher.plan_mx_change(
            &args.domain,
            &args.new_mx,
            &options,
            &fetch,
            SystemClock.now(),
        ))
        .map_err(refused)?;
    if args.json {
        emit(&to_json(&plan)?)?;
    } else {
        emit(&plan_text(&plan))?;
    }
    Ok(Status::Valid)
}

/// A refusal or failure of the engine, as the sentence it is.
fn refused(error: PublishError) -> CommandError {
    CommandError::Argument(format!("{error}."))
}

/// Writes `DIR/.well-known/mta-sts.txt` and `DIR/zone.txt`, each through a temporary file and a
/// rename, so a web server serving `DIR` never sees half a policy.
fn write_files(dir: &Path, publication: &Publication) -> Result<(), CommandError> {
    let well_known = dir.join(".well-known");
    std::fs::create_dir_all(&well_known).map_err(|source| {
        CommandError::Setup(format!(
            "cannot create the directory {}: {source}.",
            well_known.display()
        ))
    })?;
    for (path, text) in [
        (well_known.join("mta-sts.txt"), &publication.policy),
        (dir.join("zone.txt"), &publication.zone),
    ] {
        let temporary = path.with_extension("txt.new");
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|source| {
                CommandError::Setup(format!("cannot write {}: {source}.", path.display()))
            })?;
    }
    Ok(())
}

/// The publication as a person follows it: serve, then publish.
fn human(publication: &Publication, out: Option<&Path>) -> String {
    let mut text = String::new();
    let domain = &publication.domain;
    let mx: Vec<String> = publication
        .mx
        .iter()
        .map(|m| format!("{} {}", m.preference, m.host))
        .collect();
    let _ = writeln!(
        text,
        "MTA-STS for {domain}, from its {} MX record{} ({}).",
        mx.len(),
        if mx.len() == 1 { "" } else { "s" },
        mx.join(", ")
    );
    for pattern in &publication.patterns {
        match &pattern.reason {
            PatternReason::Provider { provider } => {
                let _ = writeln!(
                    text,
                    "`mx: {}` covers {}: {provider} may move your mail to any of its hosts there.",
                    pattern.pattern,
                    pattern.covers.join(", ")
                );
            }
            PatternReason::Wildcard => {
                let _ = writeln!(
                    text,
                    "`mx: {}` covers {} (--wildcard).",
                    pattern.pattern,
                    pattern.covers.join(", ")
                );
            }
            PatternReason::Host => {}
        }
    }
    let _ = writeln!(
        text,
        "\n1. Serve this policy at https://{}/.well-known/mta-sts.txt (status 200, Content-Type text/plain, a valid certificate for {}, never a redirect):\n",
        publication.policy_host(),
        publication.policy_host()
    );
    text.push_str(&publication.policy);
    let _ = writeln!(
        text,
        "\n2. Then publish these DNS records (the id {} is derived from the policy: any change to it gives a new id):\n",
        publication.id
    );
    text.push_str(&publication.zone);
    for note in &publication.notes {
        let label = if note.severity == Severity::Warning {
            "warning"
        } else {
            "note"
        };
        let _ = writeln!(text, "\n{label}: {}", note.message);
    }
    if let Some(dir) = out {
        let _ = writeln!(
            text,
            "\nWrote {} and {}.",
            dir.join(".well-known").join("mta-sts.txt").display(),
            dir.join("zone.txt").display()
        );
    }
    text
}

/// The plan, one step per paragraph with its earliest time.
fn plan_text(plan: &MxChangePlan) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "Moving the MX hosts of {} (policy mode {}, max_age {} seconds; both kept):",
        plan.domain, plan.mode, plan.max_age
    );
    if plan.already_covered {
        let _ = writeln!(
            text,
            "The current policy already names every new MX host, so the MX records can be switched now."
        );
    }
    for (number, step) in plan.steps.iter().enumerate() {
        let when = match step.until {
            Some(until) => format!("from {} until {until}", step.earliest),
            None => format!("at {} or later", step.earliest),
        };
        let _ = writeln!(text, "\nStep {}, {when}: {}", number + 1, step.action);
        if let Some(policy) = &step.policy {
            let _ = writeln!(text);
            for line in policy.lines() {
                let _ = writeln!(text, "    {line}");
            }
        }
        if let Some(record) = &step.sts_record {
            let _ = writeln!(
                text,
                "\n    _mta-sts.{}. IN TXT {}",
                plan.domain,
                mta_sts_publish::zone::txt_rdata(record)
            );
        }
    }
    text
}
