"""Keys of shared planner runs: one digest of everything a run's answer depends on.

A planner run's answer is shared through the database (:mod:`locator.store.jobs`):
a worker asked for a run that any worker has finished answers the stored result, and
one asked for a run still going on elsewhere waits for it. The key says when two runs
are the same run:

* the kind (``coverage``, ``suggest``) and its normalised parameters (thresholds,
  gap limit, n, beta, the candidate sites in WGS-84 ...);
* the engine: ``straight`` with its mode, speed and detour, or ``network`` with its
  mode and speed and the road network's identity (:func:`network_identity`);
* the stations the run counts, as the run reads them: the ids and WGS-84 positions of
  the :class:`~locator.coverage.StationSet` (after opening hours and types), its
  exclusion counts and ``at``, and whether any is sample data. A write to a station
  that the run counts (moved, closed, deleted, re-opened) changes the key, so the run
  is computed again; a write that changes nothing the run reads (a phone number) does
  not. This is the station data version *as the run sees it*, exact whatever the
  worker's position in the change log (a worker whose index already holds its own
  write but has not yet read the log entry, or one lagging behind, keys what it
  actually computes on);
* the demand and district layers, by content (:func:`data_identity`);
* the package version and :data:`RESULT_FORMAT` (a new release never reuses an old
  release's answers).

A run whose identity cannot be known (a road-network factory installed by hand, without
an ``identity`` attribute and without ``LOCATOR_PBF``) gets no key: it is computed every
time, as before.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import orjson
import shapely

from ... import __version__

#: Bumped whenever the stored answer of a run changes shape for the same inputs.
RESULT_FORMAT = 1


class _Digest:
    """SHA-256 over a sequence of labelled parts (a part's label and length go in too,
    so that no two different sequences hash alike by running into each other)."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def add(self, label: str, data: bytes) -> None:
        self._h.update(f"{label}:{len(data)}:".encode())
        self._h.update(data)

    def json(self, label: str, value: Any) -> None:
        self.add(label, orjson.dumps(value, option=orjson.OPT_SORT_KEYS
                                     | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
                                     default=repr))

    def floats(self, label: str, arr: Any) -> None:
        self.add(label, np.ascontiguousarray(arr, dtype="<f8").tobytes())

    def texts(self, label: str, items: Any) -> None:
        self.json(label, [str(v) for v in np.asarray(items, dtype=object).reshape(-1)])

    def geometries(self, label: str, geoms: Any) -> None:
        if geoms is None:
            self.add(label, b"none")
            return
        wkb = shapely.to_wkb(np.asarray(geoms, dtype=object), hex=False, byte_order=1)
        self.json(label, [b.hex() if b is not None else None for b in wkb.tolist()])

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def data_identity(demand: Any, districts: Any) -> str:
    """A digest of the demand layer and the district boundaries, by content (the same
    file under another path, or on another server, is the same layer)."""
    d = _Digest()
    d.texts("ids", demand.ids)
    d.floats("lon", demand.lon)
    d.floats("lat", demand.lat)
    d.floats("weight", demand.weight)
    if demand.area_m2 is None:
        d.add("area", b"none")
    else:
        d.floats("area", demand.area_m2)
    d.texts("district", demand.district)
    d.geometries("geometry", demand.geometry)
    d.json("attrs", {"kind": demand.kind, "cell_m": demand.cell_m,
                     "weight_name": demand.weight_name, "source": demand.source,
                     "meta": demand.meta})
    if districts is None:
        d.add("districts", b"none")
    else:
        d.json("districts", {"adcode": list(districts.adcode), "name": list(districts.name),
                             "name_en": list(districts.name_en),
                             "source": districts.source})
        d.geometries("district_geometry", districts.geometry)
    return d.hexdigest()


def stations_identity(stations: Any, *, sample: bool) -> str:
    """A digest of the stations a run counts, as it reads them (a
    :class:`~locator.coverage.StationSet`)."""
    d = _Digest()
    d.texts("ids", stations.ids)
    d.floats("lon", stations.lon)
    d.floats("lat", stations.lat)
    d.json("attrs", {"excluded": stations.excluded,
                     "at": stations.at.isoformat() if stations.at else None,
                     "unknown_hours_counted_open": stations.unknown_hours_counted_open,
                     "needs": list(stations.needs), "weather": stations.weather,
                     "sample": bool(sample)})
    return d.hexdigest()


def network_identity(factory: Callable[..., Any] | None, pbf: str | None) -> str | None:
    """The road network's identity: the factory's own ``identity`` attribute if it has
    one, else the ``LOCATOR_PBF`` extract (path, size and modification time); None when
    neither is known (the run is then not shared)."""
    if factory is None:
        return None
    own = getattr(factory, "identity", None)
    if isinstance(own, str) and own:
        return own
    if not pbf:
        return None
    try:
        st = os.stat(pbf)
    except OSError:
        return None
    return f"pbf:{os.path.abspath(pbf)}:{st.st_size}:{st.st_mtime_ns}"


def run_key(kind: str, params: Mapping[str, Any], *, engine: Mapping[str, Any],
            stations: str, data: str) -> str:
    """The key of a run: ``kind``, its ``params`` (JSON-able, normalised), the
    ``engine`` description and the identities of its ``stations`` and ``data``."""
    d = _Digest()
    d.json("head", {"format": RESULT_FORMAT, "version": __version__, "kind": kind})
    d.json("params", dict(params))
    d.json("engine", dict(engine))
    d.add("stations", stations.encode())
    d.add("data", data.encode())
    return d.hexdigest()
