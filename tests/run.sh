#!/usr/bin/env bash
# Install the project (non-editable) with its test extras into .venv and run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# System packages the tests use: Debian's Chromium for the browser tests, CJK fonts so
# that Chinese text renders, and PostGIS for PostgreSQL 15 (the store, staff and sync tests
# run on SQLite and on PostGIS). Installed once; skipped when present or when not root.
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need+=(fonts-noto-cjk)
[ -f /usr/share/postgresql/15/extension/postgis.control ] || need+=(postgresql-15-postgis-3)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${need[*]} with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# PostgreSQL 15 on 127.0.0.1:5432 (trust auth on these machines): started when installed
# but not running. Each test database gets CREATE EXTENSION postgis (tests/conftest.py).
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q "^15 main .* down"; then
    echo "starting PostgreSQL 15" >&2
    pg_ctlcluster --skip-systemctl-redirect 15 main start || echo "could not start PostgreSQL" >&2
fi
rm -rf build  # setuptools would reuse stale modules from an earlier build
# npm: the opening_hours reference (hours corpus) and axe-core (accessibility audit). Off
# CI a failure only warns (the corpus then uses its recording, the audit skips); in CI
# (.ci/run sets CI) it fails the run, so that neither check is silently skipped.
if command -v npm >/dev/null && (cd tests/js && npm ci --no-audit --no-fund -s); then :
elif [ -n "${CI:-}" ]; then echo "npm ci in tests/js failed (or npm is missing)" >&2; exit 1
else echo "npm ci in tests/js failed; hours corpus uses its recording, a11y audit skips" >&2; fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check ".[test]"
# Lint the whole tree and type-check the core (pyproject.toml [tool.ruff], [tool.mypy]);
# both run so that both report, and either failing fails the script before the tests.
lint=0
.venv/bin/ruff check locator tests benchmarks || lint=1
.venv/bin/mypy || lint=1
[ "$lint" = 0 ] || { echo "ruff or mypy found errors (above)" >&2; exit 1; }
# .venv/bin/pytest (not python -m pytest) keeps the checkout off sys.path, so the tests
# import the installed package, geodata and templates included.
export LOCATOR_TEST_INSTALLED=1
exec .venv/bin/pytest -q -p no:cacheprovider "$@"
