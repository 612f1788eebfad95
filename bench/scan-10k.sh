#!/usr/bin/env bash
# `mta-sts scan` of 10,000 generated lab domains (70% healthy, 30% broken, five slow), full checks
# (DNS, policy fetch, SMTP STARTTLS probe), and checkdmarc 6.0.4 on the same list, in one run.
#
# checkdmarc cannot be told a port and fetches policies with the system resolver, so the lab runs
# on the real ports (53, 443, 80, 25) inside a private network namespace with /etc/resolv.conf
# bind-mounted to point at it, as bench/vs-checkdmarc.sh does. Needs root (for the namespace).
# The lab is its own process (`mta-sts demo --keep --generated N`) on the same two cores: the
# figures give the scanner's own CPU time and the lab's apart, beside the wall-clock rate.
#
# checkdmarc checks one domain after another; SAMPLE (default 500) of the list, its first
# domains (the same mix of defects), are given to it in one bulk invocation, and `mta-sts scan`
# is also timed on that sample for a like-for-like row.
#
#   bench/scan-10k.sh                                   # 10,000 domains, 64 at once
#   COUNT=1000 CONCURRENCY=128 SAMPLE=0 bench/scan-10k.sh  # a small run, without checkdmarc
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
count="${COUNT:-10000}"
concurrency="${CONCURRENCY:-64}"
timeout="${TIMEOUT:-5}"
sample="${SAMPLE:-500}"
venv="${VENV:-/tmp/mta-sts-bench-venv}"
bin="${CARGO_TARGET_DIR:-$root/target}/release/mta-sts"

if [ "${1:-}" != "--inside" ]; then
  cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p mta-sts --bin mta-sts
  if [ "$sample" -gt 0 ] && [ ! -x "$venv/bin/checkdmarc" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet checkdmarc==6.0.4
  fi
  echo "$(date -u +%FT%TZ), $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "mta-sts at $(git -C "$root" rev-parse --short HEAD)"
  exec unshare -mn "$0" --inside
fi

# Inside the namespace: loopback up, the lab on 53/443/80/25, the system resolver pointed at it.
work="$(mktemp -d)"
lab=""
trap '[ -n "$lab" ] && kill -INT "$lab" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
ip link set lo up
# This namespace's own settings: room for tens of thousands of loopback connections a minute.
sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
ulimit -n "$(ulimit -Hn)"
printf 'nameserver 127.0.0.1\n' > "$work/resolv.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf

started=$(date +%s%N)
"$bin" demo --keep --standard-ports --generated "$count" > "$work/lab.out" 2>&1 &
lab=$!
for _ in $(seq 300); do grep -q 'CA file' "$work/lab.out" && break; sleep 0.1; done
ca="$(awk '/CA file/ {print $3}' "$work/lab.out")"
[ -n "$ca" ] || { cat "$work/lab.out"; echo "the lab did not start" >&2; exit 1; }
printf 'lab: %s domains up (and the demo table checked) in %.1f s\n' "$count" \
  "$(echo "($(date +%s%N) - $started) / 1000000000" | bc -l)"
export REQUESTS_CA_BUNDLE="$ca" SSL_CERT_FILE="$ca"
seq -f 'mix-%05g.test' 1 "$count" > "$work/domains.txt"
head -n "$sample" "$work/domains.txt" > "$work/sample.txt"

ticks=$(getconf CLK_TCK)
# CPU seconds (user + system) the lab has used so far.
lab_cpu() { awk -v t="$ticks" '{printf "%.2f", ($14 + $15) / t}' "/proc/$lab/stat"; }

# One timed run: wall s, scanner CPU s (user + sys), peak RSS MB, lab CPU s; rate = domains / wall.
row() {
  local label="$1" domains="$2"; shift 2
  local before after
  before=$(lab_cpu)
  if ! /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$@" > "$work/out" 2> "$work/err"; then
    echo "$label failed:" >&2
    tail -n 20 "$work/err" >&2
  fi
  after=$(lab_cpu)
  read -r wall user sys rss < <(tail -n 1 "$work/time")
  printf '| %s | %s | %.1f s | %.0f/s | %.1f s | %.0f MB | %.1f s |\n' "$label" "$domains" "$wall" \
    "$(echo "$domains / $wall" | bc -l)" "$(echo "$user + $sys" | bc -l)" \
    "$(echo "$rss / 1024" | bc -l)" "$(echo "$after - $before" | bc -l)"
}

# `mta-sts scan LIST OUT` as /usr/bin/time can run it (a command, not a shell function).
scan=("$bin" scan --resolver 127.0.0.1 --ca-file "$ca" --concurrency "$concurrency"
  --timeout "$timeout" --progress-every 600)

echo
echo "| run | domains | wall | rate | tool CPU | peak RSS | lab CPU |"
echo "|---|---|---|---|---|---|---|"
row "mta-sts scan, concurrency $concurrency, --timeout $timeout" "$count" \
  "${scan[@]}" "$work/domains.txt" --json-lines "$work/scan.jsonl" --summary-json "$work/scan.json"
cp "$work/err" "$work/scan.err"
if [ "$sample" -gt 0 ]; then
  row "mta-sts scan, the first $sample" "$sample" \
    "${scan[@]}" "$work/sample.txt" --json-lines "$work/sample.jsonl"
  # checkdmarc's bulk mode: every domain of the file, one after another, in one process.
  row "checkdmarc 6.0.4 --check-mx-tls, the first $sample" "$sample" \
    "$venv/bin/checkdmarc" "$work/sample.txt" -n 127.0.0.1 --check-mx-tls -o "$work/checkdmarc.json"
fi

echo
echo "mta-sts scan, what it found:"
grep -E '^scan: [0-9]+/' "$work/scan.err" | tail -n 1 | sed 's/^/  /'
python3 - "$work/scan.json" <<'EOF'
import json, sys
summary = json.load(open(sys.argv[1]))
print("  verdicts:", json.dumps(summary.get("verdicts")), " outcomes:", json.dumps(summary.get("outcomes")),
      " timed out:", summary.get("timed_out"))
print("  findings:", ", ".join(f'{c["code"]} {c["domains"]}' for c in summary.get("findings", [])))
EOF
lines=$(wc -l < "$work/scan.jsonl")
[ "$lines" -eq "$count" ] || echo "  WARNING: $lines lines for $count domains"
if [ "$sample" -gt 0 ] && [ -s "$work/checkdmarc.json" ]; then
  python3 - "$work/checkdmarc.json" <<'EOF'
import json, sys
results = json.load(open(sys.argv[1]))
results = results if isinstance(results, list) else [results]
valid = sum(1 for r in results if (r.get("mta_sts") or {}).get("valid") is True)
print(f"checkdmarc: {len(results)} domains, MTA-STS valid for {valid}")
EOF
fi
