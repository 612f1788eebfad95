#!/bin/sh
# Mail-to-store throughput of `mta-sts reports import` (MIME + base64 + gzip + JSON + lint +
# SQLite, one process for the whole Maildir) against parsedmarc's own parsing of the same .eml
# files (parse_report_file in a loop, offline: parsing only, nothing stored), in one run.
#
# Usage: bench/vs-parsedmarc.sh [N]   (N report mails, default 5000)
# Needs: a release build (cargo build --release -p mta-sts) and parsedmarc in a virtualenv:
#   python3 -m venv /work/bench-venv && /work/bench-venv/bin/pip install parsedmarc
set -eu
N=${1:-5000}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${MTA_STS_BIN:-${CARGO_TARGET_DIR:-$HERE/../target}/release/mta-sts}
PY=${BENCH_PYTHON:-/work/bench-venv/bin/python}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

python3 "$HERE/tlsrpt_mail_gen.py" "$WORK/Maildir" "$N"
echo "$N report mails, $(du -sk "$WORK/Maildir" | cut -f1) KiB"
cat "$WORK"/Maildir/new/* > /dev/null   # both read from the page cache

start=$(date +%s.%N)
/usr/bin/time -f '%U %S' -o "$WORK/cpu.txt" \
  "$BIN" reports import --store "sqlite:$WORK/bench.db" "$WORK/Maildir" > "$WORK/out.txt"
end=$(date +%s.%N)
tail -1 "$WORK/out.txt"
ours=$(echo "$N / ($end - $start)" | bc -l)
cpu=$(awk '{print $1 + $2}' "$WORK/cpu.txt")
printf 'mta-sts reports import (into SQLite): %.0f reports/s (%.3f s; %.2f CPU-s: %.0f reports per CPU-second)\n' \
  "$ours" "$(echo "$end - $start" | bc -l)" "$cpu" "$(echo "$N / $cpu" | bc -l)"

start=$(date +%s.%N)
"$BIN" reports import --store "sqlite:$WORK/bench.db" "$WORK/Maildir" > "$WORK/out2.txt"
end=$(date +%s.%N)
tail -1 "$WORK/out2.txt"
printf 'again, every report a duplicate: %.0f reports/s\n' "$(echo "$N / ($end - $start)" | bc -l)"

theirs=$("$PY" - "$WORK/Maildir/new" <<'PY'
import os, sys, time, warnings, logging
warnings.filterwarnings("ignore")
logging.disable(logging.CRITICAL)
import parsedmarc
directory = sys.argv[1]
files = sorted(os.path.join(directory, f) for f in os.listdir(directory))
start = time.perf_counter()
cpu_start = time.process_time()
parsed = 0
for path in files:
    result = parsedmarc.parse_report_file(path, offline=True, always_use_local_files=True)
    if result["report_type"] == "smtp_tls":
        parsed += 1
elapsed = time.perf_counter() - start
cpu = time.process_time() - cpu_start
assert parsed == len(files), (parsed, len(files))
print(len(files) / elapsed, len(files) / cpu)
PY
)
theirs_wall=${theirs% *}
theirs_cpu=${theirs#* }
printf 'parsedmarc %s parse_report_file (parsing only): %.0f reports/s (%.0f reports per CPU-second)\n' \
  "$("$PY" -c 'import parsedmarc; print(parsedmarc.__version__)')" "$theirs_wall" "$theirs_cpu"
printf 'ratio: %.1fx wall clock, %.1fx per CPU-second\n' "$(echo "$ours / $theirs_wall" | bc -l)" \
  "$(echo "($N / $cpu) / $theirs_cpu" | bc -l)"
