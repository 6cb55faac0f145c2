#!/bin/sh
# The lab image's entrypoint: bin/lab, once the results folder (bind-mounted
# from the host) is known to be writable by the user the container runs as.
# Otherwise one clear line names the owner and the fix, and nothing runs.
set -eu
out=/serverlab/results
if [ -d "$out" ] && ! [ -w "$out" ]; then
	echo "lab: cannot write the results folder: it belongs to $(stat -c %u:%g "$out"), the container runs as $(id -u):$(id -g); set LAB_USER=$(stat -c %u:%g "$out") (in .env or before docker compose), or give that folder to $(id -u):$(id -g)" >&2
	exit 2
fi
exec /serverlab/bin/lab "$@"
