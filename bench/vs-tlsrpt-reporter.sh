#!/usr/bin/env bash
# `mta-sts tlsrpt` and sys4's tlsrpt-reporter 0.6.0 side by side: the same datagrams to both
# collectors, the day's reports from both reporters compared field by field.
#
#   bench/vs-tlsrpt-reporter.sh                      # build (release) and run the differential
#   MTA_STS_BIN=/path/to/mta-sts ...                 # use that binary, skip cargo build
#   VENV=/path/to/venv ...                           # where tlsrpt-reporter is (installed if missing)
#   KEEP=1 ...                                       # keep the work directory (printed) for a look
#
# Needs python3 with venv and pip (tlsrpt-reporter is pure Python) and ss (iproute2). No root, no
# network beyond the package index for the first install: everything runs on unix sockets in a
# temporary directory.
#
# 1. Both collectors run side by side: tlsrpt-collectd (SQLite storage, its own socket) and
#    `mta-sts tlsrpt collect` (SQLite store). bench/tlsrpt_datagram.py sends each the same
#    datagrams, written byte for byte as libtlsrpt writes them (every policy type, every failure
#    code and unknown ones, domain forms, rua forms, several records for a domain, escaping, and
#    the malformed datagrams a collector must survive), each case several times.
# 2. When both sockets are drained: tlsrpt-collectd gets SIGUSR2 (its development roll-over:
#    today's counts become "yesterday", as after UTC midnight), then SIGTERM; ours SIGTERM (it
#    flushes). tlsrpt-reportd then runs with tlsrpt-fetcher on that database until every report
#    of the day is built and "sent" (sendmail and the HTTP upload are `cat > /dev/null`);
#    `mta-sts tlsrpt report --day <the day> --out DIR` writes ours. Same organisation name and
#    contact on both sides.
# 3. bench/tlsrpt_diff.py compares the reports matched by (domain, TLSRPT record), after the
#    normalisations that are by design (report-id, the day in date-range, the order of policies
#    and failure details), and applies the deliberate differences listed there, each with its
#    reason; anything else is printed and fails the run.
#
# 4. Datagrams that stop tlsrpt-reporter, sent to both sides with default settings: one that is
#    not JSON (tlsrpt-collectd without dump_path_for_invalid_datagram tries to write it to "" and
#    exits; its socket stays behind, so every later datagram is refused) and one with a policy
#    type libtlsrpt's enum does not have (tlsrpt-collectd stores it; tlsrpt-reportd then exits
#    with a KeyError when it builds that day, and again at every restart, so no domain of the day
#    gets a report). Ours must survive both and still report the good datagram sent after them;
#    what the peer did is printed.
#
# Exit status: 0 when every difference is deliberate and ours passed part 4, 1 otherwise.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-/tmp/mta-sts-bench-tlsrpt-venv}"
peer_version="0.6.0"
bin="${MTA_STS_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/mta-sts}"
org="Example Sender Org"
contact="tlsrpt-contact@sender.example"

[ -n "${MTA_STS_BIN:-}" ] || cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p mta-sts
if [ ! -x "$venv/bin/tlsrpt-collectd" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "tlsrpt-reporter==$peer_version"
fi

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

wait_until() { # SECONDS WHAT COMMAND...: poll every 0.05 s
  local limit="$1" what="$2"; shift 2
  local deadline=$(( $(date +%s) + limit ))
  until "$@"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then echo "timed out waiting for $what" >&2; exit 1; fi
    sleep 0.05
  done
}
drained() { # SOCKET: its receive queue is empty (or the socket is gone)
  local q
  q="$(ss -xanH src "$1" | awk '{print $3}')"
  [ -z "$q" ] || [ "$q" = 0 ]
}

echo "mta-sts: $("$bin" --version) ($bin)"
echo "peer: $("$venv/bin/pip" freeze 2>/dev/null | grep -i '^tlsrpt.reporter==' || echo tlsrpt-reporter?)," \
  "$("$venv/bin/python" --version 2>&1)"

# 1. Both collectors, the same datagrams.
"$venv/bin/tlsrpt-collectd" --storage "sqlite://$work/collectd.sqlite" --socketname "$work/peer.sock" \
  --logfilename "$work/collectd.log" --log_level info --sockettimeout 1 \
  --dump_path_for_invalid_datagram "$work/invalid-datagram" > "$work/collectd.out" 2>&1 &
peer_collect=$!; pids+=("$peer_collect")
"$bin" tlsrpt collect --socket "$work/ours.sock" --store "sqlite:$work/ours.db" > "$work/ours-collect.log" 2>&1 &
ours_collect=$!; pids+=("$ours_collect")
wait_until 30 "tlsrpt-collectd's socket" test -S "$work/peer.sock"
wait_until 30 "our collector's socket" test -S "$work/ours.sock"

day="$(date -u +%F)"
python3 "$root/bench/tlsrpt_datagram.py" --send "$work/peer.sock" "$work/ours.sock"
wait_until 60 "tlsrpt-collectd to read every datagram" drained "$work/peer.sock"
wait_until 60 "our collector to read every datagram" drained "$work/ours.sock"
if [ "$(date -u +%F)" != "$day" ]; then
  echo "UTC midnight passed while the datagrams were sent; run again" >&2; exit 1
fi

# 2. The day ends for both; then the reports.
kill -USR2 "$peer_collect"
wait_until 30 "tlsrpt-collectd's roll-over" grep -q 'Old database moved' "$work/collectd.log"
kill -TERM "$peer_collect" "$ours_collect"
wait "$peer_collect" || { cat "$work/collectd.log"; echo "tlsrpt-collectd failed" >&2; exit 1; }
wait "$ours_collect" || { cat "$work/ours-collect.log"; echo "mta-sts tlsrpt collect failed" >&2; exit 1; }

mkdir -p "$work/peer-files" "$work/ours-out"
cat > "$work/reportd.cfg" <<EOF
[tlsrpt_reportd]
organization_name = $org
contact_info = $contact
sender_address = tlsrpt-noreply@sender.example
dbname = $work/reportd.sqlite
logfilename = $work/reportd.log
log_level = info
fetchers = $venv/bin/tlsrpt-fetcher --storage sqlite://$work/collectd.sqlite --logfilename $work/fetcher.log
debug_send_file_dest = $work/peer-files
sendmail_script = cat > /dev/null
http_script = sh -c 'cat > /dev/null' upload
interval_main_loop = 1
spread_out_delivery = 1
min_wait_domainlist = 0
max_wait_domainlist = 1
min_wait_domaindetails = 0
max_wait_domaindetails = 1
EOF
"$venv/bin/tlsrpt-reportd" --config_file "$work/reportd.cfg" > "$work/reportd.out" 2>&1 &
peer_report=$!; pids+=("$peer_report")
reportd_done() { # every domain fetched, its reports built, every destination attempted
  python3 - "$work/reportd.sqlite" <<'EOF'
import sqlite3, sys
try:
    c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
    jobs = c.execute("SELECT COUNT(*), SUM(status = 'ok') FROM fetchjobs").fetchone()
    pending = c.execute("SELECT COUNT(*) FROM reportdata WHERE status IS NOT 'fetched'").fetchone()[0]
    unbuilt = c.execute("SELECT COUNT(*) FROM reportdata WHERE (day, domain) NOT IN "
                        "(SELECT day, domain FROM reports)").fetchone()[0]
    unsent = c.execute("SELECT COUNT(*) FROM destinations WHERE status IS NULL").fetchone()[0]
    sys.exit(0 if jobs[0] and jobs[0] == jobs[1] and pending == 0 and unbuilt == 0 and unsent == 0 else 1)
except sqlite3.Error:
    sys.exit(1)
EOF
}
wait_until 300 "tlsrpt-reportd to build and send the day's reports" reportd_done
kill -TERM "$peer_report"; wait "$peer_report" || true

"$bin" tlsrpt report --store "sqlite:$work/ours.db" --day "$day" --out "$work/ours-out" --json \
  --organization-name "$org" --contact-info "$contact" > "$work/ours-report.json" 2> "$work/ours-report.err" \
  || { cat "$work/ours-report.err"; echo "mta-sts tlsrpt report failed" >&2; exit 1; }

# 3. Field by field.
echo
echo "== Differential: tlsrpt-reporter $peer_version vs mta-sts tlsrpt, day $day"
status=0
python3 "$root/bench/tlsrpt_diff.py" --peer-db "$work/reportd.sqlite" --ours-dir "$work/ours-out" \
  --ours-log "$work/ours-report.json" || status=1
echo
echo "What each collector said about the datagrams it could not count:"
echo "  tlsrpt-collectd: $(grep -cE 'JSON decode error|Malformed utf8|KeyError|No policies found' "$work/collectd.log")" \
  "datagrams dropped with an error or warning line, $(grep -c 'Wrong datagram protocol version' "$work/collectd.log")" \
  "of another protocol version counted anyway"
echo "  ours: $(grep -o 'stopped after .*flushes' "$work/ours-collect.log" | head -n 1)"

# 4. What stops tlsrpt-reporter, against both with default settings.
echo
echo "== Datagrams that stop tlsrpt-reporter 0.6.0 (default settings), and ours"
probe() { # SOCKET: a datagram that is not JSON, one with policy type 3, then a good one
  python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(sys.argv[1])
rec = b"v=TLSRPTv1;rua=mailto:tlsrpt@%s"
for d, body in ((b"probe-bad.example", b"not json"),
                (b"probe-type3.example", b'{"dpv": "1","d": "probe-type3.example","pr": "' + rec % b"probe-type3.example"
                 + b'","policies":[{"policy-type":3,"policy-domain": "probe-type3.example","t":0,"f":0}]}'),
                (b"probe-good.example", b'{"dpv": "1","d": "probe-good.example","pr": "' + rec % b"probe-good.example"
                 + b'","policies":[{"policy-type":9,"t":0,"f":0}]}')):
    try:
        s.send(body)
    except OSError as e:
        print("  sending the %s datagram failed: %s" % (d.decode(), e))
EOF
}
mkdir -p "$work/probe"
"$venv/bin/tlsrpt-collectd" --storage "sqlite://$work/probe/collectd.sqlite" --socketname "$work/probe/peer.sock" \
  --logfilename "$work/probe/collectd.log" > /dev/null 2>&1 &
probe_peer=$!; pids+=("$probe_peer")
"$bin" tlsrpt collect --socket "$work/probe/ours.sock" --store "sqlite:$work/probe/ours.db" > "$work/probe/ours.log" 2>&1 &
probe_ours=$!; pids+=("$probe_ours")
wait_until 30 "the probe collectors' sockets" test -S "$work/probe/peer.sock" -a -S "$work/probe/ours.sock"
probe "$work/probe/peer.sock"
probe "$work/probe/ours.sock"
wait_until 30 "ours to read the probe datagrams" drained "$work/probe/ours.sock"
sleep 1  # tlsrpt-collectd shows no sign of having read a datagram but its log: give it a second
if kill -0 "$probe_peer" 2>/dev/null; then
  echo "tlsrpt-collectd: still running after the datagram that is not JSON"
  kill -TERM "$probe_peer"; wait "$probe_peer" || true
else
  wait "$probe_peer" && code=0 || code=$?
  echo "tlsrpt-collectd: exited (status $code) at the datagram that is not JSON:" \
    "$(grep -m1 -o 'Exception.*' "$work/probe/collectd.log" || true)"
  echo "  its socket left behind: $([ -S "$work/probe/peer.sock" ] && echo yes || echo no);" \
    "the datagrams after it were not counted"
fi
if kill -0 "$probe_ours" 2>/dev/null; then
  kill -TERM "$probe_ours"
  if wait "$probe_ours"; then
    echo "ours: survived all three, exited 0 on SIGTERM"
  else
    echo "ours: FAILED at shutdown after the probes (see $work/probe/ours.log)"; status=1
  fi
else
  echo "ours: FAILED: exited while receiving the probes"; status=1
fi
# The type-3 datagram through tlsrpt-reportd: a collectd with a dump path survives the first.
mkdir -p "$work/probe2/peer-files"
"$venv/bin/tlsrpt-collectd" --storage "sqlite://$work/probe2/collectd.sqlite" --socketname "$work/probe2/peer.sock" \
  --logfilename "$work/probe2/collectd.log" --log_level info --dump_path_for_invalid_datagram "$work/probe2/invalid" \
  --sockettimeout 1 > /dev/null 2>&1 &
probe_peer=$!; pids+=("$probe_peer")
wait_until 30 "the probe collector's socket" test -S "$work/probe2/peer.sock"
probe "$work/probe2/peer.sock"
wait_until 30 "tlsrpt-collectd to read the probes" drained "$work/probe2/peer.sock"
sleep 1.5  # it commits after a second without datagrams
kill -USR2 "$probe_peer"
wait_until 30 "tlsrpt-collectd's roll-over" grep -q 'Old database moved' "$work/probe2/collectd.log"
kill -TERM "$probe_peer"; wait "$probe_peer" || true
sed -e "s|$work/|$work/probe2/|g" "$work/reportd.cfg" > "$work/probe2/reportd.cfg"
timeout 60 "$venv/bin/tlsrpt-reportd" --config_file "$work/probe2/reportd.cfg" > /dev/null 2>&1 && code=0 || code=$?
# ... and restarted, as systemd would:
timeout 60 "$venv/bin/tlsrpt-reportd" --config_file "$work/probe2/reportd.cfg" > /dev/null 2>&1 && code2=0 || code2=$?
code="$code, restarted: $code2"
sent="$(python3 -c 'import sqlite3, sys; print(", ".join(d for (d,) in sqlite3.connect(sys.argv[1]).execute("SELECT destination FROM destinations WHERE status = ?", ("sent",))) or "none")' "$work/probe2/reportd.sqlite" 2>/dev/null || echo none)"
echo "tlsrpt-reportd on the day with the type-3 datagram: exit status $code" \
  "($(grep -m1 -o 'Exception [A-Za-z]* while running.*' "$work/probe2/reportd.log" || echo 'no exception logged'));" \
  "reports sent: $sent"
"$bin" tlsrpt report --store "sqlite:$work/probe/ours.db" --day "$day" --out "$work/probe/out" \
  --organization-name "$org" --contact-info "$contact" > "$work/probe/report.out" 2>&1 \
  || { cat "$work/probe/report.out"; echo "ours: FAILED to build the probe day"; status=1; }
ours_built="$(ls "$work/probe/out" 2>/dev/null | sed -n 's/^[^!]*!\([^!]*\)!.*/\1/p' | sort -u | paste -sd, - || true)"
echo "ours on the same day: reports built for: ${ours_built:-none}"
case ",$ours_built," in
  *,probe-good.example,*) ;;
  *) echo "ours: FAILED: no report for probe-good.example"; status=1 ;;
esac

exit "$status"
