#!/usr/bin/env bash
# Installs what building, testing and benchmarking need, and nothing twice:
# Debian's wrk, nginx and python3-locust (the oldest Locust supported), a
# project-local venv (.venv) with the Locust pinned in requirements.txt, and
# .venv-locust-2.12.1: the same 2.12.1 from PyPI on Debian's libraries, whose
# Python workers Debian's master takes (Debian's own report an empty version
# and are refused).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
[ -x /usr/bin/locust ] || need+=(python3-locust)
/usr/bin/python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]} from Debian"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The two venvs are made side by side: much of the time is pip waiting
# on downloads.
pinned=$(sed -n 's/^locust==//p' requirements.txt)
make_pinned() {
  echo "setup: creating .venv with locust $pinned"
  rm -rf .venv
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt msgpack
}

oldest=2.12.1
make_oldest() {
  echo "setup: creating .venv-locust-$oldest (Python workers for Debian's Locust $oldest)"
  rm -rf .venv-locust-$oldest
  /usr/bin/python3 -m venv --system-site-packages .venv-locust-$oldest
  # Only the wheel: its dependencies are Debian's, those python3-locust runs on.
  .venv-locust-$oldest/bin/pip install -q --disable-pip-version-check --no-deps --ignore-installed "locust==$oldest"
}

jobs=()
if ! .venv/bin/locust --version 2>/dev/null | grep -q "locust $pinned "; then
  make_pinned &
  jobs+=($!)
fi
if ! .venv-locust-$oldest/bin/locust --version 2>/dev/null | grep -q "locust $oldest\$"; then
  make_oldest &
  jobs+=($!)
fi
for j in "${jobs[@]}"; do
  wait "$j"
done
