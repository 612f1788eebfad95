#!/usr/bin/env bash
# mta-sts check and checkdmarc side by side, on the same lab domain, in one run on this machine.
#
# checkdmarc can be told a DNS server but fetches the policy with the system resolver on port 443
# and probes MX hosts on port 25, so the lab runs on the real ports inside a private network
# namespace, with /etc/resolv.conf bind-mounted to point at it. Needs root (for the namespace).
#
#   bench/vs-checkdmarc.sh            # 20 runs of each on healthy-enforce.test
#   RUNS=50 DOMAIN=mx-wrong-name.test bench/vs-checkdmarc.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${RUNS:-20}"
domain="${DOMAIN:-healthy-enforce.test}"
venv="${VENV:-/tmp/mta-sts-bench-venv}"
bin="$root/target/release/mta-sts"

if [ "${1:-}" != "--inside" ]; then
  cargo build --release --quiet --manifest-path "$root/Cargo.toml"
  if [ ! -x "$venv/bin/checkdmarc" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet checkdmarc==6.0.4
  fi
  exec unshare -mn "$0" --inside
fi

# Inside the namespace: loopback up, the lab on 53/443/80/25, the system resolver pointed at it.
work="$(mktemp -d)"
trap 'kill -INT "$lab" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
ip link set lo up
printf 'nameserver 127.0.0.1\n' > "$work/resolv.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf
"$bin" demo --keep --standard-ports > "$work/lab.out" 2>&1 &
lab=$!
for _ in $(seq 100); do grep -q 'CA file' "$work/lab.out" && break; sleep 0.1; done
ca="$(awk '/CA file/ {print $3}' "$work/lab.out")"
[ -n "$ca" ] || { cat "$work/lab.out"; echo "the lab did not start" >&2; exit 1; }
export REQUESTS_CA_BUNDLE="$ca" SSL_CERT_FILE="$ca"

# Wall time per run, in milliseconds, over $runs sequential runs (process start included).
measure() {
  local label="$1"; shift
  local start end
  start=$(date +%s%N)
  for _ in $(seq "$runs"); do "$@" > /dev/null 2>&1 || true; done
  end=$(date +%s%N)
  printf '%-44s %8.1f ms per run\n' "$label" "$(echo "($end - $start) / 1000000 / $runs" | bc -l)"
}

echo "domain: $domain, $runs runs each, $(nproc) cores"
echo "checkdmarc's view of MTA-STS:"
"$venv/bin/checkdmarc" "$domain" -n 127.0.0.1 | python3 -c 'import json,sys; print("  ", json.dumps(json.load(sys.stdin).get("mta_sts")))'
echo "mta-sts check's verdict:"
"$bin" check "$domain" --resolver 127.0.0.1 --ca-file "$ca" | head -1 | sed 's/^/   /'
measure "mta-sts check (DNS, policy, MX STARTTLS)" "$bin" check "$domain" --resolver 127.0.0.1 --ca-file "$ca"
measure "mta-sts check --no-smtp" "$bin" check "$domain" --resolver 127.0.0.1 --ca-file "$ca" --no-smtp
measure "checkdmarc --check-mx-tls" "$venv/bin/checkdmarc" "$domain" --check-mx-tls -n 127.0.0.1
measure "checkdmarc (no TLS test)" "$venv/bin/checkdmarc" "$domain" -n 127.0.0.1
# How much of checkdmarc's time is Python start-up and imports rather than checking.
measure "checkdmarc --version (start-up only)" "$venv/bin/checkdmarc" --version
