//! What Postfix is sent, by its version: the reply with or without the TLSRPT attributes
//! (Postfix ≥ 3.10.5 enforces MX patterns with them; older Postfix cannot parse them), and `mx`
//! lines that are IPv4 addresses, all through the daemon over a real socket.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use mta_sts_policyd::netstring;
use mta_sts_policyd::{Config, Daemon, Event, PostfixVersionSetting, Reply, VersionSource, Zone};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::support::{Env, TempDir, lab_config};

/// Serves `daemon` on 127.0.0.1:0, asks each `name key` request on one connection, returns the
/// replies and stops the server.
async fn ask(daemon: &Daemon, requests: &[String]) -> Vec<Reply> {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = daemon.clone();
    let server = tokio::spawn(async move {
        serving
            .serve(listener.into(), async {
                let _ = stopped.await;
            })
            .await
    });
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let mut replies = Vec::new();
    for request in requests {
        stream
            .write_all(&netstring::encode(request.as_bytes()))
            .await
            .expect("write");
        let mut buffer = Vec::new();
        let reply = loop {
            if let Some((payload, _)) =
                netstring::decode_with_limit(&buffer, 1 << 20).expect("a reply netstring")
            {
                break Reply::parse(payload).expect("a socketmap reply");
            }
            let mut chunk = [0u8; 4096];
            let read = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut chunk))
                .await
                .expect("a reply in time")
                .expect("read");
            assert!(read > 0, "closed before the reply to {request}");
            buffer.extend_from_slice(&chunk[..read]);
        };
        replies.push(reply);
    }
    drop(stream);
    let _ = stop.send(());
    server.await.expect("server task").expect("server stops");
    replies
}

fn version(text: &str) -> PostfixVersionSetting {
    text.parse().expect("a version")
}

/// The old form for a lab domain with one MX host.
fn old_form(domain: &str) -> String {
    format!("secure match=mx.{domain} servername=hostname")
}

#[tokio::test(flavor = "multi_thread")]
async fn postfix_3_10_5_gets_the_attributes_older_postfix_does_not() {
    for (postfix, attributes) in [
        ("3.10.5", true),
        ("3.11-20250906", true),
        ("4.0", true),
        ("3.10.4", false),
        ("3.9.14", false),
        ("3.11-20250829", false),
    ] {
        let env = Env::start_with(|config| {
            config.postfix_version = version(postfix);
            // A zone that says no, whatever the version.
            config.zones.insert(
                "plain".into(),
                Zone {
                    tlsrpt: Some(false),
                    ..Zone::default()
                },
            );
        })
        .await;
        let domain = env.domain("healthy-enforce");
        let replies = ask(
            &env.daemon,
            &[
                format!("postfix {domain}"),
                format!("plain {domain}"),
                format!("tlsrpt {domain}"),
            ],
        )
        .await;
        let with_attributes = format!(
            "{} policy_type=sts policy_domain={domain} mx_host_pattern=mx.{domain} \
             {{ policy_string = version: STSv1 }} {{ policy_string = mode: enforce }} \
             {{ policy_string = mx: mx.{domain} }}",
            old_form(&domain)
        );
        let Reply::Ok(default_zone) = &replies[0] else {
            panic!("{postfix}: {:?}", replies[0]);
        };
        if attributes {
            assert!(
                default_zone.starts_with(&with_attributes),
                "{postfix}: {default_zone}"
            );
        } else {
            assert_eq!(default_zone, &old_form(&domain), "{postfix}");
        }
        // Explicit zone settings override the version both ways.
        assert_eq!(replies[1], Reply::Ok(old_form(&domain)), "{postfix}");
        assert!(
            matches!(&replies[2], Reply::Ok(data) if data.starts_with(&with_attributes)),
            "{postfix}: {:?}",
            replies[2]
        );
        env.lab.shutdown().await;
    }
}

/// A stand-in for postconf printing `version`, in `dir`.
fn fake_postconf(dir: &TempDir, version: &str) -> std::path::PathBuf {
    let path = dir.file("postconf");
    std::fs::write(
        &path,
        format!("#!/bin/sh\n[ \"$1 $2\" = \"-dh mail_version\" ] || exit 2\necho {version}\n"),
    )
    .expect("script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_asks_postconf_when_the_daemon_starts() {
    let env = Env::start().await;
    let domain = env.domain("healthy-enforce");
    let dir = TempDir::new("postconf");
    for (postconf, attributes) in [
        (fake_postconf(&dir, "3.10.5"), true),
        (dir.file("no-such-postconf"), false),
    ] {
        let config = Config {
            postconf: postconf.clone(),
            ..lab_config(&env.lab)
        };
        assert_eq!(config.postfix_version, PostfixVersionSetting::Auto);
        // The real constructor: it runs postconf.
        let daemon = Daemon::new(config).expect("daemon");
        let target = daemon.postfix().clone();
        if attributes {
            assert_eq!(target.source, VersionSource::Postconf(postconf));
        } else {
            assert!(
                matches!(&target.source, VersionSource::Unknown(why) if why.contains("does not exist")),
                "{target:?}"
            );
            assert!(daemon.postfix().describe().contains("postfix_version"));
        }
        let replies = ask(&daemon, &[format!("postfix {domain}")]).await;
        let Reply::Ok(data) = &replies[0] else {
            panic!("{:?}", replies[0]);
        };
        assert_eq!(data.contains(" policy_type=sts "), attributes, "{data}");
        assert!(data.starts_with(&old_form(&domain)), "{data}");
    }
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_in_mx_is_left_out_and_logged_once_per_fetch() {
    let env = Env::start_with(|config| config.postfix_version = version("3.10.5")).await;
    let mut events = env.daemon.subscribe();
    let domain = env.domain("policy-mx-ip");
    let request = format!("postfix {domain}");
    let replies = ask(&env.daemon, &[request.clone(), request.clone()]).await;
    for reply in &replies {
        let Reply::Ok(data) = reply else {
            panic!("{reply:?}");
        };
        // The policy is used: its host name is there, the address is not, neither in match=
        // nor as an mx_host_pattern (only in the policy strings of the report).
        assert!(
            data.starts_with(&format!("{} policy_type=sts", old_form(&domain))),
            "{data}"
        );
        assert!(!data.contains("mx_host_pattern=192.0.2.25"), "{data}");
        assert!(
            data.contains("{ policy_string = mx: 192.0.2.25 }"),
            "{data}"
        );
    }
    // Past check_interval the TXT id is checked again; the same id means no fetch, and no
    // second report.
    env.advance(120);
    let again = ask(&env.daemon, &[request]).await;
    assert_eq!(again[0], replies[0]);
    assert_eq!(env.source.fetches(), 1);
    let mut reported = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let Event::AddressPatternsIgnored { .. } = &event {
            reported.push(event.to_string());
        }
    }
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert!(
        reported[0].starts_with(&format!("{domain}: ")) && reported[0].contains("192.0.2.25"),
        "{}",
        reported[0]
    );
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_of_addresses_only_defers_enforced_mail() {
    let env = Env::start().await;
    let mut events = env.daemon.subscribe();
    let domain = env.domain("policy-mx-ip-only");
    let replies = ask(
        &env.daemon,
        &[format!("postfix {domain}"), format!("tlsrpt {domain}")],
    )
    .await;
    for reply in &replies {
        assert!(
            matches!(reply, Reply::Temp(reason) if reason.contains(&domain) && reason.contains("only IP addresses")),
            "{reply:?}"
        );
    }
    let event = events.try_recv().expect("one event");
    assert!(
        matches!(&event, Event::AddressPatternsIgnored { all: true, patterns, .. } if patterns.len() == 2),
        "{event:?}"
    );
    env.lab.shutdown().await;
}
