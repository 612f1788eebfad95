#!/usr/bin/env python3
"""Writes N TLS-RPT report mails, as the big reporters send them, into DIR/new/ (a Maildir).

Each mail is `multipart/report; report-type="tlsrpt"` with a text part and an
`application/tlsrpt+gzip` part in base64 (RFC 8460 §5.3), from one of a few reporting
organisations, about one of a few policy domains, with an `sts` entry (and for a third of them a
`tlsa` entry) and zero to four failure details: the shape of the reports in
crates/mta-sts-reports/tests/fixtures. Deterministic: the same N gives the same files.

Usage: tlsrpt_mail_gen.py DIR N
"""

import base64
import gzip
import json
import os
import random
import sys

ORGS = [
    ("Google Inc.", "google.com", "smtp-tls-reporting@google.com"),
    ("Microsoft Corporation", "microsoft.com", "tlsrpt-noreply@microsoft.com"),
    ("Mail.ru", "mail.ru", "tls_support@corp.mail.ru"),
    ("Yahoo", "yahoo.com", "tlsrpt@yahoo.com"),
    ("Stalwart Mail Server", "stalw.art", None),
]
DOMAINS = ["example.com", "example.net", "example.org", "shop.example", "mail.example"]
RESULTS = ["certificate-expired", "starttls-not-supported", "validation-failure",
           "sts-policy-fetch-error", "certificate-host-mismatch"]


def report(n, rng):
    org, submitter, contact = ORGS[n % len(ORGS)]
    domain = DOMAINS[(n // len(ORGS)) % len(DOMAINS)]
    day = 1 + n % 28
    month = 1 + (n // 28) % 12
    year = 2020 + (n // 336) % 7
    start = f"{year}-{month:02}-{day:02}T00:00:00Z"
    end = f"{year}-{month:02}-{day:02}T23:59:59Z"
    details = []
    for i in range(rng.randrange(5)):
        details.append({
            "result-type": RESULTS[rng.randrange(len(RESULTS))],
            "sending-mta-ip": f"198.51.100.{rng.randrange(256)}",
            "receiving-mx-hostname": f"mx{i}.{domain}",
            "receiving-ip": f"203.0.113.{rng.randrange(256)}",
            "failed-session-count": 1 + rng.randrange(50),
        })
    failed = sum(d["failed-session-count"] for d in details)
    policies = [{
        "policy": {
            "policy-type": "sts",
            "policy-string": ["version: STSv1", "mode: testing", f"mx: *.{domain}",
                              "max_age: 604800"],
            "policy-domain": domain,
            "mx-host": [f"*.{domain}"],
        },
        "summary": {"total-successful-session-count": rng.randrange(10000),
                    "total-failure-session-count": failed},
        "failure-details": details,
    }]
    if n % 3 == 0:
        policies.append({
            "policy": {"policy-type": "tlsa", "policy-string": ["3 1 1 0123456789ABCDEF"],
                       "policy-domain": domain},
            "summary": {"total-successful-session-count": rng.randrange(10000),
                        "total-failure-session-count": 0},
        })
    rpt = {
        "organization-name": org,
        "date-range": {"start-datetime": start, "end-datetime": end},
        "contact-info": contact,
        "report-id": f"{start}_{domain}_{n}",
        "policies": policies,
    }
    return org, submitter, domain, rpt


def mail(n, rng):
    org, submitter, domain, rpt = report(n, rng)
    body = gzip.compress(json.dumps(rpt).encode(), mtime=0)
    encoded = base64.encodebytes(body).decode().replace("\n", "\r\n")
    rid = rpt["report-id"]
    boundary = f"=_{n:08x}"
    return (
        f"From: TLS Reports <noreply-smtp-tls-reporting@{submitter}>\r\n"
        f"To: tlsrpt@{domain}\r\n"
        f"Subject: Report Domain: {domain} Submitter: {submitter} Report-ID: <{rid}>\r\n"
        f"Date: Mon, 07 Dec 2026 00:00:00 +0000\r\n"
        f"Message-ID: <{n}.tlsrpt@{submitter}>\r\n"
        f"TLS-Report-Domain: {domain}\r\n"
        f"TLS-Report-Submitter: {submitter}\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"{boundary}\"\r\n"
        f"\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: text/plain; charset=\"UTF-8\"\r\n\r\n"
        f"This is an aggregate TLS report from {submitter}\r\n\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: application/tlsrpt+gzip; name=\"{submitter}!{domain}!{n}.json.gz\"\r\n"
        f"Content-Disposition: attachment; filename=\"{submitter}!{domain}!{n}.json.gz\"\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n"
        f"{encoded}\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def main():
    directory, count = sys.argv[1], int(sys.argv[2])
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(directory, sub), exist_ok=True)
    rng = random.Random(8460)
    for n in range(count):
        with open(os.path.join(directory, "new", f"{n:06}.eml"), "wb") as f:
            f.write(mail(n, rng))


if __name__ == "__main__":
    main()
