#!/usr/bin/env bash
# Headless runs in CI, for any CI: build, a short `lab run` of a few models,
# and a gate against the baseline committed in ci/baseline.
# .github/workflows/lab-gate.yml runs this same script. Keep $LAB_OUT as the
# job's artifacts: the report (report.md, report.html, PNG charts), Locust's
# CSVs and HTML, the logs, and gate.md (the comparison with the baseline).
#
#   ci/lab-gate.sh                               # as CI runs it
#   LAB_MODELS=epoll LAB_RUN_TIME=5s ci/lab-gate.sh
#   LAB_UPDATE_BASELINE=1 ci/lab-gate.sh         # accept today's numbers
#
# SlowIOUser (each request waits 100 ms in the server, users wait 0.5-1.5 s)
# makes the figures depend on the model, not on the CI machine's speed: a
# server that keeps up answers near 100 ms at the users' own pace, so the
# baseline holds on other machines; a model that stops keeping up shows.
#
# Exit status: 0 passed, 1 the run failed or a model regressed, 2 bad input.
set -euo pipefail
cd "$(dirname "$0")/.."

MODELS=${LAB_MODELS:-epoll,thread}
RUN_TIME=${LAB_RUN_TIME:-10s}
BASELINE=${LAB_BASELINE:-ci/baseline}
MAX_REGRESSION=${LAB_MAX_REGRESSION:-30}
OUT=${LAB_OUT:-results/ci}

echo "== build"
make build

echo "== Locust (the version requirements.txt pins, in .venv)"
if ! [ -x .venv/bin/locust ]; then
	python3 -m venv .venv
	.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
fi
export PATH=$PWD/.venv/bin:$PATH
locust --version

# An earlier run of this script is replaced; anything else is left alone.
if [ -e "$OUT" ]; then
	if [ -f "$OUT/meta.json" ]; then rm -rf -- "$OUT"; else
		echo "lab-gate: $OUT exists and is no lab run folder; set LAB_OUT" >&2
		exit 2
	fi
fi

echo "== lab run: $MODELS, $RUN_TIME each"
bin/lab run --preset quick --user-class SlowIOUser --models "$MODELS" --run-time "$RUN_TIME" --out "$OUT"

if [ "${LAB_UPDATE_BASELINE:-}" = 1 ]; then
	mkdir -p "$BASELINE"
	rm -f "$BASELINE"/*.csv "$BASELINE"/meta.json
	cp "$OUT"/meta.json "$OUT"/*_stats.csv "$OUT"/*_stats_history.csv "$OUT"/*_failures.csv "$OUT"/*_exceptions.csv "$BASELINE"/
	echo "== baseline updated: $BASELINE (commit it)"
	exit 0
fi

echo "== gate: against $BASELINE, at most $MAX_REGRESSION% worse"
set +e
bin/lab compare "$OUT" --baseline "$BASELINE" --max-regression "$MAX_REGRESSION" >"$OUT/gate.md"
rc=$?
set -e
cat "$OUT/gate.md"
case $rc in
0) echo "== gate passed; report and CSVs in $OUT" ;;
1) echo "== gate FAILED: a model regressed (above); report and CSVs in $OUT" ;;
*) echo "== gate could not compare (exit $rc)" ;;
esac
exit $rc
