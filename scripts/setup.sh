#!/usr/bin/env bash
# Installs what building, testing and benchmarking need, and nothing twice:
# Debian's wrk, nginx and python3-locust (the oldest Locust supported), and a
# project-local venv (.venv) with the Locust pinned in requirements.txt.
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

pinned=$(sed -n 's/^locust==//p' requirements.txt)
if ! .venv/bin/locust --version 2>/dev/null | grep -q "locust $pinned "; then
  echo "setup: creating .venv with locust $pinned"
  rm -rf .venv
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt msgpack
fi
