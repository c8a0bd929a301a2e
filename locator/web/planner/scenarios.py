"""The planner's saved scenarios: the table ``planner_scenarios``, and the scenario form.

A saved scenario is a :class:`~locator.coverage.scenario.Scenario` in its JSON form
(:meth:`~locator.coverage.scenario.Scenario.to_dict`), under a unique name, in the
station store's database (the one the planner's shared runs use, :mod:`.jobs`). The
table is created on first use (``CREATE TABLE IF NOT EXISTS``, SQLite and PostgreSQL),
like ``planner_jobs``: it is the planner's own, not part of the station schema.

Nothing is half-saved: a scenario is parsed and checked against the current stations
(unknown ids, bad coordinates, capacities, hours: the core's messages) before the one
INSERT that stores it; a name already taken is a :class:`NameTaken` (409).

The form (:func:`scenario_from_form`) builds the scenario's JSON from text fields:

``add``
    one new station per line, ``id,name,lon,lat[,opening hours]`` (the hours are the
    rest of the line, commas included), in the coordinate system ``crs`` names;
``crs``
    ``gcj02`` (the default: what Amap, Tencent and WeChat maps give), ``wgs84`` or
    ``bd09``; the scenario's JSON top-level ``crs`` (stored converted to WGS-84);
``sites``
    ids of the page's suggested sites to add (named as the page names them);
``close``, ``remove``
    station ids, separated by commas, spaces or new lines;
``change_hours``
    ``id,opening hours`` per line; ``change_capacity``: ``id,seats`` per line;
``file``
    or a scenario JSON file instead of all of those.

The core names a bad field by its path (``add[2].lat``, ``change["T02"].capacity``);
:class:`ScenarioFormError` carries the form field it belongs to (and the line), so the
page shows the message next to it.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ...coverage.planning import ILLUSTRATIVE_NOTICE
from ...coverage.scenario import Scenario
from ...errors import Conflict, InvalidInput, NotFound
from ...stations.coords import from_wgs84, parse_crs

__all__ = ["DEFAULT_CRS", "FORM_FIELDS", "MAX_SAVED", "NameTaken", "SavedScenario",
           "ScenarioFormError", "ScenarioStore", "file_name", "scenario_from_form",
           "scenario_store"]

#: Saved scenarios kept at most (the page is public: a bound on what it can fill).
MAX_SAVED = 500
#: Lines of a text field read at most.
MAX_LINES = 2000
#: Form fields, in the order the page shows them.
FORM_FIELDS = ("name", "description", "add", "crs", "sites", "close", "remove", "change_hours",
               "change_capacity", "file")
#: The coordinate system of pasted lines when the form does not say (planners copy
#: from Amap, which is GCJ-02).
DEFAULT_CRS = "gcj02"
#: Station fields new stations of the form take unless a line says otherwise.
ADD_DEFAULTS = {"type": "outdoor_worker"}

_meta = sa.MetaData()
SCENARIOS = sa.Table(
    "planner_scenarios", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=True),
)


class NameTaken(Conflict):
    """A scenario of that name is saved already."""

    field = "name"


@dataclass(frozen=True)
class SavedScenario:
    """A stored scenario: its name, the scenario, when and by whom it was saved."""

    name: str
    scenario: Scenario
    created_at: float
    created_by: str | None

    def summary(self) -> dict[str, int]:
        s = self.scenario
        return {"add": len(s.add), "close": len(s.close), "remove": len(s.remove),
                "change": len(s.change)}


class ScenarioStore:
    """Saved scenarios on ``engine`` (the table is made on first use)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._ready = False
        self._lock = threading.Lock()

    def _table(self) -> None:
        if not self._ready:
            with self._lock:
                if not self._ready:
                    _meta.create_all(self.engine, checkfirst=True)
                    self._ready = True

    def save(self, scenario: Scenario, *, created_by: str | None = None) -> SavedScenario:
        """Store ``scenario`` (already checked) under its name; :class:`NameTaken` when
        the name is used, :class:`~locator.errors.Conflict` when :data:`MAX_SAVED` are
        stored."""
        self._table()
        body = orjson.dumps(scenario.to_dict()).decode()
        at = time.time()
        try:
            with self.engine.begin() as conn:
                n = conn.execute(sa.select(sa.func.count()).select_from(SCENARIOS)).scalar_one()
                if n >= MAX_SAVED:
                    raise Conflict(f"scenarios: {n:,} scenarios are saved, the most this "
                                   "server keeps; delete some first")
                conn.execute(SCENARIOS.insert().values(
                    name=scenario.name, body=body, created_at=at,
                    created_by=(created_by or None) and created_by[:200]))
        except sa.exc.IntegrityError:
            raise NameTaken(f'name: a scenario named "{scenario.name}" is saved already; '
                            "choose another name") from None
        return SavedScenario(scenario.name, scenario, at, created_by)

    def names(self) -> list[str]:
        self._table()
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(
                sa.select(SCENARIOS.c.name).order_by(SCENARIOS.c.created_at.desc(),
                                                     SCENARIOS.c.id.desc()))]

    def all(self) -> list[SavedScenario]:
        """Every saved scenario, the newest first."""
        self._table()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(SCENARIOS).order_by(
                SCENARIOS.c.created_at.desc(), SCENARIOS.c.id.desc())).mappings().all()
        return [_saved(r) for r in rows]

    def get(self, name: str) -> SavedScenario:
        self._table()
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(SCENARIOS).where(SCENARIOS.c.name == name)
                               ).mappings().first()
        if row is None:
            raise NotFound(f'scenario: no saved scenario named "{name}"')
        return _saved(row)

    def delete(self, name: str) -> None:
        self._table()
        with self.engine.begin() as conn:
            gone = conn.execute(SCENARIOS.delete().where(SCENARIOS.c.name == name)).rowcount
        if not gone:
            raise NotFound(f'scenario: no saved scenario named "{name}"')


def _saved(row: Any) -> SavedScenario:
    return SavedScenario(row["name"], Scenario.from_dict(orjson.loads(row["body"])),
                         float(row["created_at"]), row["created_by"])


def file_name(name: str) -> str:
    """A safe ASCII file name for the scenario ``name`` (without the extension): its
    letters and digits, or ``scenario-`` and a short hash of the name when it has none
    (a Chinese name)."""
    import hashlib

    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()[:60].strip("-")
    return slug or "scenario-" + hashlib.sha1(name.encode()).hexdigest()[:8]


def scenario_store() -> ScenarioStore:
    """The app's scenario store (``app.extensions["locator.planner_scenarios"]``), on the
    station store's database."""
    from flask import current_app

    from .. import get_registry

    ext = current_app.extensions
    store = ext.get("locator.planner_scenarios")
    if store is None:
        store = ext.setdefault("locator.planner_scenarios",
                               ScenarioStore(get_registry().store.engine))
    return store


# --------------------------------------------------------------------------- the form


class ScenarioFormError(InvalidInput):
    """A bad scenario form: ``form_field`` is the form's field the message belongs to
    (one of :data:`FORM_FIELDS`), ``line`` the 1-based line of a text field."""

    def __init__(self, message: str, *, form_field: str, field: str | None = None,
                 line: int | None = None):
        super().__init__(message, field=field or form_field)
        self.form_field = form_field
        self.line = line


def _lines(text: str, what: str) -> list[tuple[int, str]]:
    lines = [(i, ln.strip()) for i, ln in enumerate(text.splitlines(), start=1)]
    lines = [(i, ln) for i, ln in lines if ln and not ln.startswith("#")]
    if len(lines) > MAX_LINES:
        raise ScenarioFormError(f"{what}: {len(lines):,} lines; at most {MAX_LINES:,}",
                                form_field=what)
    return lines


def _id_list(text: str) -> list[str]:
    return [p for p in re.split(r"[\s,，;；]+", text.strip()) if p]


def _split(line: str, n: int) -> list[str]:
    """``line`` split at its first ``n - 1`` commas (a Chinese comma counts too)."""
    return [p.strip() for p in re.split(r"[,，]", line, maxsplit=n - 1)]


@dataclass(frozen=True)
class _Origin:
    """Where each entry of the scenario's lists came from, for the error's field."""

    add_lines: tuple[int, ...]  # line of each pasted station; sites come after them
    hours_lines: dict[str, int]
    capacity_lines: dict[str, int]


def _form_dict(form: Mapping[str, str], chosen: Sequence[str],
               sites: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], _Origin]:
    add: list[dict[str, Any]] = []
    add_lines: list[int] = []
    for line, text in _lines(form.get("add", ""), "add"):
        parts = _split(text, 5)
        if len(parts) < 4:
            raise ScenarioFormError(
                f"add: line {line} has {len(parts)} field(s); give id,name,lon,lat "
                "(and optionally the opening hours), e.g. N1,新站一号,117.21,34.27,24/7",
                form_field="add", line=line)
        entry: dict[str, Any] = {"id": parts[0], "name": parts[1], "lon": parts[2],
                                 "lat": parts[3]}
        if len(parts) == 5 and parts[4]:
            entry["opening_hours"] = parts[4]
        add.append(entry)
        add_lines.append(line)
    crs = "wgs84"
    if add:  # the pasted lines' system; the suggested sites are WGS-84, converted to it
        try:
            crs = parse_crs(form.get("crs") or DEFAULT_CRS)
        except InvalidInput as e:
            raise ScenarioFormError(e.message, form_field="crs") from None
    by_id = {str(s["id"]): s for s in sites}
    for sid in chosen:
        site = by_id.get(sid)
        if site is None:
            raise ScenarioFormError(f"sites: {sid!r} is not one of the page's suggested "
                                    f"sites (now: {', '.join(by_id) or 'none'})",
                                    form_field="sites")
        lon, lat = from_wgs84(float(site["lon"]), float(site["lat"]), crs)
        add.append({"id": str(site["id"]), "name": site.get("name") or f"拟建站点 {sid}",
                    "lon": lon, "lat": lat})
    change: dict[str, dict[str, Any]] = {}
    hours_lines: dict[str, int] = {}
    capacity_lines: dict[str, int] = {}
    for key, what, seen in (("change_hours", "opening_hours", hours_lines),
                            ("change_capacity", "capacity", capacity_lines)):
        for line, text in _lines(form.get(key, ""), key):
            parts = _split(text, 2)
            example = "T02,Mo-Su 00:00-24:00" if what == "opening_hours" else "T02,12"
            if len(parts) < 2 or not parts[0]:
                raise ScenarioFormError(f"{key}: line {line} needs a station id, a comma "
                                        f"and the new {what.replace('_', ' ')}, e.g. "
                                        f"{example}", form_field=key, line=line)
            if parts[0] in seen:
                raise ScenarioFormError(f'{key}: station "{parts[0]}" is given twice (lines '
                                        f"{seen[parts[0]]} and {line})", form_field=key,
                                        line=line)
            seen[parts[0]] = line
            value: Any = parts[1] or None
            change.setdefault(parts[0], {})[what] = value
    data = {"name": form.get("name", "").strip(), "description": form.get("description", ""),
            "crs": crs, "add": add, "add_defaults": dict(ADD_DEFAULTS),
            "close": _id_list(form.get("close", "")),
            "remove": _id_list(form.get("remove", "")), "change": change}
    return data, _Origin(tuple(add_lines), hours_lines, capacity_lines)


_INDEX = re.compile(r"^(?P<key>add|close|remove)\[(?P<i>\d+)\]")
_CHANGE = re.compile(r'^change\["(?P<id>.*?)"\](?:\.(?P<what>\w+))?')


def _form_error(e: InvalidInput, origin: _Origin | None) -> ScenarioFormError:
    """The core's error ``e`` as one about the form field it came from."""
    path = e.field or ""
    if origin is None:  # a file: every message is about the file
        return ScenarioFormError(e.message, form_field="name" if path == "name" else "file",
                                 field=path or "file")
    m = _INDEX.match(path)
    if m and m["key"] == "add":
        i = int(m["i"])
        if i < len(origin.add_lines):
            line = origin.add_lines[i]
            return ScenarioFormError(f"{e.message} (line {line})", form_field="add",
                                     field=path, line=line)
        return ScenarioFormError(e.message, form_field="sites", field=path)
    if m:
        return ScenarioFormError(e.message, form_field=m["key"], field=path)
    m = _CHANGE.match(path)
    if m:
        sid, what = m["id"], m["what"]
        if what == "capacity" or (what is None and sid in origin.capacity_lines
                                  and sid not in origin.hours_lines):
            return ScenarioFormError(f"{e.message} (line {origin.capacity_lines.get(sid)})",
                                     form_field="change_capacity", field=path,
                                     line=origin.capacity_lines.get(sid))
        return ScenarioFormError(f"{e.message} (line {origin.hours_lines.get(sid)})",
                                 form_field="change_hours", field=path,
                                 line=origin.hours_lines.get(sid))
    if path in ("name", "description"):
        return ScenarioFormError(e.message, form_field=path, field=path)
    return ScenarioFormError(e.message, form_field="name", field=path or "scenario")


def scenario_from_form(form: Mapping[str, str], *, file_text: str | None = None,
                       chosen: Sequence[str] = (), sites: Sequence[Mapping[str, Any]] = (),
                       records: Sequence[Any]) -> Scenario:
    """The scenario the form (or its uploaded JSON, ``file_text``) describes, checked
    against ``records`` (the current stations); ``sites`` are the page's suggested sites
    (dicts with ``id``, ``name``, ``lon``, ``lat``), ``chosen`` the ids of those to add.
    Raises :class:`ScenarioFormError`
    naming the form field."""
    origin: _Origin | None = None
    try:
        if file_text is not None:
            name = str(form.get("name", "")).strip() or None
            try:
                data = orjson.loads(file_text)
            except orjson.JSONDecodeError as e:
                raise ScenarioFormError(f"file: not a scenario JSON file ({e})",
                                        form_field="file") from None
            if isinstance(data, dict) and name:
                data = {**data, "name": name}  # the form's name wins over the file's
            if isinstance(data, dict) and isinstance(data.get("description"), str):
                # the notice a downloaded file carries is not part of the description
                data = {**data, "description": data["description"].replace(
                    ILLUSTRATIVE_NOTICE, "").strip()}
            scenario = Scenario.from_dict(data, name=name)
        else:
            data, origin = _form_dict(form, chosen, sites)
            if not data["name"]:
                raise ScenarioFormError("name: is required (how the scenario is shown)",
                                        form_field="name")
            if not (data["add"] or data["close"] or data["remove"] or data["change"]):
                raise ScenarioFormError("add: the scenario changes nothing; add, close or "
                                        "remove stations, or change their hours or seats",
                                        form_field="add")
            scenario = Scenario.from_dict(data)
        scenario.check(records)
    except ScenarioFormError:
        raise
    except InvalidInput as e:
        raise _form_error(e, origin) from None
    return scenario
