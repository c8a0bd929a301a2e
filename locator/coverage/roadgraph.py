"""Road graphs for the network engine: OpenStreetMap extracts to travel-time graphs.

:func:`load_osm_graph` reads an OpenStreetMap extract (``.osm.pbf``) with pyrosm and
builds a :class:`RoadGraph`: a directed ``scipy.sparse.csr_matrix`` of travel seconds
between road nodes (indexed ``0..n-1``, with WGS-84 ``lon``/``lat`` arrays), for one
travel mode, cached on disk. :func:`graph_from_arrays` builds one from plain arrays
(tests, benchmarks, other sources). The engine that searches these graphs is
:mod:`.network`.

Every result built from OSM data must carry :data:`ATTRIBUTION`
("© OpenStreetMap contributors", linking to :data:`ATTRIBUTION_URL`); a distributed
derived database is ODbL.

Getting a city's extract
------------------------
The engine never downloads anything. A city union fetches its extract once, on a
machine with internet access, and copies the file over:

* Geofabrik publishes daily China extracts (the whole country and per-province files
  under ``download.geofabrik.de/asia/china/``); BBBike publishes ready-cut extracts
  of many large cities and cuts custom areas on request (``extract.bbbike.org``).
* Cut a province file down to the city with osmium-tool, e.g. for Xuzhou:
  ``osmium extract -b 116.35,33.70,118.70,34.98 jiangsu-latest.osm.pbf -o xuzhou.osm.pbf``
  (``-b`` is ``lon_min,lat_min,lon_max,lat_max``; ``-p boundary.geojson`` cuts along
  a district boundary instead). ``load_osm_graph(..., bbox=...)`` can clip while
  reading too, but a small file reads much faster.
* Keep the file's date with it: the roads are as good as the extract's date.

Travel rules per mode (OSM tags; the first value of a multi-value tag decides)
-----------------------------------------------------------------------------
Read with pyrosm's ``network_type="all"`` (every ``highway`` way), then filtered here,
so that the rules are ours, documented and tested (:func:`segment_access`). No mode
uses areas (``area=yes``: a square's outline is not a street), ways that are
abandoned, disused, planned or under construction, bus guideways, busways or raceways.

* **walk** - both directions on every way (``oneway`` binds vehicles only; an explicit
  ``oneway:foot`` is obeyed). Excluded: ``motorway``/``motorway_link`` and
  ``motorroad=yes`` ways unless ``foot`` grants access; ``cycleway`` unless ``foot``
  allows it or it is a shared path (``segregated`` is set); ways closed to pedestrians:
  the most specific of ``foot`` then ``access`` is ``no``, ``private`` or
  ``use_sidepath``. Ways whose sidewalks are mapped separately (``sidewalk=separate``)
  stay in, unlike pyrosm's and OSMnx's walking filters: walking the road line instead
  of the sidewalk beside it changes times by a few seconds, while dropping it can cut
  the only mapped crossing.
* **bike** and **ebike** - ``oneway`` is obeyed unless ``oneway:bicycle=no`` or a
  contraflow lane (``cycleway[:left|:right|:both]=opposite*``); ``oneway:bicycle``
  alone makes a way one-way; roundabouts and motorways are one-way by default.
  Excluded: ``steps``, elevators, escalators, indoor corridors; motorways and
  ``motorroad=yes`` unless the bicycle tag grants access; footway-only ways
  (``footway``, ``pedestrian``, ``bridleway``, and ``path`` with ``foot=designated``
  and no bicycle tag) unless ``bicycle`` is ``yes``, ``designated`` or ``permissive``;
  ways closed by the most specific of ``bicycle`` (for e-bikes ``electric_bicycle``
  first), ``vehicle``, ``access``. ``bicycle=dismount`` keeps a way, at walking pace
  (the rider pushes). ``motor_vehicle`` tags do not bind: in China an e-bike
  (电动自行车) is a non-motor vehicle. Central Helsinki shows the price of strict
  footway rules: pockets reached only by footways fall out of the bicycle graph.
* ``access=destination``/``delivery``/``customers`` stay open: a worker heading for a
  station is a legitimate visitor.

Edge weights are the great-circle length of each OSM segment divided by the mode's
speed (:data:`locator.config.SPEEDS_KMH`; e-bikes never above the legal 25 km/h). Strongly
connected pieces smaller than ``min_component_nodes`` nodes (clipping debris at the
extract's edge, one-way dead ends, unconnected footways in courtyards) are dropped, so
that nothing snaps to a node from which (almost) nothing is reachable.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from .. import config
from ..errors import InvalidInput
from ..geo import haversine_np
from .straight import check_lonlat, check_mode, mode_speed_kmh

__all__ = [
    "ATTRIBUTION",
    "ATTRIBUTION_URL",
    "DEFAULT_MIN_COMPONENT_NODES",
    "RoadGraph",
    "SegmentAccess",
    "default_cache_dir",
    "graph_from_arrays",
    "graph_from_segments",
    "load_osm_graph",
    "segment_access",
]

#: Attribution every map, report and export built from OSM data must show.
ATTRIBUTION = config.OSM_CREDIT
ATTRIBUTION_URL = config.OSM_COPYRIGHT_URL
#: Strongly connected pieces with fewer nodes are dropped from a graph read from OSM.
DEFAULT_MIN_COMPONENT_NODES = 10

_RULES_VERSION = 1  # bump when the access rules or the cache layout change

# OSM tag keys read from the extract (pyrosm adds the ones present as columns).
_TAG_KEYS = [
    "highway", "access", "foot", "bicycle", "vehicle", "electric_bicycle", "motorroad",
    "oneway", "oneway:bicycle", "oneway:foot", "junction", "cycleway", "cycleway:left",
    "cycleway:right", "cycleway:both", "segregated", "area",
]
_CLOSED = ["no", "private", "use_sidepath"]
_GRANTED = ["yes", "designated", "permissive", "official"]
_NEVER = ["bus_guideway", "busway", "raceway", "abandoned", "construction", "disused",
          "planned", "proposed", "razed", "no"]
_MOTOR = ["motorway", "motorway_link"]
_BIKE_NEVER = ["steps", "elevator", "escalator", "corridor"]
_FOOT_ONLY = ["footway", "pedestrian", "bridleway"]
_YES = ["yes", "true", "1"]
_REVERSE = ["-1", "reverse"]
_CONTRAFLOW = ["opposite", "opposite_lane", "opposite_track", "opposite_share_busway"]


# --------------------------------------------------------------------------- access rules


@dataclass(frozen=True)
class SegmentAccess:
    """Which way each OSM segment ``u -> v`` may be travelled in one mode."""

    forward: np.ndarray  #: bool, ``u -> v`` allowed
    backward: np.ndarray  #: bool, ``v -> u`` allowed
    pushed: np.ndarray  #: bool, travelled at walking pace (``bicycle=dismount``)


def _tag(segments: pd.DataFrame, key: str) -> pd.Series:
    """The first value of an OSM tag, stripped and lower-cased ('' where absent)."""
    if key not in segments.columns:
        return pd.Series("", index=segments.index, dtype=object)
    s = segments[key].astype("string").fillna("").str.split(";", n=1).str[0]
    return s.str.strip().str.lower().astype(object)


def _first_present(segments: pd.DataFrame, keys: Sequence[str]) -> pd.Series:
    """Per segment, the value of the first key in ``keys`` that it carries."""
    out = pd.Series("", index=segments.index, dtype=object)
    for key in reversed(keys):
        v = _tag(segments, key)
        out = v.where(v != "", out)
    return out


def segment_access(segments: pd.DataFrame, mode: str) -> SegmentAccess:
    """Apply the travel rules of ``mode`` (module docstring) to OSM way segments.

    Parameters
    ----------
    segments
        One row per segment ``u -> v`` in the way's drawing direction, with OSM tags as
        columns (``highway``, ``oneway``, ``foot``, ...; missing columns mean untagged).
    mode
        ``walk``, ``bike`` or ``ebike``.
    """
    mode = check_mode(mode)
    hw = _tag(segments, "highway")
    motorroad = _tag(segments, "motorroad").isin(_YES)
    barred = hw.isin(_MOTOR) | motorroad
    never = hw.isin(_NEVER) | _tag(segments, "area").isin(_YES)
    if mode == "walk":
        foot = _tag(segments, "foot")
        granted = foot.isin(_GRANTED)
        closed = _first_present(segments, ["foot", "access"]).isin(_CLOSED)
        shared = _tag(segments, "segregated") != ""
        ok = ~never & ~closed
        ok &= ~barred | granted
        ok &= (hw != "cycleway") | granted | shared
        ow = _tag(segments, "oneway:foot")
        fwd = ok & ~ow.isin(_REVERSE)
        bwd = ok & ~ow.isin(_YES)
        pushed = np.zeros(len(segments), dtype=bool)
        return SegmentAccess(fwd.to_numpy(bool), bwd.to_numpy(bool), pushed)

    keys = ["bicycle", "vehicle", "access"]
    if mode == "ebike":
        keys.insert(0, "electric_bicycle")
    bike_tag = _first_present(segments, keys[:-2])
    decider = _first_present(segments, keys)
    granted = bike_tag.isin(_GRANTED)
    dismount = decider == "dismount"
    foot_only = hw.isin(_FOOT_ONLY) | (
        (hw == "path") & (_tag(segments, "foot") == "designated") & (bike_tag == ""))
    ok = ~never & ~hw.isin(_BIKE_NEVER) & ~decider.isin(_CLOSED)
    ok &= ~barred | granted
    ok &= ~foot_only | granted | dismount
    ow_bike = _tag(segments, "oneway:bicycle")
    ow = _tag(segments, "oneway")
    implied = _tag(segments, "junction").isin(["roundabout", "circular"]) | hw.isin(_MOTOR)
    ow = ow.where(ow != "", pd.Series(np.where(implied, "yes", ""), index=segments.index))
    contra = pd.Series(False, index=segments.index)
    for key in ("cycleway", "cycleway:left", "cycleway:right", "cycleway:both"):
        contra |= _tag(segments, key).isin(_CONTRAFLOW)
    ow = ow.where(~contra, "no")
    ow = ow_bike.where(ow_bike != "", ow)
    fwd = ok & ~ow.isin(_REVERSE)
    bwd = ok & ~ow.isin(_YES)
    return SegmentAccess(fwd.to_numpy(bool), bwd.to_numpy(bool), (ok & dismount).to_numpy(bool))


# --------------------------------------------------------------------------- the graph


@dataclass(frozen=True, eq=False)
class RoadGraph:
    """A directed road graph of one travel mode; immutable.

    ``matrix[i, j]`` is the travel time in seconds from node ``i`` to node ``j`` along
    one road segment (an explicit entry, possibly 0 for coincident nodes). No edge is
    faster than :attr:`max_speed_mps` over its great-circle length, which the local
    searches rely on: build graphs with :func:`graph_from_arrays`.
    """

    matrix: sparse.csr_matrix
    lon: np.ndarray
    lat: np.ndarray
    node_ids: np.ndarray  #: OSM node ids (or ``0..n-1`` for synthetic graphs)
    mode: str
    speed_kmh: float
    walk_speed_kmh: float
    source: str = ""

    @property
    def n_nodes(self) -> int:
        return int(self.lon.size)

    @property
    def n_edges(self) -> int:
        return int(self.matrix.nnz)

    @property
    def max_speed_mps(self) -> float:
        """Upper bound of great-circle metres per second along any edge."""
        return max(self.speed_kmh, self.walk_speed_kmh) / 3.6

    @cached_property
    def reverse(self) -> sparse.csr_matrix:
        """The transposed graph: ``reverse[j, i]`` is the time of the edge ``i -> j``."""
        rev = self.matrix.T.tocsr()
        rev.sort_indices()
        return rev

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(u, v, seconds)`` of every directed edge."""
        m = self.matrix
        u = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
        return u, m.indices.astype(np.int64), m.data.copy()

    def bounds(self) -> tuple[float, float, float, float]:
        """``(lon_min, lat_min, lon_max, lat_max)`` of the nodes."""
        return (float(self.lon.min()), float(self.lat.min()),
                float(self.lon.max()), float(self.lat.max()))

    def same_as(self, other: RoadGraph) -> bool:
        """Whether two graphs are identical (topology, weights, coordinates, mode)."""
        a, b = self.matrix, other.matrix
        return (self.mode == other.mode and self.speed_kmh == other.speed_kmh
                and a.shape == b.shape and np.array_equal(a.indptr, b.indptr)
                and np.array_equal(a.indices, b.indices) and np.array_equal(a.data, b.data)
                and np.array_equal(self.lon, other.lon) and np.array_equal(self.lat, other.lat)
                and np.array_equal(self.node_ids, other.node_ids))

    # ----------------------------------------------------------- npz cache
    def save(self, path: str | Path) -> None:
        """Write the graph to ``path`` (``.npz``) atomically."""
        path = Path(path)
        meta = {"mode": self.mode, "speed_kmh": self.speed_kmh,
                "walk_speed_kmh": self.walk_speed_kmh, "source": self.source,
                "version": _RULES_VERSION}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, indptr=self.matrix.indptr, indices=self.matrix.indices,
                     data=self.matrix.data, lon=self.lon, lat=self.lat,
                     node_ids=self.node_ids, meta=np.array(json.dumps(meta)))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> RoadGraph:
        """Read a graph written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("version") != _RULES_VERSION:
                raise ValueError(f"{path}: graph cache version {meta.get('version')}, "
                                 f"expected {_RULES_VERSION}")
            n = z["lon"].size
            mat = sparse.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=(n, n))
            return cls(mat, z["lon"], z["lat"], z["node_ids"], meta["mode"],
                       float(meta["speed_kmh"]), float(meta["walk_speed_kmh"]), meta["source"])


def graph_from_arrays(lon: Any, lat: Any, u: Any, v: Any, *, mode: str = "walk",
                      speed_kmh: float | None = None, forward: Any = None,
                      backward: Any = None, pushed: Any = None, node_ids: Any = None,
                      min_component_nodes: int = 1, source: str = "") -> RoadGraph:
    """Build a :class:`RoadGraph` from node coordinates and segments.

    Parameters
    ----------
    lon, lat
        Node coordinates (WGS-84 degrees).
    u, v
        Segment end nodes, as indices into ``lon``/``lat``.
    mode, speed_kmh
        Travel mode and its speed (default :data:`locator.config.SPEEDS_KMH`).
    forward, backward
        Whether ``u -> v`` and ``v -> u`` may be travelled (default: both).
    pushed
        Segments travelled at walking pace (a pushed bicycle). Walking pace, also for
        the snapping walks, is ``speed_kmh`` in walk mode, else the configured walk
        speed.
    node_ids
        External node ids kept on the graph (default ``0..n-1``).
    min_component_nodes
        Nodes in strongly connected pieces with fewer nodes are dropped.
    """
    mode = check_mode(mode)
    speed = mode_speed_kmh(mode, speed_kmh)
    walk = speed if mode == "walk" else config.SPEEDS_KMH["walk"]
    lon, lat = check_lonlat(lon, lat, "node")
    u = np.asarray(u, dtype=np.int64).reshape(-1)
    v = np.asarray(v, dtype=np.int64).reshape(-1)
    n = lon.size
    if u.shape != v.shape or (u.size and (min(u.min(), v.min()) < 0 or max(u.max(), v.max()) >= n)):
        raise InvalidInput(f"segments: u and v must be equally long indices into the {n} "
                           "nodes", field="segments")
    ones = np.ones(u.size, dtype=bool)
    fwd = ones if forward is None else np.asarray(forward, dtype=bool)
    bwd = ones if backward is None else np.asarray(backward, dtype=bool)
    slow = ~ones if pushed is None else np.asarray(pushed, dtype=bool)
    ids = np.arange(n, dtype=np.int64) if node_ids is None else np.asarray(node_ids, np.int64)

    metres = haversine_np(lon[u], lat[u], lon[v], lat[v])
    secs = metres / (np.where(slow, min(walk, speed), speed) / 3.6)
    a = np.concatenate([u[fwd], v[bwd]])
    b = np.concatenate([v[fwd], u[bwd]])
    w = np.concatenate([secs[fwd], secs[bwd]])
    keep = a != b
    a, b, w = a[keep], b[keep], w[keep]
    # One edge per (a, b): the fastest of parallel segments.
    order = np.lexsort((w, b, a))
    a, b, w = a[order], b[order], w[order]
    first = np.ones(a.size, dtype=bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    a, b, w = a[first], b[first], w[first]

    # Keep nodes on an edge, in strongly connected pieces of at least min_component_nodes
    # nodes: from a node outside them (the end of a one-way street cut by the extract's
    # edge) little or nothing is reachable, so nothing may snap to it.
    used = np.zeros(n, dtype=bool)
    used[a] = True
    used[b] = True
    if min_component_nodes > 1 and a.size:
        g = sparse.csr_matrix((np.ones(a.size), (a, b)), shape=(n, n))
        _, labels = connected_components(g, directed=True, connection="strong")
        size = np.bincount(labels[used], minlength=labels.max() + 1)
        used &= size[labels] >= min_component_nodes
        e_keep = used[a] & used[b]
        a, b, w = a[e_keep], b[e_keep], w[e_keep]
    new = np.full(n, -1, dtype=np.int64)
    kept = np.flatnonzero(used)
    new[kept] = np.arange(kept.size)
    k = kept.size
    counts = np.bincount(new[a], minlength=k)
    indptr = np.zeros(k + 1, dtype=np.int32 if a.size < 2**31 else np.int64)
    np.cumsum(counts, out=indptr[1:])
    mat = sparse.csr_matrix((w.astype(np.float64), new[b].astype(indptr.dtype), indptr),
                            shape=(k, k))
    return RoadGraph(mat, lon[kept].copy(), lat[kept].copy(), ids[kept].copy(), mode, speed,
                     walk, source)


def graph_from_segments(nodes: pd.DataFrame, segments: pd.DataFrame, mode: str = "walk", *,
                        speed_kmh: float | None = None,
                        min_component_nodes: int = DEFAULT_MIN_COMPONENT_NODES,
                        source: str = "") -> RoadGraph:
    """Build a graph from OSM-like tables, applying :func:`segment_access` for ``mode``.

    Parameters
    ----------
    nodes
        Columns ``id``, ``lon``, ``lat``.
    segments
        Columns ``u``, ``v`` (node ids) and OSM tags (``highway``, ``oneway``, ...), as
        returned by pyrosm's ``get_network(nodes=True)``: one row per segment.
    """
    missing = {"id", "lon", "lat"} - set(nodes.columns) | {"u", "v"} - set(segments.columns)
    if missing:
        raise InvalidInput(f"segments: missing columns {sorted(missing)}; nodes need id, lon, "
                           "lat and segments u, v plus OSM tags", field="segments")
    ids = nodes["id"].to_numpy(np.int64)
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]

    def index_of(col: str) -> np.ndarray:
        x = segments[col].to_numpy(np.int64)
        pos = np.minimum(np.searchsorted(sorted_ids, x), max(ids.size - 1, 0))
        found = sorted_ids[pos] == x if ids.size else np.zeros(x.size, dtype=bool)
        return np.where(found, order[pos], -1)

    u, v = index_of("u"), index_of("v")
    acc = segment_access(segments, mode)
    ok = (u >= 0) & (v >= 0)
    return graph_from_arrays(nodes["lon"].to_numpy(np.float64), nodes["lat"].to_numpy(np.float64),
                             u[ok], v[ok], mode=mode, speed_kmh=speed_kmh,
                             forward=acc.forward[ok], backward=acc.backward[ok],
                             pushed=acc.pushed[ok], node_ids=ids,
                             min_component_nodes=min_component_nodes, source=source)


# --------------------------------------------------------------------------- OSM + cache


def default_cache_dir() -> Path:
    """The ``LOCATOR_CACHE_DIR`` setting, else ``$XDG_CACHE_HOME/station-locator/networks``
    (``XDG_CACHE_HOME`` is the desktop standard's, not ours)."""
    from ..settings import load_settings

    configured = load_settings().cache_dir
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "station-locator" / "networks"


def _cache_key(pbf: Path, mode: str, speed: float, bbox: Any, min_nodes: int) -> str:
    st = pbf.stat()
    key = {"path": str(pbf.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
           "mode": mode, "speed_kmh": speed, "walk_kmh": config.SPEEDS_KMH["walk"],
           "bbox": None if bbox is None else [float(x) for x in bbox],
           "min_component_nodes": int(min_nodes), "version": _RULES_VERSION}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def load_osm_graph(pbf_path: str | Path, mode: str = "walk", *, speed_kmh: float | None = None,
                   bbox: Sequence[float] | None = None, cache_dir: str | Path | None = None,
                   use_cache: bool = True,
                   min_component_nodes: int = DEFAULT_MIN_COMPONENT_NODES) -> RoadGraph:
    """Read an ``.osm.pbf`` extract and build the graph of ``mode``, cached on disk.

    Parameters
    ----------
    pbf_path
        The extract (see the module docstring for how to get one).
    mode, speed_kmh
        Travel mode and speed (defaults from :data:`locator.config.SPEEDS_KMH`; e-bikes
        at most 25 km/h).
    bbox
        ``(lon_min, lat_min, lon_max, lat_max)`` to read only part of the extract.
    cache_dir
        Where built graphs are kept (default :func:`default_cache_dir`). The cache file
        is keyed by the extract's path, size and modification time, the mode, the speeds,
        ``bbox`` and the rules version, so a changed extract is rebuilt.
    use_cache
        ``False`` neither reads nor writes the cache.
    """
    mode = check_mode(mode)
    speed = mode_speed_kmh(mode, speed_kmh)
    pbf = Path(pbf_path)
    if not pbf.is_file():
        raise InvalidInput(f"pbf_path: {str(pbf)!r} is not a file; give an OpenStreetMap "
                           "extract (.osm.pbf)", field="pbf_path")
    if bbox is not None:
        bbox = [float(x) for x in bbox]
        if len(bbox) != 4 or not (bbox[0] < bbox[2] and bbox[1] < bbox[3]):
            raise InvalidInput(f"bbox: {bbox!r} is not (lon_min, lat_min, lon_max, lat_max)",
                               field="bbox")
    cache_file = None
    if use_cache:
        folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        key = _cache_key(pbf, mode, speed, bbox, min_component_nodes)
        cache_file = folder / f"{pbf.name.split('.')[0]}-{mode}-{key}.npz"
        if cache_file.is_file():
            try:
                return RoadGraph.load(cache_file)
            except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile):
                pass  # unreadable or stale: rebuild and overwrite
    nodes, segments = _read_pbf(pbf, bbox)
    graph = graph_from_segments(nodes, segments, mode, speed_kmh=speed,
                                min_component_nodes=min_component_nodes, source=pbf.name)
    if graph.n_nodes == 0:
        where = f" inside bbox {bbox}" if bbox else ""
        raise InvalidInput(f"pbf_path: {pbf.name} has no connected roads usable for {mode}"
                           f"{where}; give an extract that covers the stations' streets",
                           field="pbf_path")
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        graph.save(cache_file)
    return graph


def _read_pbf(pbf: Path, bbox: list[float] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    try:
        import pyrosm
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("reading OpenStreetMap extracts needs pyrosm: pip install pyrosm"
                          ) from exc
    osm = pyrosm.OSM(str(pbf), bounding_box=bbox, engine="in_memory", progress=False)
    extra = [k for k in _TAG_KEYS if k != "highway"]
    nodes, segments = osm.get_network(network_type="all", nodes=True, extra_attributes=extra)
    if segments is None or nodes is None or len(segments) == 0:
        raise InvalidInput(f"pbf_path: {pbf.name} holds no roads"
                           f"{' inside bbox ' + str(bbox) if bbox else ''}; give an extract "
                           "that covers the stations", field="pbf_path")
    keep = [c for c in _TAG_KEYS if c in segments.columns]
    return (pd.DataFrame({"id": nodes["id"].to_numpy(np.int64), "lon": nodes["lon"].to_numpy(),
                          "lat": nodes["lat"].to_numpy()}),
            pd.DataFrame(segments[["u", "v", *keep]]))
