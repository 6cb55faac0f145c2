#!/usr/bin/env bash
# How much load one core of each generator can make, and what 10,000 users
# cost the Go worker in memory.
#
# One target (bin/target --model fasthttp, or nginx with one worker) runs
# pinned to core 0. Each generator in turn gets core 1 to itself: wrk, the Go
# worker (bin/boomer, with its Locust master, running HammerUser), Locust's
# FastHttpUser and Locust's HttpUser (one process each, headless). The table
# gives requests/s and the ratio to wrk. Then 10,000 LabUsers run on one Go
# worker and its peak resident memory is reported.
#
# HammerUser is the locustfile's declared class, which the master sends the
# Go worker. REF=<git revision> also runs the bin/boomer of that revision
# (built from `git archive`) on the same master and locustfile, and gives
# the declared run's ratio to it: e.g. REF=main, or the last commit whose
# worker had HammerUser written in Go. The two then run in turn ROUNDS
# times (default 3), and the table gives the median of each; the worker's
# CPU time per request is compared too, as a busy machine disturbs it far
# less than requests per second.
#
# Environment: TARGET=fasthttp|nginx  USERS=50 (connections/users per
# generator)  DURATION=15 (seconds per generator)  MEM_USERS=10000
# MEM_SECONDS=60  MEM_SPAWN_RATE=1000  LOCUST=.venv/bin/locust  REF=
# ROUNDS=3
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=${TARGET:-fasthttp}
USERS=${USERS:-50}
DURATION=${DURATION:-15}
MEM_USERS=${MEM_USERS:-10000}
MEM_SECONDS=${MEM_SECONDS:-60}
MEM_SPAWN_RATE=${MEM_SPAWN_RATE:-1000}
LOCUST=${LOCUST:-.venv/bin/locust}
REF=${REF:-}
ROUNDS=${ROUNDS:-3}

die() { echo "bench-worker: $*" >&2; exit 1; }

[ "$(nproc)" -ge 2 ] || die "needs 2 cores (target on core 0, generator on core 1), have $(nproc)"
command -v taskset >/dev/null || die "taskset is missing (util-linux)"
command -v wrk >/dev/null || die "wrk is missing: run scripts/setup.sh"
[ -x "$LOCUST" ] || die "$LOCUST is missing: run scripts/setup.sh"
case "$TARGET" in fasthttp|nginx) ;; *) die "TARGET=$TARGET: want fasthttp or nginx" ;; esac
for v in USERS DURATION MEM_USERS MEM_SECONDS MEM_SPAWN_RATE ROUNDS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v=${!v}: want a positive whole number"
done
if [ ! -x bin/target ] || [ ! -x bin/boomer ]; then
  go build -o bin/ ./targets/cmd/target ./boomer/cmd/boomer
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_target sets URL to the running target's base URL.
start_target() {
  if [ "$TARGET" = nginx ]; then
    local nginx port
    nginx=$(command -v nginx || echo /usr/sbin/nginx)
    port=$(free_port)
    mkdir -p "$work/nginx"
    cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
error_log $work/nginx/error.log;
pid $work/nginx/nginx.pid;
events { worker_connections 20000; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  server { listen 127.0.0.1:$port; root $PWD/targets/www; }
}
EOF
    taskset -c 0 "$nginx" -c "$work/nginx/nginx.conf" -p "$work/nginx" &
    pids+=($!)
    URL="http://127.0.0.1:$port"
    for _ in $(seq 50); do
      python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && return
      sleep 0.1
    done
    die "nginx did not start: $(cat "$work/nginx/error.log" 2>/dev/null)"
  else
    taskset -c 0 bin/target --model fasthttp --addr 127.0.0.1:0 --docroot targets/www >"$work/target.out" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
      URL=$(sed -n 's/^listening on \([^ ]*\) .*/http:\/\/\1/p' "$work/target.out")
      [ -n "$URL" ] && return
      sleep 0.1
    done
    die "bin/target did not start: $(cat "$work/target.out")"
  fi
}

# rps_from_csv prints the Aggregated requests/s of a Locust stats CSV.
rps_from_csv() {
  python3 - "$1" <<'EOF'
import csv, sys
for row in csv.DictReader(open(sys.argv[1])):
    if row["Name"] == "Aggregated":
        print("%.0f" % float(row["Requests/s"]))
        break
else:
    sys.exit("no Aggregated row in " + sys.argv[1])
EOF
}

failures_from_csv() {
  python3 -c 'import csv,sys; print(next(r["Failure Count"] for r in csv.DictReader(open(sys.argv[1])) if r["Name"]=="Aggregated"))' "$1"
}

cat >"$work/fast.py" <<'EOF'
from locust import FastHttpUser, constant, task

class FastHammerUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def index(self):
        self.client.get("/")
EOF

start_target
echo "bench-worker: target $TARGET at $URL on core 0; each generator on core 1, $USERS connections, ${DURATION}s" >&2

declare -A rps fails cpu_us

echo "bench-worker: wrk" >&2
out=$(taskset -c 1 wrk -t1 -c"$USERS" -d"${DURATION}s" "$URL/")
rps[wrk]=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
# wrk's failures: non-2xx/3xx responses plus socket errors.
fails[wrk]=$(awk '/^ *Non-2xx/ {n += $NF} /^ *Socket errors:/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")
[ -n "${rps[wrk]}" ] || die "wrk printed no Requests/sec: $out"

# go_worker LABEL BINARY runs BINARY as the worker of a master with the
# locustfile's HammerUser.
go_worker() {
  local label=$1 bin=$2 mport bpid
  echo "bench-worker: $bin + Locust master (HammerUser)" >&2
  mport=$(free_port)
  taskset -c 1 "$bin" --master-port "$mport" --loglevel WARNING 2>"$work/$label.err" &
  bpid=$!
  pids+=("$bpid")
  # The worker's CPU time (user + system ticks), which a busy machine
  # disturbs far less than its requests per second.
  echo 0 >"$work/$label.cpu"
  (
    while kill -0 "$bpid" 2>/dev/null; do
      ticks=$(awk '{print $14 + $15}' "/proc/$bpid/stat" 2>/dev/null || true)
      [ -n "$ticks" ] && echo "$ticks" >"$work/$label.cpu"
      sleep 0.2
    done
  ) &
  pids+=($!)
  taskset -c 1 "$LOCUST" -f locustfile.py --master --master-bind-host 127.0.0.1 --master-bind-port "$mport" \
    --headless --expect-workers 1 -u "$USERS" -r "$USERS" -t "${DURATION}s" -H "$URL" --only-summary \
    --csv "$work/$label" HammerUser >"$work/$label.master.out" 2>&1 || true
  wait "$bpid" || die "$bin failed: $(tail -5 "$work/$label.err")"
  rps[$label]=$(rps_from_csv "$work/${label}_stats.csv")
  fails[$label]=$(failures_from_csv "$work/${label}_stats.csv")
  reqs=$(python3 -c 'import csv,sys; print(next(r["Request Count"] for r in csv.DictReader(open(sys.argv[1])) if r["Name"]=="Aggregated"))' "$work/${label}_stats.csv")
  cpu_us[$label]=$(awk -v n="$reqs" -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", (n > 0 ? $1 / hz * 1e6 / n : 0) }' "$work/$label.cpu")
  echo "bench-worker: $label: ${rps[$label]} requests/s, ${cpu_us[$label]} µs of CPU a request" >&2
}

# median prints the median of its arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

if [ -n "$REF" ]; then
  mkdir -p "$work/ref"
  git archive "$REF" | tar -x -C "$work/ref" || die "REF=$REF: not a revision git can archive"
  (cd "$work/ref" && go build -o "$work/ref-boomer" ./boomer/cmd/boomer) || die "REF=$REF: bin/boomer does not build"
  # Both workers in turn, ROUNDS times, and the median of each: a machine
  # whose load changes meanwhile weighs on both alike.
  for i in $(seq "$ROUNDS"); do
    go_worker "ref$i" "$work/ref-boomer"
    go_worker "boomer$i" bin/boomer
  done
  for w in ref boomer; do
    r=() c=() f=0
    for i in $(seq "$ROUNDS"); do
      r+=("${rps[$w$i]}") c+=("${cpu_us[$w$i]}")
      f=$((f + fails[$w$i]))
    done
    rps[$w]=$(median "${r[@]}") cpu_us[$w]=$(median "${c[@]}") fails[$w]=$f
  done
else
  go_worker boomer bin/boomer
fi

echo "bench-worker: Locust FastHttpUser" >&2
taskset -c 1 "$LOCUST" -f "$work/fast.py" --headless -u "$USERS" -r "$USERS" -t "${DURATION}s" -H "$URL" \
  --only-summary --csv "$work/fast" >"$work/fast.out" 2>&1 || true
rps[fast]=$(rps_from_csv "$work/fast_stats.csv")
fails[fast]=$(failures_from_csv "$work/fast_stats.csv")

echo "bench-worker: Locust HttpUser (HammerUser)" >&2
taskset -c 1 "$LOCUST" -f locustfile.py --headless -u "$USERS" -r "$USERS" -t "${DURATION}s" -H "$URL" \
  --only-summary --csv "$work/http" HammerUser >"$work/http.out" 2>&1 || true
rps[http]=$(rps_from_csv "$work/http_stats.csv")
fails[http]=$(failures_from_csv "$work/http_stats.csv")

locust_version=$("$LOCUST" --version 2>/dev/null | awk '{print $2}')
ratio() { awk -v a="$1" -v b="${rps[wrk]}" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }

echo
echo "## One generator core against $TARGET ($USERS connections, ${DURATION}s each)"
echo
echo "| generator | requests/s | ratio to wrk | failures |"
echo "| --- | ---: | ---: | ---: |"
echo "| wrk | ${rps[wrk]} | 1.000 | ${fails[wrk]} |"
echo "| bin/boomer (Go worker, Locust $locust_version master) | ${rps[boomer]} | $(ratio "${rps[boomer]}") | ${fails[boomer]} |"
if [ -n "$REF" ]; then
  echo "| bin/boomer of $REF (median of $ROUNDS) | ${rps[ref]} | $(ratio "${rps[ref]}") | ${fails[ref]} |"
fi
echo "| Locust $locust_version FastHttpUser | ${rps[fast]} | $(ratio "${rps[fast]}") | ${fails[fast]} |"
echo "| Locust $locust_version HttpUser | ${rps[http]} | $(ratio "${rps[http]}") | ${fails[http]} |"

echo "bench-worker: $MEM_USERS LabUsers on one Go worker for ${MEM_SECONDS}s" >&2
mport=$(free_port)
taskset -c 1 bin/boomer --master-port "$mport" --loglevel WARNING 2>"$work/mem.err" &
bpid=$!
pids+=("$bpid")
peak_file="$work/peak"
echo 0 >"$peak_file"
(
  # VmHWM is the kernel's own high-water mark of the resident set.
  while kill -0 "$bpid" 2>/dev/null; do
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$bpid/status" 2>/dev/null || true)
    [ -n "$hwm" ] && echo "$hwm" >"$peak_file"
    sleep 1
  done
) &
sampler=$!
pids+=("$sampler")
taskset -c 1 "$LOCUST" -f locustfile.py --master --master-bind-host 127.0.0.1 --master-bind-port "$mport" \
  --headless --expect-workers 1 -u "$MEM_USERS" -r "$MEM_SPAWN_RATE" -t "${MEM_SECONDS}s" -H "$URL" \
  --only-summary --csv "$work/mem" LabUser >"$work/mem.out" 2>&1 || true
wait "$bpid" || die "bin/boomer failed: $(tail -5 "$work/mem.err")"
wait "$sampler" 2>/dev/null || true
peak_kib=$(cat "$peak_file")
mem_reqs=$(python3 -c 'import csv,sys; print(next(r["Request Count"] for r in csv.DictReader(open(sys.argv[1])) if r["Name"]=="Aggregated"))' "$work/mem_stats.csv")

echo
echo "## Memory: $MEM_USERS LabUsers on one Go worker, ${MEM_SECONDS}s"
echo
echo "| users | requests | failures | peak RSS | per user |"
echo "| ---: | ---: | ---: | ---: | ---: |"
awk -v u="$MEM_USERS" -v k="$peak_kib" -v r="$mem_reqs" -v f="$(failures_from_csv "$work/mem_stats.csv")" \
  'BEGIN { printf "| %d | %d | %d | %.1f MiB | %.1f KiB |\n", u, r, f, k / 1024, k / u }'

if [ -n "$REF" ]; then
  echo
  awk -v a="${rps[boomer]}" -v b="${rps[ref]}" -v r="$REF" \
    'BEGIN { printf "bin/boomer: %.3f of the requests/s of %s'"'"'s (%+.1f %%)\n", a / b, r, 100 * (a / b - 1) }'
  awk -v a="${cpu_us[boomer]}" -v b="${cpu_us[ref]}" -v r="$REF" \
    'BEGIN { printf "bin/boomer: %s µs of CPU a request, %s'"'"'s %s (%+.1f %%)\n", a, r, b, 100 * (a / b - 1) }'
fi
