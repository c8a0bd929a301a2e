"""An illustrative (fake) set of stations in Xuzhou, for demos, tests and benchmarks.

None of these stations exist. Every name starts with 【示例】, every address
says （示例地址）, every operator starts with 示例·, no phone number is given,
and ``source`` is always ``sample``. Never present them as real.

The set is sized after what Xuzhou's union reports (602 outdoor-worker
stations, 197 worker service centres, 146 women workers' stations) plus a
plausible number of mother-baby rooms, driver's homes and legal-aid points.
Stations cluster in the urban core and around each county seat, with fewer in
the countryside, and each one lies inside the district polygon it names.

The output depends only on the district polygons and the seed: locations and
attributes come from two independent child streams of one
:class:`numpy.random.SeedSequence`, so changing how attributes are drawn does
not move any station.

Regenerate the shipped CSV with::

    python -m locator.stations.sample            # writes geodata/xuzhou_sample_stations.csv
    python -m locator.stations.sample --out other.csv
"""

from __future__ import annotations

import argparse
import csv
import functools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from .._paths import geodata_dir
from ..errors import InvalidInput
from .vocab import AMENITIES, STATION_TYPES

if TYPE_CHECKING:
    import geopandas

__all__ = [
    "DEFAULT_SEED",
    "SAMPLE_COLUMNS",
    "SAMPLE_COUNTS",
    "generate_sample_stations",
    "main",
    "read_sample_csv",
    "write_sample_csv",
]

DEFAULT_SEED = 20231115

#: CSV columns, in order (the editable fields of a station record).
SAMPLE_COLUMNS: tuple[str, ...] = (
    "id", "name", "type", "lon", "lat", "address", "district_adcode", "district_name",
    "operator", "amenities", "opening_hours", "access", "phone", "status",
    "verified_date", "source",
)

#: How many stations of each type. The first three are Xuzhou's reported totals.
SAMPLE_COUNTS: dict[str, int] = {
    "outdoor_worker": 602,
    "mother_baby": 120,
    "service_centre": 197,
    "driver_home": 12,
    "legal_aid": 40,
    "women_worker": 146,
}

#: Stations are kept at least this far apart (metres), as real ones rarely share a door.
MIN_SPACING_M = 60.0

_KM_PER_DEG_LAT = 110.95
_VERIFIED_FROM = date(2025, 1, 1)
_VERIFIED_TO = date(2026, 10, 31)


@dataclass(frozen=True, slots=True)
class _Cluster:
    key: str
    lon: float  # WGS-84, approximate
    lat: float
    sigma_km: float
    weight: float
    #: The district whose seat this is, if any (used to place one legal-aid point per district).
    seat_of: str | None = None


#: Where stations gather. Centres are rough WGS-84 positions of the urban core
#: and of each district or county seat; weights roughly follow population.
_CLUSTERS: tuple[_Cluster, ...] = (
    _Cluster("centre", 117.185, 34.262, 2.5, 0.16),
    _Cluster("gulou", 117.190, 34.290, 2.5, 0.07, "320302"),
    _Cluster("yunlong", 117.240, 34.250, 2.5, 0.06, "320303"),
    _Cluster("new_city", 117.280, 34.220, 2.5, 0.05),
    _Cluster("quanshan", 117.155, 34.240, 2.5, 0.06, "320311"),
    _Cluster("tongshan", 117.170, 34.190, 2.5, 0.06, "320312"),
    _Cluster("outskirts", 117.190, 34.250, 6.0, 0.04),
    _Cluster("jiawang", 117.450, 34.440, 2.0, 0.040, "320305"),
    _Cluster("feng", 116.590, 34.700, 2.0, 0.065, "320321"),
    _Cluster("pei", 116.930, 34.720, 2.0, 0.070, "320322"),
    _Cluster("suining", 117.940, 33.910, 2.0, 0.065, "320324"),
    _Cluster("xinyi", 118.350, 34.370, 2.0, 0.065, "320381"),
    _Cluster("pizhou", 117.960, 34.330, 2.0, 0.080, "320382"),
)
#: Weight of "anywhere in the city" (towns and villages), before the per-type factor.
_RURAL_WEIGHT = 0.115

#: Per type: factor on the rural weight, and factor on cluster spread.
_SPREAD: dict[str, tuple[float, float]] = {
    "outdoor_worker": (1.0, 1.0),
    "mother_baby": (0.3, 0.8),   # malls, hospitals, offices: central
    "service_centre": (3.0, 1.0),  # one per town or street office
    "driver_home": (4.0, 2.0),   # logistics parks and highway exits, outside the centres
    "legal_aid": (1.0, 1.0),
    "women_worker": (1.3, 1.0),
}

#: Per type: (amenity, probability). Drawn independently, written in vocabulary order.
_AMENITY_P: dict[str, dict[str, float]] = {
    "outdoor_worker": {
        "seating": 0.97, "drinking_water": 0.96, "microwave": 0.88, "phone_charging": 0.92,
        "first_aid": 0.88, "air_conditioning": 0.70, "heating": 0.55, "toilet": 0.40,
        "fridge": 0.30, "ebike_charging": 0.18, "wifi": 0.40, "reading_corner": 0.12,
        "aed": 0.03,
    },
    "mother_baby": {
        "baby_changing": 0.97, "nursing_chair": 0.95, "hot_water_basin": 0.85,
        "lockable_door": 0.90, "seating": 0.90, "drinking_water": 0.55,
        "air_conditioning": 0.75, "heating": 0.45, "toilet": 0.25, "fridge": 0.15,
        "phone_charging": 0.30, "wifi": 0.25,
    },
    "service_centre": {
        "seating": 0.98, "drinking_water": 0.95, "toilet": 0.85, "air_conditioning": 0.85,
        "heating": 0.70, "wifi": 0.80, "reading_corner": 0.60, "first_aid": 0.80,
        "phone_charging": 0.80, "microwave": 0.60, "fridge": 0.30, "aed": 0.20,
        "ebike_charging": 0.08,
    },
    "driver_home": {
        "truck_parking": 1.0, "shower": 0.95, "toilet": 1.0, "drinking_water": 0.95,
        "seating": 0.90, "microwave": 0.70, "phone_charging": 0.80, "wifi": 0.70,
        "air_conditioning": 0.80, "heating": 0.60, "first_aid": 0.70, "fridge": 0.30,
        "aed": 0.15, "reading_corner": 0.20,
    },
    "legal_aid": {
        "seating": 0.95, "drinking_water": 0.85, "wifi": 0.50, "air_conditioning": 0.70,
        "heating": 0.50, "toilet": 0.50, "reading_corner": 0.30, "phone_charging": 0.40,
    },
    "women_worker": {
        "seating": 0.95, "drinking_water": 0.90, "nursing_chair": 0.50, "baby_changing": 0.35,
        "lockable_door": 0.60, "hot_water_basin": 0.40, "air_conditioning": 0.75,
        "heating": 0.50, "reading_corner": 0.50, "first_aid": 0.70, "wifi": 0.60,
        "microwave": 0.45, "fridge": 0.40, "toilet": 0.50, "phone_charging": 0.60,
    },
}

#: Opening hours (OSM syntax); "" means unknown.
_HOURS: tuple[str, ...] = (
    "24/7",
    "Mo-Su 08:00-22:00",
    "Mo-Fr 08:30-17:30; PH off",
    "Mo-Fr 08:00-18:00; Sa,Su 09:00-17:00",
    "Mo-Su 07:00-21:00",
    "",
)
#: Per type: probabilities of each entry of _HOURS.
_HOURS_P: dict[str, tuple[float, ...]] = {
    "outdoor_worker": (0.25, 0.27, 0.09, 0.11, 0.20, 0.08),
    "mother_baby": (0.08, 0.35, 0.15, 0.15, 0.19, 0.08),
    "service_centre": (0.03, 0.10, 0.45, 0.27, 0.07, 0.08),
    "driver_home": (0.85, 0.05, 0.0, 0.0, 0.05, 0.05),
    "legal_aid": (0.0, 0.0, 0.70, 0.22, 0.0, 0.08),
    "women_worker": (0.05, 0.15, 0.35, 0.25, 0.12, 0.08),
}

#: Per type: probability that access is workers_only (otherwise public,
#: or qr_entry for most unstaffed 24/7 stations).
_WORKERS_ONLY_P: dict[str, float] = {
    "outdoor_worker": 0.05, "mother_baby": 0.12, "service_centre": 0.15,
    "driver_home": 0.30, "legal_aid": 0.0, "women_worker": 0.30,
}
_QR_WHEN_24_7_P: dict[str, float] = {
    "outdoor_worker": 0.70, "mother_baby": 0.50, "service_centre": 0.50,
    "driver_home": 0.20, "legal_aid": 0.0, "women_worker": 0.50,
}

#: Kinds of host unit, each marked as sample.
_OPERATORS: dict[str, tuple[str, ...]] = {
    "outdoor_worker": (
        "示例·社区党群服务中心", "示例·加油站", "示例·银行网点", "示例·环卫所", "示例·快递网点",
        "示例·便利店", "示例·供电营业厅", "示例·公园管理处", "示例·商场", "示例·街道总工会",
    ),
    "mother_baby": (
        "示例·商场", "示例·医院", "示例·企业工会", "示例·政务服务中心", "示例·交通枢纽",
        "示例·社区党群服务中心", "示例·银行网点",
    ),
    "service_centre": (
        "示例·区（县、市）总工会", "示例·镇（街道）总工会", "示例·产业园区工会",
        "示例·企业工会", "示例·社区党群服务中心",
    ),
    "driver_home": ("示例·物流园区", "示例·高速服务区", "示例·加油站", "示例·货运场站"),
    "legal_aid": (
        "示例·区（县、市）总工会", "示例·司法所", "示例·律师事务所", "示例·法律援助中心",
        "示例·镇（街道）总工会",
    ),
    "women_worker": (
        "示例·企业工会女职工委员会", "示例·社区妇联", "示例·医院", "示例·学校工会",
        "示例·产业园区工会", "示例·商场",
    ),
}

_STATUS: tuple[str, ...] = ("open", "temporarily_closed", "closed")
_STATUS_P: tuple[float, ...] = (0.95, 0.03, 0.02)


# --------------------------------------------------------------------------- locations


class _Districts:
    """Prepared district polygons for point-in-polygon lookups."""

    def __init__(self, districts: geopandas.GeoDataFrame):
        missing = {"adcode", "name"} - set(districts.columns)
        if missing:
            raise InvalidInput(
                f"districts: missing column(s) {', '.join(sorted(missing))}; "
                "need 'adcode', 'name' and a polygon geometry",
                field="districts",
            )
        if districts.crs is None or districts.crs.to_epsg() != 4326:
            raise InvalidInput(
                f"districts: CRS is {districts.crs}; must be WGS-84 (EPSG:4326)",
                field="districts",
            )
        if len(districts) == 0:
            raise InvalidInput("districts: is empty; need at least one polygon", field="districts")
        self.adcodes = [str(a) for a in districts["adcode"]]
        self.names = [str(n) for n in districts["name"]]
        self.geoms = np.asarray(districts.geometry.values, dtype=object)
        shapely.prepare(self.geoms)
        self.bounds = shapely.total_bounds(self.geoms)

    def locate(self, lon: float, lat: float) -> int | None:
        """Index of the district containing the point, or None outside all of them."""
        hits = np.flatnonzero(shapely.contains_xy(self.geoms, lon, lat))
        return int(hits[0]) if len(hits) else None


def _gauss_point(rng: np.random.Generator, c: _Cluster, scale: float) -> tuple[float, float]:
    dx, dy = rng.normal(0.0, c.sigma_km * scale, size=2)
    lon = c.lon + dx / (_KM_PER_DEG_LAT * 1.0034 * math.cos(math.radians(c.lat)))
    lat = c.lat + dy / _KM_PER_DEG_LAT
    return lon, lat


def _too_close(lons: list[float], lats: list[float], lon: float, lat: float) -> bool:
    if not lons:
        return False
    kx = 111.32e3 * math.cos(math.radians(lat))
    dx = (np.asarray(lons) - lon) * kx
    dy = (np.asarray(lats) - lat) * _KM_PER_DEG_LAT * 1e3
    return bool(np.min(dx * dx + dy * dy) < MIN_SPACING_M**2)


def _place(
    rng: np.random.Generator,
    dist: _Districts,
    draw: Callable[[], tuple[float, float]],
    placed: tuple[list[float], list[float]],
    *,
    want_district: str | None = None,
    max_tries: int = 10_000,
) -> tuple[float, float, int]:
    """Rejection-sample a point from ``draw`` until it falls inside a district."""
    for _ in range(max_tries):
        lon, lat = draw()
        lon, lat = round(lon, 6), round(lat, 6)
        i = dist.locate(lon, lat)
        if i is None or (want_district is not None and dist.adcodes[i] != want_district):
            continue
        if _too_close(*placed, lon, lat):
            continue
        placed[0].append(lon)
        placed[1].append(lat)
        return lon, lat, i
    raise RuntimeError(
        f"could not place a station after {max_tries} tries"
        + (f" inside district {want_district}" if want_district else "")
        + "; are the district polygons those of Xuzhou?"
    )


def _locations(
    rng: np.random.Generator, dist: _Districts
) -> list[tuple[str, float, float, int]]:
    """(type, lon, lat, district index) for every station, in generation order."""
    xmin, ymin, xmax, ymax = dist.bounds
    placed: tuple[list[float], list[float]] = ([], [])
    out: list[tuple[str, float, float, int]] = []
    for stype in STATION_TYPES.codes:
        n = SAMPLE_COUNTS[stype]
        rural_factor, scale = _SPREAD[stype]
        weights = np.array([c.weight for c in _CLUSTERS] + [_RURAL_WEIGHT * rural_factor])
        weights /= weights.sum()
        start = 0
        if stype == "legal_aid":
            # one legal-aid point at each district or county seat, then the rest at random
            for c in _CLUSTERS:
                if c.seat_of is not None and c.seat_of in dist.adcodes:
                    seat = _Cluster(c.key, c.lon, c.lat, 0.5, 0.0)
                    near_seat = functools.partial(_gauss_point, rng, seat, 1.0)
                    lon, lat, i = _place(rng, dist, near_seat, placed, want_district=c.seat_of)
                    out.append((stype, lon, lat, i))
                    start += 1
        for _ in range(start, n):
            k = int(rng.choice(len(weights), p=weights))
            draw: Callable[[], tuple[float, float]]
            if k == len(_CLUSTERS):
                def draw() -> tuple[float, float]:
                    return float(rng.uniform(xmin, xmax)), float(rng.uniform(ymin, ymax))
            else:
                draw = functools.partial(_gauss_point, rng, _CLUSTERS[k], scale)
            lon, lat, i = _place(rng, dist, draw, placed)
            out.append((stype, lon, lat, i))
    return out


# --------------------------------------------------------------------------- attributes


def _amenities(rng: np.random.Generator, stype: str) -> str:
    probs = _AMENITY_P[stype]
    draws = rng.random(len(AMENITIES.codes))
    return ";".join(
        code for code, u in zip(AMENITIES.codes, draws, strict=True) if u < probs.get(code, 0.0)
    )


def _verified_date(rng: np.random.Generator) -> str:
    span = (_VERIFIED_TO - _VERIFIED_FROM).days
    return (_VERIFIED_FROM + timedelta(days=int(rng.integers(0, span + 1)))).isoformat()


def _attributes(rng: np.random.Generator, stype: str) -> dict[str, str]:
    hours = _HOURS[int(rng.choice(len(_HOURS), p=_HOURS_P[stype]))]
    u_access = rng.random()
    if hours == "24/7" and u_access < _QR_WHEN_24_7_P[stype]:
        access = "qr_entry"
    elif rng.random() < _WORKERS_ONLY_P[stype]:
        access = "workers_only"
    else:
        access = "public"
    ops = _OPERATORS[stype]
    return {
        "operator": ops[int(rng.integers(len(ops)))],
        "amenities": _amenities(rng, stype),
        "opening_hours": hours,
        "access": access,
        "phone": "",  # never invent phone numbers: a made-up one may belong to someone
        "status": _STATUS[int(rng.choice(len(_STATUS), p=_STATUS_P))],
        "verified_date": _verified_date(rng),
    }


def generate_sample_stations(
    districts: geopandas.GeoDataFrame, *, seed: int = DEFAULT_SEED
) -> list[dict[str, Any]]:
    """Generate the illustrative station set.

    Parameters
    ----------
    districts
        District polygons in WGS-84 with columns ``adcode`` and ``name``, normally
        ``geodata/xuzhou_districts.geojson``. Stations are only placed inside them.
    seed
        Seed of the random streams; the same polygons and seed give the same stations.

    Returns
    -------
    list of dict
        One dict per station with the keys of :data:`SAMPLE_COLUMNS`: ``lon``/``lat``
        are floats rounded to 6 decimals, ``amenities`` is ``;``-separated, every
        other value is a string (``""`` when unknown).

    Raises
    ------
    InvalidInput
        If ``districts`` lacks the columns or is not in EPSG:4326.
    """
    dist = _Districts(districts)
    loc_seq, attr_seq = np.random.SeedSequence(seed).spawn(2)
    locations = _locations(np.random.default_rng(loc_seq), dist)
    attr_rng = np.random.default_rng(attr_seq)

    per_name: Counter[tuple[str, str]] = Counter()
    per_district: Counter[str] = Counter()
    stations: list[dict[str, Any]] = []
    for n, (stype, lon, lat, i) in enumerate(locations, start=1):
        adcode, dname = dist.adcodes[i], dist.names[i]
        per_name[(adcode, stype)] += 1
        per_district[adcode] += 1
        row: dict[str, Any] = {
            "id": f"XZ-SAMPLE-{n:04d}",
            "name": f"【示例】{dname}{STATION_TYPES[stype].zh}·第{per_name[(adcode, stype)]:03d}号",
            "type": stype,
            "lon": lon,
            "lat": lat,
            "address": f"徐州市{dname}（示例地址）第{per_district[adcode]}号",
            "district_adcode": adcode,
            "district_name": dname,
        }
        row.update(_attributes(attr_rng, stype))
        row["source"] = "sample"
        stations.append({k: row[k] for k in SAMPLE_COLUMNS})
    return stations


# --------------------------------------------------------------------------- files


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6f}"
    return "" if value is None else str(value)


def write_sample_csv(stations: Iterable[dict[str, Any]], path: str | Path) -> Path:
    """Write stations as UTF-8 CSV (no BOM, ``\\n`` line ends) with :data:`SAMPLE_COLUMNS`."""
    path = Path(path)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(SAMPLE_COLUMNS)
        for s in stations:
            w.writerow([_format(s[k]) for k in SAMPLE_COLUMNS])
    return path


def read_sample_csv(path: str | Path) -> list[dict[str, str]]:
    """Read a sample CSV back as rows of strings."""
    with Path(path).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the sample CSV: ``python -m locator.stations.sample [--out PATH]``."""
    import geopandas as gpd

    geodata = geodata_dir()
    ap = argparse.ArgumentParser(
        prog="python -m locator.stations.sample",
        description="Write the illustrative (not real) Xuzhou station set as CSV.",
    )
    ap.add_argument("--out", type=Path, default=geodata / "xuzhou_sample_stations.csv",
                    help="output CSV (default: %(default)s)")
    ap.add_argument("--districts", type=Path, default=geodata / "xuzhou_districts.geojson",
                    help="district polygons, WGS-84 GeoJSON (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help="default: %(default)s")
    args = ap.parse_args(argv)

    districts = gpd.read_file(args.districts)
    stations = generate_sample_stations(districts, seed=args.seed)
    write_sample_csv(stations, args.out)
    by_type = Counter(s["type"] for s in stations)
    print(f"wrote {len(stations)} sample stations to {args.out}")
    for code in STATION_TYPES.codes:
        print(f"  {code:<15} {by_type[code]:4d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
