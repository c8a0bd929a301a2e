"""Coverage of the 15-minute service circle and site suggestions.

The core works on arrays: a :class:`TravelEngine` (straight line now; a road network
later) answers reach questions, :mod:`.metrics` turns them into covered shares,
cross-coverage, redundant stations and gaps, and :mod:`.siting` picks new sites.
:mod:`.io` holds the file adapters. Nothing here imports Flask.

Typical use::

    from locator.coverage import (StraightLineEngine, coverage_report, find_gaps,
                                  load_illustrative_demand, load_xuzhou_districts,
                                  select_stations)
    engine = StraightLineEngine("walk")
    stations = select_stations(index.stations(), at="2026-07-15T22:00")
    report = coverage_report(engine, stations, load_illustrative_demand(),
                             districts=load_xuzhou_districts())
"""

from __future__ import annotations

from . import demand as demand
from . import gaps as gaps
from . import io as io
from . import metrics as metrics
from . import siting as siting
from . import straight as straight
from .demand import ILLUSTRATIVE_SOURCE, Demand, Districts, demand_from_points, demand_from_polygons
from .demand_grids import generate_illustrative_demand, grid_demand, h3_demand
from .gaps import Gap, GapReport, find_gaps
from .io import (
    demand_from_geodataframe,
    load_illustrative_demand,
    load_xuzhou_districts,
    read_candidates,
    read_demand,
    read_districts,
    read_matrix_csv,
    read_population_raster,
    write_demand_csv,
)
from .metrics import (
    CoverageFigures,
    CoverageReport,
    DistrictCoverage,
    RedundancyReport,
    RedundantStation,
    StationSet,
    ThresholdCoverage,
    coverage_report,
    redundancy_from_sums,
    redundant_stations,
    select_stations,
    station_set,
)
from .siting import (
    Candidates,
    SitingProblem,
    SitingResult,
    SitingSolution,
    build_siting_problem,
    candidates_from_demand,
    candidates_from_gaps,
    evaluate_sites,
    exact_sites,
    greedy_sites,
    suggest_sites,
)
from .siting_matrix import MatrixTable, coverage_from_table, siting_problem_from_matrix
from .straight import (
    DEFAULT_THRESHOLDS,
    MAX_MINUTES,
    StraightLineEngine,
    TravelEngine,
    check_minutes,
    check_mode,
    mode_speed_kmh,
)

__all__ = [
    "DEFAULT_THRESHOLDS", "ILLUSTRATIVE_SOURCE", "MAX_MINUTES", "Candidates",
    "CoverageFigures", "CoverageReport", "Demand", "DistrictCoverage", "Districts", "Gap",
    "GapReport", "MatrixTable", "RedundancyReport", "RedundantStation", "SitingProblem",
    "SitingResult", "SitingSolution", "StationSet", "StraightLineEngine", "ThresholdCoverage",
    "TravelEngine", "build_siting_problem", "candidates_from_demand", "candidates_from_gaps",
    "check_minutes", "check_mode", "coverage_from_table", "coverage_report", "demand",
    "demand_from_geodataframe", "demand_from_points", "demand_from_polygons", "evaluate_sites",
    "exact_sites", "find_gaps", "generate_illustrative_demand", "greedy_sites", "grid_demand",
    "h3_demand", "io", "load_illustrative_demand", "load_xuzhou_districts", "metrics",
    "mode_speed_kmh", "read_candidates", "read_demand", "read_districts", "read_matrix_csv",
    "read_population_raster", "redundancy_from_sums", "redundant_stations", "select_stations",
    "siting",
    "siting_problem_from_matrix", "station_set", "straight", "suggest_sites",
    "write_demand_csv",
]
