#!/usr/bin/env bash
# Install the project (non-editable) with its test extras into .venv and run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check ".[test]"
# .venv/bin/pytest (not python -m pytest) keeps the checkout off sys.path, so the tests
# import the installed package, geodata and templates included.
export LOCATOR_TEST_INSTALLED=1
exec .venv/bin/pytest -q -p no:cacheprovider "$@"
