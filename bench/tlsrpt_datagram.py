#!/usr/bin/env python3
"""Datagrams as libtlsrpt writes them, and the corpus the differential and the benchmark send.

Postfix 3.10 reports each TLS attempt through libtlsrpt (sys4, C, LGPL): one JSON datagram per
delivery request on a unix datagram socket, datagram protocol version 1. `DeliveryRequest`
below produces the same bytes libtlsrpt 0.5.1 does for the same sequence of API calls; it was
written from reading libtlsrpt.c (tlsrpt_init_delivery_request, tlsrpt_init_policy,
tlsrpt_add_policy_string, tlsrpt_add_mx_host_pattern, tlsrpt_add_delivery_request_failure,
tlsrpt_finish_policy, tlsrpt_finish_delivery_request) and its escape table
(create-json-escape-initializer-list.c), not copied from it. What the bytes look like:

    {"dpv": "1","d": "example.com","pr": "v=TLSRPTv1;rua=mailto:r@example.com","policies":[
     {"policy-type":2,"policy-domain": "example.com","policy-string":["version: STSv1",...],
      "mx-host":["*.mail.example.com"],"failure-details":[{"c":302,"s": "1.2.3.4","n": "mx",
      "h": "helo","r": "11.22.33.44","a": "info","f": "999 TEST"}],"t":1,"f":1}]}

(one line). The quirks kept: `dpv` is the string "1"; string attributes are written `"k": "v"`
(a space after the colon), numbers `"k":n` (none); policy types 1 tlsa, 2 sts, 9
no-policy-found; `policy-domain` only when the MTA passes one (Postfix passes none for
no-policy-found: tlsrpt-reporter issue #51); `policy-string`, `mx-host` and `failure-details`
only when non-empty; `t` is the number of failure details the library counted, `f` the final
result the MTA passed (0 success, 1 failure) — independent of each other (doc/example.txt:
"a policy can be finished with a successful result code although failures were added");
failure-detail keys in the order c s n h r a f, each string one only when not NULL. Escaping
per byte: `"` and `\\` backslashed, \\b \\t \\n \\f \\r by name, other bytes below 0x20 and
0x7f as \\u00XX, every byte >= 0x80 passed through raw (so a datagram is UTF-8 only when its
inputs were); `/` is not escaped. A request with no policy, or with a policy left unfinished,
is not sent at all (TLSRPT_ERR_TLSRPT_NOPOLICIES / UNFINISHEDPOLICY).

`corpus()` is the differential's input: every policy type, every failure code 201..306 and
unknown ones, domain forms (upper case, trailing dot, IDN in U- and A-labels), several TLSRPT
records for one domain, rua forms (mailto, https, both, without scheme: tlsrpt-reporter #54),
many failure details, escaping, and the datagrams libtlsrpt itself cannot write but a
collector must survive (`t` mismatch, wrong `dpv`, malformed JSON, not UTF-8, missing keys).
Each case is sent a given number of times, so the counts in the reports are not all 1.

    python3 bench/tlsrpt_datagram.py --print            # the corpus, one datagram per line
    python3 bench/tlsrpt_datagram.py --send SOCKET ...  # send the corpus to collector sockets
"""

import argparse
import socket
import sys

TLSA, STS, NO_POLICY_FOUND = 1, 2, 9
SUCCESS, FAILURE = 0, 1
# tlsrpt.h's tlsrpt_failure_t: RFC 8460 §4.3 result types by number.
FAILURE_CODES = {
    201: "starttls-not-supported",
    202: "certificate-host-mismatch",
    203: "certificate-not-trusted",
    204: "certificate-expired",
    205: "validation-failure",
    301: "sts-policy-fetch-error",
    302: "sts-policy-invalid",
    303: "sts-webpki-invalid",
    304: "tlsa-invalid",
    305: "dnssec-invalid",
    306: "dane-required",
}


def _escape_table():
    table = []
    named = {0x08: b"\\b", 0x09: b"\\t", 0x0A: b"\\n", 0x0C: b"\\f", 0x0D: b"\\r",
             0x5C: b"\\\\", 0x22: b'\\"'}
    for byte in range(256):
        if byte in named:
            table.append(named[byte])
        elif byte < 0x20 or byte == 0x7F:
            table.append(b"\\u%04x" % byte)
        else:
            table.append(bytes([byte]))
    return table


_ESCAPE = _escape_table()


def escape(value) -> bytes:
    """libtlsrpt's json_escape: byte by byte through the table; str is taken as UTF-8."""
    raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    return b"".join(_ESCAPE[b] for b in raw)


def _attribute(name: str, value, first: bool = False) -> bytes:
    # write_first_attribute / write_attribute: `"name": "value"`, with a space after the colon.
    return (b"" if first else b",") + b'"' + name.encode() + b'": "' + escape(value) + b'"'


class DeliveryRequest:
    """One tlsrpt_dr_t: init, policies (each init ... finish), then `finish()` gives the bytes."""

    def __init__(self, domain, record):
        self._main = b"{" + _attribute("dpv", "1", first=True) + _attribute("d", domain) \
            + _attribute("pr", record)
        self._policies = 0
        self._open = None  # the policy being written: [strings, mx hosts, failures]

    def policy(self, policy_type: int, policy_domain=None):
        if self._open is not None:
            raise ValueError("libtlsrpt: nested policy (TLSRPT_ERR_TLSRPT_NESTEDPOLICY)")
        self._main += b',"policies":[{' if self._policies == 0 else b",{"
        self._main += b'"policy-type":%d' % policy_type
        if policy_domain is not None:
            self._main += _attribute("policy-domain", policy_domain)
        self._policies += 1
        self._open = ([], [], [])
        return self

    def policy_string(self, line):
        self._open[0].append(b'"' + escape(line) + b'"')
        return self

    def mx_host(self, pattern):
        self._open[1].append(b'"' + escape(pattern) + b'"')
        return self

    def failure(self, code: int, sending_mta_ip=None, receiving_mx_hostname=None,
                receiving_mx_helo=None, receiving_ip=None, additional_information=None,
                failure_reason_code=None):
        detail = b'{"c":%d' % code
        for key, value in (("s", sending_mta_ip), ("n", receiving_mx_hostname),
                           ("h", receiving_mx_helo), ("r", receiving_ip),
                           ("a", additional_information), ("f", failure_reason_code)):
            if value is not None:
                detail += _attribute(key, value)
        self._open[2].append(detail + b"}")
        return self

    def finish_policy(self, final_result: int):
        strings, hosts, failures = self._open
        if strings:
            self._main += b',"policy-string":[' + b",".join(strings) + b"]"
        if hosts:
            self._main += b',"mx-host":[' + b",".join(hosts) + b"]"
        if failures:
            self._main += b',"failure-details":[' + b",".join(failures) + b"]"
        self._main += b',"t":%d,"f":%d}' % (len(failures), final_result)
        self._open = None
        return self

    def finish(self) -> bytes:
        if self._open is not None or self._policies == 0:
            raise ValueError("libtlsrpt sends nothing for a request without finished policies")
        return self._main + b"]}"


def rua(domain, *extra):
    return "v=TLSRPTv1;rua=" + ",".join(("mailto:tlsrpt@" + domain,) + extra)


STS_LINES = ["version: STSv1", "mode: enforce", "mx: mail.{d}", "mx: *.backup.{d}", "max_age: 604800"]
TLSA_LINES = ["3 1 1 1F850A337E6DB9C609C522D136A475638CC43E1ED424F8EEC8513D747D1D085D",
              "3 0 1 12350A337E6DB9C6123522D136A475638CC43E1ED424F8EEC8513D747D1D1234"]


def sts(dr, d, pd=None, mx=("mail.{d}", "*.backup.{d}")):
    dr.policy(STS, pd if pd is not None else d)
    for line in STS_LINES:
        dr.policy_string(line.format(d=d))
    for pattern in mx:
        dr.mx_host(pattern.format(d=d))
    return dr


def tlsa(dr, d):
    dr.policy(TLSA, d)
    for line in TLSA_LINES:
        dr.policy_string(line)
    return dr


def full_failure(dr, code, d, n=1):
    return dr.failure(code, "192.0.2.%d" % n, "mail.%s" % d, "mail.%s" % d, "198.51.100.%d" % n,
                      "additional information %d" % n, "%d reason" % code)


def corpus():
    """The differential's cases: (name, what it covers, [(datagram bytes, times sent)])."""
    cases = []

    def case(name, about, *datagrams):
        cases.append((name, about, list(datagrams)))

    d = "sts-ok.example"
    case("sts-success", "sts policy, policy strings and mx patterns, all successful",
         (sts(DeliveryRequest(d, rua(d)), d).finish_policy(SUCCESS).finish(), 7))
    d = "sts-fail.example"
    dg = [(sts(DeliveryRequest(d, rua(d)), d).finish_policy(SUCCESS).finish(), 3)]
    for i, code in enumerate((301, 302, 303), 1):
        dg.append((full_failure(sts(DeliveryRequest(d, rua(d)), d), code, d, i)
                   .finish_policy(FAILURE).finish(), i))
    case("sts-failures", "sts policy with each sts failure code, full failure details", *dg)
    d = "sts-fetch-error.example"
    case("sts-no-policy-string", "sts policy that could not be fetched: no policy-string, no mx-host",
         (DeliveryRequest(d, rua(d)).policy(STS, d).failure(301, "192.0.2.1", "mail." + d)
          .finish_policy(FAILURE).finish(), 2))
    d = "dane.example"
    dg = [(tlsa(DeliveryRequest(d, rua(d)), d).finish_policy(SUCCESS).finish(), 4)]
    for i, code in enumerate((204, 304, 305, 306), 1):
        dg.append((full_failure(tlsa(DeliveryRequest(d, rua(d)), d), code, d, i)
                   .finish_policy(FAILURE).finish(), 1))
    case("tlsa", "tlsa policy, two TLSA records as policy strings, DANE failure codes", *dg)
    d = "nopolicy.example"
    dg = [(DeliveryRequest(d, rua(d)).policy(NO_POLICY_FOUND).finish_policy(SUCCESS).finish(), 5)]
    for i, code in enumerate((201, 202, 203, 205), 1):
        dg.append((DeliveryRequest(d, rua(d)).policy(NO_POLICY_FOUND)
                   .failure(code, "192.0.2.9", None, None, "198.51.100.%d" % i, "Something happened")
                   .finish_policy(FAILURE).finish(), 1))
    case("no-policy-found", "policy type 9 without policy-domain (as Postfix sends it; tlsrpt-reporter #51), "
         "NULL fields in the failure details", *dg)
    d = "nopolicy-with-domain.example"
    case("no-policy-found-with-domain", "policy type 9 with a policy-domain",
         (DeliveryRequest(d, rua(d)).policy(NO_POLICY_FOUND, d).finish_policy(SUCCESS).finish(), 2))
    d = "all-codes.example"
    case("every-code", "one failure of each code 201..306",
         *[(full_failure(sts(DeliveryRequest(d, rua(d)), d), code, d, i).finish_policy(FAILURE).finish(), 1)
           for i, code in enumerate(sorted(FAILURE_CODES), 1)])
    d = "unknown-code.example"
    case("unknown-code", "failure codes outside 201..306 (a C enum passes any int)",
         (full_failure(sts(DeliveryRequest(d, rua(d)), d), 299, d).finish_policy(FAILURE).finish(), 1),
         (full_failure(sts(DeliveryRequest(d, rua(d)), d), 0, d, 2).finish_policy(FAILURE).finish(), 1),
         (sts(DeliveryRequest(d, rua(d)), d).finish_policy(SUCCESS).finish(), 1))
    d = "two-policies.example"
    case("two-policies", "sts failing and tlsa succeeding in one delivery request (libtlsrpt example 8)",
         (tlsa(full_failure(sts(DeliveryRequest(d, rua(d)), d), 302, d).finish_policy(FAILURE), d)
          .finish_policy(SUCCESS).finish(), 3))
    d = "flags.example"
    case("result-vs-details", "f=1 without failure details, f=0 with failure details (both allowed by libtlsrpt)",
         (sts(DeliveryRequest(d, rua(d)), d).finish_policy(FAILURE).finish(), 2),
         (full_failure(sts(DeliveryRequest(d, rua(d)), d), 204, d).finish_policy(SUCCESS).finish(), 1))
    d = "case-dot.example"
    case("domain-forms", "upper case and one trailing dot are the same recipient domain",
         (sts(DeliveryRequest("CASE-DOT.Example", rua(d)), d).finish_policy(SUCCESS).finish(), 2),
         (sts(DeliveryRequest(d + ".", rua(d)), d).finish_policy(SUCCESS).finish(), 3),
         (sts(DeliveryRequest(d, rua(d)), d).finish_policy(SUCCESS).finish(), 1))
    d = "bücher.example"
    case("idn-u-label", "IDN as UTF-8 (libtlsrpt passes bytes >= 0x80 through), also in upper case",
         (sts(DeliveryRequest(d, rua("xn--bcher-kva.example")), d).finish_policy(SUCCESS).finish(), 2),
         (sts(DeliveryRequest("BÜCHER.example", rua("xn--bcher-kva.example")), d).finish_policy(SUCCESS).finish(), 1))
    d = "xn--caf-dma.example"
    case("idn-a-label", "IDN as an A-label",
         (sts(DeliveryRequest(d, rua(d)), d).finish_policy(SUCCESS).finish(), 2))
    d = "multi-record.example"
    case("two-records", "two TLSRPT records seen for one domain in one day (one report each)",
         (sts(DeliveryRequest(d, rua(d)), d).finish_policy(SUCCESS).finish(), 2),
         (sts(DeliveryRequest(d, "v=TLSRPTv1;rua=https://reports.multi-record.example/tlsrpt"), d)
          .finish_policy(SUCCESS).finish(), 3))
    d = "rua-forms.example"
    case("rua-mailto-https", "a record with a mailto and an https rua (one report, two destinations)",
         (sts(DeliveryRequest(d, rua(d, "https://tlsrpt.rua-forms.example/v1")), d)
          .finish_policy(SUCCESS).finish(), 2))
    d = "rua-noscheme.example"
    case("rua-without-scheme", "rua= without mailto: (tlsrpt-reporter #54)",
         (sts(DeliveryRequest(d, "v=TLSRPTv1;rua=tlsrpt@" + d), d).finish_policy(SUCCESS).finish(), 2))
    d = "rua-mixed.example"
    case("rua-one-bad", "rua= with one address without scheme and one mailto:",
         (sts(DeliveryRequest(d, "v=TLSRPTv1;rua=tlsrpt@%s,mailto:good@%s" % (d, d)), d)
          .finish_policy(SUCCESS).finish(), 2))
    d = "rua-space.example"
    case("rua-space-after-comma", "RFC 8460 §3 allows spaces around the comma between ruas",
         (sts(DeliveryRequest(d, "v=TLSRPTv1; rua=mailto:a@%s, mailto:b@%s" % (d, d)), d)
          .finish_policy(SUCCESS).finish(), 2))
    d = "bad-record.example"
    case("bad-record", "an unparsable TLSRPT record (wrong version)",
         (sts(DeliveryRequest(d, "v=TLSRPTv2;rua=mailto:tlsrpt@" + d), d).finish_policy(SUCCESS).finish(), 2))
    d = "many-failures.example"
    dr = sts(DeliveryRequest(d, rua(d)), d)
    for i in range(1, 41):
        full_failure(dr, 202 if i % 2 else 203, d, i)
    case("many-failures", "one delivery request with 40 distinct failure details", (dr.finish_policy(FAILURE).finish(), 2))
    d = "same-failure.example"
    case("repeated-failure", "the same failure detail many times: one entry with its count",
         (full_failure(sts(DeliveryRequest(d, rua(d)), d), 204, d).finish_policy(FAILURE).finish(), 25))
    d = "escaping.example"
    case("escaping", "quotes, backslash, tab, newline, control bytes, DEL and UTF-8 in strings",
         (DeliveryRequest(d, rua(d)).policy(STS, d).policy_string('mx: "quoted"\\back\tslash')
          .mx_host("mail.%s" % d).failure(205, "192.0.2.1", "mail." + d, "helo\x01\x7f",
                                          "198.51.100.1", "line one\nline two – ünïcödé", "550 5.7.1 \"no\"")
          .finish_policy(FAILURE).finish(), 2))
    d = "mx-order.example"
    case("mx-order", "the same sts policy with its mx patterns in another order",
         (sts(DeliveryRequest(d, rua(d)), d, mx=("a.{d}", "b.{d}")).finish_policy(SUCCESS).finish(), 2),
         (sts(DeliveryRequest(d, rua(d)), d, mx=("b.{d}", "a.{d}")).finish_policy(SUCCESS).finish(), 1))
    d = "subpolicy.example"
    case("policy-domain-differs", "the policy-domain is not the recipient domain (as Postfix may report)",
         (sts(DeliveryRequest(d, rua(d)), d, pd="parent.example").finish_policy(SUCCESS).finish(), 2))

    # What libtlsrpt cannot write, but a collector must survive (written by hand).
    d = "t-mismatch.example"
    good = full_failure(sts(DeliveryRequest(d, rua(d)), d), 204, d).finish_policy(FAILURE).finish()
    case("t-mismatch", "t says 3, one failure detail (tlsrpt-reporter: logs, counts anyway)",
         (good.replace(b'"t":1,', b'"t":3,'), 2))
    d = "wrong-dpv.example"
    good = sts(DeliveryRequest(d, rua(d)), d).finish_policy(SUCCESS).finish()
    case("wrong-dpv", "dpv \"2\" (tlsrpt-reporter: logs an error, counts anyway)",
         (good.replace(b'"dpv": "1"', b'"dpv": "2"'), 2))
    d = "no-dpv.example"
    good = sts(DeliveryRequest(d, rua(d)), d).finish_policy(SUCCESS).finish()
    case("no-dpv", "no dpv at all (tlsrpt-reporter: a debug line, counts)",
         (good.replace(b'"dpv": "1",', b""), 1))
    d = "malformed.example"
    good = sts(DeliveryRequest(d, rua(d)), d).finish_policy(SUCCESS).finish()
    case("malformed", "not JSON, truncated, not UTF-8, empty, a JSON array, no d, no policies: dropped",
         (good[:-7], 1), (b"not json", 1), (good.replace(b"malformed", b"malf\xffrmed"), 1), (b"", 1),
         (b"[1, 2]", 1), (good.replace(b',"d": "malformed.example"', b""), 1),
         (b'{"dpv": "1","d": "malformed.example","pr": "' + rua(d).encode() + b'"}', 1))
    return cases


def mix(domains=2000):
    """The benchmark's mix: mostly successful deliveries to many recipient domains (as a busy MTA
    sees them: half with an sts policy, half with none), then the corpus's well-formed datagrams
    (every failure kind), once each."""
    out = []
    for i in range(domains):
        d = "d%04d.bench.example" % i
        dr = DeliveryRequest(d, rua(d))
        if i % 2:
            sts(dr, d)
        else:
            dr.policy(NO_POLICY_FOUND)
        out.append(dr.finish_policy(SUCCESS).finish())
    for name, _, datagrams in corpus():
        if name in ("malformed", "t-mismatch", "wrong-dpv", "no-dpv"):
            continue
        out.extend(datagram for datagram, _ in datagrams)
    return out


def send_all(paths, datagrams):
    socks = []
    for path in paths:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.connect(path)
        socks.append(s)
    sent = 0
    for datagram in datagrams:
        for s in socks:
            # Blocking sends: a collector slower than the sender is waited for, never dropped
            # (libtlsrpt uses MSG_DONTWAIT and would drop; the differential must not).
            s.send(datagram)
        sent += 1
    for s in socks:
        s.close()
    return sent


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--print", action="store_true", help="print the corpus, one datagram per line")
    ap.add_argument("--send", nargs="+", metavar="SOCKET", help="send the corpus to these sockets")
    ap.add_argument("--mix", metavar="FILE", help="write the benchmark mix, length-prefixed (u32 LE)")
    args = ap.parse_args()
    if args.print:
        for name, _, datagrams in corpus():
            for datagram, times in datagrams:
                sys.stdout.buffer.write(b"%s x%d\t%s\n" % (name.encode(), times, datagram))
    if args.send:
        datagrams = [dg for _, _, dgs in corpus() for dg, times in dgs for _ in range(times)]
        print("sent %d datagrams to each of %d sockets" % (send_all(args.send, datagrams), len(args.send)))
    if args.mix:
        with open(args.mix, "wb") as f:
            for datagram in mix():
                f.write(len(datagram).to_bytes(4, "little") + datagram)


if __name__ == "__main__":
    main()
