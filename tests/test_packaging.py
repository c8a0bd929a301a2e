"""The installed package ships its data; the console script is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import locator
from locator._paths import geodata_dir

ROOT = Path(__file__).resolve().parent.parent


def test_geodata_is_found():
    names = {p.name for p in geodata_dir().iterdir()}
    assert {"xuzhou_districts.geojson", "xuzhou_sample_stations.csv", "README.md",
            "cn_public_holidays.csv"} <= names


@pytest.mark.skipif(os.environ.get("LOCATOR_TEST_INSTALLED") != "1",
                    reason="only when tests/run.sh ran a non-editable install")
def test_tests_run_against_the_installed_package():
    assert "site-packages" in locator.__file__
    assert "site-packages" in str(geodata_dir())
    exe = Path(sys.executable).parent / "locator"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert locator.__version__ in out.stdout


def test_wheel_contains_geodata_and_templates(tmp_path):
    if shutil.which("pip", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("pip is not in this environment")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    str(ROOT), "-w", str(tmp_path)], check=True,
                   capture_output=True)
    (whl,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(whl).namelist())
    for f in (ROOT / "geodata").glob("*.*"):
        assert f"locator/geodata/{f.name}" in names
    for f in (ROOT / "templates").rglob("*.html"):
        assert f"locator/templates/{f.relative_to(ROOT / 'templates')}" in names
    # every module and browser asset of the package ships
    for f in (ROOT / "locator").rglob("*"):
        if f.suffix in (".py", ".js", ".css") and "__pycache__" not in f.parts:
            assert f"locator/{f.relative_to(ROOT / 'locator')}" in names, f
