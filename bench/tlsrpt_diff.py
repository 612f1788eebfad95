#!/usr/bin/env python3
"""Differential: the day's reports of tlsrpt-reporter 0.6.0 and of `mta-sts tlsrpt`, field by field.

Run by bench/vs-tlsrpt-reporter.sh after both collectors received the same datagrams
(bench/tlsrpt_datagram.py's corpus) and both reporters built that day's reports:

    python3 bench/tlsrpt_diff.py --peer-db reportd.sqlite --ours-dir OUT \
        --ours-log report.json [--json out.json]

The peer's reports are read from tlsrpt-reportd's own database (tables reports, destinations
and reportdata: the report JSON as it is sent, its destinations, and the TLSRPT record each
report was built for: reportd builds one report per record in the order of the fetched data).
Ours from the directory `mta-sts tlsrpt report --out` wrote, with the record and destinations
of each file from what `--json` printed (`--ours-log`; see load_ours); a record ours skipped
must be in its `skipped` list.

Reports are matched by (recipient domain, TLSRPT record). Before comparing, both sides are
normalised in the few ways that differ by design and are not a difference in what is reported:
  - `report-id`: each reporter's own form (peer: `<day>T00:00:00Z_idx<n>_<domain>`);
  - the day in `date-range`: the peer reports the day its collector rolled over to (the
    development SIGUSR2 roll-over, as if the day had ended), ours the day of receipt; only the
    day is replaced by `DAY`, the times are compared;
  - policies are compared as a set keyed by the policy object (the order of `policies` and of
    `failure-details` carries no meaning in RFC 8460), counts and fields exactly.
Every other difference must be one of DELIBERATE below (each applied to the peer's report to
turn it into what ours must be, counted, printed with its reason); anything left fails.
Exit status: 0 when every difference is deliberate, 1 otherwise.
"""

import argparse
import copy
import gzip
import json
import os
import re
import sqlite3
import sys
from collections import Counter

# ---------------------------------------------------------------------------------------------
# The deliberate differences. Each: (id, what differs, why ours differs, transform). The
# transform takes one peer report entry (dict: domain, record, destinations, report) and returns
# the entry as ours must have it (or None: ours writes no such report), and whether it changed
# anything (so the table can say which cases each difference touched).


def _rfc8460_destinations(record):
    """The rua URIs of a TLSRPT record as RFC 8460 §3 reads it: `v=TLSRPTv1` first, fields split
    on `;`, the `rua` field's URIs split on `,` with optional white space around them, each kept
    only if it is a `mailto:` or `https:` URI (others: skipped, with a sentence in ours)."""
    fields = [f.strip() for f in record.split(";")]
    if not fields or fields[0] != "v=TLSRPTv1":
        return None
    for field in fields[1:]:
        if field.startswith("rua="):
            uris = [u.strip() for u in field[4:].split(",")]
            return [u for u in uris if u.startswith("mailto:") or u.startswith("https:")]
    return None


def d_destinations(entry):
    expected = _rfc8460_destinations(entry["record"]) or []
    changed = sorted(expected) != sorted(entry["destinations"])
    return dict(entry, destinations=expected), changed


def d_no_destination(entry):
    # After d_destinations: a report with no destination at all is not built by ours.
    if entry["destinations"]:
        return entry, False
    return None, True


def d_policy_domain(entry):
    changed = False
    report = copy.deepcopy(entry["report"])
    for p in report["policies"]:
        if "policy-domain" not in p["policy"]:
            p["policy"]["policy-domain"] = entry["domain"]
            changed = True
    return dict(entry, report=report), changed


def d_empty_failure_details(entry):
    changed = False
    report = copy.deepcopy(entry["report"])
    for p in report["policies"]:
        if p.get("failure-details") == []:
            del p["failure-details"]
            changed = True
    return dict(entry, report=report), changed


def d_a_labels(entry):
    domain = entry["domain"]
    if all(ord(c) < 128 for c in domain):
        return entry, False
    return dict(entry, domain=domain.encode("idna").decode("ascii")), True


# The corpus's domain whose datagrams name protocol version 2 (case `wrong-dpv`).
WRONG_VERSION_DOMAINS = {"wrong-dpv.example"}


def d_wrong_version(entry):
    if entry["domain"] in WRONG_VERSION_DOMAINS:
        return None, True
    return entry, False


def d_unknown_code(entry):
    changed = False
    report = copy.deepcopy(entry["report"])
    for p in report["policies"]:
        for f in p.get("failure-details", []):
            if "result-type" not in f:
                f["result-type"] = "validation-failure"
                changed = True
    return dict(entry, report=report), changed


DELIBERATE = [
    ("a-labels",
     "the recipient domain of an internationalised name (datagram `d` in UTF-8)",
     "tlsrpt-reporter only lowercases it and reports `bücher.example`; ours stores and reports the "
     "A-label (`xn--bcher-kva.example`), the form of the name in DNS and in the file name of "
     "RFC 8460 §5.3.1; the U- and A-label forms of one domain then count as one domain",
     d_a_labels),
    ("wrong-version",
     "datagrams naming another protocol version than \"1\" (`dpv`)",
     "tlsrpt-reporter logs an error and counts them anyway; ours refuses them (counted as malformed, "
     "with a sentence): a datagram of another version may mean something else by the same keys",
     d_wrong_version),
    ("unknown-code",
     "failure details whose code (`c`) is none of 201..306",
     "tlsrpt-reporter writes such a failure detail without `result-type`, the field receivers "
     "group failures by (our strict lint refuses a failure detail without it); ours counts it as "
     "`validation-failure`, the catch-all of RFC 8460 §4.3.3, and logs the code",
     d_unknown_code),
    ("rua-parsing",
     "destinations of a record with a rua= entry without scheme, or spaces around a comma",
     "tlsrpt-reporter drops every destination of the record when one rua has no mailto:/https: "
     "scheme (its #54) and splits on ',' without trimming, so 'mailto:a, mailto:b' sends nowhere; "
     "ours reads rua= as RFC 8460 §3 writes it (white space allowed around ','), skips only the "
     "bad URI with a sentence, and delivers to the others",
     d_destinations),
    ("no-destination",
     "a report whose record has no usable destination (unparsable record, or no mailto:/https: rua)",
     "tlsrpt-reporter builds and stores such a report and logs an error; ours builds none and says "
     "which record it skipped and why: nothing is sent in either case",
     d_no_destination),
    ("policy-domain",
     "`policy-domain` of a no-policy-found policy Postfix reported without one",
     "tlsrpt-reporter leaves it out when libtlsrpt got none (its #51), and the receiver cannot "
     "tell which of its domains is meant (our strict lint warns: report-policy-domain-missing); "
     "ours writes the recipient domain",
     d_policy_domain),
    ("empty-failure-details",
     "`failure-details: []` in a policy without failures",
     "tlsrpt-reporter always writes the array, ours leaves it out when empty; an absent and an "
     "empty list say the same (no failure), and readers, ours included, take both",
     d_empty_failure_details),
]

# ---------------------------------------------------------------------------------------------


def load_peer(db_path):
    con = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
    records = {}
    for day, domain, data in con.execute("SELECT day, domain, data FROM reportdata ORDER BY rowid"):
        records.setdefault((day, domain), []).extend(json.loads(data).keys())
    entries = []
    seen = Counter()
    for r_id, day, domain, report in con.execute(
            "SELECT r_id, day, domain, report FROM reports ORDER BY r_id"):
        index = seen[(day, domain)]
        seen[(day, domain)] += 1
        record = records[(day, domain)][index]
        dests = [d for (d,) in con.execute(
            "SELECT destination FROM destinations WHERE d_r_id = ? ORDER BY destination", (r_id,))]
        entries.append({"domain": domain, "record": record, "destinations": dests,
                        "report": json.loads(report), "day": day})
    return entries


def load_ours(out_dir, log_path=None):
    """Reads what `mta-sts tlsrpt report --out DIR` wrote: every report file (`*.json.gz` or
    `*.json`, named `submitter!policy-domain!begin!end!unique-id`, RFC 8460 §5.3.1). The
    recipient domain is the file name's second field. The TLSRPT record and the destinations are
    not in the report; when the command's output (`log_path`) names them for a file (lines
    `record: ...` / `destinations: ...` or `to ...` after the file's line) they are used,
    otherwise the record is None (pair() then matches on content) and destinations None (not
    compared). With `--json` the command names all three."""
    meta = _ours_meta(log_path) if log_path else {}
    entries = []
    for name in sorted(os.listdir(out_dir)):
        if not (name.endswith(".json") or name.endswith(".json.gz")):
            continue
        path = os.path.join(out_dir, name)
        raw = open(path, "rb").read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        report = json.loads(raw)
        stem = name[:-len(".json.gz")] if name.endswith(".gz") else name[:-len(".json")]
        fields = stem.split("!")
        domain = fields[1] if len(fields) >= 4 else None
        info = meta.get(name) or meta.get(stem) or {}
        day = report["date-range"]["start-datetime"][:10]
        entries.append({"domain": info.get("domain", domain), "record": info.get("record"),
                        "destinations": info.get("destinations"), "report": report, "day": day,
                        "file": name})
    return entries


def _ours_meta(log_path):
    """Domain, TLSRPT record and destinations per report file: from `mta-sts tlsrpt report
    --json` (`reports[].file, domain, tlsrpt_record, destinations`), or from its sentences."""
    text = open(log_path, encoding="utf-8", errors="replace").read()
    try:
        printed = json.loads(text)
    except ValueError:
        return _ours_meta_from_sentences(log_path)
    meta = {}
    for r in printed["reports"]:
        meta[os.path.basename(r["file"])] = {"domain": r["domain"], "record": r["tlsrpt_record"],
                                             "destinations": sorted(r["destinations"])}
    return meta


def _ours_skipped(log_path):
    """(domain, record) of what `mta-sts tlsrpt report --json` says it skipped; None without JSON."""
    try:
        printed = json.load(open(log_path, encoding="utf-8"))
    except ValueError:
        return None
    return {(k["domain"], k["tlsrpt_record"]) for k in printed.get("skipped", [])}


def _ours_meta_from_sentences(log_path):
    """Domain and destinations per report file from what `mta-sts tlsrpt report` printed:
    `wrote DIR/FILE: report ID about DOMAIN, N policies, ..., for URI, URI.`"""
    meta = {}
    for line in open(log_path, encoding="utf-8", errors="replace"):
        m = re.match(r"wrote (\S+?\.json(?:\.gz)?): .* about (\S+?), .* for (.*)$", line.rstrip("\n"))
        if not m:
            continue
        destinations = [u.strip().rstrip(".") for u in m.group(3).split(", ")]
        meta[os.path.basename(m.group(1))] = {"domain": m.group(2), "destinations": sorted(destinations)}
    return meta


def pair(expected, ours):
    """Pairs each expected report with one of ours for the same domain: by TLSRPT record when
    ours names it, otherwise (one report per record, the record not in the report itself) the
    one of the domain's reports that differs least. Yields (expected or None, ours or None)."""
    by_domain = {}
    for e in expected:
        by_domain.setdefault(e["domain"], ([], []))[0].append(e)
    for o in ours:
        by_domain.setdefault(o["domain"], ([], []))[1].append(o)
    for domain in sorted(by_domain):
        exp, got = by_domain[domain]
        exp.sort(key=lambda e: e["record"])
        remaining = list(got)
        for e in exp:
            named = [o for o in remaining if o["record"] == e["record"]]
            unnamed = [o for o in remaining if o["record"] is None]
            candidates = named or unnamed
            if not candidates:
                yield e, None
                continue
            best = min(candidates, key=lambda o: len(differences(e, o)))
            remaining.remove(best)
            yield e, best
        for o in remaining:
            yield None, o


def canonical(obj):
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


def normalise(entry):
    """The by-design normalisations (see the module doc): report-id, the day, policy order."""
    report = copy.deepcopy(entry["report"])
    report.pop("report-id", None)
    day = entry["day"]
    dr = report.get("date-range", {})
    for k in ("start-datetime", "end-datetime"):
        if isinstance(dr.get(k), str):
            dr[k] = dr[k].replace(day, "DAY", 1)
    policies = {}
    for p in report.pop("policies", []):
        details = sorted(canonical(f) for f in p.get("failure-details", []))
        key = canonical(p.get("policy"))
        body = {k: v for k, v in p.items() if k not in ("policy", "failure-details")}
        if "failure-details" in p:
            body["failure-details"] = details
        policies.setdefault(key, []).append(body)
    return {"top": report, "policies": policies, "destinations": sorted(entry["destinations"] or [])}


def differences(peer_entry, ours_entry):
    a, b = normalise(peer_entry), normalise(ours_entry)
    out = []
    for k in sorted(set(a["top"]) | set(b["top"])):
        if a["top"].get(k) != b["top"].get(k):
            out.append("field %s: tlsrpt-reporter %s, ours %s" % (
                k, canonical(a["top"].get(k)), canonical(b["top"].get(k))))
    if ours_entry["destinations"] is not None and a["destinations"] != b["destinations"]:
        out.append("destinations: tlsrpt-reporter %s, ours %s" % (a["destinations"], b["destinations"]))
    for key in sorted(set(a["policies"]) | set(b["policies"])):
        pa, pb = a["policies"].get(key), b["policies"].get(key)
        if pa is None:
            out.append("policy %s: only in ours" % key)
        elif pb is None:
            out.append("policy %s: only in tlsrpt-reporter" % key)
        elif pa != pb:
            for field in sorted(set(pa[0]) | set(pb[0])):
                if pa[0].get(field) != pb[0].get(field):
                    out.append("policy %s: %s: tlsrpt-reporter %s, ours %s" % (
                        key, field, canonical(pa[0].get(field)), canonical(pb[0].get(field))))
            if len(pa) != len(pb):
                out.append("policy %s: %d entries in tlsrpt-reporter, %d in ours" % (key, len(pa), len(pb)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer-db", required=True)
    ap.add_argument("--ours-dir", required=True)
    ap.add_argument("--ours-log", help="what `mta-sts tlsrpt report` printed (destinations, skips)")
    ap.add_argument("--json")
    args = ap.parse_args()

    peer = load_peer(args.peer_db)
    ours = load_ours(args.ours_dir, args.ours_log)
    skipped = _ours_skipped(args.ours_log) if args.ours_log else None
    applied = {d[0]: [] for d in DELIBERATE}
    expected = {}
    unexpected = []
    for entry in peer:
        key = (entry["domain"], entry["record"])
        current = entry
        for ident, _, _, transform in DELIBERATE:
            before = current
            current, changed = transform(current)
            if changed:
                applied[ident].append(key[0])
            if current is None:
                # Ours must not just be silent about it: its output names the skipped record.
                if ident == "no-destination" and skipped is not None \
                        and (before["domain"], before["record"]) not in skipped:
                    unexpected.append("%s [%s]: no report from ours, and not among what it says it "
                                      "skipped" % (before["domain"], before["record"]))
                break
        if current is not None:
            expected[key] = current

    compared = 0
    for exp, got in pair(list(expected.values()), ours):
        if got is None:
            unexpected.append("%s [%s]: tlsrpt-reporter reported it, ours wrote no report"
                              % (exp["domain"], exp["record"]))
            continue
        if exp is None:
            unexpected.append("%s [%s]: ours wrote a report that tlsrpt-reporter has no counterpart for"
                              % (got["domain"], got["record"] or got.get("file")))
            continue
        compared += 1
        for d in differences(exp, got):
            unexpected.append("%s [%s]: %s" % (exp["domain"], exp["record"], d))

    print("%d reports from tlsrpt-reporter, %d from ours, %d compared field by field"
          % (len(peer), len(ours), compared))
    print()
    print("Deliberate differences (applied to tlsrpt-reporter's reports before comparing):")
    for ident, what, why, _ in DELIBERATE:
        cases = sorted(set(applied[ident]))
        print("  %-22s %d report(s)%s" % (ident, len(applied[ident]), (": " + ", ".join(cases)) if cases else ""))
        print("      %s." % what)
        print("      Why: %s." % why)
    print()
    if unexpected:
        print("UNEXPECTED differences (%d):" % len(unexpected))
        for line in unexpected:
            print("  " + line)
    else:
        print("No unexpected difference.")
    if args.json:
        json.dump({"compared": compared, "applied": applied, "unexpected": unexpected},
                  open(args.json, "w"), indent=2, ensure_ascii=False)
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
