#!/usr/bin/env bash
# Set up Pug and run the North Star demo on the embedded SQLite database.
#
# Usage: scripts/demo.sh [north_star.py options, such as --teams 20 --seed 3]
#
# Creates .venv-demo (override with PUG_DEMO_VENV), installs the project
# with the server extra, starts `pug-server serve` on 127.0.0.1 on a free
# port with a SQLite file in a temporary folder, creates a project, runs
# examples/north_star.py against it and prints the dashboard. The server
# is stopped and the folder removed on exit, unless PUG_DEMO_KEEP=1 keeps
# the folder (the database and the server log) for a look afterwards. On a
# terminal the script prints the dashboard page's address and keeps the
# server running until Enter or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${PUG_DEMO_VENV:-.venv-demo}"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "error: Pug needs Python 3.10 or newer; set PYTHON to one" >&2
    exit 2
fi
if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv" >&2
    "$python" -m venv "$venv"
fi
echo "installing pug-analytics[server] into $venv" >&2
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet '.[server]'

workdir="$(mktemp -d "${TMPDIR:-/tmp}/pug-demo.XXXXXX")"
server_pid=""
cleanup() {
    status=$?
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ "$status" -ne 0 ] && [ -f "$workdir/server.log" ]; then
        echo "--- last lines of the server log ---" >&2
        tail -n 20 "$workdir/server.log" >&2
    fi
    if [ "${PUG_DEMO_KEEP:-0}" = "1" ]; then
        echo "kept $workdir (database pug.db, server.log)" >&2
    else
        rm -rf "$workdir"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port="$("$venv/bin/python" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
host="http://127.0.0.1:$port"
export PUG_DATABASE_URL="sqlite:///$workdir/pug.db"
export PUG_LOG_LEVEL="${PUG_LOG_LEVEL:-WARNING}"

"$venv/bin/pug-server" init-db >/dev/null
keys="$("$venv/bin/pug-server" create-project "north-star-demo")"
write_key="$(printf '%s\n' "$keys" | sed -n 's/^write_key=//p')"
read_key="$(printf '%s\n' "$keys" | sed -n 's/^read_key=//p')"

"$venv/bin/pug-server" serve --bind "127.0.0.1:$port" --workers 2 \
    >"$workdir/server.log" 2>&1 &
server_pid=$!

echo "starting pug-server on $host (SQLite $workdir/pug.db)" >&2
ready=0
for _ in $(seq 1 100); do
    if "$venv/bin/python" - "$host/ready" <<'EOF' 2>/dev/null; then
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=1)
EOF
        ready=1
        break
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "error: pug-server exited during start-up" >&2
        exit 1
    fi
    sleep 0.2
done
if [ "$ready" -ne 1 ]; then
    echo "error: pug-server did not answer $host/ready within 20 seconds" >&2
    exit 1
fi

"$venv/bin/python" examples/north_star.py --host "$host" \
    --write-key "$write_key" --read-key "$read_key" "$@"

echo
echo "dashboard page: $host/dashboards/north_star"
echo "read key for the page: $read_key"
# On a terminal the server keeps running so the page can be opened; a
# script or CI run (no terminal) stops here. PUG_DEMO_SERVE=0 always stops.
if [ -t 0 ] && [ "${PUG_DEMO_SERVE:-1}" = "1" ]; then
    echo "the server runs until you press Enter or Ctrl-C" >&2
    read -r _ || true
fi
