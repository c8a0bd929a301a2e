"""Opening hours against the OSM reference implementation and opening-hours-py.

Every value of ``tests/data/hours/corpus.txt`` is evaluated at every instant of
``instants.txt`` (wall-clock Asia/Shanghai, at the centre of Xuzhou) by this project, by
the npm ``opening_hours`` package (answers recorded in ``reference.json``, re-evaluated
live when ``tests/js/node_modules`` exists) and by ``opening-hours-py`` (recorded in
``reference_py.json``, re-evaluated live when installed). Record again with::

    (cd tests/js && npm ci) && .venv/bin/python tests/test_hours_corpus.py --record

Rules: no disagreement on any value both accept, except (1) values using PH on days
that are, or follow, a public holiday in either calendar: the project's own calendar
(``geodata/cn_public_holidays.csv``, whole announced breaks) is right; and (2) the
reference behaviours listed below, each with its reason. A listed value that no longer
disagrees fails too, so the lists stay exact.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from locator.errors import InvalidInput
from locator.stations.hours import parse_hours, public_holidays

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data" / "hours"
JS = ROOT / "js"
SHANGHAI = ZoneInfo("Asia/Shanghai")
XUZHOU = (117.19, 34.26)  # lon, lat: the point the references are given too
LETTER = {"open": "o", "closed": "c", "unknown": "u"}


def _lines(name: str) -> list[str]:
    text = (DATA / name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


VALUES = _lines("corpus.txt")
INSTANTS = [datetime.fromisoformat(s).replace(tzinfo=SHANGHAI) for s in _lines("instants.txt")]

# Values on which opening_hours.js (3.15) answers differently, and why. Keys are values;
# each reason names the reference's behaviour that this project does not copy.
_JS_OPEN_END = (
    "opening_hours.js's getState() closes an open end after its first minute when another "
    "span of the rule follows it (its '07:00+,12:00-16:00' hack compares with the instant "
    "1 ms earlier; '10:00-18:00+' is stored as '18:00+' followed by '10:00-18:00'), while "
    "its own iterator reports 'unknown' up to the guessed closing time, as the project does")
JS_KNOWN: dict[str, str] = {
    "Mo-Fr 10:00-18:00+": _JS_OPEN_END,
    "Mo-Fr 07:00+,12:00-16:00": _JS_OPEN_END,
}

# Values on which opening-hours-py (2.x, Rust) answers differently, and why.
PY_KNOWN_REASONS = {
    "comment": "opening-hours-py treats a comment without a modifier as 'open' with a "
               "comment; the OSM reference implementation (and this project) say 'unknown'",
    "open end": "opening-hours-py keeps an open end ('09:00+') open until midnight; the OSM "
                "reference says 'unknown', with its guessed closing time",
    "sun": "opening-hours-py's sunrise/sunset differ from the reference's by a minute or "
           "more at some instants",
    "fallback": "opening-hours-py applies a '||' fallback only on days the rules before it "
                "do not match at all; the reference applies it wherever they leave the "
                "station closed",
    "no-date rule": "opening-hours-py lets a normal rule without date selectors replace "
                    "earlier rules (08:00-12:00 after Mo-Fr ...); the reference adds it",
    "spill": "opening-hours-py does not carry 'Sa-Su 10:00-48:00' into Monday",
}


def _uses_ph(value: str) -> bool:
    return re.search(r"\bPH\b", re.sub(r'"[^"]*"', "", value)) is not None


def _project(value: str) -> str | None:
    """The project's answers as one letter per instant; None if it rejects the value."""
    try:
        hours = parse_hours(value)
    except InvalidInput:
        return None
    return "".join(LETTER[hours.state(t, position=XUZHOU, tz="Asia/Shanghai")]
                   for t in INSTANTS)


def _ph_exempt(value: str, index: int, js_holidays: str) -> bool:
    if not _uses_ph(value):
        return False
    day = INSTANTS[index].date()
    ours = public_holidays()
    theirs = {INSTANTS[i].date() for i, h in enumerate(js_holidays) if h == "h"}
    return any(d in ours or d in theirs for d in (day, day - timedelta(days=1)))


def _disagreements(reference: dict, *, ph_exempt: bool) -> dict[str, list[str]]:
    """Value -> the instants where the project and the reference differ (both accept)."""
    out: dict[str, list[str]] = {}
    holidays = reference.get("holidays", "")
    for value in VALUES:
        theirs = reference["results"][value].get("states")
        ours = _project(value)
        if theirs is None or ours is None:
            continue
        bad = [f"{INSTANTS[i]:%Y-%m-%d %H:%M} ours={a} theirs={b}"
               for i, (a, b) in enumerate(zip(ours, theirs, strict=True))
               if a != b and not (ph_exempt and _ph_exempt(value, i, holidays))]
        if bad:
            out[value] = bad
    return out


# --------------------------------------------------------------------------- references


def _run_node() -> dict:
    done = subprocess.run(["node", str(JS / "evaluate.js")], check=True, capture_output=True,
                          text=True, timeout=300)
    return json.loads(done.stdout)


def _run_py() -> dict:
    import opening_hours  # opening-hours-py, from the test extra

    lon, lat = XUZHOU
    results: dict[str, dict[str, str]] = {}
    for value in VALUES:
        try:
            oh = opening_hours.OpeningHours(value, timezone=SHANGHAI, country="CN",
                                            coords=(lat, lon))
            states = "".join(LETTER[str(oh.state(t)[0]).split(".")[-1].lower()]
                             for t in INSTANTS)
        except (SyntaxError, ValueError, RuntimeError) as exc:
            results[value] = {"error": str(exc).splitlines()[0] if str(exc) else repr(exc)}
            continue
        results[value] = {"states": states}
    version = getattr(opening_hours, "__version__", "2")
    ph = opening_hours.OpeningHours("PH", timezone=SHANGHAI, country="CN", coords=(lat, lon))
    holidays = "".join("h" if ph.is_open(t) else "-" for t in INSTANTS)
    return {"library": f"opening-hours-py {version}", "holidays": holidays, "results": results}


def _dump(reference: dict) -> str:
    lines = ["{", f' "library": {json.dumps(reference["library"])},']
    if "holidays" in reference:
        lines.append(f' "holidays": {json.dumps(reference["holidays"])},')
    lines.append(' "results": {')
    items = list(reference["results"].items())
    for i, (value, r) in enumerate(items):
        comma = "," if i + 1 < len(items) else ""
        lines.append(f"  {json.dumps(value, ensure_ascii=False)}: "
                     f"{json.dumps(r, ensure_ascii=False)}{comma}")
    lines += [" }", "}"]
    return "\n".join(lines) + "\n"


def _load(name: str) -> dict:
    path = DATA / name
    if not path.exists() and __name__ == "__main__":
        return {"results": {}}  # being recorded
    return json.loads(path.read_text(encoding="utf-8"))


JS_REF = _load("reference.json")
PY_REF = _load("reference_py.json")
HAS_NODE = (JS / "node_modules" / "opening_hours").is_dir() and shutil.which("node") is not None


# --------------------------------------------------------------------------- tests


def test_corpus_is_large_and_covers_the_new_syntax() -> None:
    assert len(VALUES) >= 300 and len(set(VALUES)) == len(VALUES)
    text = "\n".join(VALUES)
    for construct in ("||", "+", "sunrise", "dusk", "Dec 25", "2026 Jan 01-2026 Jan 03",
                      "week 01-10", "Mo[1]", "Su[-1]", "unknown", '"by appointment"',
                      "PH", "26:00", "40:00"):
        assert construct in text, construct
    assert {i.date() for i in INSTANTS} >= {date(2026, 12, 25), date(2026, 12, 28),
                                            date(2027, 1, 4), date(2026, 1, 1)}
    assert set(JS_REF["results"]) == set(VALUES) == set(PY_REF["results"])


def test_project_accepts_every_value_the_reference_accepts() -> None:
    refused = [v for v in VALUES if "states" in JS_REF["results"][v] and _project(v) is None]
    assert refused == []


def test_no_disagreement_with_the_osm_reference() -> None:
    got = _disagreements(JS_REF, ph_exempt=True)
    assert {v: got[v][:3] for v in got if v not in JS_KNOWN} == {}
    assert set(got) == set(JS_KNOWN), "a listed reference difference no longer occurs"


def test_ph_values_do_differ_where_the_calendars_differ() -> None:
    """The PH exemption is used: Monday 2026-10-05 is in the project's National Day break
    (the State Council notice: Oct 1-7), not in the reference's list, and the project
    says closed."""
    value = "Mo-Fr 08:00-20:00; PH off"
    i = INSTANTS.index(datetime(2026, 10, 5, 10, 0, tzinfo=SHANGHAI))
    assert JS_REF["holidays"][i] == "-"
    assert JS_REF["results"][value]["states"][i] == "o"
    assert _project(value)[i] == "c"  # type: ignore[index]
    assert date(2026, 10, 5) in public_holidays()


def test_opening_hours_py_differs_only_where_the_osm_reference_agrees_with_us() -> None:
    """Where opening-hours-py disagrees, the project gives the OSM reference's answer
    (the reasons, by kind, are in PY_KNOWN_REASONS and the README)."""
    got = _disagreements(PY_REF, ph_exempt=True)
    assert len(got) < len(VALUES) // 4
    for value, where in got.items():
        ours, js = _project(value), JS_REF["results"][value]["states"]
        if value in JS_KNOWN:
            continue
        for i, (a, b) in enumerate(zip(ours, js, strict=True)):  # type: ignore[arg-type]
            assert a == b or _ph_exempt(value, i, JS_REF["holidays"]), (value, where[:2])


def test_opening_hours_py_agrees_on_plain_weekly_values() -> None:
    """No comments, open ends, sun times, fallbacks, unknown or rules without selectors."""
    plain = [v for v in VALUES if not re.search(r'["+|]|sun|dawn|dusk|unknown|; \d|48:00', v)]
    got = _disagreements(PY_REF, ph_exempt=True)
    assert len(plain) > 250
    assert {v: got[v][:2] for v in plain if v in got} == {}


@pytest.mark.skipif(not HAS_NODE, reason="tests/js/node_modules missing: run 'npm ci' in tests/js "
                    "(the recorded reference.json is checked by the other tests)")
def test_recorded_reference_matches_a_live_run() -> None:
    live = _run_node()
    assert live["results"] == JS_REF["results"]
    assert live["holidays"] == JS_REF["holidays"]


def test_recorded_py_reference_matches_a_live_run() -> None:
    pytest.importorskip("opening_hours", reason="opening-hours-py is in the test extra")
    assert _run_py()["results"] == PY_REF["results"]


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_hours_corpus.py --record")
    (DATA / "reference.json").write_text(_dump(_run_node()), encoding="utf-8")
    (DATA / "reference_py.json").write_text(_dump(_run_py()), encoding="utf-8")
    print(f"recorded {len(VALUES)} values at {len(INSTANTS)} instants", file=sys.stderr)
