"""Equity of access: how evenly the service is shared, for the city and each district.

All indices are weighted by demand (a unit of 300 riders counts 300 times), over a
non-negative measure ``x`` per unit (the access scores of :mod:`.access`), with
``W = sum w_i`` and the mean ``mu = sum w_i x_i / W``:

Gini
    ``G = sum_i sum_j w_i w_j |x_i - x_j| / (2 W^2 mu)``: 0 when everyone has the same
    access, towards 1 when one unit has it all. Computed in ``O(n log n)`` from the
    units sorted by ``x`` with cumulative weights ``C_i``:
    ``G = sum_i w_i x_i (2 C_i - w_i - W) / (W^2 mu)``.
Theil (T)
    ``T = (1 / W) sum_i w_i (x_i / mu) ln(x_i / mu)``, with ``0 ln 0 = 0``: 0 for
    equal access, at most ``ln(W / w_min)``.
Palma ratio
    The share of all access held by the best-served 10% of demand divided by the share
    held by the worst-served 40%, read off the Lorenz curve (linear between units, so a
    unit on the 10% or 40% line is split). ``None`` when the worst-served 40% have no
    access at all (the ratio is unbounded).
Worst-served 10%
    Of the 10% of demand with the lowest access (a unit on the line split), the share
    that no station reaches within the threshold (``x = 0`` or a given ``covered``
    mask), and their mean access.

Every index is ``None`` when there is no demand, or (Gini, Theil, Palma) when total
access is 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidInput
from .demand import Districts

__all__ = ["equity_report", "gini", "lorenz_share", "palma", "theil", "worst_served"]


def _check(x: Any, w: Any) -> tuple[np.ndarray, np.ndarray]:
    xa = np.asarray(x, dtype=np.float64).reshape(-1)
    wa = np.ones_like(xa) if w is None else np.asarray(w, dtype=np.float64).reshape(-1)
    if xa.shape != wa.shape:
        raise InvalidInput(f"equity: {xa.size} values and {wa.size} weights", field="weights")
    if not (np.isfinite(xa).all() and (xa >= 0).all()):
        raise InvalidInput("equity: values must be finite and non-negative", field="values")
    if not (np.isfinite(wa).all() and (wa >= 0).all()):
        raise InvalidInput("equity: weights must be finite and non-negative",
                           field="weights")
    keep = wa > 0
    return xa[keep], wa[keep]


def gini(x: Any, w: Any = None) -> float | None:
    """Demand-weighted Gini coefficient of ``x`` (see the module docstring)."""
    xa, wa = _check(x, w)
    tot = wa.sum()
    if tot <= 0:
        return None
    mu = float((wa * xa).sum() / tot)
    if mu <= 0:
        return None
    order = np.argsort(xa, kind="stable")
    xs, ws = xa[order], wa[order]
    c = np.cumsum(ws)
    return float((ws * xs * (2 * c - ws - tot)).sum() / (tot * tot * mu))


def theil(x: Any, w: Any = None) -> float | None:
    """Demand-weighted Theil T index of ``x``."""
    xa, wa = _check(x, w)
    tot = wa.sum()
    if tot <= 0:
        return None
    mu = float((wa * xa).sum() / tot)
    if mu <= 0:
        return None
    r = xa / mu
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(r > 0, r * np.log(r), 0.0)
    return float((wa * terms).sum() / tot)


def lorenz_share(x: Any, w: Any, p: float) -> float | None:
    """The share of total ``x`` held by the worst-off fraction ``p`` of the weight
    (the Lorenz curve at ``p``, linear within a unit)."""
    xa, wa = _check(x, w)
    tot = wa.sum()
    total_x = float((wa * xa).sum())
    if tot <= 0 or total_x <= 0:
        return None
    order = np.argsort(xa, kind="stable")
    xs, ws = xa[order], wa[order]
    cw = np.concatenate([[0.0], np.cumsum(ws)]) / tot
    cx = np.concatenate([[0.0], np.cumsum(ws * xs)]) / total_x
    return float(np.interp(p, cw, cx))


def palma(x: Any, w: Any = None) -> float | None:
    """Share of the best-served 10% over the share of the worst-served 40%."""
    low = lorenz_share(x, w, 0.4)
    high = lorenz_share(x, w, 0.9)
    if low is None or high is None or low <= 0:
        return None
    return float((1.0 - high) / low)


def worst_served(x: Any, w: Any = None, covered: Any = None,
                 share: float = 0.1) -> dict[str, float | None]:
    """The worst-served ``share`` of demand: the part of it no station reaches, and its
    mean access."""
    xa = np.asarray(x, dtype=np.float64).reshape(-1)
    cov = (xa > 0) if covered is None else np.asarray(covered, dtype=bool).reshape(-1)
    if cov.shape != xa.shape:
        raise InvalidInput("equity: the covered mask must be as long as the values",
                           field="covered")
    wa0 = np.ones_like(xa) if w is None else np.asarray(w, dtype=np.float64).reshape(-1)
    xa, wa = _check(xa, wa0)
    cov = cov[wa0 > 0]
    tot = wa.sum()
    if tot <= 0:
        return {"share_uncovered": None, "mean_access": None}
    # Worst first: lowest access, and of equal access the uncovered units first.
    order = np.lexsort((cov, xa))
    xs, ws, cs = xa[order], wa[order], cov[order]
    target = share * tot
    before = np.concatenate([[0.0], np.cumsum(ws)[:-1]])
    taken = np.clip(target - before, 0.0, ws)
    got = taken.sum()
    return {"share_uncovered": float(taken[~cs].sum() / got),
            "mean_access": float((taken * xs).sum() / got)}


def _indices(x: np.ndarray, w: np.ndarray, covered: np.ndarray | None) -> dict[str, Any]:
    worst = worst_served(x, w, covered)
    return {"gini": _r(gini(x, w)), "theil": _r(theil(x, w)), "palma": _r(palma(x, w)),
            "worst10_share_uncovered": _r(worst["share_uncovered"]),
            "worst10_mean_access": _r(worst["mean_access"])}


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 9)


def equity_report(x: Any, w: Any, district: Any = None, districts: Districts | None = None,
                  covered: Any = None) -> dict[str, Any]:
    """The indices for the whole city and each district (by the units' adcodes)."""
    xa = np.asarray(x, dtype=np.float64).reshape(-1)
    wa = np.asarray(w, dtype=np.float64).reshape(-1)
    cov = None if covered is None else np.asarray(covered, dtype=bool).reshape(-1)
    out: dict[str, Any] = {"city": _indices(xa, wa, cov), "districts": []}
    if district is None:
        return out
    codes = np.asarray(district, dtype=object).reshape(-1)
    names = {} if districts is None else dict(zip(districts.adcode, districts.name,
                                                  strict=True))
    for code in sorted(set(codes.tolist())):
        m = codes == code
        out["districts"].append({"adcode": code, "name": names.get(code, code or "(outside)"),
                                 **_indices(xa[m], wa[m], None if cov is None else cov[m])})
    return out
