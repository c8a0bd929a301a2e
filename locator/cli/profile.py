"""``locator profile``: the 24-hour coverage profile of one day, city-wide and by
district, with the night gaps.

Calls the planning service's :func:`locator.coverage.profile.profile_run`; this module
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
    _clean_errors,
    _engine,
    _illustrative,
    _inputs,
    demand_options,
    engine_line,
    engine_options,
    weather_option,
)


def _profile_option(text: str | None) -> str | list[float] | None:
    """A profile name, or 24 multipliers separated by commas."""
    if text is None or not text.strip():
        return None
    if "," in text or text.strip()[0] in "0123456789.+-":
        try:
            return [float(x) for x in text.split(",")]
        except ValueError:
            raise InvalidInput(f"profile: {text!r} must be a profile name or 24 numbers "
                               "separated by commas", field="profile") from None
    return text


def _pct(x: Any) -> str:
    return "—" if x is None else f"{100 * float(x):.1f}%"


@click.command("profile")
@click.option("--day", required=True,
              help="The day (YYYY-MM-DD): a workday, a weekend day or a public holiday.")
@click.option("--minutes", type=float, default=15.0, show_default=True,
              help="Threshold in minutes (in (0, 120]).")
@click.option("--profile", "profile_text", default=None,
              help="Hourly demand shape: uniform (default), sanitation, delivery "
                   "(ILLUSTRATIVE shapes), or 24 multipliers separated by commas.")
@click.option("--hourly-demand", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="CSV of 24 weights per demand unit: id, h00..h23 (the "
                                 "demand layer's ids); instead of --profile.")
@click.option("--rule", type=click.Choice(["start", "whole_hour"]), default="start",
              show_default=True, help="start: each hour at HH:00; whole_hour: a station "
                                      "counts if open at every minute of the hour.")
@engine_options
@demand_options
@weather_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the table (every hour, the city and each district) as CSV.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--db", default=None, help="Station database [default: LOCATOR_DB].")
@_clean_errors
def profile_cmd(day, minutes, profile_text, hourly_demand, rule, mode, engine_name, pbf,
                speed, detour, demand, weight, districts, crs, weather, out, as_json,
                db) -> None:
    """Covered share of demand at each hour of a day (stations counted as open then:
    status open, unknown hours counted as open), city-wide and by district, with
    cross-coverage and the night gaps."""
    from ..coverage.planning import PlanningData, spec_of
    from ..coverage.profile import parse_day, profile_run, read_hourly_demand

    parse_day(day)  # before any file is read
    profile = _profile_option(profile_text)
    if profile is not None and hourly_demand is not None:
        raise InvalidInput("profile: give either --profile or --hourly-demand, not both",
                           field="profile")
    if out is not None and out.suffix.lower() != ".csv":
        raise InvalidInput(f"--out: unsupported format {out.suffix!r}; use .csv", field="out")
    dist, dem, _, records, _, _ = _inputs(db, demand, weight, districts, crs, None, True,
                                          weather)
    hourly = read_hourly_demand(hourly_demand, dem) if hourly_demand is not None else None
    eng = _engine(engine_name, mode, speed, detour, pbf)
    spec = spec_of(lambda: eng, records, at=None, weather=weather)
    doc = profile_run(spec, PlanningData(dem, dist), minutes, day, profile=profile,
                      hourly_demand=hourly, rule=rule, with_rows=out is not None)
    illustrative = _illustrative(dem, spec.sample)
    rows = doc.pop("rows", None)
    if out is not None and rows is not None:
        _write_rows(out, rows, illustrative)
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False))
        return
    _print(doc, illustrative, hourly_demand)
    if out is not None:
        click.echo(f"Table written to {out}")


def _print(doc: dict[str, Any], illustrative: bool, hourly_file: Path | None) -> None:
    if illustrative:
        click.echo(f"NOTE: {ILLUSTRATIVE_NOTICE}")
    click.echo(f"Engine: {engine_line(doc['engine'])}")
    d = doc["day"]
    hol = f" ({d['holiday']})" if d.get("holiday") else ""
    click.echo(f"Day: {d['date']} {_WEEKDAYS[d['weekday'] - 1]}, {d['label']} {d['kind']}"
               f"{hol}; {doc['evaluated']}, {doc['tz']}")
    if d.get("note"):
        click.echo(f"Note: {d['note']}")
    st = doc["stations"]
    ex = st["excluded_all_day"]
    left = ", ".join(f"{v:,} {_LEFT.get(k, k)}" for k, v in ex.items())
    click.echo(f"Stations: {st['considered']:,} of status open considered"
               + (f" (left out all day: {left})" if left else "")
               + f"; {st['counted_all_day']:,} count at every hour, "
               f"{st['counted_some_hours']:,} at some, {st['never_open']:,} at none; "
               "unknown hours count as open")
    prof = doc["demand_profile"]
    if prof["name"] == "hourly":
        click.echo(f"Demand by hour: hourly weights from {hourly_file}")
    else:
        note = f" ({prof['notice']})" if prof.get("notice") else ""
        click.echo(f"Demand by hour: profile {prof['name']}{note}")
    click.echo(f"\nWithin {doc['minutes']:g} min:")
    click.echo("hour   counted  unknown  not open  covered   cross   demand")
    for h in doc["hours"]:
        s, c = h["stations"], h["city"]
        click.echo(f"{h['label']}  {s['counted']:>7,}  {s['unknown_hours_counted_open']:>7,}"
                   f"  {s['not_open']:>8,}  {_pct(c['share_demand']):>7}  "
                   f"{_pct(c['share_cross']):>6}  {c['demand_total'] or 0:>9,.0f}")
    click.echo(f"\nWhole day: {_pct(doc['day_share_demand'])} of the day's demand-hours "
               f"covered, {_pct(doc['day_share_cross'])} cross-covered")
    ng = doc["night_gaps"]
    by_hour = {h["label"]: h["city"]["share_demand"] for h in doc["hours"]}
    click.echo("Lowest hours: " + ", ".join(f"{h} ({_pct(by_hour[h])})"
                                            for h in ng["lowest_hours"]))
    night = ", ".join(ng["night_hours"])
    click.echo(f"Night gaps: {ng['units_lost']:,} units ({ng['demand_lost'] or 0:,.0f} "
               f"demand) covered at {ng['reference_hour']} are not covered at one or more "
               f"of {night}")
    for x in ng["districts"]:
        click.echo(f"  {x['adcode'] or '—':<6} {x['name']}: {x['units_lost']:,} units, "
                   f"{x['demand_lost'] or 0:,.0f} demand")


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LEFT = {"closed": "closed", "status": "temporarily closed", "type": "other type",
         "lacking": "lacking those amenities"}


def _write_rows(out: Path, rows: list[dict[str, Any]], illustrative: bool) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({**r, "notice": ILLUSTRATIVE_NOTICE if illustrative else ""})
    try:
        out.write_text(buf.getvalue(), encoding="utf-8-sig", newline="")
    except OSError as e:
        raise InvalidInput(f"--out: cannot write {out} ({e.strerror or e})",
                           field="out") from None
