"""Anonymous check-ins (locator.upkeep.checkins) on SQLite and PostgreSQL: what is kept,
the hourly rate limit, no double count within 30 minutes, counts per day, hour,
occupation and district, and the demand table planners load."""

from __future__ import annotations

import io
import threading
from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa
from staff_support import Clock

from locator import StationStore
from locator.errors import Conflict, NotFound
from locator.store.upkeep import CHECKINS
from locator.upkeep.checkins import (
    DEMAND_COLUMNS,
    CheckinBook,
    CheckinInvalid,
    TooManyCheckins,
    write_demand_csv,
    write_visits_csv,
)

TODAY = date(2026, 7, 15)  # the Clock starts at 2026-07-15 04:30 UTC = 12:30 in Xuzhou


@pytest.fixture()
def store(db_url, tiny_stations):
    """On SQLite and PostgreSQL (tests/conftest.py, ``BOTH_BACKENDS``)."""
    st = StationStore(db_url, create=True)
    st.add_many(tiny_stations, actor="pytest")
    yield st
    st.dispose()


@pytest.fixture()
def clock():
    return Clock()


@pytest.fixture()
def book(store, clock):
    return CheckinBook(store.engine, rate_limit=6, clock=clock)


def _rows(store) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(CHECKINS).order_by(CHECKINS.c.id))
                .mappings()]


def test_a_checkin_keeps_the_occupation_and_a_salted_hash_only(store, book, clock):
    got = book.record("T01", "delivery", client="203.0.113.7")
    assert (got.station_id, got.occupation, got.counted) == ("T01", "delivery", True)
    assert (got.visits_this_hour, got.visits_today) == (1, 1)
    rows = _rows(store)
    assert len(rows) == 1
    row = rows[0]
    assert set(row) == {"id", "station_id", "at", "occupation", "client_hash"}
    assert (row["station_id"], row["occupation"]) == ("T01", "delivery")
    assert "203.0.113.7" not in row["client_hash"] and len(row["client_hash"]) == 32
    # Another client at the same station in the same hour: both counted.
    clock.advance(60)
    got = book.record("T01", "courier", client="203.0.113.8")
    assert (got.visits_this_hour, got.visits_today) == (2, 2)
    assert len({r["client_hash"] for r in _rows(store)}) == 2


def test_the_same_client_again_within_30_minutes_is_not_counted_twice(store, book, clock):
    assert book.record("T01", "delivery", client="c1").counted
    clock.advance(29 * 60)
    again = book.record("T01", "courier", client="c1")
    assert not again.counted and again.visits_today == 1
    assert len(_rows(store)) == 1
    # At another station it counts; at the first one again once 30 minutes have passed.
    assert book.record("T02", "delivery", client="c1").counted
    clock.advance(61)
    later = book.record("T01", "delivery", client="c1")
    assert later.counted and later.visits_today == 2
    assert [r["station_id"] for r in _rows(store)] == ["T01", "T02", "T01"]


def test_past_the_hourly_limit_a_client_is_told_when_to_retry(store, book, clock):
    stations = ["T01", "T02", "T03", "T04", "T07", "T08", "T09"]
    for sid in stations[:6]:
        assert book.record(sid, "taxi", client="c1").counted
        clock.advance(60)  # the sixth was made at 04:35; now it is 04:36
    with pytest.raises(TooManyCheckins, match="at most 6 an hour") as e:
        book.record(stations[6], "taxi", client="c1")
    # The first (04:30) leaves the hour at 05:30: 54 minutes from now.
    assert e.value.retry_after == 54 * 60
    assert "54 分钟" in e.value.message_in("zh")
    assert len(_rows(store)) == 6  # the refused one left nothing
    # Other clients are not affected; the first one may go on once the hour has passed.
    assert book.record(stations[6], "taxi", client="c2").counted
    clock.advance(e.value.retry_after)
    assert book.record(stations[6], "taxi", client="c1").counted
    assert len(_rows(store)) == 8


def test_rate_limit_zero_is_off(store, clock):
    book = CheckinBook(store.engine, rate_limit=0, clock=clock)
    for i in range(10):
        assert book.record(["T01", "T02", "T03", "T04", "T07"][i % 5], "other",
                           client="c1").counted
        clock.advance(31 * 60)
    assert len(_rows(store)) == 10


def test_racing_requests_of_one_client_cannot_pass_the_limit(store, clock):
    book = CheckinBook(store.engine, rate_limit=3, clock=clock)
    sids = ["T01", "T02", "T03", "T04", "T07", "T08", "T09", "T10"]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(sids))

    def go(sid: str) -> None:
        barrier.wait()
        try:
            book.record(sid, "delivery", client="same-phone")
            outcomes.append("counted")
        except TooManyCheckins:
            outcomes.append("refused")

    threads = [threading.Thread(target=go, args=(s,)) for s in sids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["counted"] * 3 + ["refused"] * 5
    assert len(_rows(store)) == 3


@pytest.mark.parametrize("occupation", ["chef", "", None, 7, ["delivery"]],
                         ids=["unknown", "empty", "none", "number", "list"])
def test_a_bad_occupation_is_refused_naming_the_field(store, clock, occupation):
    book = CheckinBook(store.engine, clock=clock)
    with pytest.raises(CheckinInvalid, match="occupation .* is not valid; use one of "
                                             "delivery, courier") as e:
        book.record("T01", occupation, client="c1")  # type: ignore[arg-type]
    assert e.value.field == "occupation"
    assert _rows(store) == []


def test_unknown_deleted_and_closed_stations_take_no_checkins(store, book):
    with pytest.raises(NotFound, match="NOPE"):
        book.record("NOPE", "delivery", client="c1")
    store.delete("T02", actor="pytest")
    with pytest.raises(NotFound, match="T02"):
        book.record("T02", "delivery", client="c1")
    with pytest.raises(Conflict, match="closed"):
        book.record("T06", "delivery", client="c1")  # status closed
    # Temporarily closed is not closed: someone is there.
    assert book.record("T05", "delivery", client="c1").counted
    assert [r["station_id"] for r in _rows(store)] == ["T05"]


def _fill(book: CheckinBook, clock: Clock) -> None:
    """Check-ins over two Xuzhou days (UTC+8), from different clients."""
    plan = [
        # (UTC time, station, occupation)
        (datetime(2026, 7, 15, 1, 10), "T01", "delivery"),  # 09:10 on the 15th
        (datetime(2026, 7, 15, 1, 20), "T01", "delivery"),
        (datetime(2026, 7, 15, 1, 40), "T01", "courier"),
        (datetime(2026, 7, 15, 6, 5), "T04", "sanitation"),  # 14:05, Yunlong
        (datetime(2026, 7, 15, 15, 59), "T07", "taxi"),  # 23:59 on the 15th, Yunlong
        (datetime(2026, 7, 15, 16, 0), "T07", "truck"),  # 00:00 on the 16th
        (datetime(2026, 7, 16, 2, 0), "T03", "delivery"),  # 10:00 on the 16th, Quanshan
    ]
    for i, (at, sid, occ) in enumerate(plan):
        clock.now = at.replace(tzinfo=timezone.utc)
        assert book.record(sid, occ, client=f"client-{i}").counted


def test_counts_per_day_hour_occupation_and_station(book, clock):
    _fill(book, clock)
    c = book.counts(start=date(2026, 7, 15), end=date(2026, 7, 16))
    assert c.total == 7
    assert c.by_day() == {date(2026, 7, 15): 5, date(2026, 7, 16): 2}
    assert c.by_occupation() == {"delivery": 3, "courier": 1, "sanitation": 1, "taxi": 1,
                                 "truck": 1}
    assert c.by_station() == {"T01": 3, "T04": 1, "T07": 2, "T03": 1}
    assert c.by_hour() == {9: 3, 14: 1, 23: 1, 0: 1, 10: 1}
    assert c.by_station_day()[("T07", date(2026, 7, 15))] == 1
    assert c.by_station_day()[("T07", date(2026, 7, 16))] == 1
    assert c.by_station_occupation()[("T01", "delivery")] == 2
    assert c.stations["T01"].name == "测试驿站一号" and c.stations["T01"].is_sample
    assert c.days() == [date(2026, 7, 15), date(2026, 7, 16)]
    # One day only: local midnight is the edge, not UTC midnight.
    assert book.counts(start=date(2026, 7, 16), end=date(2026, 7, 16)).by_station() == {
        "T07": 1, "T03": 1}


def test_counts_by_scope_and_station(book, clock):
    _fill(book, clock)
    yunlong = book.counts(start=date(2026, 7, 15), end=date(2026, 7, 16), scope="320303")
    assert yunlong.by_station() == {"T04": 1, "T07": 2}
    xuzhou = book.counts(start=date(2026, 7, 15), end=date(2026, 7, 16), scope="320300")
    assert xuzhou.total == 7
    one = book.counts(start=date(2026, 7, 15), end=date(2026, 7, 16), station_id="T01")
    assert one.by_occupation() == {"delivery": 2, "courier": 1}
    assert book.counts(start=date(2026, 7, 17), end=date(2026, 7, 20)).cells == ()


@pytest.mark.parametrize(("start", "end", "message"), [
    (date(2026, 7, 16), date(2026, 7, 15), "after the end date"),
    (date(2025, 1, 1), date(2026, 7, 15), "at most 367 days"),
], ids=["reversed", "too-long"])
def test_bad_date_ranges_are_refused(store, start, end, message):
    book = CheckinBook(store.engine)
    with pytest.raises(CheckinInvalid, match=message) as e:
        book.counts(start=start, end=end)
    assert e.value.field == "from"


def test_visits_csv_has_one_row_per_day_hour_station_and_occupation(book, clock):
    _fill(book, clock)
    out = io.StringIO()
    n = write_visits_csv(book.counts(start=date(2026, 7, 15), end=date(2026, 7, 16)), out)
    lines = out.getvalue().splitlines()
    assert n == 6 and len(lines) == 7  # T01 delivery 2 in one cell
    assert lines[0].startswith("date,hour,station_id,code,name")
    assert "2026-07-15,9,T01," in out.getvalue()
    assert lines.count(next(x for x in lines if ",T01," in x and ",delivery," in x)) == 1
    assert next(x for x in lines if ",delivery," in x and ",T01," in x).endswith(",2,sample")


def test_demand_table_loads_as_planner_demand(book, clock, store, tmp_path, runner):
    from locator.cli import main
    from locator.coverage.io import read_demand

    _fill(book, clock)
    store.delete("T03", actor="pytest")  # deleted stations are left out of the demand
    points = book.demand(start=date(2026, 7, 15), end=date(2026, 7, 16))
    assert [(p.station.id, p.visits) for p in points] == [("T01", 3), ("T04", 1), ("T07", 2)]
    path = tmp_path / "demand.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        assert write_demand_csv(points, f) == 3
    header = path.read_text(encoding="utf-8-sig").splitlines()[0]
    assert header == ",".join(DEMAND_COLUMNS)
    dem = read_demand(path)  # no --weight needed
    assert list(dem.ids) == ["T01", "T04", "T07"]
    assert dem.weight.tolist() == [3.0, 1.0, 2.0]
    assert dem.lon[0] == pytest.approx(117.185) and dem.lat[0] == pytest.approx(34.2615)
    assert dem.source == "sample"  # visits at sample stations are labelled as such
    if store.dialect == "sqlite":
        # The command planners run reads the same file.
        res = runner.invoke(main, ["coverage", "--db", str(store.url.split("///", 1)[-1]),
                                   "--demand", str(path), "--minutes", "10"])
        assert res.exit_code == 0, res.output
        assert "10 min: covered" in res.output and "ILLUSTRATIVE" in res.output
