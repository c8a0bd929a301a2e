"""Without a PostgreSQL server the PostgreSQL and PostGIS tests skip with a reason that
says how to enable them; in CI (``CI`` set, as .ci/run does) or with
``LOCATOR_TEST_REQUIRE_PG=1`` that skip is a failure. Checked by running one PostGIS test
in a child pytest pointed at a port where nothing listens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOWHERE = "postgresql+psycopg://postgres@127.0.0.1:1/postgres"
TEST = "tests/test_store_postgis.py::test_geometry_column_is_generated_geography_with_gist_indexes"


def _child(**env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if k not in ("CI", "LOCATOR_TEST_REQUIRE_PG", "PYTEST_ADDOPTS")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-rs", TEST], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**base, "LOCATOR_TEST_PG": NOWHERE, **env})


def test_no_server_skips_saying_how_to_enable():
    out = _child()
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 skipped" in out.stdout
    assert f"PostgreSQL not reachable at {NOWHERE}" in out.stdout
    assert "set LOCATOR_TEST_PG=postgresql+psycopg://USER@HOST:PORT/DB or start it" in out.stdout


@pytest.mark.parametrize("env", [{"CI": "1"}, {"LOCATOR_TEST_REQUIRE_PG": "1"}],
                         ids=["ci", "require-pg"])
def test_in_ci_no_server_is_a_failure(env):
    out = _child(**env)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "1 error" in out.stdout and "skipped" not in out.stdout
    assert "PostgreSQL not reachable at" in out.stdout
    assert "the PostgreSQL tests must run, not skip" in out.stdout


@pytest.mark.parametrize(("value", "required"), [("true", True), ("1", True), ("yes", True),
                                                 ("", False), ("0", False), ("false", False)])
def test_ci_values_that_require_postgresql(monkeypatch, value, required):
    """CI services set ``CI=true``; .ci/run sets ``CI=1``."""
    from conftest import pg_required

    monkeypatch.delenv("LOCATOR_TEST_REQUIRE_PG", raising=False)
    monkeypatch.setenv("CI", value)
    assert pg_required() is required
