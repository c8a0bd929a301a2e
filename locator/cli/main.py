"""Command line: ``locator init | migrate | import | export | nearest | history | serve | demo``.

Each command parses its options, calls the library and prints. Errors from the
library (bad input, missing database) become a one-line message and exit
status 2 (bad input) or 1 (anything else); never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .. import __version__
from ..config import MAX_K, SPEEDS_KMH
from ..errors import ImportFailed, InvalidInput, LocatorError
from ..stations.coords import CRS_CODES, from_wgs84, parse_crs, validate_lonlat
from ..stations.vocab import AMENITIES, STATION_TYPES


def _handle_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ImportFailed as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(2)
        except InvalidInput as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(2)
        except LocatorError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(1)

    return wrapper


db_option = click.option("--db", default=None,
                         help="Database path or SQLAlchemy URL [env LOCATOR_DB; default "
                              "./station-locator.sqlite].")
actor_option = click.option("--actor", default=None,
                            help="Who makes the change (kept in the history); default: $USER.")


def _actor(actor: str | None) -> str:
    import getpass

    if actor:
        return actor
    try:
        return "cli:" + getpass.getuser()
    except Exception:  # no user name in some containers
        return "cli"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="locator")
def main() -> None:
    """Station Locator: worker stations, nearest-station search and coverage."""


@main.command()
@db_option
@_handle_errors
def init(db: str | None) -> None:
    """Create an empty station database (or check an existing one)."""
    from ..store import StationStore

    store = StationStore(db, create=True)
    click.echo(f"Database ready: {store.url} (schema version {store.schema_version}, "
               f"{store.count()} stations)")


@main.command()
@db_option
@_handle_errors
def migrate(db: str | None) -> None:
    """Upgrade the database's schema in place to this program's version (nothing is lost;
    one transaction: a failed or interrupted upgrade changes nothing and can be rerun).

    On PostgreSQL it also adds the PostGIS geometry column once PostGIS is available.
    Take a backup first: there are no downgrades."""
    from ..store.schema import migrate as migrate_database

    done = migrate_database(db)
    if done.from_version == done.to_version:
        carried = " (carried over to Alembic's versioning)" if done.legacy else ""
        click.echo(f"{done.where}: schema version {done.to_version}, already current"
                   f"{carried}; {done.stations:,} stations.")
    else:
        click.echo(f"{done.where}: upgraded from schema version {done.from_version} to "
                   f"{done.to_version} in {done.seconds:.1f} s; {done.stations:,} stations "
                   f"and {done.history_rows:,} history rows, all kept.")
    if done.backend == "postgresql":
        click.echo(("Geometry: " if done.geometry.geometry else "Note: ") + done.geometry.note)


def _lang_text(e: Exception, lang: str) -> str:
    text = getattr(e, "text", None)
    return text(lang) if callable(text) else str(e)


def _fail(e: Exception, lang: str, code: int) -> None:
    click.echo(("Error: " if lang == "en" else "错误：") + _lang_text(e, lang), err=True)
    sys.exit(code)


@main.command("import")
@click.argument("file", type=click.Path(path_type=Path))  # bad paths: our own one line
@click.option("--crs", default=None,
              help=f"Coordinate system of the file: {', '.join(CRS_CODES)} "
                   "(gcj02 = Amap/Tencent/WeChat, bd09 = Baidu) [default: the saved "
                   "mapping's, else wgs84].")
@click.option("--dry-run", is_flag=True, help="Show the plan (new, updated, unchanged, "
                                              "warnings, errors); store nothing.")
@click.option("--upsert", is_flag=True, hidden=True,
              help="Kept for old scripts: matched stations are always updated now.")
@click.option("--ignore-unknown-columns", is_flag=True, help="Drop columns that are not fields.")
@click.option("--map", "maps", multiple=True, metavar="'列名=field'",
              help="Map a column to a field (repeatable), e.g. --map '站点性质=type'.")
@click.option("--drop", "drops", multiple=True, metavar="列名",
              help="Drop a column (repeatable).")
@click.option("--mapping", "mapping_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Use a column mapping saved with --save-mapping.")
@click.option("--save-mapping", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Save the column mapping (and --crs) as JSON for the next file.")
@click.option("--match-distance", type=float, default=50.0, show_default=True,
              help="Rows without an id match a stored station of the same type and name "
                   "within this many metres.")
@click.option("--no-districts", is_flag=True,
              help="Do not assign districts from the shipped Xuzhou boundaries.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="Language of the messages (zh-CN or English).")
@click.option("--source", default="import", show_default=True,
              help="Source for rows without a source column (official, staff, sample, import).")
@db_option
@actor_option
def import_(file: Path, crs: str | None, dry_run: bool, upsert: bool,
            ignore_unknown_columns: bool, maps: tuple[str, ...], drops: tuple[str, ...],
            mapping_file: Path | None, save_mapping: Path | None, match_distance: float,
            no_districts: bool, lang: str, source: str, db: str | None,
            actor: str | None) -> None:
    """Import stations from a CSV, XLSX or GeoJSON FILE: all rows or none.

    Rows are matched to stored stations by id, or else by type, place (within
    --match-distance) and name, so re-importing a file changes nothing. Districts
    are assigned from the shipped Xuzhou boundaries.
    """
    try:
        _import(file, crs, dry_run, ignore_unknown_columns, maps, drops, mapping_file,
                save_mapping, match_distance, no_districts, lang, source, db, actor)
    except ImportFailed as e:
        _fail(e, lang, 2)
    except InvalidInput as e:
        _fail(e, lang, 2)
    except LocatorError as e:
        _fail(e, lang, 1)


def _import(file: Path, crs: str | None, dry_run: bool, ignore_unknown: bool,
            maps: tuple[str, ...], drops: tuple[str, ...], mapping_file: Path | None,
            save_to: Path | None, match_distance: float, no_districts: bool, lang: str,
            source: str, db: str | None, actor: str | None) -> None:
    from ..errors import SchemaError
    from ..store import StationStore
    from ..store.files import (
        apply_mapping,
        apply_plan,
        load_mapping,
        parse_map_option,
        parse_rows,
        plan_import,
        read_sheet,
        resolve_mapping,
        save_mapping,
    )

    en = lang == "en"
    explicit: dict[str, str | None] = {}
    saved_crs = None
    if mapping_file is not None:
        explicit, saved_crs = load_mapping(mapping_file)
    explicit.update(parse_map_option(maps, drops))
    crs = parse_crs(crs or saved_crs or "wgs84")
    sheet = read_sheet(file)
    mapping = resolve_mapping(sheet.headers, explicit, ignore_unknown=ignore_unknown)
    if save_to is not None:
        save_mapping(mapping, save_to, crs=crs)
        click.echo(f"Saved the column mapping to {save_to}" if en else
                   f"列映射已保存到 {save_to}", err=True)
    table = apply_mapping(sheet, mapping)
    n = len(table.rows)
    districts = None
    if not no_districts:
        from ..coverage import load_xuzhou_districts

        districts = load_xuzhou_districts()
    show = n >= 5000 and _stderr_is_tty()
    with _progress(n, "Checking rows" if en else "检查数据行", show) as bar:
        parsed = parse_rows(table, crs=crs, default_source=source, districts=districts,
                            progress=(lambda done: bar.update(done - bar.pos)) if show else None)
    store = None
    try:
        store = StationStore(db, create=not dry_run)  # a dry run creates no database
    except SchemaError:
        if not dry_run:
            raise
    plan = plan_import(parsed, store.all() if store is not None else [],
                       match_distance_m=match_distance)
    enc = (f", encoding {table.encoding}" if en else f"，编码 {table.encoding}") \
        if table.encoding else ""
    ign = ""
    if table.ignored_columns:
        ign = ("; ignored columns: " if en else "；忽略的列：") + ", ".join(table.ignored_columns)
    where = f"{file.name} ({crs}{enc}){ign}" if en else f"{file.name}（{crs}{enc}）{ign}"
    for w in plan.warnings:
        click.echo(("Warning: " if en else "警告：") + w.line(lang), err=True)
    for e in plan.errors:
        click.echo(("Error: " if en else "错误：") + e.line(lang), err=True)
    if plan.errors:
        click.echo(f"{where}: {plan.summary(lang)}. Nothing was imported; fix the rows above."
                   if en else f"{where}：{plan.summary(lang)}。未导入任何数据；请先修正以上各行。",
                   err=True)
        sys.exit(2)
    if dry_run:
        for r in plan.updated[:_SHOW_UPDATES]:
            click.echo(_update_line(r, en))
        if len(plan.updated) > _SHOW_UPDATES:
            more = len(plan.updated) - _SHOW_UPDATES
            click.echo(f"  ... and {more:,} more updates" if en else f"  ……另有 {more:,} 条更新")
        click.echo(f"Dry run of {where}: {plan.summary(lang)}; nothing stored." if en else
                   f"试运行 {where}：{plan.summary(lang)}；未写入任何数据。")
        return
    assert store is not None
    todo = len(plan.to_store())
    show = todo >= 5000 and _stderr_is_tty()
    who = _actor(actor)
    with _progress(todo, "Writing (one transaction)" if en else "写入（单个事务）", show) as bar:
        apply_plan(store, plan, actor=who, batch=file.name,
                   progress=bar.update if show else None,
                   hook=_audit_hook(store, who, "station.import", file.name,
                                    {**plan.counts(), "crs": crs}))
    click.echo(f"Imported {where}: {plan.summary(lang)}." if en else
               f"已导入 {where}：{plan.summary(lang)}。")


_SHOW_UPDATES = 20


def _update_line(r, en: bool) -> str:
    """``row 5: update ST-1 (phone: '1' -> '2')`` for a dry run."""
    def show(v: object) -> str:
        if isinstance(v, tuple):
            return ";".join(map(str, v))
        return f"{v:.6f}" if isinstance(v, float) else ("" if v is None else str(v))

    ch = ", ".join(f"{c.field}: {show(c.old)!r} -> {show(c.new)!r}" for c in r.changes)
    head = f"row {r.row}: update {r.station.id}" if en else f"第 {r.row} 行：更新 {r.station.id}"
    return f"  {head} ({ch})" if en else f"  {head}（{ch}）"


def _audit_hook(store: Any, actor: str, action: str, target: str, detail: dict[str, Any]
                ) -> Callable[[Any, list[Any]], None]:
    """A store write hook that writes one audit row in the write's own transaction."""
    from ..store.accounts import ensure_schema, insert_audit, utc_now

    ensure_schema(store.engine)

    def hook(conn: Any, stored: list[Any]) -> None:
        insert_audit(conn, at=utc_now(), actor=actor, action=action, target=target,
                     result="ok", client="cli", detail={**detail, "stored": len(stored)})

    return hook


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class _NoBar:
    pos = 0

    def update(self, n: int) -> None:
        self.pos += n

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _progress(n: int, label: str, show: bool):
    """A click progress bar on stderr when it is a terminal, else a silent stand-in."""
    if not show:
        return _NoBar()
    return click.progressbar(length=n, label=label, file=sys.stderr)


@main.command()
@click.argument("file", type=click.Path(path_type=Path))  # bad paths: our own one line
@click.option("--crs", default="wgs84", show_default=True,
              help="Coordinate system of the output: wgs84, gcj02 or bd09 (a GeoPackage keeps "
                   "a WGS-84 geometry and writes lon/lat in the chosen CRS).")
@click.option("--include-closed/--open-only", default=True, show_default=True)
@db_option
@_handle_errors
def export(file: Path, crs: str, include_closed: bool, db: str | None) -> None:
    """Export stations to FILE; the format follows the extension (.csv, .xlsx, .geojson,
    .gpkg). Every file carries the records' source; sample data is labelled."""
    from ..store import StationStore
    from ..store.accounts import ensure_schema, insert_audit, utc_now
    from ..store.files import check_export_path, export_stations

    crs = parse_crs(crs)
    check_export_path(file)  # a bad path fails before the whole database is read
    store = StationStore(db)
    stations = store.all()
    if not include_closed:
        stations = [s for s in stations if s.status != "closed"]
    n = export_stations(stations, file, crs=crs)
    ensure_schema(store.engine)
    with store.engine.begin() as conn:  # exports are audited like every other data access
        insert_audit(conn, at=utc_now(), actor=_actor(None), action="station.export",
                     target=str(file)[:200], result="ok", client="cli",
                     detail={"rows": n, "crs": crs, "format": file.suffix.lower()})
    notice = "  (sample data: illustrative, not real stations)" if any(
        s.is_sample for s in stations) else ""
    click.echo(f"Wrote {n} stations to {file} ({crs}).{notice}")


@main.command()
@click.option("--lon", type=str, default=None, help="Longitude of the query point.")
@click.option("--lat", type=str, default=None, help="Latitude of the query point.")
@click.option("--crs", default="wgs84", show_default=True,
              help="CRS of --lon/--lat and of the --queries file's default.")
@click.option("-k", "k", default=5, show_default=True, help=f"Results per query (1..{MAX_K}).")
@click.option("--type", "types", multiple=True,
              help=f"Station type (repeatable): {', '.join(STATION_TYPES.codes)}.")
@click.option("--amenity", "amenities", multiple=True,
              help=f"Required amenity (repeatable): {', '.join(AMENITIES.codes)}.")
@click.option("--open-at", default=None, help="ISO 8601 time; keep stations open then "
                                              "(unknown hours are kept and marked).")
@click.option("--open-now", is_flag=True, help="Shortcut for --open-at <now>.")
@click.option("--max-distance", "max_distance_m", type=float, default=None,
              help="Search radius in metres.")
@click.option("--mode", type=click.Choice(list(SPEEDS_KMH)), default="walk", show_default=True,
              help="Travel mode for the ETA.")
@click.option("--include-closed", is_flag=True, help="Also list stations marked closed.")
@click.option("--out-crs", default="wgs84", show_default=True,
              help="CRS of the printed station coordinates.")
@click.option("--queries", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV of queries (columns lon,lat and optional id,crs): batch mode.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per query, per line.")
@db_option
@_handle_errors
def nearest(lon, lat, crs, k, types, amenities, open_at, open_now, max_distance_m, mode,
            include_closed, out_crs, queries, as_json, db) -> None:
    """The nearest stations to a point (or to each point of a --queries file).

    On a PostGIS database the server answers (its GiST index, re-ranked exactly) for up
    to 200 points; otherwise, and for longer --queries files, the stations are loaded
    into the in-memory index first. The answers are the same either way."""
    from ..store import StationStore
    from ..time_util import now

    crs = parse_crs(crs)
    out_crs = parse_crs(out_crs)
    if open_now and open_at:
        raise InvalidInput("give either --open-at or --open-now, not both", field="open_at")
    if open_now:
        open_at = now().isoformat(timespec="minutes")
    if queries is not None:
        if lon is not None or lat is not None:
            raise InvalidInput("give either --queries or --lon/--lat, not both", field="queries")
        points = _read_queries(queries, crs)
    else:
        if lon is None or lat is None:
            raise InvalidInput("--lon and --lat are required (or --queries FILE)",
                               field="lon" if lon is None else "lat")
        wlon, wlat = validate_lonlat(lon, lat, crs=crs)
        points = [(None, wlon, wlat, lon, lat)]
    store = StationStore(db)
    try:
        if store.spatial and len(points) <= _SERVER_SIDE_POINTS:
            search = store.nearest  # the database's KNN: no index to load for a few points
        else:
            from ..store.registry import Registry

            search = Registry(store).index.nearest
        statuses = ("open", "temporarily_closed", "closed") if include_closed else None
        any_sample = False
        for qid, wlon, wlat, _in_lon, _in_lat in points:
            res = search(wlon, wlat, k, types=types or None, amenities=amenities or None,
                         open_at=open_at, statuses=statuses, max_distance_m=max_distance_m)
            any_sample |= any(r.station is not None and r.station.is_sample for r in res)
            if as_json:
                items = []
                for r in res:
                    d = r.to_dict(mode=mode)
                    if out_crs != "wgs84":
                        d["lon"], d["lat"] = from_wgs84(r.lon, r.lat, out_crs)
                        d["crs"] = out_crs
                    items.append(d)
                line = {"query": {"id": qid, "lon": wlon, "lat": wlat, "crs": "wgs84"},
                        "results": items}
                if any(it.get("source") == "sample" for it in items):
                    line["notice"] = "sample data: illustrative, not real stations"
                click.echo(json.dumps(line, ensure_ascii=False))
            else:
                head = f"Query {qid}: " if qid is not None else ""
                click.echo(f"{head}{len(res)} station(s) near {wlon:.6f},{wlat:.6f} (WGS-84)")
                for i, r in enumerate(res, 1):
                    olon, olat = from_wgs84(r.lon, r.lat, out_crs) if out_crs != "wgs84" \
                        else (r.lon, r.lat)
                    click.echo(
                        f"{i:>3}. {r.id}  {r.name}  [{STATION_TYPES[r.type].en}]\n"
                        f"     {r.distance_m:,.0f} m, bearing {r.bearing_deg:.0f}°, "
                        f"~{r.eta(mode):.1f} min by {mode}; {r.open_status}; "
                        f"{olon:.6f},{olat:.6f} ({out_crs})\n"
                        f"     Amap: {r.nav_links_for(mode)['amap']}")
    finally:
        store.dispose()  # its pooled connections, before the process ends
    if any_sample and not as_json:
        click.echo("Note: these are SAMPLE stations (illustrative, not real).")


#: Up to this many query points, ``locator nearest`` on PostGIS asks the server for each
#: (a few milliseconds apiece); more, and loading the index once is quicker.
_SERVER_SIDE_POINTS = 200


def _read_queries(path: Path, default_crs: str) -> list[tuple]:
    import csv
    import io

    from ..store.files import decode_text

    if not path.is_file():
        raise InvalidInput(f"queries file not found: {path}", field="queries")
    text, _ = decode_text(path.read_bytes())
    reader = csv.DictReader(io.StringIO(text, newline=""))
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    if "lon" not in fields or "lat" not in fields:
        raise InvalidInput(f"queries file needs columns lon and lat (found: {', '.join(fields)})",
                           field="queries")
    out, errors = [], []
    for n, row in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        try:
            c = parse_crs(row.get("crs") or default_crs)
            wlon, wlat = validate_lonlat(row.get("lon"), row.get("lat"), crs=c)
        except InvalidInput as e:
            errors.append(InvalidInput(e.message, field=e.field, row=n))
            continue
        out.append((row.get("id") or str(n - 1), wlon, wlat, row.get("lon"), row.get("lat")))
    if errors:
        raise ImportFailed(errors, total_rows=len(out) + len(errors))
    if not out:
        raise InvalidInput("queries file has no rows", field="queries")
    return out


@main.command()
@click.argument("station_id", required=False)
@click.option("--limit", default=20, show_default=True)
@db_option
@_handle_errors
def history(station_id: str | None, limit: int, db: str | None) -> None:
    """Show the change history (of one station, or of all)."""
    from ..store import StationStore

    for h in StationStore(db).history(station_id, limit=limit):
        click.echo(f"#{h['hid']} {h['at']:%Y-%m-%d %H:%M:%S} {h['op']:<6} {h['station_id']} "
                   f"by {h['actor']}")
        if h["op"] == "update" and h["before"] and h["after"]:
            for key in sorted(h["after"]):
                if key not in ("updated_at", "version") and \
                        h["before"].get(key) != h["after"].get(key):
                    click.echo(f"      {key}: {h['before'].get(key)!r} -> {h['after'][key]!r}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--debug", is_flag=True, help="Flask debug mode (never in production).")
@db_option
@_handle_errors
def serve(host: str, port: int, debug: bool, db: str | None) -> None:
    """Run the web app with the development server (use gunicorn in production)."""
    from ..web import create_app

    app = create_app({"LOCATOR_DB": db} if db else None)
    click.echo(f"Serving {app.extensions['locator'].registry.store.url} at "
               f"http://{host}:{port}/  (API docs: http://{host}:{port}/api/v1/docs)")
    app.run(host=host, port=port, debug=debug, use_reloader=False)


@main.command()
@click.option("--db", envvar="LOCATOR_DEMO_DB", default="station-locator-demo.sqlite",
              show_default=True, help="Where to build the demo database.")
@click.option("--serve/--no-serve", default=True, show_default=True,
              help="Serve the web app on the demo data after building it.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@_handle_errors
def demo(db: str, serve: bool, host: str, port: int) -> None:
    """Build the Xuzhou demo database from the shipped SAMPLE data, query it, serve it."""
    from .demo import build_demo

    reg, info = build_demo(db)
    click.echo(f"Demo database: {reg.store.url}")
    click.echo(f"  {info['stations']} SAMPLE stations (illustrative, not real) in "
               f"{info['districts']} Xuzhou districts; boundaries: {info['boundary_source']}")
    lon, lat = info["query"]
    click.echo(f"\nNearest open stations with drinking water and phone charging to "
               f"{info['query_name']} ({lon}, {lat}, WGS-84), by e-bike:")
    for i, r in enumerate(info["results"], 1):
        click.echo(f"{i:>3}. {r.name}  {r.distance_m:,.0f} m  ~{r.eta('ebike'):.1f} min  "
                   f"{r.open_status}\n     {r.nav_links_for('ebike')['amap']}")
    click.echo("\nTry: locator nearest --db " + str(db) + " --lon 117.19 --lat 34.26 "
               "--amenity drinking_water --open-now")
    if serve:
        from ..web import create_app

        app = create_app({"LOCATOR_REGISTRY": reg})
        click.echo(f"\nServing the demo (SAMPLE data) at http://{host}:{port}/  "
                   f"map: http://{host}:{port}/map  API: http://{host}:{port}/api/v1/docs\n"
                   "Press Ctrl+C to stop.")
        app.run(host=host, port=port, use_reloader=False)


def _register_commands() -> None:
    """Add the command groups that live in their own modules (planning, staff accounts)."""
    from .access import access_cmd
    from .alerts import COMMANDS as alert_commands
    from .coverage import coverage_cmd, suggest_cmd
    from .settings_cmd import settings_cmd
    from .staff import COMMANDS as staff_commands

    for cmd in (coverage_cmd, suggest_cmd, access_cmd):
        cmd.callback = _handle_errors(cmd.callback)
        main.add_command(cmd)
    for cmd in (*staff_commands, *alert_commands, settings_cmd):
        main.add_command(cmd)
    from .profile import profile_cmd; main.add_command(profile_cmd)  # noqa: E702, I001
    from .scenario import scenario_cmd; main.add_command(scenario_cmd)  # noqa: E702, I001
    from .target import target_cmd; main.add_command(target_cmd)  # noqa: E702, I001


_register_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
