#!/usr/bin/env bash
# mta-sts daemon and postfix-mta-sts-resolver side by side: a differential test of their socketmap
# replies, then throughput and latency of cache hits, in one run on this machine.
#
# postfix-mta-sts-resolver resolves with the system resolver (/etc/resolv.conf) and fetches
# policies on port 443, so the lab runs on the real ports inside a private network namespace, with
# /etc/resolv.conf bind-mounted to point at it and the lab CA as the only trusted root for Python
# (SSL_CERT_FILE: aiohttp builds its context with ssl.create_default_context()). Needs root (for
# the namespace) and a C compiler (the load generator, bench/socketmap_load.c).
#
#   bench/vs-postfix-mta-sts-resolver.sh              # everything: diff, benchmark, RSS
#   DURATION=5 bench/vs-postfix-mta-sts-resolver.sh   # seconds per load measurement (default 10)
#   PARTS=diff bench/vs-postfix-mta-sts-resolver.sh   # any of: diff bench rss (space-separated)
#   MTA_STS_BIN=/path/to/mta-sts ...                  # measure that binary, skip cargo build
#   QUIET_WAIT=60 ...                                 # max seconds to wait for an idle machine
#   CLIENT_THREADS=0 ...                              # load client: a blocking thread per
#                                                     # connection instead of one epoll thread
#
# 1. Differential (bench/socketmap_diff.py): every lab scenario domain, Postfix's key forms, zones
#    (strict_testing, require_sni: false, tlsrpt on and off) and protocol edge cases, sent to both
#    daemons (ours answering as for Postfix 3.10.5, postfix_version),
#    cold and cached; exits non-zero on a difference that is not listed there as deliberate.
# 2. Benchmark (bench/socketmap_load.c): closed loop, 1 and 16 persistent connections, one request
#    in flight per connection, cycling over the healthy lab domains, all cache hits (both caches
#    warmed by part 1). The client drives every connection from one epoll thread (as wrk does), so
#    that it costs the shared cores as little as it can; CLIENT_THREADS=0 gives a blocking thread
#    per connection (one Postfix smtp(8) process each), which costs as much CPU as our daemon. The peer runs as installed (asyncio event loop, sqlite cache: what its
#    README recommends for persistence), and for reference with uvloop and with its internal
#    cache. Client and daemons share the machine's cores; the daemon's CPU time per request is
#    printed beside the throughput, and what else ran meanwhile ("other CPU": each measurement
#    first waits until the machine has been idle for a second). Run twice: as the machine is, then
#    with idle vCPUs polling instead of halting (/dev/cpu_dma_latency held at 0), because on a VM
#    a halted vCPU takes tens of µs to wake and at one connection that, not the daemon, can be
#    most of a request's latency.
# 3. RSS of our daemon holding 100,000 cached policies: its SQLite cache file is filled with
#    100,000 copies of a fetched policy row (renamed rss-000001.test ...), a daemon with a memory
#    tier of 200,000 opens it, every domain is asked once (each one read from SQLite into memory),
#    and VmRSS is read before and after.
#
# Exit status: 0 when the differential found only expected differences, 1 otherwise.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-/tmp/mta-sts-bench-pmsr-venv}"
peer_version="1.5.1"
duration="${DURATION:-10}"
parts="${PARTS:-diff bench rss}"
bin="${MTA_STS_BIN:-$root/target/release/mta-sts}"

if [ "${1:-}" != "--inside" ]; then
  [ -n "${MTA_STS_BIN:-}" ] || cargo build --release --quiet --manifest-path "$root/Cargo.toml"
  if [ ! -x "$venv/bin/mta-sts-daemon" ]; then
    python3 -m venv "$venv"
    # The peer and the dependencies it was measured with (2026-11-23), pinned.
    "$venv/bin/pip" install --quiet "postfix-mta-sts-resolver[sqlite,uvloop]==$peer_version" \
      aiohttp==3.14.5 aiodns==4.0.4 pycares==5.2.1 aiosqlite==0.22.1 uvloop==0.23.0 PyYAML==6.0.3
  fi
  exec unshare -mn "$0" --inside
fi

# Inside the namespace: loopback up, the lab on 53/443/80/25, the system resolver pointed at it.
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  kill -INT "$lab" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip link set lo up
printf 'nameserver 127.0.0.1\n' > "$work/resolv.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf
# Only the benchmark needs the load generator; CI runs the differential alone, without a compiler.
if [[ " $parts " == *" bench "* ]]; then
  cc -O2 -pthread -o "$work/socketmap_load" "$root/bench/socketmap_load.c"
fi
# With --serve, `mta-sts serve` hosts the policy of serve-hosted.test in the lab: both daemons
# fetch that policy from our server, so the differential covers our hosting too. The JSON object
# (addresses and the scenario list) comes first; the lab then runs until SIGINT.
"$bin" demo --serve --standard-ports --json > "$work/lab.json" 2> "$work/lab.out" &
lab=$!
lab_json() {
  python3 -c 'import json, sys; v = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
    "$work/lab.json" "$1" 2>/dev/null
}
for _ in $(seq 300); do lab_json 'v["lab"]["ca_file"]' > /dev/null && break; sleep 0.1; done
ca="$(lab_json 'v["lab"]["ca_file"]')"
[ -n "$ca" ] || { cat "$work/lab.out"; echo "the lab did not start" >&2; exit 1; }
lab_json 'json.dumps(v["scenarios"])' > "$work/demo.json"
grep -q '"serve-hosted.test"' "$work/demo.json" || { echo "the lab hosts no policy of ours" >&2; exit 1; }

# postfix-mta-sts-resolver: the configuration every instance shares (zones as in the diff).
peer_config() { # PORT CACHE-YAML
  cat <<EOF
host: 127.0.0.1
port: $1
reuse_port: true    # 1.5.1 cannot start with false (UnboundLocalError in responder.start)
cache:
$2
default_zone:
  strict_testing: false
  timeout: 4
  require_sni: true
zones:
  strict:
    strict_testing: true
  tlsrpt:
    tlsrpt: true
  nosni:
    require_sni: false
  plain:
    tlsrpt: false
EOF
}
sqlite_cache() { printf '  type: sqlite\n  options:\n    filename: %s\n' "$1"; }
peer_config 8461 "$(sqlite_cache "$work/peer.db")" > "$work/peer.yml"
peer_config 8464 "$(sqlite_cache "$work/peer-uvloop.db")" > "$work/peer-uvloop.yml"
peer_config 8465 "$(printf '  type: internal\n  options:\n    cache_size: 10000\n')" \
  > "$work/peer-internal.yml"
# The same over a unix socket (what a chrooted Postfix uses: socketmap:unix:...), same cache file.
{ peer_config 8466 "$(sqlite_cache "$work/peer.db")"; echo "path: $work/peer_unix.sock"; } \
  > "$work/peer-unix.yml"
# Ours answers as for Postfix 3.10.5 and later, what a default install there sends (the TLSRPT
# attributes, with which Postfix enforces the MX patterns): pinned, so the result does not depend
# on the Postfix installed here. Zone plain (tlsrpt = false) is the form older Postfix gets.
cat > "$work/ours.toml" <<EOF
listen = "127.0.0.1:8462"
cache = "sqlite:$work/ours.db"
postfix_version = "3.10.5"
[default_zone]
strict_testing = false
timeout = 4
require_sni = true
[zones.strict]
strict_testing = true
[zones.tlsrpt]
tlsrpt = true
[zones.nosni]
require_sni = false
[zones.plain]
tlsrpt = false
EOF

start() { # NAME PORT|unix COMMAND...  (unix: the socket is $work/NAME.sock, dashes as _)
  local name="$1" port="$2"; shift 2
  "$@" > "$work/$name.log" 2>&1 &
  pids+=($!)
  eval "pid_${name//-/_}=$!"
  for _ in $(seq 100); do
    if [ "$port" = unix ]; then
      [ -S "$work/${name//-/_}.sock" ] && return 0
    else
      (: > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    fi
    sleep 0.1
  done
  cat "$work/$name.log"; echo "$name did not start" >&2; exit 1
}
export SSL_CERT_FILE="$ca"
start peer 8461 "$venv/bin/mta-sts-daemon" -c "$work/peer.yml" --disable-uvloop
start ours 8462 "$bin" daemon --config "$work/ours.toml" --resolver 127.0.0.1 --ca-file "$ca"
start peer-uvloop 8464 "$venv/bin/mta-sts-daemon" -c "$work/peer-uvloop.yml"
start peer-internal 8465 "$venv/bin/mta-sts-daemon" -c "$work/peer-internal.yml" --disable-uvloop
if [[ " $parts " == *" bench "* ]]; then
  start peer-unix unix "$venv/bin/mta-sts-daemon" -c "$work/peer-unix.yml" --disable-uvloop
  start ours-unix unix "$bin" daemon --config "$work/ours.toml" --listen "unix:$work/ours_unix.sock" \
    --resolver 127.0.0.1 --ca-file "$ca"
fi

if [ -n "${MTA_STS_BIN:-}" ]; then
  echo "mta-sts: $("$bin" --version) ($bin)"
else
  echo "mta-sts: $("$bin" --version) (built from $(git -C "$root" describe --always --dirty 2>/dev/null || echo '?'))"
fi
echo "peer: $("$venv/bin/pip" freeze 2>/dev/null | grep -iE '^(postfix.mta.sts.resolver|aiohttp|aiodns|pycares|aiosqlite|uvloop)==' | tr '\n' ' ')"
echo "python: $("$venv/bin/python" --version 2>&1), $(nproc) cores, $(uname -r)"
echo

status=0
healthy=(healthy-enforce.test sts-split.test policy-cname.test mx-wildcard.test)
printf '%s\n' "${healthy[@]}" > "$work/healthy.txt"
declare -A rps_of

if [[ " $parts " == *" diff "* ]]; then
  echo "== 1. Differential: postfix-mta-sts-resolver (:8461) vs mta-sts daemon (:8462)"
  python3 "$root/bench/socketmap_diff.py" --peer 127.0.0.1:8461 --ours 127.0.0.1:8462 \
    --domains-json "$work/demo.json" > "$work/diff.out" || status=1
  sed -n '/ comparisons (/,$p' "$work/diff.out"  # the summary: counts, then every difference
  echo
fi

if [[ " $parts " == *" bench "* ]]; then
  echo "== 2. Cache hits, $duration s per measurement, keys cycling over: ${healthy[*]}"
  for port in 8461 8462 8464 8465; do  # warm every cache (part 1 may have been skipped)
    python3 "$root/bench/socketmap_query.py" "127.0.0.1:$port" "$work/healthy.txt" > /dev/null
  done
  keys=(); for d in "${healthy[@]}"; do keys+=("postfix $d"); done
  # This machine is shared: before each measurement wait (up to QUIET_WAIT s) until it has been
  # under 10% busy for a second, and print what else ran during it ("other CPU").
  wait_quiet() {
    local a b waited=0
    while :; do
      a=($(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat)); sleep 1
      b=($(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat))
      (( (b[0] - a[0]) * 10 < (b[0] - a[0] + b[1] - a[1]) )) && return 0
      waited=$((waited + 1))
      if [ "$waited" -ge "${QUIET_WAIT:-600}" ]; then
        echo "warning: the machine is still busy; measuring anyway" >&2; return 0
      fi
    done
  }
  for idle in halt poll; do
    if [ "$idle" = poll ]; then
      # Idle vCPUs poll instead of halting (a PM QoS request of 0 µs, held while the file is
      # open): a request then never waits for a halted vCPU to be woken by the hypervisor.
      python3 -c 'import os, struct, time
fd = os.open("/dev/cpu_dma_latency", os.O_WRONLY); os.write(fd, struct.pack("i", 0)); time.sleep(1e6)' &
      qos=$!; pids+=("$qos")
      echo
      echo "The same with idle CPUs polling instead of halting (/dev/cpu_dma_latency = 0):"
    fi
    printf '| %-44s | %5s | %9s | %9s | %9s | %14s | %10s | %9s |\n' daemon conns 'req/s' \
      'p50 µs' 'p99 µs' 'daemon CPU' 'client CPU' 'other CPU'
    printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' ---------------------------------------------- ------- \
      ----------- ----------- ----------- ---------------- ------------ -----------
    for conns in 1 16; do
      for spec in "ours:8462:mta-sts daemon (SQLite + memory tier)" \
                  "peer:8461:postfix-mta-sts-resolver (sqlite, asyncio)" \
                  "peer_uvloop:8464:postfix-mta-sts-resolver (sqlite, uvloop)" \
                  "peer_internal:8465:postfix-mta-sts-resolver (internal, asyncio)" \
                  "ours_unix:unix:mta-sts daemon (SQLite + memory), unix" \
                  "peer_unix:unix:postfix-mta-sts-resolver (sqlite), unix"; do
        IFS=: read -r name port label <<< "$spec"
        pid="$(eval echo "\$pid_$name")"
        target=(127.0.0.1 "$port")
        [ "$port" = unix ] && target=("unix:$work/$name.sock" -)
        wait_quiet
        out="$(SERVER_PID="$pid" THREADS="${CLIENT_THREADS:-1}" \
          "$work/socketmap_load" "${target[@]}" "$conns" "$duration" \
          "${keys[@]}")" || { echo "load run failed: $out" >&2; status=1; }
        eval "$out"  # requests= rps= p50_us= ... as shell variables
        [ "$ok" = "$requests" ] || echo "warning: $label: $other of $requests replies not OK" >&2
        printf '| %-44s | %5d | %9d | %9.0f | %9.0f | %8.1f µs/req | %8.2f s | %7.2f s |\n' \
          "$label" "$conns" "$rps" "$p50_us" "$p99_us" \
          "$(echo "$server_cpu_s * 1000000 / $requests" | bc -l)" "$client_cpu_s" "$others_cpu_s"
        rps_of[$idle-$name-$conns]="$rps"
      done
    done
    echo
    for conns in 1 16; do
      for name in peer peer_uvloop peer_internal; do
        printf 'ours / %-13s at %2d connection(s): %5.1fx the throughput\n' "$name" "$conns" \
          "$(echo "${rps_of[$idle-ours-$conns]} / ${rps_of[$idle-$name-$conns]}" | bc -l)"
      done
      printf 'ours / %-13s at %2d connection(s): %5.1fx the throughput (unix sockets)\n' peer \
        "$conns" "$(echo "${rps_of[$idle-ours_unix-$conns]} / ${rps_of[$idle-peer_unix-$conns]}" | bc -l)"
    done
    [ "$idle" = poll ] && kill "$qos"
  done
  echo
  for name in ours peer peer_uvloop peer_internal ours_unix peer_unix; do
    pid="$(eval echo "\$pid_$name")"
    echo "RSS after the benchmark, $name: $(awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status")"
  done
  echo
fi

if [[ " $parts " == *" rss "* ]]; then
  echo "== 3. RSS of mta-sts daemon with 100,000 cached policies"
  python3 "$root/bench/socketmap_query.py" 127.0.0.1:8462 "$work/healthy.txt" > /dev/null
  # A consistent copy of our cache file (the daemon keeps it open in WAL mode), then 100,000
  # copies of healthy-enforce.test's row, each renamed (and its body's host names with it).
  if python3 - "$work/ours.db" "$work/rss.db" "$work/rss-keys.txt" <<'EOF'
import sqlite3, sys, time
src, dst = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2])
src.backup(dst)
src.close()
cols = [r[1] for r in dst.execute("PRAGMA table_info(policy_cache)")]
row = dst.execute("SELECT * FROM policy_cache WHERE domain = 'healthy-enforce.test'").fetchone()
tmpl = dict(zip(cols, row))
now = int(time.time())
rows = []
with open(sys.argv[3], "w") as keys:
    for i in range(1, 100_001):
        r = dict(tmpl, domain=f"rss-{i:06d}.test", checked_at=now, fetched_at=now,
                 expires_at=now + 604_800)
        r["policy_body"] = tmpl["policy_body"].replace("healthy-enforce.test", r["domain"])
        rows.append(tuple(r[c] for c in cols))
        keys.write(r["domain"] + "\n")
dst.execute("DELETE FROM policy_cache")
dst.executemany(f"INSERT INTO policy_cache ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows)
dst.commit()
EOF
  then
    cat > "$work/rss.toml" <<EOF
listen = "127.0.0.1:8463"
cache = "sqlite:$work/rss.db"
cache_size = 200000
check_interval = 86400
[refresh]
enabled = false
EOF
    start rss 8463 "$bin" daemon --config "$work/rss.toml" --resolver 127.0.0.1 --ca-file "$ca"
    rss() { awk '/VmRSS/ {print $2}' "/proc/$pid_rss/status"; }
    before="$(rss)"
    echo "idle, cache file open:            $before kB"
    echo "asking each of 100,000 domains:   $(python3 "$root/bench/socketmap_query.py" 127.0.0.1:8463 "$work/rss-keys.txt")"
    loaded="$(rss)"
    echo "100,000 policies in memory:       $loaded kB ($(( (loaded - before) * 1024 / 100000 )) bytes per policy above idle)"
    echo "asking them all again (memory):   $(python3 "$root/bench/socketmap_query.py" 127.0.0.1:8463 "$work/rss-keys.txt")"
    echo "after the second pass:            $(rss) kB"
  else
    echo "skipped: could not build the 100,000-row cache file (has the cache schema changed?)"
  fi
  echo
fi

exit "$status"
