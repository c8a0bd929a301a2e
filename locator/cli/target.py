"""``locator target``: how many new stations bring coverage to a target (LSCP).

The fewest candidate sites that bring the share of demand within reach to ``--target``
(100 % by default, 95 % is common), optionally with every counted unit reached twice
(``--backup``, 交叉覆盖), the existing stations kept. Calls
:func:`locator.coverage.lscp.fewest_sites` through the planning service's
:func:`~locator.coverage.planning.target_run`; this module parses options and prints or
writes the answer.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import click

from ..coverage.planning import TARGET_TIME_LIMIT_S as TIME_LIMIT_S
from ..coverage.planning import target_run
from ..errors import InvalidInput
from .coverage import (
    ILLUSTRATIVE_NOTICE,
    _caveats,
    _clean_errors,
    _engine,
    _illustrative,
    _inputs,
    _pct,
    demand_options,
    engine_line,
    engine_options,
    hours_options,
    time_line,
    weather_option,
)

_NAME_COLUMNS = ("name", "名称", "站点名称", "site_name")
_ID_COLUMNS = ("id", "site_id", "code")


def _names_of(path: Path) -> dict[str, str]:
    """Candidate names from the file's name column (``name``, ``名称``), if it has one."""
    from ..store.files import decode_text

    text, _ = decode_text(path.read_bytes())
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if not rows:
        return {}
    header = [h.strip().lstrip("\ufeff").lower() for h in rows[0]]
    ci = next((header.index(c) for c in _ID_COLUMNS if c in header), None)
    ni = next((header.index(c) for c in _NAME_COLUMNS if c in header), None)
    if ci is None or ni is None:
        return {}
    return {r[ci].strip(): r[ni].strip() for r in rows[1:] if len(r) > max(ci, ni)}


@click.command("target")
@click.option("--target", "target_text", default="100%", show_default=True,
              help="Share of demand to reach: 100%, 95%, or a fraction such as 0.95.")
@click.option("--backup", is_flag=True,
              help="Cross-coverage (交叉覆盖): count a unit only when two stations or sites "
                   "reach it (existing stations count toward the two).")
@click.option("--candidates", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Candidate sites CSV (id, lon, lat, optional name).")
@click.option("--candidates-from", "cands_from", type=click.Choice(["uncovered", "gaps"]),
              default="uncovered", show_default=True,
              help="Without --candidates: a site at every demand unit still short of its "
                   "reach (so 100% is feasible), or a grid inside each gap.")
@click.option("--grid-spacing", type=float, default=None,
              help="With --candidates-from gaps: metres between grid candidates in a gap "
                   "[default: the planning service's].")
@click.option("--method", type=click.Choice(["auto", "exact", "greedy"]), default="auto",
              show_default=True, help="exact: integer program (HiGHS); greedy: with the "
                                      "LP bound; auto: exact up to 5,000 useful sites.")
@click.option("--time-limit", type=float, default=TIME_LIMIT_S, show_default=True,
              help="Seconds the exact solve may take (then its best answer, not proven).")
@click.option("--minutes", type=float, default=15.0, show_default=True)
@engine_options
@demand_options
@hours_options
@weather_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the sites: .csv or .geojson.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--db", default=None, help="Station database [default: LOCATOR_DB].")
@_clean_errors
def target_cmd(target_text, backup, candidates, cands_from, grid_spacing, method, time_limit,
               mode, minutes, engine_name, pbf, speed, detour, demand, weight, districts, crs,
               at, ignore_hours, weather, out, as_json, db) -> None:
    """How many new stations, and where, bring coverage to the target share of demand
    (location set covering), the existing stations kept."""
    from ..coverage import read_candidates
    from ..coverage.lscp import parse_target
    from ..coverage.planning import PlanningData, resolve_at, spec_of

    parse_target(target_text)
    if out is not None and out.suffix.lower() not in (".csv", ".geojson", ".json"):
        raise InvalidInput(f"--out: unsupported format {out.suffix!r}; use .csv or .geojson",
                           field="out")
    cands = names = None
    if candidates is not None:
        cands = read_candidates(candidates, crs=crs)
        names = _names_of(candidates)
    dist, dem, _, records, _, _ = _inputs(db, demand, weight, districts, crs, at,
                                          ignore_hours, weather)
    eng = _engine(engine_name, mode, speed, detour, pbf)
    spec = spec_of(lambda: eng, records, at=resolve_at(at, ignore_hours=ignore_hours),
                   weather=weather)
    doc = target_run(spec, PlanningData(dem, dist), minutes, target=target_text,
                     backup=backup, method=method, candidates=cands,
                     candidates_from=cands_from, names=names, grid_spacing_m=grid_spacing,
                     time_limit=time_limit)
    illustrative = _illustrative(dem, spec.sample)
    if out is not None:
        _write_sites(doc["sites"], out, illustrative, engine_name == "network")
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False))
        return
    _print(doc, illustrative)
    if out is not None:
        click.echo(f"Sites written to {out}")


def _bound_source(r: dict[str, Any]) -> str:
    ex = r.get("exact") or {}
    if ex.get("status") == "optimal":
        return "the exact optimum"
    if ex:
        return "HiGHS's bound (time limit reached)"
    return "the LP relaxation" if r.get("lp_bound") is not None else "no bound"


def _print(doc: dict[str, Any], illustrative: bool) -> None:
    r = doc["lscp"]
    if illustrative:
        click.echo(f"NOTE: {ILLUSTRATIVE_NOTICE}")
    click.echo(f"Engine: {engine_line(doc['engine'])}")
    click.echo(f"Time: {time_line(doc['stations'])}")
    level = "reached by two stations or sites" if r["backup"] else "reached"
    click.echo(f"Target: {_pct(r['target'])} of demand {level} within {doc['minutes']:g} min")
    click.echo(f"Before: {_pct(r['share_before'])} covered, {_pct(r['backup_share_before'])}"
               " reached twice")
    cand = doc["candidates"]
    click.echo(f"Candidates: {cand['count']:,} ({cand['source']})")
    how = r["method"] + (", optimal" if r["optimal"] else ", not proven optimal")
    click.echo(f"New sites needed: {r['count']:,} ({how}); after: {_pct(r['share'])} covered, "
               f"{_pct(r['backup_share'])} reached twice")
    ratio = r["greedy_gap_ratio"]
    if r["lower_bound"] is None:
        click.echo(f"Greedy: {r['greedy_count']:,} sites; no lower bound found within the "
                   "time limit (--time-limit), so how far from the fewest is not known")
    else:
        click.echo(f"Greedy: {r['greedy_count']:,} sites, gap {r['greedy_gap']:,}"
                   + ("" if ratio is None else f" ({100 * ratio:.1f}%)")
                   + f" over the lower bound {r['lower_bound']:,} ({_bound_source(r)})")
    t = r["timings_s"]
    click.echo("Solved in " + f"{t['total']:.2f} s (" + ", ".join(
        f"{k} {v:.2f} s" for k, v in t.items() if k != "total") + ")")
    for s in doc["sites"]:
        name = f"  {s['name']}" if s.get("name") else ""
        name += f" ({s['place']})" if s.get("place") else ""
        click.echo(f"  {s['rank']}. {s['id']}{name}  {s['lon']:.6f},{s['lat']:.6f}  "
                   f"+{s['gain']:,.0f}")


def _write_sites(sites: list[dict[str, Any]], out: Path, illustrative: bool,
                 network: bool) -> None:
    from ..coverage.export import sites_geojson

    caveats = _caveats(illustrative, network)
    if out.suffix.lower() in (".geojson", ".json"):
        doc = sites_geojson(sites, **caveats)
        for f, s in zip(doc["features"], sites, strict=True):
            f["properties"].update({k: s[k] for k in ("name", "place", "district_adcode",
                                                      "district_name") if s.get(k)})
        out.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        return
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["rank", "id", "name", "place", "district_adcode", "district_name", "lon", "lat",
                "gain", "notice", "attribution"])
    for s in sites:
        w.writerow([s["rank"], s["id"], s.get("name", ""), s.get("place", ""),
                    s.get("district_adcode") or "", s.get("district_name") or "",
                    f"{s['lon']:.7f}",
                    f"{s['lat']:.7f}", f"{s['gain']:g}", caveats["notice"] or "",
                    caveats["attribution"] or ""])
    out.write_text(buf.getvalue(), encoding="utf-8-sig", newline="")
