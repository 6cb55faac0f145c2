#!/usr/bin/env bash
# make e2e-hosts: Locust's master and its Go workers on separate hosts, as
# on a real network. Four network namespaces stand for four machines (the
# master, two workers, a target), each with its own address on a private
# /24 and joined by veth links to a bridge in a fifth namespace. Nothing is
# routed to or from the machine's own network: the namespaces have no other
# link and no default route. They are made here and removed at the end.
#
# A headless master waits for both workers (--expect-workers 2); the check is
# that both workers' connections and requests reach the target (its sockets
# and its /metrics) and that the master's CSVs hold them.
#
# Needs root (ip netns), iproute2, curl, bin/ built and the project's .venv.
# Exit status: 0 when every check passed.
set -uo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "hosts-e2e: needs root, for network namespaces" >&2; exit 2; }
for b in bin/target bin/boomer .venv/bin/locust; do
	[ -x "$b" ] || { echo "hosts-e2e: no $b (make build; scripts/setup.sh)" >&2; exit 2; }
done

NET=${E2E_HOSTS_NET:-10.213.77}   # a private /24 that exists only in these namespaces
ID=sl$$
HUB=$ID-hub
declare -A ADDR=([master]=$NET.1 [w1]=$NET.2 [w2]=$NET.3 [target]=$NET.4)
WORK=$(mktemp -d /tmp/serverlab-hosts-e2e.XXXXXX)
RUNTIME=${E2E_HOSTS_RUN_TIME:-15}
USERS=40
PIDS=()
declare -a SUMMARY=()
FAILED=0
START=$(date +%s)

say() { printf '%s\n' "$*" >&2; }
pass() { SUMMARY+=("PASS  $1"); say "PASS  $1"; }
fail() { SUMMARY+=("FAIL  $1"); say "FAIL  $1"; FAILED=$((FAILED + 1)); }
# check NAME DETAIL STATUS (status taken before DETAIL's substitutions ran)
check() { if [ "$3" -eq 0 ]; then pass "$1: $2"; else fail "$1: $2"; fi; }
on() { local h=$1; shift; ip netns exec "$ID-$h" "$@"; }

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for h in master w1 w2 target; do ip netns del "$ID-$h" 2>/dev/null; done
	ip netns del "$HUB" 2>/dev/null
	left=$(ip netns list | grep -c "^$ID-")
	if [ "$left" -eq 0 ]; then pass "teardown: namespaces and links removed"; else fail "teardown: $left namespaces left"; fi
	echo
	echo "== make e2e-hosts: master, 2 Go workers, target on $NET.0/24, $(($(date +%s) - START))s"
	printf '%s\n' "${SUMMARY[@]}"
	echo "== $((${#SUMMARY[@]} - FAILED)) passed, $FAILED failed; logs in $WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The hosts: a bridge in the hub, one veth pair per host.
ip netns add "$HUB" && ip -n "$HUB" link set lo up &&
	ip -n "$HUB" link add br0 type bridge && ip -n "$HUB" link set br0 up || { fail "hub namespace"; exit 1; }
for h in master w1 w2 target; do
	ip netns add "$ID-$h" &&
		ip -n "$ID-$h" link set lo up &&
		ip -n "$HUB" link add "p-$h" type veth peer name eth0 netns "$ID-$h" &&
		ip -n "$HUB" link set "p-$h" master br0 up &&
		ip -n "$ID-$h" addr add "${ADDR[$h]}/24" dev eth0 &&
		ip -n "$ID-$h" link set eth0 up || { fail "host $h"; exit 1; }
done
r=0
for h in master w1 w2 target; do
	[ "$(on $h ip route | wc -l)" -eq 1 ] && ! on $h ip route | grep -q default || r=1
done
check "hosts" "4 namespaces on $NET.0/24 behind a bridge; each one's only route: $(on master ip route | cut -d' ' -f1-3)" $r

# The target, then the master, then the workers, each on its own host.
on target bin/target --model epoll --addr "${ADDR[target]}:8080" --admin-addr "${ADDR[target]}:9090" \
	>"$WORK/target.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do on master curl -fsS --max-time 1 "http://${ADDR[target]}:9090/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
on master .venv/bin/locust -f locustfile.py --headless --master --master-bind-host "${ADDR[master]}" \
	--expect-workers 2 --expect-workers-max-wait 60 -u $USERS -r $USERS -t "${RUNTIME}s" \
	--csv "$WORK/run" -H "http://${ADDR[target]}:8080" --target epoll \
	--target-admin-url "http://${ADDR[target]}:9090" LabUser >"$WORK/master.log" 2>&1 &
MASTER=$!
PIDS+=($MASTER)
for w in w1 w2; do
	on $w bin/boomer --master-host "${ADDR[master]}" >"$WORK/$w.log" 2>&1 &
	PIDS+=($!)
done

# While it runs: the target's established connections, by the peer's address.
peers() { on target ss -Htn state established "( sport = :8080 )" | awk '{print $4}' | cut -d: -f1 | sort | uniq -c | awk '{printf "%s from %s, ", $1, $2}' | sed 's/, $//'; }
both=1
for _ in $(seq 60); do
	p=$(peers)
	if [[ "$p, " == *"from ${ADDR[w1]}, "* && "$p, " == *"from ${ADDR[w2]}, "* ]]; then both=0; break; fi
	sleep 1
done
check "both workers reach the target" "its sockets: ${p:-none}" $both

wait $MASTER
rc=$?
[ $rc -eq 0 ] && grep -q "2 workers connected" "$WORK/master.log" && grep -q "to 2 ready workers" "$WORK/master.log"
check "headless master, --expect-workers 2" "exit $rc; $(grep -o 'Sending spawn jobs.*' "$WORK/master.log" | head -1)" $?

agg() { awk -F, -v col="$1" 'NR==1{for(i=1;i<=NF;i++) if($i==col) c=i} $2=="Aggregated"{print $c}' "$WORK/run_stats.csv" 2>/dev/null; }
reqs=$(agg "Request Count")
fails=$(agg "Failure Count")
[ -n "$reqs" ] && [ "$reqs" -gt 0 ] && [ "$fails" = 0 ]
check "master's CSVs" "run_stats.csv Aggregated: ${reqs:-?} requests, ${fails:-?} failures" $?

served=$(on master curl -fsS --max-time 3 "http://${ADDR[target]}:9090/metrics" | awk '/^serverlab_requests_total/{print $2}')
accepted=$(on master curl -fsS --max-time 3 "http://${ADDR[target]}:9090/metrics" | awk '/^serverlab_connections_accepted_total/{print $2}')
python3 -c 'import sys; r,s,a,u=map(float,sys.argv[1:]); sys.exit(0 if r>0 and s>=r and a>=u else 1)' \
	"${reqs:-0}" "${served:-0}" "${accepted:-0}" "$USERS" 2>/dev/null
check "target's /metrics" "serverlab_requests_total ${served:-?} >= ${reqs:-?} in the CSV; ${accepted:-?} connections accepted for $USERS users" $?

rows=$(($(wc -l <"$WORK/run_target.csv" 2>/dev/null || echo 1) - 1))
answered=$(awk -F, 'NR==1{for(i=1;i<=NF;i++) if($i=="Answered") c=i} NR>1 && $c==1' "$WORK/run_target.csv" 2>/dev/null | wc -l)
[ "$rows" -gt 0 ] && [ "$answered" -eq "$rows" ]
check "run_target.csv" "$rows samples of the target's /metrics taken across hosts, $answered answered" $?

for w in w1 w2; do
	grep -q 'msg="connected to master"' "$WORK/$w.log" && grep -q 'msg="master acknowledged this worker"' "$WORK/$w.log" &&
		grep -q 'msg="master says quit"' "$WORK/$w.log"
	check "worker $w (${ADDR[$w]})" "connected over the link, acknowledged, told to quit at the end" $?
done
exit $((FAILED > 0))
