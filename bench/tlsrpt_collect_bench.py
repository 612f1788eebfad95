#!/usr/bin/env python3
"""Runs one TLS-RPT collector under load and prints what it received, stored, lost and cost.

Used by bench/tlsrpt-collect.sh (which builds the sender and the release binary); one run per
collector and mode:

    tlsrpt_collect_bench.py --kind ours|peer --sender tlsrpt_send --mix mix.bin --n N \
        --work DIR [--dontwait] [--ours BIN] [--store URL] [--max-keys K] [--peer-venv VENV] \
        [--lock-seconds S --lock-sql SQL]

The collector is started on a fresh socket and store; `tlsrpt_send` sends N datagrams of the
mix at full speed (blocking sends by default, so the kernel holds the sender back and nothing
is lost before the collector; `--dontwait` sends as libtlsrpt does, MSG_DONTWAIT, and counts
what the full socket refused). When the sender is done and the socket's receive queue is empty,
the collector gets SIGTERM (both flush/commit on it) and is waited for; then its store is read.

Figures, one line of `key=value`: sent, refused (EAGAIN at the socket, --dontwait only),
expected (policy entries in what was sent: what a perfect collector stores as sessions),
stored (sessions in the store: sum of total counts), lost (expected - stored), seconds (first
send to the collector's exit after its final flush), rate (datagrams stored per second over
that time), cpu_s (the collector's user + system CPU, whole process life), per_cpu_s
(datagrams stored per CPU-second), maxrss_kb (peak RSS).

The slow-store case (`--lock-sql`): before sending, a PostgreSQL session (psql) runs the given
SQL (e.g. LOCK TABLE ... IN ACCESS EXCLUSIVE MODE) in an open transaction and holds it for
`--lock-seconds`, so every flush of the collector waits; what the bounded buffer kept and what
it dropped shows in stored/lost and in the collector's log (`--work`/ours.log).
"""

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tlsrpt_datagram  # noqa: E402


def recv_queue_empty(path):
    out = subprocess.run(["ss", "-xanH", "src", path], capture_output=True, text=True).stdout.split()
    # u_dgr STATE Recv-Q Send-Q ...; no line at all once the socket is gone
    return not out or out[2] == "0"


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for " + what)
        time.sleep(0.02)


def expected_sessions(n):
    per = [len(json.loads(d)["policies"]) for d in tlsrpt_datagram.mix()]
    full, rest = divmod(n, len(per))
    return full * sum(per) + sum(per[:rest])


def peer_stored(db):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    (total,) = con.execute("SELECT COALESCE(SUM(cntrtotal), 0) FROM finalresults").fetchone()
    con.close()
    return total


def ours_stored(store):
    """Sessions stored, and the collector's own figures (datagrams, malformed, lost), read from
    the store's tables (crates/mta-sts-store/src/sender_reports): every day, one run."""
    sessions_sql = "SELECT COALESCE(SUM(total), 0) FROM sender_count"
    figures_sql = ("SELECT COALESCE(SUM(datagrams), 0), COALESCE(SUM(malformed), 0), "
                   "COALESCE(SUM(lost), 0) FROM sender_day")
    if store.startswith("sqlite:"):
        con = sqlite3.connect("file:%s?mode=ro" % store[len("sqlite:"):], uri=True)
        (sessions,) = con.execute(sessions_sql).fetchone()
        figures = con.execute(figures_sql).fetchone()
        con.close()
    else:
        def psql(sql):
            out = subprocess.run(["psql", "-Atc", sql, store], capture_output=True, text=True, check=True)
            return out.stdout.strip().split("|")
        (sessions,) = psql(sessions_sql)
        figures = psql(figures_sql)
    return int(sessions), tuple(int(x) for x in figures)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=["ours", "peer"], required=True)
    ap.add_argument("--sender", required=True)
    ap.add_argument("--mix", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--dontwait", action="store_true")
    ap.add_argument("--rate", type=float, default=0, help="datagrams per second (0: full speed)")
    ap.add_argument("--ours")
    ap.add_argument("--store")
    ap.add_argument("--max-keys", type=int)
    ap.add_argument("--peer-venv")
    ap.add_argument("--lock-sql")
    ap.add_argument("--lock-seconds", type=float, default=0)
    ap.add_argument("--lock-db", default=os.environ.get("MTA_STS_TEST_POSTGRES", ""))
    args = ap.parse_args()

    os.makedirs(args.work, exist_ok=True)
    sock = os.path.join(args.work, args.kind + ".sock")
    log = open(os.path.join(args.work, args.kind + ".log"), "w")
    if args.kind == "peer":
        db = os.path.join(args.work, "peer.sqlite")
        cmd = [os.path.join(args.peer_venv, "bin", "tlsrpt-collectd"), "--storage", "sqlite://" + db,
               "--socketname", sock, "--log_level", "warn",
               "--dump_path_for_invalid_datagram", os.path.join(args.work, "peer-invalid.bin")]
        store = None
    else:
        store = args.store or "sqlite:" + os.path.join(args.work, "ours.db")
        cmd = [args.ours, "tlsrpt", "collect", "--socket", sock, "--store", store]
        if args.max_keys:
            cmd += ["--max-keys", str(args.max_keys)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    wait_for(lambda: os.path.exists(sock) or proc.poll() is not None, 30, "the collector's socket")
    if proc.poll() is not None:
        raise SystemExit("the collector exited at start (see %s.log)" % args.kind)

    locker = None
    if args.lock_sql:
        # psql reads the script from stdin: BEGIN, the lock, then a sleep holding it.
        locker = subprocess.Popen(["psql", "-q", args.lock_db], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        locker.stdin.write("BEGIN;\n%s;\nSELECT pg_sleep(%f);\nCOMMIT;\n" % (args.lock_sql, args.lock_seconds))
        locker.stdin.flush()

        def locked():
            out = subprocess.run(["psql", "-Atc", "SELECT COUNT(*) FROM pg_locks WHERE granted AND "
                                  "mode = 'AccessExclusiveLock' AND relation = 'sender_count'::regclass",
                                  args.lock_db], capture_output=True, text=True)
            return out.stdout.strip() not in ("", "0")
        wait_for(locked, 30, "the lock on the store")

    env = dict(os.environ, DONTWAIT="1" if args.dontwait else "0", RATE=str(args.rate))
    t0 = time.monotonic()
    sender = subprocess.run([args.sender, sock, args.mix, str(args.n)], capture_output=True, text=True, env=env)
    if sender.returncode != 0:
        raise SystemExit("sender failed: " + sender.stderr)
    fig = dict(kv.split("=") for kv in sender.stdout.split())
    wait_for(lambda: recv_queue_empty(sock), 3600, "the collector to drain its socket")
    if locker:
        locker.stdin.close()
        locker.wait()
    proc.send_signal(signal.SIGTERM)
    _, status, usage = os.wait4(proc.pid, 0)
    t1 = time.monotonic()
    proc.returncode = status
    sent = int(fig["sent"])
    attempted = sent + int(fig["dropped"])
    # Which datagrams the socket refused is not known; the mix has about one policy per datagram.
    expected = round(expected_sessions(attempted) * sent / attempted) if attempted else 0
    if args.kind == "peer":
        stored, figures = peer_stored(db), None
    else:
        stored, figures = ours_stored(store)
    cpu = usage.ru_utime + usage.ru_stime
    seconds = t1 - t0
    stored_dg = stored * sent / expected if expected else 0
    print("kind=%s mode=%s sent=%d refused=%s expected=%d stored=%d lost=%d seconds=%.2f rate=%.0f "
          "cpu_s=%.2f per_cpu_s=%.0f maxrss_kb=%d sender_rate=%s exit=%d"
          % (args.kind, ("dontwait" if args.dontwait else "blocking") + ("@%d/s" % args.rate if args.rate else ""), sent, fig["dropped"], expected, stored,
             expected - stored, seconds, stored_dg / seconds, cpu, stored_dg / cpu if cpu else 0,
             usage.ru_maxrss, fig["rate"], os.waitstatus_to_exitcode(status))
          + ("" if figures is None else " ours_datagrams=%d ours_malformed=%d ours_lost=%d" % figures))


if __name__ == "__main__":
    main()
