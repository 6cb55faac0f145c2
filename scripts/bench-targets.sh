#!/usr/bin/env bash
# Raw throughput of every model next to nginx, measured with wrk.
#
# Each server in turn (every model of `bin/target --list`, then nginx with
# one worker process serving the same docroot) runs pinned to core 0; wrk
# runs pinned to core 1, one thread, keep-alive, GET /index.html. Pool sizes
# are each model's default, which on one core is what the model computes
# for one CPU. Prints one Markdown table: requests/s, p99 latency, errors and
# the ratio to nginx.
#
# Environment: CONNECTIONS=100  DURATION=10 (seconds per server)
# MODELS="epoll nethttp" (default: all)  DOCROOT=targets/www  NGINX=nginx
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS=${CONNECTIONS:-100}
DURATION=${DURATION:-10}
DOCROOT=${DOCROOT:-targets/www}
NGINX=${NGINX:-nginx}

die() { echo "bench-targets: $*" >&2; exit 1; }

[ "$(nproc)" -ge 2 ] || die "needs 2 cores (server on core 0, wrk on core 1), have $(nproc)"
command -v taskset >/dev/null || die "taskset is missing (util-linux)"
command -v wrk >/dev/null || die "wrk is missing: run scripts/setup.sh"
command -v "$NGINX" >/dev/null || [ -x /usr/sbin/nginx ] || die "nginx is missing: run scripts/setup.sh"
command -v "$NGINX" >/dev/null || NGINX=/usr/sbin/nginx
for v in CONNECTIONS DURATION; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v=${!v}: want a positive whole number"
done
[ -f "$DOCROOT/index.html" ] || die "DOCROOT=$DOCROOT has no index.html"
DOCROOT=$(cd "$DOCROOT" && pwd)
if [ ! -x bin/target ]; then
  go build -o bin/ ./targets/cmd/target
fi
MODELS=${MODELS:-$(bin/target --list | cut -f1)}

work=$(mktemp -d)
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
cleanup() { stop_server; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT: until something accepts on it (at most 10 s).
wait_port() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# run_wrk NAME WORKERS PORT: one table row's numbers into $work/NAME.row.
run_wrk() {
  local name=$1 workers=$2 port=$3 out="$work/$1.wrk"
  taskset -c 1 wrk -t 1 -c "$CONNECTIONS" -d "${DURATION}s" --latency \
    "http://127.0.0.1:$port/index.html" >"$out" 2>&1 || true
  local rps p99 errors
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  p99=$(awk '$1 == "99%" {print $2}' "$out")
  # Socket errors (connect, read, write, timeout) and non-2xx responses.
  errors=$(awk '/Socket errors:/ {gsub(",", ""); n += $4 + $6 + $8 + $10}
                /Non-2xx or 3xx responses:/ {n += $5}
                END {print n + 0}' "$out")
  if [ -z "$rps" ]; then
    echo "bench-targets: wrk against $name failed:" >&2
    sed 's/^/  /' "$out" >&2
    rps=0 p99=-
  fi
  echo "$name|$workers|$rps|${p99:--}|$errors" >"$work/$name.row"
}

rows=()

# nginx first: every ratio is to it.
port=$(free_port)
mkdir -p "$work/nginx"
user_line=""
[ "$(id -u)" = 0 ] && user_line="user $(id -un) $(id -gn);"
cat >"$work/nginx/nginx.conf" <<EOF
$user_line
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  types {
    text/html html; text/css css; text/javascript js; image/jpeg jpg;
  }
  default_type application/octet-stream;
  keepalive_timeout 60s;
  keepalive_requests 1000000000;
  server {
    listen 127.0.0.1:$port;
    root $DOCROOT;
    index index.html;
  }
}
EOF
taskset -c 0 "$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" 2>"$work/nginx/stderr" &
server_pid=$!
if ! wait_port "$port"; then
  cat "$work/nginx/stderr" "$work/nginx/error.log" >&2 2>/dev/null || true
  die "nginx did not start"
fi
echo "bench-targets: nginx ..." >&2
run_wrk nginx 1 "$port"
stop_server
rows+=(nginx)

for model in $MODELS; do
  taskset -c 0 bin/target --model "$model" --addr 127.0.0.1:0 --docroot "$DOCROOT" \
    >"$work/$model.out" 2>"$work/$model.err" &
  server_pid=$!
  port=""
  for _ in $(seq 100); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$work/$model.out")
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    sed 's/^/  /' "$work/$model.err" >&2
    die "model $model did not start"
  fi
  workers=$(sed -n 's/.* \([0-9]*\) workers (the default.*/\1/p' "$work/$model.err" | head -1)
  echo "bench-targets: $model ..." >&2
  run_wrk "$model" "${workers:--}" "$port"
  stop_server
  rows+=("$model")
done

nginx_rps=$(cut -d'|' -f3 "$work/nginx.row")
echo "wrk, 1 thread on core 1, $CONNECTIONS keep-alive connections, ${DURATION}s per server," \
  "GET /index.html ($(stat -c %s "$DOCROOT/index.html") bytes)."
echo "Every server is pinned to core 0 alone (taskset), so pools take their one-CPU defaults;" \
  "nginx runs 1 worker process."
echo
echo "| model | workers | requests/s | p99 latency | errors | vs nginx |"
echo "|---|---:|---:|---:|---:|---:|"
for name in "${rows[@]}"; do
  IFS='|' read -r n workers rps p99 errors <"$work/$name.row"
  ratio=$(awk -v a="$rps" -v b="$nginx_rps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
  printf '| %s | %s | %.0f | %s | %s | %s |\n' "$n" "$workers" "$rps" "$p99" "$errors" "$ratio"
done
