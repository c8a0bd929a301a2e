"""Great-circle geometry on a sphere of radius :data:`config.EARTH_RADIUS_M`.

Scalar helpers use :mod:`math` (they run on the hot path of single queries);
the ``*_np`` variants are vectorised with numpy.
"""

from __future__ import annotations

import math

import numpy as np

from .config import EARTH_RADIUS_M

_RAD = math.pi / 180.0


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine formula)."""
    p1 = lat1 * _RAD
    p2 = lat2 * _RAD
    s_dlat = math.sin((p2 - p1) * 0.5)
    s_dlon = math.sin((lon2 - lon1) * _RAD * 0.5)
    h = s_dlat * s_dlat + math.cos(p1) * math.cos(p2) * s_dlon * s_dlon
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def haversine_np(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Vectorised :func:`haversine_m`; arguments broadcast."""
    p1 = np.radians(lat1)
    p2 = np.radians(lat2)
    s_dlat = np.sin((p2 - p1) * 0.5)
    s_dlon = np.sin(np.radians(np.subtract(lon2, lon1)) * 0.5)
    h = s_dlat * s_dlat + np.cos(p1) * np.cos(p2) * s_dlon * s_dlon
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(1.0, h)))


def bearing_deg(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Initial bearing from point 1 to point 2, degrees clockwise from north in [0, 360)."""
    p1 = lat1 * _RAD
    p2 = lat2 * _RAD
    dl = (lon2 - lon1) * _RAD
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.degrees(math.atan2(y, x)) + 360.0) % 360.0


def unit_xyz(lon: float, lat: float) -> tuple[float, float, float]:
    """A point as a unit vector (ECEF on the unit sphere)."""
    la = lat * _RAD
    lo = lon * _RAD
    c = math.cos(la)
    return (c * math.cos(lo), c * math.sin(lo), math.sin(la))


def unit_xyz_np(lons, lats) -> np.ndarray:
    """Vectorised :func:`unit_xyz`, returning an ``(n, 3)`` float64 array."""
    la = np.radians(np.asarray(lats, dtype=np.float64))
    lo = np.radians(np.asarray(lons, dtype=np.float64))
    c = np.cos(la)
    return np.column_stack((c * np.cos(lo), c * np.sin(lo), np.sin(la)))


def chord_for_m(distance_m: float) -> float:
    """Unit-sphere chord length of a great-circle distance (monotonic in it)."""
    half = min(distance_m / (2.0 * EARTH_RADIUS_M), math.pi / 2)
    return 2.0 * math.sin(half)
