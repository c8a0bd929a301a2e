#!/usr/bin/env bash
# Install the project (non-editable) with its test extras into .venv and run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check ".[test]"
# Run from the checkout so tests see tests/data; the installed package is what is imported
# for everything but the source tree's own modules (see tests/test_packaging.py).
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
