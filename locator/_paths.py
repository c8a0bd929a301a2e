"""Where the shipped data lives, installed (``locator.geodata``) or in a source checkout."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=None)
def geodata_dir() -> Path:
    try:
        from importlib.resources import files

        p = Path(str(files("locator.geodata")))
        if p.is_dir():
            return p
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parent.parent / "geodata"


def geodata_path(name: str) -> Path:
    p = geodata_dir() / name
    if not p.exists():
        raise FileNotFoundError(f"shipped data file {name!r} is missing from {geodata_dir()}")
    return p


@lru_cache(maxsize=None)
def templates_dir() -> Path:
    try:
        from importlib.resources import files

        p = Path(str(files("locator.templates")))
        if p.is_dir():
            return p
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parent.parent / "templates"
