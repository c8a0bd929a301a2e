"""``locator access``: capacity-aware access (2SFCA, E2SFCA) and its equity, by district.

Calls the planning service (:func:`locator.coverage.planning.access_run`); this module
parses options and prints or writes the answer.
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
    _engine,
    _illustrative,
    _inputs,
    demand_options,
    engine_line,
    engine_options,
    hours_options,
    time_line,
    weather_option,
)


def _weights(text: str | None) -> list[float] | None:
    if text is None or not text.strip():
        return None
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InvalidInput(f"weights: {text!r} must be numbers separated by commas, e.g. "
                           "1,0.68,0.22", field="weights") from None


def _fmt(x: Any, nd: int = 3) -> str:
    return "—" if x is None else f"{x:.{nd}f}"


@click.command("access")
@click.option("--method", type=click.Choice(["e2sfca", "2sfca"]), default="e2sfca",
              show_default=True, help="E2SFCA weighs nearer zones more; 2SFCA weighs every "
                                      "pair within reach the same.")
@click.option("--minutes", type=float, default=15.0, show_default=True)
@click.option("--weights", default=None,
              help="E2SFCA zone weights, nearest first, over equal parts of --minutes "
                   "[default: 1,0.68,0.22].")
@click.option("--default-capacity", type=int, default=None,
              help="Seats for the stations with none recorded (without it, they are an "
                   "error when others have seats; when none has, every station counts 1).")
@engine_options
@demand_options
@hours_options
@weather_option
@click.option("--crowded", "n_crowded", default=10, show_default=True,
              help="How many of the most crowded stations to list.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write each demand unit's access score as CSV.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--db", default=None, help="Station database [default: LOCATOR_DB].")
def access_cmd(method, minutes, weights, default_capacity, mode, engine_name, pbf, speed,
               detour, demand, weight, districts, crs, at, ignore_hours, weather, n_crowded,
               out, as_json, db) -> None:
    """Capacity-aware access of every demand unit (seats per unit of demand, 2SFCA or
    E2SFCA), by district, with its equity (Gini, Theil, Palma) and the most crowded
    stations."""
    from ..coverage.planning import PlanningData, access_run, resolve_at, spec_of

    if out is not None and out.suffix.lower() != ".csv":
        raise InvalidInput(f"--out: unsupported format {out.suffix!r}; use .csv", field="out")
    zone_weights = _weights(weights)
    dist, dem, _, records, _, _ = _inputs(db, demand, weight, districts, crs, at,
                                          ignore_hours, weather)
    eng = _engine(engine_name, mode, speed, detour, pbf)
    spec = spec_of(lambda: eng, records, at=resolve_at(at, ignore_hours=ignore_hours),
                   weather=weather)
    doc = access_run(spec, PlanningData(dem, dist), minutes, method=method,
                     weights=zone_weights, default_capacity=default_capacity,
                     crowded=n_crowded, with_scores=out is not None)
    illustrative = _illustrative(dem, spec.sample)
    scores = doc.pop("scores", None)
    if out is not None and scores is not None:
        _write_scores(out, dem, scores, illustrative, dist)
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False))
        return
    _print(doc, illustrative)
    if out is not None:
        click.echo(f"Access scores written to {out}")


def _print(doc: dict[str, Any], illustrative: bool) -> None:
    if illustrative:
        click.echo(f"NOTE: {ILLUSTRATIVE_NOTICE}")
    click.echo(f"Engine: {engine_line(doc['engine'])}")
    click.echo(f"Time: {time_line(doc['stations'])}")
    zones = ", ".join(f"to {z['minutes']:g} min x{z['weight']:g}" for z in doc["zones"])
    cap = doc["capacity"]
    unit = "stations" if cap["unit"] == "station" else "seats"
    click.echo(f"Access ({doc['method'].upper()}, {doc['minutes']:g} min; {zones})")
    if cap["source"] == "none recorded":
        click.echo("Capacity: no station has its seats recorded; every station counts 1 "
                   "(scores are stations per unit of demand)")
    else:
        click.echo(f"Capacity: seats recorded for {cap['recorded']:,} stations"
                   + (f", {cap['defaulted']:,} given the default {cap['default']}"
                      if cap["defaulted"] else ""))
    per = doc["demand"].get("weight") or ""
    per = per if per not in ("", "weight") else "units of demand"
    city = doc["mean_access"]
    click.echo(f"City: {_fmt(None if city is None else 1000 * city, 2)} {unit} per 1,000 "
               f"{per}")
    eq = doc["equity"]
    worst = eq["worst10_share_uncovered"]
    click.echo(f"Equity: Gini {_fmt(eq['gini'])}, Theil {_fmt(eq['theil'])}, Palma "
               f"{_fmt(eq['palma'], 2)}; worst-served 10% of demand: "
               f"{_fmt(None if worst is None else 100 * worst, 1)}% out of reach")
    for d in doc["districts"]:
        a = d["mean_access"]
        e = d["equity"]
        click.echo(f"  {d['adcode'] or '—':<6} {d['name']:<6} "
                   f"{_fmt(None if a is None else 1000 * a, 2):>8} per 1,000  "
                   f"Gini {_fmt(e.get('gini'))}  no access {d['demand_without_access']:,.0f}")
    if doc["crowded"]:
        click.echo(f"\nMost crowded stations (demand per {unit[:-1]}):")
        for c in doc["crowded"]:
            click.echo(f"  {c['id']} {c.get('name', '')}: {c['demand_per_capacity']:,.1f} "
                       f"({c['catchment_demand']:,.0f} for {c['capacity']:g})")


def _write_scores(out: Path, dem: Any, scores: list[float], illustrative: bool,
                  districts: Any = None) -> None:
    names = {} if districts is None else dict(zip(districts.adcode, districts.name,
                                                  strict=True))
    buf = io.StringIO()
    w = csv.writer(buf)
    if illustrative:
        w.writerow([f"# {ILLUSTRATIVE_NOTICE}"])
    w.writerow(["id", "lon", "lat", "district_adcode", "district_name", "weight", "access"])
    for i, x, y, d, wt, a in zip(dem.ids, dem.lon, dem.lat, dem.district, dem.weight, scores,
                                 strict=True):
        w.writerow([i, f"{x:.7f}", f"{y:.7f}", d, names.get(d, ""), f"{wt:g}",
                    f"{a:.12g}"])
    out.write_text(buf.getvalue(), encoding="utf-8-sig", newline="")
