"""Site suggestions from a precomputed travel matrix.

Planners may bring times or distances from any routing tool as a CSV of
``demand_id, site_id, minutes`` (or ``distance_m``); read with
:func:`~.io.read_matrix_csv` into a :class:`MatrixTable`. :func:`coverage_from_table`
turns it into the reach matrix of a threshold, refusing any id that is not a demand
unit or a site (nothing is silently dropped), and :func:`siting_problem_from_matrix`
into a :class:`~.siting.SitingProblem` with the existing stations' coverage as baseline.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from ..errors import InvalidInput
from .demand import Demand
from .siting import Candidates, SitingProblem
from .straight import check_minutes

__all__ = ["MAX_MATRIX_METRES", "MatrixTable", "coverage_from_table",
           "siting_problem_from_matrix"]

#: Largest distance threshold for metre matrices (metres).
MAX_MATRIX_METRES = 200_000.0


@dataclass(frozen=True, eq=False)
class MatrixTable:
    """Pairs from another routing tool: demand id, site id and a travel cost.

    ``unit`` is ``minutes`` or ``metres``. Pairs absent from the table are out of reach.
    """

    demand_id: np.ndarray
    site_id: np.ndarray
    value: np.ndarray
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in ("minutes", "metres"):
            raise InvalidInput(f"unit: {self.unit!r} is not a matrix unit; allowed: minutes, "
                               "metres", field="unit")
        d = np.array([str(v) for v in np.asarray(self.demand_id, dtype=object).reshape(-1)],
                     dtype=object)
        s = np.array([str(v) for v in np.asarray(self.site_id, dtype=object).reshape(-1)],
                     dtype=object)
        v = np.asarray(self.value, dtype=np.float64).reshape(-1)
        if not d.size == s.size == v.size:
            raise InvalidInput("matrix: demand_id, site_id and value must be equally long",
                               field="matrix")
        bad = ~np.isfinite(v) | (v < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidInput(f"{self.unit}: {float(v[i])!r} is not a travel cost; values must be "
                               "finite and >= 0", field=self.unit, row=i + 1)
        object.__setattr__(self, "demand_id", d)
        object.__setattr__(self, "site_id", s)
        object.__setattr__(self, "value", v)


def _mismatch(kind: str, unknown: Sequence[str], valid_n: int) -> InvalidInput:
    shown = ", ".join(repr(u) for u in list(unknown)[:10])
    more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
    return InvalidInput(f"matrix: {len(unknown)} {kind} id(s) are not in the {kind} set of "
                        f"{valid_n}: {shown}{more}; ids must match exactly", field=f"{kind}_id")


def coverage_from_table(table: MatrixTable, demand_ids: Sequence[Any] | np.ndarray,
                        site_ids: Sequence[Any] | np.ndarray, threshold: float
                        ) -> sparse.csr_matrix:
    """Boolean ``(len(demand_ids), len(site_ids))`` CSR of the table's pairs whose value
    is at most ``threshold`` (same unit as the table; duplicates: any pair in reach).

    Raises
    ------
    InvalidInput
        Listing the ids of the table that are not in ``demand_ids`` / ``site_ids``.
    """
    if table.unit == "minutes":
        thr = check_minutes(threshold, field="threshold")
    else:
        try:
            thr = float(threshold)
        except (TypeError, ValueError):
            thr = math.nan
        if not 0 < thr <= MAX_MATRIX_METRES:
            raise InvalidInput(f"threshold: {threshold!r} metres is out of range; allowed "
                               f"(0, {MAX_MATRIX_METRES:g}]", field="threshold")
    dpos = {str(v): i for i, v in enumerate(demand_ids)}
    spos = {str(v): i for i, v in enumerate(site_ids)}
    unknown_d = sorted(set(table.demand_id.tolist()) - dpos.keys())
    if unknown_d:
        raise _mismatch("demand", unknown_d, len(dpos))
    unknown_s = sorted(set(table.site_id.tolist()) - spos.keys())
    if unknown_s:
        raise _mismatch("site", unknown_s, len(spos))
    keep = table.value <= thr
    rows = np.fromiter((dpos[v] for v in table.demand_id[keep].tolist()), np.intp,
                       int(keep.sum()))
    cols = np.fromiter((spos[v] for v in table.site_id[keep].tolist()), np.intp,
                       int(keep.sum()))
    mat = sparse.csr_matrix((np.ones(rows.size, dtype=bool), (rows, cols)),
                            shape=(len(dpos), len(spos)))
    mat.sum_duplicates()
    mat.sort_indices()
    return mat


def siting_problem_from_matrix(demand: Demand, candidates: Candidates | Sequence[str],
                               table: MatrixTable, threshold: float, *,
                               existing_ids: Iterable[str] = ()) -> SitingProblem:
    """The covering problem from a precomputed matrix.

    The table's site ids must be candidates or existing stations (``existing_ids``);
    the existing stations' pairs give the baseline coverage.
    """
    cand_ids = [str(v) for v in (candidates.ids if isinstance(candidates, Candidates)
                                 else candidates)]
    ex_ids = [str(v) for v in existing_ids]
    clash = sorted(set(cand_ids) & set(ex_ids))
    if clash:
        raise InvalidInput(f"matrix: id(s) {', '.join(clash[:10])} are both candidates and "
                           "existing stations; give each site one role", field="site_id")
    full = coverage_from_table(table, demand.ids, cand_ids + ex_ids, threshold)
    full = full.tocsc()
    nc = len(cand_ids)
    mat = full[:, :nc].tocsr()
    existing = np.asarray(full[:, nc:].sum(axis=1)).ravel()
    return SitingProblem(mat, demand.weight, existing, np.asarray(cand_ids, dtype=object),
                         demand.ids, check_minutes(threshold) if table.unit == "minutes"
                         else None,
                         {"matrix_unit": table.unit, "threshold": float(threshold),
                          "stations": len(ex_ids), "candidates": nc,
                          "candidate_source": getattr(candidates, "source", "")})
