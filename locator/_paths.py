"""Where the shipped data lives: ``locator/geodata`` when installed (the wheel maps the
top-level ``geodata/`` and ``templates/`` folders into the package), or the top-level
folders of a source checkout."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_PKG / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the {name}/ folder is missing: neither {_PKG / name} nor "
                            f"{_PKG.parent / name} exists; reinstall station-locator")


@cache
def geodata_dir() -> Path:
    return _find("geodata")


def geodata_path(name: str) -> Path:
    p = geodata_dir() / name
    if not p.exists():
        raise FileNotFoundError(f"shipped data file {name!r} is missing from {geodata_dir()}")
    return p


@cache
def templates_dir() -> Path:
    return _find("templates")
