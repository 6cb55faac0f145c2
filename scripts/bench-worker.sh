#!/usr/bin/env bash
# How much load one core of each generator can make, and what 10,000 users
# cost the Go worker in memory.
#
# One target (bin/target --model fasthttp, or nginx with one worker) runs
# pinned to core 0. Each generator in turn gets core 1 to itself: wrk, the Go
# worker (bin/boomer, with its Locust master, running HammerUser), Locust's
# FastHttpUser and Locust's HttpUser (one process each, headless). The table
# gives requests/s and the ratio to wrk. Then LabUsers (a page every 1 to 5
# s) wait on one Go worker, 1,000, 10,000 and as many as the open-files
# limit allows, each count a run of its own: the table gives the worker's
# resident memory, per user, and the slope (what each user past the first
# thousand costs, the runtime's own memory left out).
#
# Environment: TARGET=fasthttp|nginx  USERS=50 (connections/users per
# generator)  DURATION=15 (seconds per generator)  MEM_USERS=10000
# MEM_SECONDS=40  MEM_SPAWN_RATE=2000  MEM_COUNTS="1000 10000 N" (user counts
# of the memory rows; N, the default's last, is the largest the open-files
# limit allows)  ONLY=mem or ONLY=throughput (one of the two tables)  REFERENCE=DIR (another
# build's bin/boomer, e.g. of main, measured in turn with this one, ROUNDS=3
# times each)  REF=<git revision> (that revision's bin/boomer, built, as
# REFERENCE)  LOCUST=.venv/bin/locust
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=${TARGET:-fasthttp}
USERS=${USERS:-50}
DURATION=${DURATION:-15}
MEM_SECONDS=${MEM_SECONDS:-40}
MEM_SPAWN_RATE=${MEM_SPAWN_RATE:-2000}
LOCUST=${LOCUST:-.venv/bin/locust}

die() { echo "bench-worker: $*" >&2; exit 1; }

[ "$(nproc)" -ge 2 ] || die "needs 2 cores (target on core 0, generator on core 1), have $(nproc)"
command -v taskset >/dev/null || die "taskset is missing (util-linux)"
command -v wrk >/dev/null || die "wrk is missing: run scripts/setup.sh"
[ -x "$LOCUST" ] || die "$LOCUST is missing: run scripts/setup.sh"
case "$TARGET" in fasthttp|nginx) ;; *) die "TARGET=$TARGET: want fasthttp or nginx" ;; esac
for v in USERS DURATION MEM_SECONDS MEM_SPAWN_RATE; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v=${!v}: want a positive whole number"
done
if [ ! -x bin/target ] || [ ! -x bin/boomer ]; then
  go build -o bin/ ./targets/cmd/target ./boomer/cmd/boomer
fi

hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# REF=<git revision> builds that revision's bin/boomer (from `git archive`)
# and measures it as REFERENCE, e.g. REF=main.
if [ -n "${REF:-}" ]; then
  mkdir -p "$work/ref"
  git archive "$REF" | tar -x -C "$work/ref" || die "REF=$REF: not a revision git can archive"
  (cd "$work/ref" && go build -o bin/ ./boomer/cmd/boomer) || die "REF=$REF: its bin/boomer does not build"
  REFERENCE=$work/ref
  REFERENCE_NAME=$REF
fi

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
worker_rlimit_nofile 20500;
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
    taskset -c 0 bin/target --model fasthttp --addr 127.0.0.1:0 --max-fds "$hard" --docroot targets/www >"$work/target.out" 2>&1 &
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

declare -A rps fails

if [ "${ONLY:-}" != mem ]; then
echo "bench-worker: wrk" >&2
out=$(taskset -c 1 wrk -t1 -c"$USERS" -d"${DURATION}s" "$URL/")
rps[wrk]=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
# wrk's failures: non-2xx/3xx responses plus socket errors.
fails[wrk]=$(awk '/^ *Non-2xx/ {n += $NF} /^ *Socket errors:/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")
[ -n "${rps[wrk]}" ] || die "wrk printed no Requests/sec: $out"

# boomer_run BIN NAME runs one Go worker, BIN, under a Locust master and
# sets rps[NAME] and fails[NAME].
boomer_run() {
  local bin=$1 name=$2 mport bpid
  echo "bench-worker: $bin + Locust master (HammerUser)" >&2
  mport=$(free_port)
  taskset -c 1 "$bin" --master-port "$mport" --loglevel WARNING 2>"$work/boomer.err" &
  bpid=$!
  pids+=("$bpid")
  taskset -c 1 "$LOCUST" -f locustfile.py --master --master-bind-host 127.0.0.1 --master-bind-port "$mport" \
    --headless --expect-workers 1 -u "$USERS" -r "$USERS" -t "${DURATION}s" -H "$URL" --only-summary \
    --csv "$work/$name" HammerUser >"$work/master.out" 2>&1 || true
  wait "$bpid" || die "$bin failed: $(tail -5 "$work/boomer.err")"
  rps[$name]=$(rps_from_csv "$work/${name}_stats.csv")
  fails[$name]=$(failures_from_csv "$work/${name}_stats.csv")
}

# With REFERENCE, the reference's worker and this one take turns, ROUNDS
# times each, and each row is the median of its rounds: on a shared
# machine the noise between two runs minutes apart is larger than the
# difference sought.
median() { tr ' ' '\n' | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
if [ -n "${REFERENCE:-}" ]; then
  [ -x "$REFERENCE/bin/boomer" ] || die "REFERENCE=$REFERENCE has no bin/boomer"
  ours="" theirs=""
  for r in $(seq "${ROUNDS:-3}"); do
    boomer_run "$REFERENCE/bin/boomer" "ref$r"
    theirs="$theirs ${rps[ref$r]}"
    boomer_run bin/boomer "boomer$r"
    ours="$ours ${rps[boomer$r]}"
    fails[boomer]=$(( ${fails[boomer]:-0} + ${fails[boomer$r]} ))
    fails[ref]=$(( ${fails[ref]:-0} + ${fails[ref$r]} ))
  done
  rps[boomer]=$(median <<<"${ours# }")
  rps[ref]=$(median <<<"${theirs# }")
  echo "bench-worker: rounds, this worker:$ours; reference:$theirs" >&2
else
  boomer_run bin/boomer boomer
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
if [ -n "${REFERENCE:-}" ]; then
  echo "| bin/boomer of ${REFERENCE_NAME:-$REFERENCE} (the reference) | ${rps[ref]} | $(ratio "${rps[ref]}") | ${fails[ref]} |"
fi
echo "| Locust $locust_version FastHttpUser | ${rps[fast]} | $(ratio "${rps[fast]}") | ${fails[fast]} |"
echo "| Locust $locust_version HttpUser | ${rps[http]} | $(ratio "${rps[http]}") | ${fails[http]} |"
fi

[ "${ONLY:-}" = throughput ] && exit 0

# mem_run USERS sets RSS_KIB to the Go worker's resident memory once USERS
# LabUsers have all started and waited for MEM_SECONDS: the median of its
# samples over the hold's second half, so that the ramp's burst of
# requests in flight is over and what is left is what waiting users cost.
mem_run() {
  local users=$1 mport bpid
  echo "bench-worker: $users LabUsers on one Go worker, held ${MEM_SECONDS}s" >&2
  mport=$(free_port)
  taskset -c 1 bin/boomer --master-port "$mport" --loglevel WARNING 2>"$work/mem.err" &
  bpid=$!
  pids+=("$bpid")
  local ramp=$(( (users + MEM_SPAWN_RATE - 1) / MEM_SPAWN_RATE ))
  : >"$work/rss"
  (
    sleep $(( ramp + 2 + MEM_SECONDS / 2 ))
    while kill -0 "$bpid" 2>/dev/null; do
      awk '/^VmRSS:/ {print $2}' "/proc/$bpid/status" 2>/dev/null >>"$work/rss" || true
      sleep 1
    done
  ) &
  local sampler=$!
  pids+=("$sampler")
  taskset -c 1 "$LOCUST" -f locustfile.py --master --master-bind-host 127.0.0.1 --master-bind-port "$mport" \
    --headless --expect-workers 1 -u "$users" -r "$MEM_SPAWN_RATE" -t "$(( ramp + 2 + MEM_SECONDS ))s" -H "$URL" \
    --only-summary --csv "$work/mem" LabUser >"$work/mem.out" 2>&1 || true
  wait "$bpid" || die "bin/boomer failed: $(tail -5 "$work/mem.err")"
  wait "$sampler" 2>/dev/null || true
  RSS_KIB=$(sort -n "$work/rss" | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]}')
  [ -n "$RSS_KIB" ] || die "no memory sample of the worker with $users users"
  MEM_REQS=$(python3 -c 'import csv,sys; print(next(r["Request Count"] for r in csv.DictReader(open(sys.argv[1])) if r["Name"]=="Aggregated"))' "$work/mem_stats.csv")
  MEM_FAILS=$(failures_from_csv "$work/mem_stats.csv")
}

# The largest count: what one worker's descriptors and the target's allow
# (one connection each, and a few hundred to spare), in whole thousands,
# and no more than one source address reaches one port with.
ports=$(awk '{print $2 - $1 + 1}' /proc/sys/net/ipv4/ip_local_port_range)
max_users=$(( (hard < ports ? hard : ports) - 500 ))
max_users=$(( max_users / 1000 * 1000 ))
[ "$max_users" -gt 10000 ] || die "the open-files hard limit $hard leaves no room for more than 10000 users"
counts="1000 10000 $max_users"
[ -n "${MEM_COUNTS:-}" ] && counts=$MEM_COUNTS

declare -A rss reqs failed
for u in $counts; do
  mem_run "$u"
  rss[$u]=$RSS_KIB
  reqs[$u]=$MEM_REQS
  failed[$u]=$MEM_FAILS
done

echo
echo "## Memory: LabUsers on one Go worker, resident set after ${MEM_SECONDS}s of waiting users"
echo
echo "| users | requests | failures | RSS | per user | slope from the first row |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
first=""
for u in $counts; do
  slope="-"
  if [ -n "$first" ]; then
    slope=$(awk -v a="${rss[$u]}" -v b="${rss[$first]}" -v ua="$u" -v ub="$first" 'BEGIN { printf "%.1f KiB", (a - b) / (ua - ub) }')
  else
    first=$u
  fi
  awk -v u="$u" -v k="${rss[$u]}" -v r="${reqs[$u]}" -v f="${failed[$u]}" -v s="$slope" \
    'BEGIN { printf "| %d | %d | %d | %.1f MiB | %.1f KiB | %s |\n", u, r, f, k / 1024, k / u, s }'
done
