"""``locator scenario``: base vs planning scenarios (add, close, remove, change stations).

Calls the planning service (:func:`locator.coverage.scenario.scenario_run`); this module
reads the scenario files, prints the comparison and writes the deltas (CSV) and the
demand units that gain or lose coverage (GeoJSON).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import click

from ..errors import InvalidInput
from .coverage import (
    ILLUSTRATIVE_NOTICE,
    _clean_errors,
    _engine,
    _illustrative,
    _inputs,
    _minutes_list,
    _pct,
    demand_options,
    engine_line,
    engine_options,
    hours_options,
    time_line,
    weather_option,
)


def _read_scenario(path: Path) -> Any:
    from ..coverage.scenario import Scenario

    if not path.is_file():
        raise InvalidInput(f"scenario: file not found: {path}", field="scenario")
    if path.suffix.lower() in (".csv", ".geojson"):
        try:
            return Scenario.from_dict({"name": path.name, "add": _sites_of(path),
                                       "add_defaults": {"type": "outdoor_worker"}})
        except InvalidInput as e:
            raise InvalidInput(f"{path.name}: {e.message}", field=e.field) from None
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"scenario: cannot read {path} as UTF-8 JSON ({e})",
                           field="scenario") from None
    try:
        return Scenario.from_json(text, name=path.stem)
    except InvalidInput as e:
        raise InvalidInput(f"{path.name}: {e.message}", field=e.field) from None


#: What an added site may carry from a sites file (the rest, such as a suggested
#: site's rank, gain or district, is left out).
_SITE_KEYS = ("id", "name", "type", "lon", "lat", "opening_hours", "capacity")


def _sites_of(path: Path) -> list[dict[str, Any]]:
    """The sites of a CSV (id, lon, lat and optionally name, type, opening_hours,
    capacity: e.g. ``locator suggest --out sites.csv``) or of a GeoJSON of points (e.g.
    ``suggest --out sites.geojson``), as a scenario's ``add`` entries."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"add: cannot read {path} as UTF-8 ({e})", field="add") from None
    if path.suffix.lower() == ".csv":
        rows = [r for r in csv.DictReader(io.StringIO(text))
                if r.get("id") and not str(r.get("id")).startswith("#")]
        items = [{k: (float(v) if k in ("lon", "lat") and _number(v) else v)
                  for k, v in r.items() if k in _SITE_KEYS and v not in (None, "")}
                 for r in rows]
    else:
        try:
            doc = json.loads(text)
            feats = doc["features"]
            items = [{**{k: v for k, v in (f.get("properties") or {}).items()
                         if k in _SITE_KEYS and v not in (None, "")},
                      "id": f.get("id") or (f.get("properties") or {}).get("id"),
                      "lon": f["geometry"]["coordinates"][0],
                      "lat": f["geometry"]["coordinates"][1]} for f in feats]
        except (ValueError, KeyError, TypeError, IndexError):
            raise InvalidInput(f"add: {path.name} is not a GeoJSON FeatureCollection of "
                               "points with ids", field="add") from None
    if not items:
        raise InvalidInput(f"add: {path.name} has no sites (rows with id, lon, lat)",
                           field="add")
    return items


def _number(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def _check_out(out: Path | None, suffixes: tuple[str, ...], option: str) -> None:
    if out is not None and out.suffix.lower() not in suffixes:
        raise InvalidInput(f"{option}: unsupported format {out.suffix!r}; use "
                           f"{' or '.join(suffixes)}", field=option.lstrip("-"))


@click.command("scenario")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--minutes", "minutes_text", default="5,10,15", show_default=True,
              help="Thresholds in minutes, comma-separated (each in (0, 120]).")
@engine_options
@demand_options
@hours_options
@weather_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the deltas (every scenario, threshold and district): .csv or "
                   ".xlsx.")
@click.option("--units", "units_out", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write the demand units that gain or lose coverage as "
                                 "GeoJSON points.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the comparison as JSON (with the ids of the units that gain and "
                   "lose coverage).")
@click.option("--db", default=None, help="Station database [default: LOCATOR_DB].")
@_clean_errors
def scenario_cmd(files, minutes_text, mode, engine_name, pbf, speed, detour, demand, weight,
                 districts, crs, at, ignore_hours, weather, out, units_out, as_json,
                 db) -> None:
    """Compare the current stations with one or more scenarios (FILES: JSON, see
    locator.coverage.scenario): covered demand and cross-coverage by threshold and
    district, the demand that gains and that loses coverage. The figures equal a fresh
    coverage run on each scenario's stations."""
    from ..coverage.planning import PlanningData, resolve_at
    from ..coverage.scenario import scenario_run

    minutes = _minutes_list(minutes_text)
    _check_out(out, (".csv", ".xlsx"), "--out")
    _check_out(units_out, (".geojson", ".json"), "--units")
    when = resolve_at(at, ignore_hours=ignore_hours)
    scenarios = [_read_scenario(p) for p in files]  # bad files fail before any data load
    dist, dem, _, records, _, _ = _inputs(db, demand, weight, districts, crs, at,
                                          ignore_hours, weather)
    for path, sc in zip(files, scenarios, strict=True):
        try:
            sc.check(records)
        except InvalidInput as e:
            raise InvalidInput(f"{path.name}: {e.message}", field=e.field) from None
    eng = _engine(engine_name, mode, speed, detour, pbf)
    run = scenario_run(lambda: eng, records, PlanningData(dem, dist), minutes, scenarios,
                       at=when, weather=weather)
    illustrative = bool(run.flags.get("illustrative")) or _illustrative(dem, False)
    if out is not None:
        _write_deltas(out, run.rows(), illustrative)
    if units_out is not None:
        units_out.write_text(json.dumps(_units_geojson(run.unit_features(), illustrative),
                                        ensure_ascii=False), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(run.to_dict(), ensure_ascii=False))
        return
    _print(run, illustrative)
    if out is not None:
        click.echo(f"Deltas written to {out}")
    if units_out is not None:
        click.echo(f"Units that gain or lose coverage written to {units_out}")


def _points(x: float | None) -> str:
    return "—" if x is None else f"{x:+.2f}"


def _listed(added: tuple[str, ...], removed: tuple[str, ...]) -> str:
    parts = ([f"start counting: {', '.join(added)}"] if added else []) + (
        [f"stop counting: {', '.join(removed)}"] if removed else [])
    return f" ({'; '.join(parts)})" if parts else ""


def _print(run: Any, illustrative: bool) -> None:
    base = run.base.report
    if illustrative:
        click.echo(f"NOTE: {ILLUSTRATIVE_NOTICE}")
    click.echo(f"Engine: {engine_line(base.engine)}")
    click.echo(f"Base: {time_line(base.stations)}")
    for t in base.thresholds:
        click.echo(f"  {t.minutes:g} min: covered {_pct(t.city.share_demand)} of demand; "
                   f"reached by 2+ stations {_pct(t.city.share_cross)}")
    for r in run.results:
        sc = r.scenario
        click.echo(f"\nScenario \"{sc.name}\": {len(sc.add)} added, {len(sc.close)} closed, "
                   f"{len(sc.remove)} removed, {len(sc.change)} changed; counted stations "
                   f"{base.stations['used']:,} -> {r.report.stations['used']:,}"
                   + _listed(r.added, r.removed))
        click.echo(f"  Time: {time_line(r.report.stations)}")
        for t in r.thresholds:
            c = t.city
            click.echo(f"  {t.minutes:g} min: covered {_pct(c.base.share_demand)} -> "
                       f"{_pct(c.scenario.share_demand)} ({_points(c.change_points)} points); "
                       f"2+ stations {_pct(c.base.share_cross)} -> "
                       f"{_pct(c.scenario.share_cross)} ({_points(c.cross_change_points)}); "
                       f"gain {c.units_gained:,} units ({c.demand_gained:,.0f}), lose "
                       f"{c.units_lost:,} units ({c.demand_lost:,.0f})")
            for d in t.districts:
                if not d.base.units and not d.stations_base and not d.stations_scenario:
                    continue
                click.echo(f"    {d.adcode or '—':<6} {d.name:<6} "
                           f"{_pct(d.base.share_demand):>6} -> "
                           f"{_pct(d.scenario.share_demand):>6} "
                           f"({_points(d.change_points)})  gain {d.units_gained:,} "
                           f"({d.demand_gained:,.0f})  lose {d.units_lost:,} "
                           f"({d.demand_lost:,.0f})  stations {d.stations_base:,} -> "
                           f"{d.stations_scenario:,}")


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _write_deltas(out: Path, rows: list[dict[str, Any]], illustrative: bool) -> None:
    """The deltas as CSV (UTF-8 with BOM for spreadsheets); the notice on every row of
    illustrative figures."""
    from ..coverage.scenario import ROW_FIELDS

    text = ILLUSTRATIVE_NOTICE if illustrative else ""
    table = [[*(_cell(row[k]) for k in ROW_FIELDS), text] for row in rows]
    try:
        if out.suffix.lower() == ".xlsx":
            from ..coverage.export import xlsx_bytes

            out.write_bytes(xlsx_bytes([("scenarios", [*ROW_FIELDS, "notice"], table)],
                                       notice=text or None))
            return
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([*ROW_FIELDS, "notice"])
        w.writerows(table)
        out.write_text(buf.getvalue(), encoding="utf-8-sig", newline="")
    except OSError as e:
        raise InvalidInput(f"--out: cannot write {out} ({e.strerror or e})",
                           field="out") from None


def _units_geojson(features: list[dict[str, Any]], illustrative: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if illustrative:
        doc["notice"] = ILLUSTRATIVE_NOTICE
        for f in features:
            f["properties"]["notice"] = ILLUSTRATIVE_NOTICE
    return doc
