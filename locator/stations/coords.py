"""China's three coordinate systems: WGS-84, GCJ-02 and BD-09.

Everything inside the project is WGS-84. GCJ-02 (Amap, Tencent, WeChat) and
BD-09 (Baidu, ``bd09ll``) exist only at the edges: input parsing, display and
navigation deep links (see STYLE.md, habit 5, and FIELD-NOTES, "Coordinate
systems in China").

The forward transforms are the public formulas:

- WGS-84 -> GCJ-02 on the Krasovsky-1940 ellipsoid (a = 6378245.0 m,
  e^2 = 0.00669342162296594323), with the usual polynomial-plus-sine offset
  centred on (105 E, 35 N).
- GCJ-02 -> BD-09: a small polar perturbation with ``x_pi = pi * 3000 / 180``,
  ``2e-5 * sin(lat * x_pi)`` on the radius, ``3e-6 * cos(lon * x_pi)`` on the
  angle, then the offset (+0.0065, +0.006). Some libraries use ``pi`` where
  ``x_pi`` belongs (eviltransform issue #43); that variant is wrong by tens of
  metres and the tests catch it with independent reference points.

Neither has an official inverse. The inverses here start from the usual
one-step estimate and run a fixed-point iteration until the forward transform
of the estimate reproduces the input to :data:`INVERSE_TOLERANCE_DEG`
(1e-12 degrees, about 0.1 micrometre), so round trips are exact to far below
a millimetre. Each step shrinks the error by a factor of roughly 100 to 1000,
so three to five steps suffice.

"Outside China" is the common rough rectangle of eviltransform, PRCoords and
gcoord, the same as :data:`config.CHINA_BBOX`: longitude 72.004..137.8347 E,
latitude 0.8293..55.8271 N, edges inclusive. Points outside it are returned
unchanged by every transform. The rectangle is rough: it also covers Korea,
western Japan (Osaka but not Tokyo), Mongolia, most of mainland South-East
Asia and Singapore, whose coordinates would be shifted if fed in. NaN and
infinite coordinates count as outside (returned unchanged).

Every transform takes ``(lon, lat)`` either as Python numbers, returning a
tuple of floats through a :mod:`math` fast path (a few microseconds), or as
array-likes, returning a tuple of float64 numpy arrays of the broadcast shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..config import CHINA_BBOX
from ..errors import InvalidInput

__all__ = [
    "CRS_CODES",
    "INVERSE_TOLERANCE_DEG",
    "ValidatedLonLat",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "out_of_china",
    "parse_crs",
    "to_wgs84",
    "validate_lonlat",
    "validate_lonlat_arrays",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

#: Canonical codes of the supported coordinate reference systems.
CRS_CODES: Final = ("wgs84", "gcj02", "bd09")

_ALIASES: Final[dict[str, str]] = {
    **dict.fromkeys(("wgs84", "wgs-84", "wgs 84", "epsg:4326", "4326", "gps"), "wgs84"),
    **dict.fromkeys(
        ("gcj02", "gcj-02", "amap", "gaode", "tencent", "qq", "wechat"), "gcj02"
    ),
    **dict.fromkeys(("bd09", "bd-09", "bd09ll", "baidu"), "bd09"),
}

#: The inverses stop when the forward transform of the estimate is this close
#: to the input, in degrees on each axis (1e-12 deg is about 0.1 micrometre).
INVERSE_TOLERANCE_DEG: Final = 1e-12
_MAX_ITERATIONS: Final = 20

# GCJ-02: Krasovsky-1940 ellipsoid.
_A: Final = 6378245.0
_EE: Final = 0.00669342162296594323
_PI: Final = math.pi
_DEG: Final = math.pi / 180.0
_K_LAT: Final = 180.0 / (_A * (1.0 - _EE) * math.pi)
_K_LON: Final = 180.0 / (_A * math.pi)
_TWO_THIRDS: Final = 2.0 / 3.0

# BD-09.
_X_PI: Final = math.pi * 3000.0 / 180.0
_BD_DLON: Final = 0.0065
_BD_DLAT: Final = 0.006

_LON_MIN, _LAT_MIN, _LON_MAX, _LAT_MAX = CHINA_BBOX

_Real = (int, float)
_Pair = tuple[Any, Any]


def parse_crs(name: str) -> str:
    """Return the canonical code (``wgs84``, ``gcj02`` or ``bd09``) for ``name``.

    Accepts, case-insensitively: ``wgs84``, ``wgs-84``, ``epsg:4326``, ``4326``,
    ``gps``; ``gcj02``, ``gcj-02``, ``amap``, ``gaode``, ``tencent``, ``qq``,
    ``wechat``; ``bd09``, ``bd-09``, ``bd09ll``, ``baidu``.

    Raises
    ------
    InvalidInput
        With ``field="crs"``, listing the allowed values.
    """
    code = _ALIASES.get(name.strip().lower()) if isinstance(name, str) else None
    if code is None:
        raise InvalidInput(
            f"crs: unknown coordinate system {name!r}; allowed: {', '.join(CRS_CODES)}"
            f" (aliases: {', '.join(a for a in _ALIASES if a not in CRS_CODES)})",
            field="crs",
        )
    return code


# --------------------------------------------------------------------------
# Kernels. Each works on floats with the math defaults and on numpy arrays
# when given the numpy ufuncs; they do no out-of-China test.
# --------------------------------------------------------------------------


def _gcj_delta(
    lon: Any, lat: Any, sin: Callable = math.sin, cos: Callable = math.cos,
    sqrt: Callable = math.sqrt,
) -> _Pair:
    """GCJ-02 minus WGS-84 (degrees) at the WGS-84 point ``(lon, lat)``."""
    x = lon - 105.0
    y = lat - 35.0
    xp = x * _PI
    yp = y * _PI
    xy = 0.1 * x * y
    shared = (20.0 * sin(6.0 * xp) + 20.0 * sin(2.0 * xp)) * _TWO_THIRDS
    root = sqrt(abs(x))
    t_lat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + xy + 0.2 * root + shared
             + (20.0 * sin(yp) + 40.0 * sin(yp / 3.0)) * _TWO_THIRDS
             + (160.0 * sin(yp / 12.0) + 320.0 * sin(yp / 30.0)) * _TWO_THIRDS)
    t_lon = (300.0 + x + 2.0 * y + 0.1 * x * x + xy + 0.1 * root + shared
             + (20.0 * sin(xp) + 40.0 * sin(xp / 3.0)) * _TWO_THIRDS
             + (150.0 * sin(xp / 12.0) + 300.0 * sin(xp / 30.0)) * _TWO_THIRDS)
    rad = lat * _DEG
    s = sin(rad)
    magic = 1.0 - _EE * s * s
    sqrt_magic = sqrt(magic)
    return (t_lon * _K_LON * sqrt_magic / cos(rad), t_lat * _K_LAT * magic * sqrt_magic)


def _gcj_to_bd(
    lon: Any, lat: Any, sin: Callable = math.sin, cos: Callable = math.cos,
    atan2: Callable = math.atan2, hypot: Callable = math.hypot,
) -> _Pair:
    z = hypot(lon, lat) + 2e-5 * sin(lat * _X_PI)
    theta = atan2(lat, lon) + 3e-6 * cos(lon * _X_PI)
    return z * cos(theta) + _BD_DLON, z * sin(theta) + _BD_DLAT


def _bd_to_gcj_closed(
    lon: Any, lat: Any, sin: Callable = math.sin, cos: Callable = math.cos,
    atan2: Callable = math.atan2, hypot: Callable = math.hypot,
) -> _Pair:
    """The usual closed-form approximate inverse (errors up to about a metre)."""
    x = lon - _BD_DLON
    y = lat - _BD_DLAT
    z = hypot(x, y) - 2e-5 * sin(y * _X_PI)
    theta = atan2(y, x) - 3e-6 * cos(x * _X_PI)
    return z * cos(theta), z * sin(theta)


_NP_TRIG: Final = {"sin": np.sin, "cos": np.cos, "sqrt": np.sqrt}
_NP_POLAR: Final = {"sin": np.sin, "cos": np.cos, "atan2": np.arctan2, "hypot": np.hypot}
_TOL = INVERSE_TOLERANCE_DEG


def _wgs_to_gcj_s(lon: float, lat: float) -> tuple[float, float]:
    dlon, dlat = _gcj_delta(lon, lat)
    return lon + dlon, lat + dlat


def _gcj_to_wgs_s(lon: float, lat: float) -> tuple[float, float]:
    dlon, dlat = _gcj_delta(lon, lat)
    wlon = lon - dlon
    wlat = lat - dlat
    for _ in range(_MAX_ITERATIONS):
        dlon, dlat = _gcj_delta(wlon, wlat)
        elon = wlon + dlon - lon
        elat = wlat + dlat - lat
        if -_TOL < elon < _TOL and -_TOL < elat < _TOL:
            break
        wlon -= elon
        wlat -= elat
    return wlon, wlat


def _bd_to_gcj_s(lon: float, lat: float) -> tuple[float, float]:
    glon, glat = _bd_to_gcj_closed(lon, lat)
    for _ in range(_MAX_ITERATIONS):
        blon, blat = _gcj_to_bd(glon, glat)
        elon = blon - lon
        elat = blat - lat
        if -_TOL < elon < _TOL and -_TOL < elat < _TOL:
            break
        glon -= elon
        glat -= elat
    return glon, glat


def _wgs_to_bd_s(lon: float, lat: float) -> tuple[float, float]:
    dlon, dlat = _gcj_delta(lon, lat)
    return _gcj_to_bd(lon + dlon, lat + dlat)


def _bd_to_wgs_s(lon: float, lat: float) -> tuple[float, float]:
    return _gcj_to_wgs_s(*_bd_to_gcj_s(lon, lat))


def _wgs_to_gcj_a(lon: NDArray, lat: NDArray) -> _Pair:
    dlon, dlat = _gcj_delta(lon, lat, **_NP_TRIG)
    return lon + dlon, lat + dlat


def _converged(elon: NDArray, elat: NDArray) -> bool:
    return not (np.any(np.abs(elon) >= _TOL) or np.any(np.abs(elat) >= _TOL))


def _gcj_to_wgs_a(lon: NDArray, lat: NDArray) -> _Pair:
    dlon, dlat = _gcj_delta(lon, lat, **_NP_TRIG)
    wlon = lon - dlon
    wlat = lat - dlat
    for _ in range(_MAX_ITERATIONS):
        dlon, dlat = _gcj_delta(wlon, wlat, **_NP_TRIG)
        elon = wlon + dlon - lon
        elat = wlat + dlat - lat
        if _converged(elon, elat):
            break
        wlon = wlon - elon
        wlat = wlat - elat
    return wlon, wlat


def _gcj_to_bd_a(lon: NDArray, lat: NDArray) -> _Pair:
    return _gcj_to_bd(lon, lat, **_NP_POLAR)


def _bd_to_gcj_a(lon: NDArray, lat: NDArray) -> _Pair:
    glon, glat = _bd_to_gcj_closed(lon, lat, **_NP_POLAR)
    for _ in range(_MAX_ITERATIONS):
        blon, blat = _gcj_to_bd(glon, glat, **_NP_POLAR)
        elon = blon - lon
        elat = blat - lat
        if _converged(elon, elat):
            break
        glon = glon - elon
        glat = glat - elat
    return glon, glat


def _wgs_to_bd_a(lon: NDArray, lat: NDArray) -> _Pair:
    return _gcj_to_bd_a(*_wgs_to_gcj_a(lon, lat))


def _bd_to_wgs_a(lon: NDArray, lat: NDArray) -> _Pair:
    return _gcj_to_wgs_a(*_bd_to_gcj_a(lon, lat))


def _identity(lon: Any, lat: Any) -> _Pair:
    return lon, lat


# --------------------------------------------------------------------------
# Public transforms
# --------------------------------------------------------------------------

Scalar = int | float
_F2 = tuple[float, float]
_A2 = tuple[NDArray[np.float64], NDArray[np.float64]]


@overload
def out_of_china(lon: Scalar, lat: Scalar) -> bool: ...
@overload
def out_of_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]: ...
def out_of_china(lon: Any, lat: Any) -> Any:
    """True where a point lies outside the rough China rectangle (see module doc).

    The rectangle is :data:`config.CHINA_BBOX`, lon 72.004..137.8347 and
    lat 0.8293..55.8271, edges inclusive; NaN counts as outside.
    """
    if isinstance(lon, _Real) and isinstance(lat, _Real):
        return not (_LON_MIN <= lon <= _LON_MAX and _LAT_MIN <= lat <= _LAT_MAX)
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    return ~((lon_a >= _LON_MIN) & (lon_a <= _LON_MAX) & (lat_a >= _LAT_MIN) & (lat_a <= _LAT_MAX))


def _apply(lon: Any, lat: Any, scalar_fn: Callable, array_fn: Callable) -> Any:
    """Run a transform on the points inside China, leaving the others as they are."""
    if isinstance(lon, _Real) and isinstance(lat, _Real):
        lon = float(lon)
        lat = float(lat)
        if _LON_MIN <= lon <= _LON_MAX and _LAT_MIN <= lat <= _LAT_MAX:
            return scalar_fn(lon, lat)
        return lon, lat
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, dtype=np.float64),
                                       np.asarray(lat, dtype=np.float64))
    shape = lon_a.shape
    out_lon = lon_a.astype(np.float64, copy=True).reshape(-1)
    out_lat = lat_a.astype(np.float64, copy=True).reshape(-1)
    inside = ~out_of_china(out_lon, out_lat)
    if inside.all():
        out_lon, out_lat = array_fn(out_lon, out_lat)
    elif inside.any():
        out_lon[inside], out_lat[inside] = array_fn(out_lon[inside], out_lat[inside])
    return out_lon.reshape(shape), out_lat.reshape(shape)


@overload
def wgs84_to_gcj02(lon: Scalar, lat: Scalar) -> _F2: ...
@overload
def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> _A2: ...
def wgs84_to_gcj02(lon: Any, lat: Any) -> Any:
    """WGS-84 to GCJ-02 (Amap, Tencent, WeChat)."""
    return _apply(lon, lat, _wgs_to_gcj_s, _wgs_to_gcj_a)


@overload
def gcj02_to_wgs84(lon: Scalar, lat: Scalar) -> _F2: ...
@overload
def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> _A2: ...
def gcj02_to_wgs84(lon: Any, lat: Any) -> Any:
    """GCJ-02 to WGS-84, iterated until the round trip is exact (see module doc)."""
    return _apply(lon, lat, _gcj_to_wgs_s, _gcj_to_wgs_a)


@overload
def gcj02_to_bd09(lon: Scalar, lat: Scalar) -> _F2: ...
@overload
def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> _A2: ...
def gcj02_to_bd09(lon: Any, lat: Any) -> Any:
    """GCJ-02 to BD-09 (Baidu ``bd09ll``)."""
    return _apply(lon, lat, _gcj_to_bd, _gcj_to_bd_a)


@overload
def bd09_to_gcj02(lon: Scalar, lat: Scalar) -> _F2: ...
@overload
def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> _A2: ...
def bd09_to_gcj02(lon: Any, lat: Any) -> Any:
    """BD-09 to GCJ-02: the closed-form inverse refined by iteration until exact."""
    return _apply(lon, lat, _bd_to_gcj_s, _bd_to_gcj_a)


@overload
def wgs84_to_bd09(lon: Scalar, lat: Scalar) -> _F2: ...
@overload
def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> _A2: ...
def wgs84_to_bd09(lon: Any, lat: Any) -> Any:
    """WGS-84 to BD-09, through GCJ-02."""
    return _apply(lon, lat, _wgs_to_bd_s, _wgs_to_bd_a)


@overload
def bd09_to_wgs84(lon: Scalar, lat: Scalar) -> _F2: ...
@overload
def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> _A2: ...
def bd09_to_wgs84(lon: Any, lat: Any) -> Any:
    """BD-09 to WGS-84, through GCJ-02, both steps exact by iteration."""
    return _apply(lon, lat, _bd_to_wgs_s, _bd_to_wgs_a)


_TO_WGS: Final = {
    "wgs84": (_identity, _identity),
    "gcj02": (_gcj_to_wgs_s, _gcj_to_wgs_a),
    "bd09": (_bd_to_wgs_s, _bd_to_wgs_a),
}
_FROM_WGS: Final = {
    "wgs84": (_identity, _identity),
    "gcj02": (_wgs_to_gcj_s, _wgs_to_gcj_a),
    "bd09": (_wgs_to_bd_s, _wgs_to_bd_a),
}


@overload
def to_wgs84(lon: Scalar, lat: Scalar, crs: str) -> _F2: ...
@overload
def to_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> _A2: ...
def to_wgs84(lon: Any, lat: Any, crs: str) -> Any:
    """Convert ``(lon, lat)`` given in ``crs`` (any alias of :func:`parse_crs`) to WGS-84.

    Scalars give a tuple of floats, array-likes a tuple of float64 arrays.
    """
    return _apply(lon, lat, *_TO_WGS[parse_crs(crs)])


@overload
def from_wgs84(lon: Scalar, lat: Scalar, crs: str) -> _F2: ...
@overload
def from_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> _A2: ...
def from_wgs84(lon: Any, lat: Any, crs: str) -> Any:
    """Convert a WGS-84 ``(lon, lat)`` to ``crs``, e.g. for display or a deep link."""
    return _apply(lon, lat, *_FROM_WGS[parse_crs(crs)])


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------

_RANGES: Final = {"lon": (-180.0, 180.0), "lat": (-90.0, 90.0)}
_CHINA: Final = {"lon": (_LON_MIN, _LON_MAX), "lat": (_LAT_MIN, _LAT_MAX)}


def _num(x: float) -> str:
    return str(int(x)) if x.is_integer() else repr(x)


def _coerce(value: Any, axis: str, field: str) -> float:
    lo, hi = _RANGES[axis]
    allowed = f"allowed {_num(lo)}..{_num(hi)}"
    if isinstance(value, (bool, np.bool_)):
        raise InvalidInput(f"{field}: {value!r} is not a number; {allowed}", field=field)
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"{field}: {value!r} is not a number; expected decimal degrees, {allowed}",
            field=field,
        ) from None
    if not math.isfinite(x):
        raise InvalidInput(f"{field}: {x} is not a finite number; {allowed}", field=field)
    if not lo <= x <= hi:
        raise InvalidInput(f"{field}: {x} is out of range; {allowed}", field=field)
    return x


def validate_lonlat(
    lon: Any, lat: Any, *, crs: str = "wgs84", field_prefix: str = ""
) -> tuple[float, float]:
    """Validate one coordinate pair given in ``crs`` and return it in WGS-84.

    ``lon`` and ``lat`` may be numbers or numeric strings ("117.2"). They must
    be finite, within -180..180 and -90..90, and for GCJ-02 and BD-09 (which
    exist only in China) inside :data:`config.CHINA_BBOX`.

    Raises
    ------
    InvalidInput
        Naming the field (``field_prefix + "lon"`` or ``"lat"``) and the
        allowed range, e.g. ``"lat: 95.0 is out of range; allowed -90..90"``;
        or ``field="crs"`` for an unknown coordinate system.
    """
    code = parse_crs(crs)
    lon_field = field_prefix + "lon"
    lat_field = field_prefix + "lat"
    x = _coerce(lon, "lon", lon_field)
    y = _coerce(lat, "lat", lat_field)
    if code == "wgs84":
        return x, y
    for value, axis, field in ((x, "lon", lon_field), (y, "lat", lat_field)):
        lo, hi = _CHINA[axis]
        if not lo <= value <= hi:
            raise InvalidInput(
                f"{field}: {value} is outside China, where {code} coordinates exist;"
                f" allowed {_num(lo)}..{_num(hi)}",
                field=field,
            )
    return _TO_WGS[code][0](x, y)


@dataclass(frozen=True, eq=False)
class ValidatedLonLat:
    """Result of :func:`validate_lonlat_arrays`.

    ``lon`` and ``lat`` are WGS-84 float64 arrays, NaN on the invalid rows;
    ``invalid`` marks those rows and ``errors`` holds one :class:`InvalidInput`
    per invalid row, in row order, with the same message that
    :func:`validate_lonlat` gives and ``row`` set.
    """

    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    invalid: NDArray[np.bool_]
    errors: tuple[InvalidInput, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def _to_float_array(values: Any, field: str) -> NDArray[np.float64]:
    """1-D float64 array; entries that are not numbers (or are bools) become NaN."""
    try:
        arr = np.asarray(values)
    except ValueError:
        arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise InvalidInput(
            f"{field}: expected a 1-D sequence of coordinates, got shape {arr.shape}", field=field
        )
    if arr.dtype.kind in "iuf":
        return arr.astype(np.float64)
    out = np.empty(arr.shape[0], dtype=np.float64)
    for i, v in enumerate(arr.tolist()):
        try:
            out[i] = math.nan if isinstance(v, bool) else float(v)
        except (TypeError, ValueError):
            out[i] = math.nan
    return out


def validate_lonlat_arrays(
    lons: Any, lats: Any, *, crs: str = "wgs84", field_prefix: str = "", first_row: int = 1
) -> ValidatedLonLat:
    """Vectorised :func:`validate_lonlat` for bulk import.

    ``lons`` and ``lats`` are equally long 1-D array-likes (numbers or numeric
    strings). Row ``i`` is reported as ``row = first_row + i``. Valid rows are
    converted to WGS-84 in one vectorised pass; the error messages of the
    (usually few) invalid rows are built by :func:`validate_lonlat` itself.

    Raises
    ------
    InvalidInput
        For an unknown ``crs`` or arrays of different lengths.
    """
    code = parse_crs(crs)
    x = _to_float_array(lons, field_prefix + "lon")
    y = _to_float_array(lats, field_prefix + "lat")
    if x.shape != y.shape:
        raise InvalidInput(
            f"{field_prefix}lon and {field_prefix}lat have different lengths"
            f" ({x.size} and {y.size}); they must be equally long",
            field=field_prefix + "lon",
        )
    with np.errstate(invalid="ignore"):
        ok = (np.abs(x) <= 180.0) & (np.abs(y) <= 90.0)  # False for NaN and infinity
        if code != "wgs84":
            ok &= ~out_of_china(x, y)
    wx = np.full_like(x, np.nan)
    wy = np.full_like(y, np.nan)
    if ok.any():
        wx[ok], wy[ok] = _TO_WGS[code][1](x[ok], y[ok])
    invalid = ~ok
    errors: list[InvalidInput] = []
    bad = np.flatnonzero(invalid)
    if bad.size:
        raw_x = np.asarray(lons, dtype=object).reshape(-1)
        raw_y = np.asarray(lats, dtype=object).reshape(-1)
        for i in bad:
            try:
                validate_lonlat(raw_x[i], raw_y[i], crs=code, field_prefix=field_prefix)
            except InvalidInput as exc:
                errors.append(InvalidInput(exc.message, field=exc.field, row=first_row + int(i)))
            else:  # pragma: no cover - the vectorised and scalar checks agree
                raise AssertionError(f"row {first_row + int(i)} failed only the vectorised check")
    return ValidatedLonLat(wx, wy, invalid, tuple(errors))
