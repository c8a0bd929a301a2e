"""The Xuzhou demo: a database built from the shipped, illustrative station set."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .._paths import geodata_path
from ..store import StationStore
from ..store.files import read_station_file, validate_rows
from ..store.registry import Registry

#: Pengcheng Square, central Xuzhou (WGS-84, approximate): the demo's query point.
DEMO_POINT = (117.1847, 34.2612)
DEMO_POINT_NAME = "Pengcheng Square, Xuzhou (彭城广场)"
SAMPLE_STATIONS_FILE = "xuzhou_sample_stations.csv"
DISTRICTS_FILE = "xuzhou_districts.geojson"


def load_sample_stations():
    """The shipped SAMPLE stations (validated; every one has ``source == 'sample'``)."""
    table = read_station_file(geodata_path(SAMPLE_STATIONS_FILE))
    return validate_rows(table, default_source="sample")


def load_districts() -> dict[str, Any]:
    """The Xuzhou district boundaries (WGS-84 GeoJSON FeatureCollection)."""
    return json.loads(geodata_path(DISTRICTS_FILE).read_text(encoding="utf-8"))


def build_demo(db: str | os.PathLike) -> tuple[Registry, dict[str, Any]]:
    """(Re)build the demo database at ``db`` and run one example query."""
    path = Path(db)
    if "://" not in str(db):
        for suffix in ("", "-wal", "-shm", "-journal"):
            p = Path(str(path) + suffix)
            if p.exists():
                p.unlink()
    stations = load_sample_stations()
    store = StationStore(db, create=True)
    store.add_many(stations, actor="locator demo", batch=SAMPLE_STATIONS_FILE)
    reg = Registry(store)
    districts = load_districts()
    res = reg.index.nearest(*DEMO_POINT, k=5, amenities=["drinking_water", "phone_charging"],
                            open_at="2026-07-15T12:30")
    source = districts["features"][0]["properties"].get("source", "")
    return reg, {
        "stations": len(stations),
        "districts": len(districts["features"]),
        "boundary_source": source,
        "query": DEMO_POINT,
        "query_name": DEMO_POINT_NAME,
        "results": res,
    }
