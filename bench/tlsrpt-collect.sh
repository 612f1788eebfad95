#!/usr/bin/env bash
# The TLS-RPT collector under load: `mta-sts tlsrpt collect` (release build) and tlsrpt-collectd
# 0.6.0 in the same run, datagrams/s received and stored, CPU, peak RSS, datagrams lost.
#
#   bench/tlsrpt-collect.sh                  # N=1,000,000 to ours, PEER_N=100,000 to the peer
#   N=200000 PEER_N=20000 bench/tlsrpt-collect.sh
#   MTA_STS_BIN=/path/to/mta-sts ...         # measure that binary, skip cargo build
#   VENV=/path/to/venv ...                   # tlsrpt-reporter's virtualenv (installed if missing)
#   PG=postgres://...                        # PostgreSQL for the store and slow-store rows
#                                            # (default $MTA_STS_TEST_POSTGRES; rows skipped if unset)
#   FORCE=1 ...                              # measure even when the machine is busy
#
# Needs a C compiler (bench/tlsrpt_send.c), python3 with venv, ss, and psql for the PostgreSQL
# rows. The mix (bench/tlsrpt_datagram.py --mix): 2,053 datagrams written as libtlsrpt writes
# them, 2,000 of them successful deliveries to 2,000 recipient domains (half sts, half
# no-policy-found), then one of each failure kind of the differential's corpus; 269 bytes on
# average; sent in order, cycling.
#
# Rows (bench/tlsrpt_collect_bench.py runs each and explains the columns):
# 1. blocking sends, full speed: the kernel holds the sender back while the collector's queue
#    is full, so nothing is lost before the collector and the rate is the collector's: ours with
#    SQLite and with PostgreSQL, tlsrpt-collectd with its SQLite;
# 2. sends as libtlsrpt makes them (MSG_DONTWAIT) at a fixed rate: what a Postfix sending that
#    many TLS results per second would lose with each collector (refused = dropped at the socket,
#    whose queue holds net.unix.max_dgram_qlen datagrams);
#    then again in a private network namespace with net.unix.max_dgram_qlen=512 (as root);
# 3. the slow store: PostgreSQL with an ACCESS EXCLUSIVE lock on the counts table held for
#    LOCK_SECONDS (default 10) while N datagrams arrive, first with the default key cap (nothing
#    may be lost: the aggregate keeps growing in memory while the flush waits), then with
#    --max-keys 500 (fewer than the mix's keys: the bounded buffer drops and counts what does not
#    fit, and says so in its log).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-/tmp/mta-sts-bench-tlsrpt-venv}"
bin="${MTA_STS_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/mta-sts}"
n="${N:-1000000}"
peer_n="${PEER_N:-100000}"
pg="${PG:-${MTA_STS_TEST_POSTGRES:-}}"
lock_seconds="${LOCK_SECONDS:-10}"

[ -n "${MTA_STS_BIN:-}" ] || cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p mta-sts
if [ ! -x "$venv/bin/tlsrpt-collectd" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "tlsrpt-reporter==0.6.0"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/tlsrpt_send" "$root/bench/tlsrpt_send.c"
python3 "$root/bench/tlsrpt_datagram.py" --mix "$work/mix.bin"

load="$(cut -d' ' -f1 /proc/loadavg)"
if [ -z "${FORCE:-}" ] && awk -v l="$load" 'BEGIN {exit !(l >= 1.5)}'; then
  echo "load average $load >= 1.5: other work is running; measure later or set FORCE=1" >&2
  exit 1
fi
echo "mta-sts: $("$bin" --version) ($bin); $("$venv/bin/pip" freeze | grep -i '^tlsrpt.reporter=='); $("$venv/bin/python" --version)"
echo "$(nproc) cores, $(uname -r), net.unix.max_dgram_qlen=$(sysctl -n net.unix.max_dgram_qlen), load average at start $load"
echo

run() { # LABEL ARGS... : one measurement, one table row
  local label="$1"; shift
  local out
  out="$(python3 "$root/bench/tlsrpt_collect_bench.py" --sender "$work/tlsrpt_send" --mix "$work/mix.bin" \
    --peer-venv "$venv" --ours "$bin" "$@")" || { echo "| $label | failed: see above |"; return 0; }
  local sent="" refused="" expected="" stored="" lost="" seconds="" rate="" cpu_s="" per_cpu_s="" maxrss_kb=""
  local ours_lost="-" kv
  for kv in $out; do
    case "$kv" in
      sent=*|refused=*|expected=*|stored=*|lost=*|seconds=*|rate=*|cpu_s=*|per_cpu_s=*|maxrss_kb=*) eval "${kv%%=*}=\${kv#*=}" ;;
      ours_lost=*) ours_lost="${kv#*=}" ;;
    esac
  done
  printf '| %-52s | %9s | %7s | %9s | %8s | %8s | %7s | %8s | %9s | %7s |\n' "$label" "$sent" "$refused" \
    "$stored" "$lost" "$seconds" "$rate" "$cpu_s" "$per_cpu_s" "$((maxrss_kb / 1024))"
  [ "$ours_lost" = "-" ] || [ "$ours_lost" = 0 ] || echo "|   (the collector counted $ours_lost datagrams lost and logged it) |"
}

printf '| %-52s | %9s | %7s | %9s | %8s | %8s | %7s | %8s | %9s | %7s |\n' collector sent refused \
  'stored' lost seconds 'dg/s' 'CPU s' 'dg/CPU-s' 'RSS MiB'
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' ------------------------------------------------------ \
  ----------- --------- ----------- ---------- ---------- --------- ---------- ----------- ---------
run "mta-sts tlsrpt collect, SQLite, blocking" --kind ours --n "$n" --work "$work/ours-sqlite"
if [ -n "$pg" ]; then
  psql -q "$pg" -c 'SET client_min_messages = warning' -c 'DROP DATABASE IF EXISTS bench_tlsrpt_collect' -c 'CREATE DATABASE bench_tlsrpt_collect'
  pgdb="${pg%/*}/bench_tlsrpt_collect"
  run "mta-sts tlsrpt collect, PostgreSQL, blocking" --kind ours --n "$n" --work "$work/ours-pg" --store "$pgdb"
fi
run "tlsrpt-collectd 0.6.0, SQLite, blocking" --kind peer --n "$peer_n" --work "$work/peer"
for rate in 10000 100000; do
  run "mta-sts tlsrpt collect, SQLite, libtlsrpt sends at $rate/s" --kind ours --n "$((rate * 5))" \
    --work "$work/ours-dontwait-$rate" --dontwait --rate "$rate"
done
for rate in 1000 5000 10000; do
  run "tlsrpt-collectd 0.6.0, libtlsrpt sends at $rate/s" --kind peer --n "$((rate * 5))" \
    --work "$work/peer-dontwait-$rate" --dontwait --rate "$rate"
done
# The same with a deeper socket queue (net.unix.max_dgram_qlen is per network namespace: set in
# a private one, as root, so the machine's own setting is untouched).
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  for spec in "ours 10000" "ours 100000" "peer 5000" "peer 10000"; do
    read -r kind rate <<< "$spec"
    name="mta-sts tlsrpt collect, SQLite,"; [ "$kind" = peer ] && name="tlsrpt-collectd 0.6.0,"
    row="$(unshare -n bash -c "sysctl -qw net.unix.max_dgram_qlen=512 && $(declare -f run); \
      work='$work' root='$root' venv='$venv' bin='$bin' \
      run '$name libtlsrpt sends at $rate/s, qlen 512' --kind $kind --n $((rate * 5)) \
      --work '$work/qlen-$kind-$rate' --dontwait --rate $rate")"
    echo "$row"
  done
fi
if [ -n "$pg" ]; then
  for keys in default 500; do
    psql -q "$pg" -c 'SET client_min_messages = warning' -c 'DROP DATABASE IF EXISTS bench_tlsrpt_collect' -c 'CREATE DATABASE bench_tlsrpt_collect'
    extra=(); [ "$keys" = default ] || extra=(--max-keys "$keys")
    run "ours, PostgreSQL locked ${lock_seconds}s, max keys $keys" --kind ours --n "$n" \
      --work "$work/ours-locked-$keys" --store "$pgdb" "${extra[@]}" \
      --lock-db "$pgdb" --lock-sql "LOCK TABLE sender_count IN ACCESS EXCLUSIVE MODE" --lock-seconds "$lock_seconds"
    grep -iE 'lost|dropp' "$work/ours-locked-$keys/ours.log" | head -n 3 | sed 's/^/    log: /' || true
  done
  psql -q "$pg" -c 'DROP DATABASE IF EXISTS bench_tlsrpt_collect'
fi
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
