#!/bin/sh
# Policy hosting: `mta-sts serve` against Debian's nginx serving the same policy file over
# TLS, side by side in one run, each with one worker (nginx worker_processes 1; serve
# --threads 1), each writing an access log line per request to a file.
#   1. keep-alive: wrk -t1 -c16 -d10s --latency, requests/s and p99;
#   2. a new TLS connection per request (Connection: close): full TLS 1.3 handshakes/s (no
#      session resumption on either side) and p99.
# The rounds alternate (nginx, serve, nginx, serve) so that a noisy neighbour hurts both alike;
# the best round of each is reported.
#
# Usage: bench/vs-nginx.sh [SECONDS]   (per round, default 10)
# Needs: a release build (cargo build --release -p mta-sts), nginx, wrk, openssl.
set -eu
SECONDS_PER_ROUND=${1:-10}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${MTA_STS_BIN:-${CARGO_TARGET_DIR:-$HERE/../target}/release/mta-sts}
WORK=$(mktemp -d)
chmod 755 "$WORK"   # nginx's worker runs as another user when started as root
PIDS=""
cleanup() {
  for pid in $PIDS; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# One certificate for both (wrk sends no SNI for an address: both answer with their default
# certificate, and the Host header names the policy host).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=mta-sts.example.com -addext subjectAltName=DNS:mta-sts.example.com \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
mkdir -p "$WORK/certs" "$WORK/www/.well-known" "$WORK/nginx"
cp "$WORK/cert.pem" "$WORK/certs/mta-sts.example.com.pem"
cp "$WORK/key.pem" "$WORK/certs/mta-sts.example.com.key"
chmod -R a+rX "$WORK/www"
printf 'version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.mail.example.net\r\nmax_age: 604800\r\n' \
  > "$WORK/www/.well-known/mta-sts.txt"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
NGINX_PORT=$(free_port)
SERVE_PORT=$(free_port)

cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log $WORK/nginx/access.log;
  client_body_temp_path $WORK/nginx;
  proxy_temp_path $WORK/nginx;
  fastcgi_temp_path $WORK/nginx;
  uwsgi_temp_path $WORK/nginx;
  scgi_temp_path $WORK/nginx;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl http2;
    server_name mta-sts.example.com;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    # No resumption, as mta-sts serve offers none: every new connection is a full handshake,
    # what a sender fetching the policy once per max_age makes. (wrk resumes the session of a
    # connection it reopens when the server offers one.)
    ssl_session_tickets off;
    ssl_session_cache off;
    location = /.well-known/mta-sts.txt {
      root $WORK/www;
      default_type "text/plain; charset=utf-8";
    }
    location / { return 404; }
  }
}
CONF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
PIDS="$PIDS $!"

"$BIN" serve --threads 1 --https "127.0.0.1:$SERVE_PORT" \
  --cert "$WORK/cert.pem" --key "$WORK/key.pem" \
  --host "example.com=$WORK/www/.well-known/mta-sts.txt" --certs "$WORK/certs" \
  --store "sqlite:$WORK/serve.db" --log-format json 2> "$WORK/serve.log" &
PIDS="$PIDS $!"

URL_PATH=/.well-known/mta-sts.txt
for port in "$NGINX_PORT" "$SERVE_PORT"; do
  for _ in $(seq 1 100); do
    if curl -sk -o /dev/null -H 'Host: mta-sts.example.com' "https://127.0.0.1:$port$URL_PATH"; then
      break
    fi
    sleep 0.1
  done
  curl -sfk -H 'Host: mta-sts.example.com' "https://127.0.0.1:$port$URL_PATH" > "$WORK/answer.$port"
  cmp "$WORK/answer.$port" "$WORK/www/.well-known/mta-sts.txt"
done

# wrk's summary: requests/s, and the 99th percentile latency in ms.
round() { # name port extra-header
  if [ -n "$3" ]; then
    wrk -t1 -c16 -d"${SECONDS_PER_ROUND}s" --latency -H 'Host: mta-sts.example.com' -H "$3" \
      "https://127.0.0.1:$2$URL_PATH" > "$WORK/wrk.txt"
  else
    wrk -t1 -c16 -d"${SECONDS_PER_ROUND}s" --latency -H 'Host: mta-sts.example.com' \
      "https://127.0.0.1:$2$URL_PATH" > "$WORK/wrk.txt"
  fi
  if grep -q 'Non-2xx' "$WORK/wrk.txt"; then
    echo "$1: non-2xx answers" >&2; cat "$WORK/wrk.txt" >&2; exit 1
  fi
  rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk.txt")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v=v/1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v=v*1000}; print v}' "$WORK/wrk.txt")
  echo "$1 $rps $p99"
}

best() { # file name -> best requests/s and its p99
  awk -v n="$2" '$1 == n { if ($2 > r) { r = $2; p = $3 } } END { printf "%.0f %.2f", r, p }' "$1"
}

for mode in keepalive close; do
  header=""
  [ "$mode" = close ] && header="Connection: close"
  : > "$WORK/$mode.txt"
  for _ in 1 2; do
    round nginx "$NGINX_PORT" "$header" >> "$WORK/$mode.txt"
    round serve "$SERVE_PORT" "$header" >> "$WORK/$mode.txt"
  done
  set -- $(best "$WORK/$mode.txt" nginx) $(best "$WORK/$mode.txt" serve)
  ratio=$(echo "$3 / $1" | bc -l)
  if [ "$mode" = keepalive ]; then
    printf 'keep-alive, wrk -t1 -c16: nginx %s requests/s (p99 %s ms); mta-sts serve %s requests/s (p99 %s ms); %.2fx nginx\n' "$1" "$2" "$3" "$4" "$ratio"
  else
    printf 'new TLS connection per request: nginx %s handshakes/s (p99 %s ms); mta-sts serve %s handshakes/s (p99 %s ms); %.2fx nginx\n' "$1" "$2" "$3" "$4" "$ratio"
  fi
done
echo "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), $(nproc) CPUs shared with the rest of the machine"
