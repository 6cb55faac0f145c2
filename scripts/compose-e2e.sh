#!/usr/bin/env bash
# make e2e-compose: the README's compose walkthrough against a real Docker
# engine, as a new user would run it, then a one-screen summary.
#
#   up --build and health; a second up --build that must leave the targets be;
#   a run started and stopped through the web UI's own HTTP API (the form the
#   page posts); RPS and the Workers count; --scale worker=3; the README's
#   "Too many open files" recipe (failures in the UI's stats, EMFILE in the
#   target's /metrics, the logs); the headless profile into a temporary results
#   folder, and into one it may not write; a limit changed and put back; then
#   docker compose down, and everything else of the project removed.
#
# Needs docker with the compose plugin, curl and python3. It uses its own
# project name and a free web UI port, so a stack of yours keeps running.
# Exit status: 0 when every check passed.
set -uo pipefail
cd "$(dirname "$0")/.."

export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-serverlab-e2e}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export LOCUST_WEB_PORT=$PORT LOCUST_WEB_BIND=127.0.0.1
export SERVERLAB_GIT_COMMIT=${SERVERLAB_GIT_COMMIT:-$(git rev-parse HEAD 2>/dev/null || true)}
WEB=http://127.0.0.1:$PORT
WORK=$(mktemp -d /tmp/serverlab-compose-e2e.XXXXXX)
LOG=$WORK/log
DC=(docker compose)
START=$(date +%s)
declare -a SUMMARY=()
FAILED=0

say() { printf '%s\n' "$*" | tee -a "$LOG" >&2; }
pass() { SUMMARY+=("PASS  $1"); say "PASS  $1"; }
fail() { SUMMARY+=("FAIL  $1"); say "FAIL  $1"; FAILED=$((FAILED + 1)); }
# check NAME DETAIL STATUS: the status is taken before DETAIL's command
# substitutions run (r=$? on the line before), as they would overwrite $?.
check() {
	if [ "$3" -eq 0 ]; then pass "$1: $2"; else fail "$1: $2"; fi
}
elapsed() { echo "$(($(date +%s) - START))s"; }

teardown() {
	say "--- down"
	"${DC[@]}" --profile headless down --remove-orphans --volumes --timeout 5 >>"$LOG" 2>&1
	left=$(docker ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" | wc -l)
	if [ "$left" -eq 0 ]; then pass "teardown: no container, network or volume of the project left ($(elapsed))"; else fail "teardown: $left containers left"; fi
	echo
	echo "== make e2e-compose: $(docker version --format 'engine {{.Server.Version}}' 2>/dev/null), $("${DC[@]}" version --short 2>/dev/null | sed 's/^/compose /'), $(elapsed)"
	printf '%s\n' "${SUMMARY[@]}"
	echo "== $((${#SUMMARY[@]} - FAILED)) passed, $FAILED failed; log: $LOG"
	# The results folders hold files the containers' users wrote.
	rm -rf "$WORK/results" "$WORK/readonly" 2>/dev/null || true
}
trap teardown EXIT
trap 'exit 130' INT TERM

# json URL EXPR: EXPR over the JSON document d, printed; empty on any error.
json() {
	curl -fsS --max-time 5 "$1" 2>/dev/null |
		python3 -c 'import json,sys
try:
    d = json.load(sys.stdin)
    print(eval(sys.argv[1]))
except Exception:
    pass' "$2"
}
# eventually SECONDS COMMAND...: retry COMMAND every 2 s until it succeeds.
eventually() {
	local deadline=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -ge $deadline ] && return 1
		sleep 2
	done
}
stats() { json "$WEB/stats/requests" "$1"; }
# Conditions for eventually: functions, so that each try reads afresh.
state_is() { [ "$(stats 'd["state"]')" = "$1" ]; }
workers_are() { [ "$(stats 'd["worker_count"]')" = "$1" ]; }
post() { curl -fsS --max-time 10 -X POST "$@" >>"$LOG" 2>&1; }
target_ids() { "${DC[@]}" ps -q $(targets) 2>/dev/null | sort | tr '\n' ' '; }
targets() { "${DC[@]}" config --services | grep '^target-' | tr '\n' ' '; }

docker info >/dev/null 2>&1 || { echo "compose-e2e: no Docker engine answers (docker info)" >&2; exit 1; }
say "--- log in $LOG; project $COMPOSE_PROJECT_NAME, web UI $WEB, commit ${SERVERLAB_GIT_COMMIT:-unknown}"

# 1. The walkthrough's first command, then health.
say "--- docker compose up -d --build"
if "${DC[@]}" up -d --build --wait --wait-timeout 600 >>"$LOG" 2>&1; then
	pass "up -d --build: $(targets | wc -w) targets healthy, master healthy, worker up ($(elapsed))"
else
	fail "up -d --build (see $LOG)"
	"${DC[@]}" ps -a >>"$LOG" 2>&1
	exit 1
fi
before=$(target_ids)

# 2. A rebuild that changes nothing leaves every target as it was.
"${DC[@]}" up -d --build --wait --wait-timeout 300 >>"$LOG" 2>&1
after=$(target_ids)
[ "$before" = "$after" ]
r=$?
check "second up -d --build" "the $(targets | wc -w) target containers kept (same ids)" $r

site=$("${DC[@]}" port target-epoll 8080)
curl -fsS --max-time 5 "http://$site/" | grep -qi '<html'
r=$?
check "docker compose port target-epoll 8080" "the site on $site" $r

# 3. A run through the web UI's HTTP API: the fields the start form posts.
eventually 60 workers_are 1
r=$?
check "Workers" "1 worker connected ($(stats 'd["worker_count"]'))" $r
post "$WEB/swarm" -d user_count=50 -d spawn_rate=25 -d host= -d user_classes=LabUser \
	-d target=epoll --data-urlencode 'target_admin_url=http://target-{model}:9090'
# 50 LabUsers, each waiting 1 to 5 s between pages: about 17 a second.
rps_ok() { python3 -c 'import sys; sys.exit(0 if 5 < float(sys.argv[1] or 0) < 60 else 1)' "$(stats 'd["total_rps"]')"; }
sleep 10
eventually 90 rps_ok
r=$?
stats '[(x["name"], x["num_requests"], x["num_failures"]) for x in d["stats"]]' >>"$LOG"
check "run on epoll via POST /swarm" "LabUser x50: $(stats 'round(d["total_rps"],1)') RPS (5 to 60 expected), $(stats '[r for r in d["stats"] if r["name"]=="Aggregated"][0]["num_failures"]') failures, state $(stats 'd["state"]')" $r
tgt=$(json "$WEB/target/stats" '"%s answered=%s" % (d.get("target"), d.get("answered"))')
[ "$tgt" = "epoll answered=True" ]
r=$?
check "Target tab" "/target/stats: $tgt" $r
post "$WEB/stop"
eventually 30 state_is stopped
r=$?
check "POST /stop" "state $(stats 'd["state"]')" $r

# The worker took the engine's hard open-files limit as its own.
wlim=$(grep 'open files' "/proc/$(docker inspect -f '{{.State.Pid}}' "$("${DC[@]}" ps -q worker | head -1)")/limits" | awk '{print $4 "/" $5}')
[ -n "$wlim" ] && [ "${wlim%/*}" = "${wlim#*/}" ]
r=$?
check "worker's open files" "soft/hard $wlim: raised to what the engine grants" $r

# 4. More workers.
"${DC[@]}" up -d --scale worker=3 --wait --wait-timeout 120 >>"$LOG" 2>&1
eventually 60 workers_are 3
r=$?
check "up -d --scale worker=3" "Workers: $(stats 'd["worker_count"]')" $r
[ "$before" = "$(target_ids)" ]
r=$?
check "scaling" "targets untouched" $r

# 5. The README's "Too many open files" recipe: target-epoll recreated with
# 64 descriptors, then 300 LabUsers at 100 a second on it.
say "--- Too many open files: TARGET_NOFILE=64, 300 users on target-epoll"
TARGET_NOFILE=64 "${DC[@]}" up -d --wait --wait-timeout 300 target-epoll >>"$LOG" 2>&1
curl -fsS --max-time 5 -X POST "$WEB/stats/reset" >>"$LOG" 2>&1
post "$WEB/swarm" -d user_count=300 -d spawn_rate=100 -d host= -d user_classes=LabUser \
	-d target=epoll --data-urlencode 'target_admin_url=http://target-{model}:9090'
admin=$("${DC[@]}" port target-epoll 9090)
emfile() { curl -fsS --max-time 3 "http://$admin/metrics" 2>/dev/null | grep 'serverlab_accept_errors_total{errno="EMFILE"' | awk '{print $2}' | head -1; }
emfile_seen() { local n; n=$(emfile); [ -n "$n" ] && python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)' "$n"; }
failures() { stats '[r for r in d["stats"] if r["name"]=="Aggregated"][0]["num_failures"]'; }
failures_seen() { [ "$(failures)" != "" ] && [ "$(failures)" -gt 0 ]; }
eventually 120 emfile_seen
r=$?
check "EMFILE in /metrics while it runs" "curl $admin/metrics: EMFILE $(emfile)" $r
eventually 120 failures_seen
r=$?
check "failures in the UI's stats" "$(failures) failures; errors: $(stats '"; ".join("%s x%s" % (e["error"][:60], e["occurrences"]) for e in d["errors"][:3])')" $r
tab=$(json "$WEB/target/stats" '"EMFILE %s, open fds %s/%s" % (d["figures"]["emfile"], d["figures"]["open_fds"], d["figures"]["max_fds"]) if d.get("figures") else "not answering: %s" % d.get("error")')
say "      Target tab: $tab"
post "$WEB/stop"
eventually 60 state_is stopped
eventually 60 emfile_seen
r=$?
check "EMFILE in /metrics after the run" "serverlab_accept_errors_total{errno=\"EMFILE\"} $(emfile)" $r
logged=$("${DC[@]}" logs target-epoll 2>/dev/null | grep -ci 'too many open files')
[ "${logged:-0}" -gt 0 ]
r=$?
check "target log" "docker compose logs target-epoll: $logged lines say too many open files" $r

fd_line=$("${DC[@]}" logs master 2>/dev/null | grep -c "serverlab: test stopped: [0-9]* requests failed with 'Too many open files'")
[ "${fd_line:-0}" -gt 0 ]
r=$?
check "docker compose logs master" "the run's 'Too many open files' total printed ($fd_line lines)" $r

# 6. The headless profile, into a temporary results folder owned by the
# image's default user, then into one it may not write.
mkdir -p "$WORK/results" "$WORK/readonly"
chown 1000:1000 "$WORK/results" 2>/dev/null || chmod 0777 "$WORK/results"
chmod 0755 "$WORK/readonly"
say "--- docker compose --profile headless run --rm lab run --preset quick --models epoll,select"
LAB_RESULTS=$WORK/results "${DC[@]}" --profile headless run --rm lab run --preset quick --models epoll,select >"$WORK/lab.out" 2>&1
rc=$?
cat "$WORK/lab.out" >>"$LOG"
out=$(ls -d "$WORK"/results/*/ 2>/dev/null | head -1)
csvs=$(ls "$out" 2>/dev/null | grep -c '_stats.csv$')
[ $rc -eq 0 ] && [ -f "$out/report.md" ] && [ "$csvs" -eq 2 ]
r=$?
check "headless lab run" "exit $rc, report.md and $csvs _stats.csv in ${out:-nothing}" $r
commit=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["git"].get("commit",""))' "$out/meta.json" 2>/dev/null)
[ -n "$SERVERLAB_GIT_COMMIT" ] && [ "$commit" = "$SERVERLAB_GIT_COMMIT" ]
r=$?
check "meta.json git commit" "${commit:-empty} (image built with SERVERLAB_GIT_COMMIT=${SERVERLAB_GIT_COMMIT:-none}, which bin/lab must read)" $r
owner=$(stat -c %u:%g "$out/report.md" 2>/dev/null)
[ "$owner" = 1000:1000 ]
r=$?
check "results owner" "${owner:-none} (LAB_USER default 1000:1000)" $r
if [ "$(id -u)" -eq 0 ]; then
	chown 0:0 "$WORK/readonly"
	LAB_RESULTS=$WORK/readonly "${DC[@]}" --profile headless run --rm lab run --preset quick --models epoll >"$WORK/ro.out" 2>&1
	rc=$?
	cat "$WORK/ro.out" >>"$LOG"
	[ $rc -ne 0 ] && grep -q 'cannot write the results folder: it belongs to 0:0' "$WORK/ro.out" &&
		! grep -q 'what was measured' "$WORK/ro.out"
	r=$?
	check "lab, results folder not its own" "exit $rc: $(grep -m1 '^lab:' "$WORK/ro.out" | cut -c1-100)..." $r
fi

# 7. Other limits: one override recreates the targets with it, and the
# next plain up puts .env's back.
say "--- TARGET_NOFILE=256 docker compose up -d"
nofile() { grep 'open files' "/proc/$(docker inspect -f '{{.State.Pid}}' "$("${DC[@]}" ps -q target-epoll)")/limits" | awk '{print $4 "/" $5}'; }
TARGET_NOFILE=256 "${DC[@]}" up -d --wait --wait-timeout 300 >>"$LOG" 2>&1
[ "$(nofile)" = 256/256 ]
r=$?
check "TARGET_NOFILE=256 docker compose up -d" "target-epoll's open files $(nofile)" $r
"${DC[@]}" up -d --wait --wait-timeout 300 >>"$LOG" 2>&1
[ "$(nofile)" = 1024/1024 ]
r=$?
check "docker compose up -d" ".env's limit back: $(nofile)" $r

# 8. The walkthrough's last command.
say "--- docker compose down"
"${DC[@]}" down >>"$LOG" 2>&1
left=$(docker ps -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" | wc -l)
[ "$left" -eq 0 ]
r=$?
check "docker compose down" "$left containers running after it" $r
exit $((FAILED > 0))
