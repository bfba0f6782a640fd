#!/usr/bin/env bash
# Set up a virtual environment and run the whole test suite.
#
# Usage: scripts/test.sh [pytest arguments]
# PostgreSQL tests use PUG_TEST_POSTGRES_URL (default
# postgresql://postgres@127.0.0.1:5432/test); they skip when it is
# unreachable, unless CI or PUG_REQUIRE_POSTGRES is set.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${PUG_VENV:-.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e '.[server,dev]'
exec "$venv/bin/python" -m pytest "$@"
