#!/usr/bin/env python3
"""Differential test: the same socketmap requests to postfix-mta-sts-resolver and to `mta-sts daemon`.

Run by bench/vs-postfix-mta-sts-resolver.sh inside its private network namespace (the lab on the
real ports, both daemons started there), or by hand against any two running daemons:

    python3 bench/socketmap_diff.py --peer 127.0.0.1:8461 --ours 127.0.0.1:8462 \
        --domains-json demo.json [--json out.json]

`--domains-json` is the output of `mta-sts demo --json` (a list of objects with `domain`).
The peer's daemon needs zones `strict` (strict_testing: true), `tlsrpt` (tlsrpt: true), `nosni`
(require_sni: false) and `plain` (tlsrpt: false); ours the same zones in its TOML configuration,
and `postfix_version = "3.10.5"`: zones that do not set tlsrpt then carry the TLSRPT attributes,
which the peer sends only with tlsrpt: true (see ATTRIBUTES_FOR_3_10_5).

Every request is sent twice to each daemon: a first pass (cold: the daemons look the domain up)
and a second pass (the cached answer); both passes are compared. `match=` patterns are compared
as a set (the peer builds them from a Python set: random order, documented as such); everything
else must be identical, or be one of the deliberate differences listed in EXPECTED (and
POLICY_STRING_ORDER for `tlsrpt` zones), each with its reason. Exit status: 0 when every difference is expected, 1 otherwise.
"""

import argparse
import asyncio
import collections
import json
import re
import sys

TIMEOUT = 30.0  # a cold lookup of dns-timeout.test waits out both daemons' 4 s timeouts


def netstring(b: bytes) -> bytes:
    return b"%d:%s," % (len(b), b)


async def exchange(addr, payload: bytes, replies: int = 1):
    """Send `payload` on a fresh connection, read `replies` netstrings.

    Returns a list of decoded replies; `<closed>` marks a connection closed before a (complete)
    reply, `<timeout>` one where nothing came within TIMEOUT."""
    host, port = addr
    reader, writer = await asyncio.open_connection(host, port)
    out = []
    try:
        writer.write(payload)
        await writer.drain()
        buf = b""
        while len(out) < replies:
            m = re.match(rb"(\d+):", buf)
            if m and len(buf) >= m.end() + int(m.group(1)) + 1:
                end = m.end() + int(m.group(1))
                if buf[end:end + 1] != b",":
                    out.append("<bad framing %r>" % buf)
                    break
                out.append(buf[m.end():end].decode("utf-8", "backslashreplace"))
                buf = buf[end + 1:]
                continue
            try:
                chunk = await asyncio.wait_for(reader.read(65536), TIMEOUT)
            except asyncio.TimeoutError:
                out.append("<timeout>")
                break
            if not chunk:
                out.append("<closed>" + (" after %r" % buf if buf else ""))
                break
            buf += chunk
    except ConnectionError:
        out.append("<reset>")
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
    while len(out) < replies:
        out.append("<no reply>")
    return out


def normalise(reply: str, sort_attributes: bool):
    """The comparable form of one reply: `match=` patterns as a set; with `sort_attributes`, the
    tlsrpt attributes (`mx_host_pattern=`, `{ policy_string = ... }`) as multisets."""
    if not reply.startswith("OK "):
        return reply
    head, braces = reply, []
    if "{" in reply:
        i = reply.index("{")
        head = reply[:i].rstrip()
        braces = re.findall(r"\{ [^}]* \}", reply[i:])
    plain, patterns, mx_host = [], None, []
    for t in head.split(" "):
        if t.startswith("match="):
            patterns = frozenset(t[len("match="):].split(":"))
            plain.append("match=<set>")
        elif t.startswith("mx_host_pattern="):
            mx_host.append(t)
        else:
            plain.append(t)
    if sort_attributes:
        mx_host, braces = sorted(mx_host), sorted(braces)
    return (tuple(plain), patterns, tuple(mx_host), tuple(braces))


def compare(peer: str, ours: str):
    """`same`, `same up to match= order`, `policy_string order` or None (they differ)."""
    if peer == ours:
        return "same"
    if normalise(peer, False) == normalise(ours, False):
        return "same up to match= order"
    if normalise(peer, True) == normalise(ours, True):
        return "policy_string order"
    return None


# Deliberate differences: request -> (peer's reply, our reply, reason). A difference is expected
# only when both replies are exactly these (after normalisation of match= order).
EXPECTED = {
    "postfix sts-invalid-id.test": (
        "OK secure match=mx.sts-invalid-id.test servername=hostname",
        "NOTFOUND ",
        "The TXT id is `2026-01-01`; RFC 8461 §3.1 allows only 1-32 letters and digits, and a record "
        "that does not parse is no record. The peer only checks that an `id` field exists.",
    ),
    "postfix policy-mx-ip.test": (
        "OK secure match=mx.policy-mx-ip.test:192.0.2.25 servername=hostname",
        "OK secure match=mx.policy-mx-ip.test servername=hostname",
        "The policy lists `mx: 192.0.2.25` beside its MX host. RFC 5321's Domain admits all-digit "
        "labels, so the policy is valid and used, but the address matches no MX host name (RFC 8461 "
        "§4.1): we leave it out of the reply. The peer passes it to Postfix in match=, and OpenSSL "
        "then requires that IP address in the MX certificate, failing delivery (postfix-tlspol#70).",
    ),
    "postfix policy-mx-ip-only.test": (
        "OK secure match=192.0.2.25:192.0.2.26 servername=hostname",
        "TEMP the MTA-STS policy of policy-mx-ip-only.test (mode enforce) lists only IP addresses "
        "as mx, which match no MX host name (RFC 8461 section 4.1); the mail waits until the policy "
        "is fixed or expires",
        "Every `mx` of this enforce policy is an IPv4 address, so no MX host name matches it (RFC "
        "8461 §4.1) and §5 forbids delivery to every MX host: we answer TEMP, and Postfix defers "
        "the mail until the policy is fixed or expires. The peer hands the addresses to Postfix as "
        "match patterns (an IP match in the certificate).",
    ),
    "postfix dane-signed.test": (
        "OK secure match=mx.dane-signed.test servername=hostname",
        "OK dane",
        "DANE first (RFC 8461 §2: MTA-STS must not override DANE): the resolver validates the "
        "domain's MX RRset and its MX host's TLSA record (AD bit), so we answer Postfix's `dane` "
        "level instead of the MTA-STS policy. The peer does not look at DANE and answers "
        "`secure`, which would make Postfix apply MTA-STS over DANE. Its unsigned twin "
        "dane-unsigned.test gets the same `secure` reply from both.",
    ),
    "postfix dane-cname-mx.test": (
        "OK secure match=mx.dane-cname-mx.test servername=hostname",
        "OK dane",
        "DANE first with an MX host that is an alias: mx.dane-cname-mx.test is a CNAME to "
        "mx1.provider.dane-cname-mx.test, and only that expanded name has a TLSA record. Both "
        "names are signed, so the expansion is secure and RFC 7672 §2.2.2 looks TLSA up at the "
        "expanded name first: DANE applies (the resolver validates the MX RRset, the CNAME and the "
        "TLSA record), and we answer `dane`. The peer does not look at DANE and answers `secure`, "
        "which would make Postfix apply MTA-STS over DANE (RFC 8461 §2).",
    ),
    "key not UTF-8 (0xff)": (
        "<closed>",
        "NOTFOUND ",
        "A key that is not UTF-8 names no domain: we answer NOTFOUND (Request::parse). The peer's "
        "decode raises in its reply task and the connection is closed, which Postfix reports as a "
        "lookup error and defers the mail.",
    ),
}

# Zone `plain` (tlsrpt off on both sides) differs from the peer where the default zone does.
for _name in ("policy-mx-ip.test", "policy-mx-ip-only.test"):
    EXPECTED["plain " + _name] = EXPECTED["postfix " + _name]

# Replies in zones without their own tlsrpt carry the attributes on our side (postfix_version
# 3.10.5) and not on the peer's (its tlsrpt default is false): such a difference is expected when
# our reply without them is the peer's (`without_attributes`). Zone `plain` (tlsrpt = false on
# both) checks the form older Postfix gets, and zone `tlsrpt` the attributes themselves.
ATTRIBUTES_FOR_3_10_5 = (
    "For Postfix 3.10.5 and later (postfix_version, found with postconf by default) our replies "
    "carry the TLSRPT attributes (policy_type=sts, policy_domain, mx_host_pattern, policy_string) "
    "in every zone that does not set tlsrpt: with them Postfix connects only to MX hosts matching "
    "the policy and checks their certificates against the MX host name "
    "(smtp_tls_enforce_sts_mx_patterns). The peer sends them only with tlsrpt: true. The rest of "
    "the reply is the peer's."
)


def without_attributes(reply: str) -> str:
    """The reply without the TLSRPT attributes (everything from ` policy_type=`)."""
    i = reply.find(" policy_type=")
    return reply if i < 0 else reply[:i]


# Why `policy_string order` is an expected difference (zone with tlsrpt: true).
POLICY_STRING_ORDER = (
    "With tlsrpt, the peer emits `{ policy_string = mx: ... }` first (it builds the policy as a "
    "dict whose `mx` key is created before the lines are read); we emit the policy lines in the "
    "order the policy has them, as a TLSRPT report (RFC 8460) lists them in policy-string. "
    "Same attributes, same count."
)


async def both(peer, ours, payload, replies=1):
    return await asyncio.gather(exchange(peer, payload, replies), exchange(ours, payload, replies))


def parse_addr(s):
    host, _, port = s.rpartition(":")
    return host, int(port)


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer", required=True, type=parse_addr, help="postfix-mta-sts-resolver HOST:PORT")
    ap.add_argument("--ours", required=True, type=parse_addr, help="mta-sts daemon HOST:PORT")
    ap.add_argument("--domains-json", required=True, help="output of `mta-sts demo --json`")
    ap.add_argument("--json", help="write every comparison here")
    args = ap.parse_args()

    with open(args.domains_json) as f:
        domains = [s["domain"] for s in json.load(f)]
    # Not in the demo's table but served by the lab, and a name that does not exist at all.
    domains += ["servfail.test", "dns-timeout.test", "no-such-domain.test"]

    requests = ["postfix " + d for d in domains]
    # Postfix's key forms (smtp_tls_policy_maps is looked up with the next-hop domain, and with
    # [host]:port for explicit relays) and the socketmap names that select zones.
    requests += [
        "postfix [mx.healthy-enforce.test]:25",
        "postfix [healthy-enforce.test]:25",
        "postfix healthy-enforce.test:25",
        "postfix HEALTHY-ENFORCE.TEST.",
        "postfix Mx-Wildcard.Test",
        "postfix .healthy-enforce.test",
        "postfix 192.0.2.1",
        "postfix [192.0.2.1]:25",
        "postfix 2001:db8::1",
        "postfix [2001:db8::1]:25",
        "postfix bücher.test",
        "postfix xn--bcher-kva.test",
        "strict mode-testing.test",
        "strict healthy-enforce.test",
        "strict mode-none.test",
        "nosni healthy-enforce.test",
        "tlsrpt healthy-enforce.test",
        "tlsrpt mx-wildcard.test",
        "tlsrpt sts-split.test",
        "plain healthy-enforce.test",
        "plain mx-wildcard.test",
        "plain policy-mx-ip.test",
        "plain policy-mx-ip-only.test",
        "no-such-zone healthy-enforce.test",
    ]

    results = []  # (label, peer reply, our reply)

    for pass_name in ("cold", "cached"):
        answers = await asyncio.gather(
            *(both(args.peer, args.ours, netstring(r.encode())) for r in requests))
        for req, (p, o) in zip(requests, answers):
            results.append((f"{pass_name}: {req}", req, p[0], o[0]))

    # Protocol: pipelining, oversize requests, broken framing, bytes that are not UTF-8.
    pipelined = b"".join(netstring(r.encode()) for r in
                         ["postfix healthy-enforce.test", "postfix sts-missing.test",
                          "postfix mx-wildcard.test"])
    p, o = await both(args.peer, args.ours, pipelined, replies=3)
    for i, (pr, orr) in enumerate(zip(p, o)):
        results.append((f"pipelined #{i + 1} of 3", None, pr, orr))
    oversize = "postfix " + "a" * 1100 + ".test"
    for label, payload, n in [
        ("request over 1024 bytes", netstring(oversize.encode()), 1),
        ("bad framing (no length)", b"postfix healthy-enforce.test,", 1),
        ("bad framing (no comma)", b"28:postfix healthy-enforce.test;", 1),
        ("key not UTF-8 (0xff)", netstring(b"postfix \xff.test"), 1),
        ("empty request", netstring(b""), 1),
        ("request without a key", netstring(b"postfix"), 1),
    ]:
        p, o = await both(args.peer, args.ours, payload, replies=n)
        results.append((label, None, p[0], o[0]))

    unexpected, expected, identical = [], [], 0
    for label, req, p, o in results:
        key = req if req is not None else label
        verdict = compare(p, o)
        if verdict in ("same", "same up to match= order"):
            identical += 1
        elif verdict == "policy_string order":
            expected.append((label, p, o, POLICY_STRING_ORDER))
            verdict = "expected: " + verdict
        elif (key in EXPECTED and compare(p, EXPECTED[key][0]) is not None
              and compare(o, EXPECTED[key][1]) is not None):
            verdict = "expected"
            expected.append((label, p, o, EXPECTED[key][2]))
        elif (" policy_type=" in o and " policy_type=" not in p
              and compare(p, without_attributes(o)) in ("same", "same up to match= order")):
            verdict = "expected: attributes"
            expected.append((label, p, o, ATTRIBUTES_FOR_3_10_5))
        elif (" policy_type=" in o and " policy_type=" not in p and key in EXPECTED
              and compare(p, EXPECTED[key][0]) is not None
              and compare(without_attributes(o), EXPECTED[key][1]) is not None):
            verdict = "expected: attributes"
            expected.append((label, p, o, EXPECTED[key][2]))
        else:
            verdict = "UNEXPECTED"
            unexpected.append((label, p, o))
        print(f"{verdict}: {label}\n    peer: {p!r}\n    ours: {o!r}")

    print()
    print(f"{len(results)} comparisons ({len(domains)} lab domains x 2 passes, key forms, zones, "
          f"protocol): {identical} same, {len(expected)} expected differences, "
          f"{len(unexpected)} unexpected")
    reasons = collections.OrderedDict()
    for label, p, o, why in expected:
        reasons.setdefault(why, []).append(label)
    for why, labels in reasons.items():
        print(f"expected ({len(labels)}x: {'; '.join(labels)}):\n    {why}")
    for label, p, o in unexpected:
        print(f"UNEXPECTED {label}\n    peer: {p!r}\n    ours: {o!r}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"request": label, "peer": p, "ours": o} for label, _, p, o in results], f,
                      indent=1, ensure_ascii=False)
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
