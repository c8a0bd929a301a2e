"""The change log and the ways writes fail: other processes' writes reach an index as
changes (O(changed rows)), the log is in commit order, concurrent writers lose nothing,
a killed import leaves nothing behind, and an old database is upgraded in place.

Every test runs on a SQLite file and on a fresh database of the real PostgreSQL server
(``db_url`` and ``registry`` of tests/conftest.py), except the upgrade of a hand-made
version-1 SQLite file (tests/test_store_migrations.py upgrades version 1 on both)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from locator import Conflict, NotFound, Registry, StationStore
from locator.stations.model import station_from_dict
from locator.store import SCHEMA_VERSION


def _st(sid: str, lon: float = 117.2, lat: float = 34.26, name: str | None = None):
    return station_from_dict({"id": sid, "name": name or f"站点{sid}", "type": "爱心驿站",
                              "lon": lon, "lat": lat})


def test_other_process_writes_arrive_as_changes(db_url, registry):
    """An update, a delete, a restore and a create made through another store are applied
    from the log, reading only the rows they touch."""
    other = Registry.open(db_url)
    try:
        other.update("T01", {"name": "改名了"}, actor="other")
        assert registry.index.get("T01").name != "改名了"
        assert registry.apply_changes() == 1
        assert registry.last_applied == (1, 1)  # one log entry, one row read
        assert registry.index.get("T01").name == "改名了"

        other.delete("T02", actor="other")
        other.add(_st("NEW1", 100, 25), actor="other")
        assert registry.apply_changes() == 2
        assert "T02" not in registry.index
        assert registry.index.nearest(100, 25, 1)[0].id == "NEW1"

        other.restore("T02", actor="other")
        registry.apply_changes()
        assert registry.index.get("T02").version == 3
        assert registry.apply_changes() == 0
        assert sorted(registry.index.ids()) == sorted(s.id for s in other.store.all())
    finally:
        other.store.dispose()


def test_follower_thread_applies_changes_within_a_second(db_url, registry):
    registry.follow(0.05)
    other = Registry.open(db_url)
    try:
        t0 = time.monotonic()
        other.add(_st("F1", 101, 26), actor="other")
        while registry.index.nearest(101, 26, 1)[0].id != "F1":
            assert time.monotonic() - t0 < 1.0, "another process's write not visible in 1 s"
            time.sleep(0.01)
    finally:
        registry.stop_following()
        other.store.dispose()


def test_own_write_is_never_undone_by_an_older_log_entry(registry):
    """The process's own newer write stays when the log later brings an older one."""
    registry.update("T01", {"name": "v2"}, actor="a")
    registry.update("T01", {"name": "v3"}, actor="a")
    registry._seen_change = 0  # replay the whole log
    registry.apply_changes()
    assert registry.index.get("T01").name == "v3"


def test_log_is_in_commit_order_under_concurrent_writers(db_url, registry):
    """Writers in threads, and a follower applying the log as they go: at the end the
    follower's index holds exactly the stored records (a change committed after a later
    id was seen would be missed here)."""
    follower = Registry.open(db_url)
    stop = threading.Event()

    applied_meanwhile = []

    def follow():
        # a pause between reads, as a real follower makes: spinning, this thread would hold
        # the GIL and the writers would wait for it after every driver call (~20x slower)
        while not stop.wait(0.002):
            applied_meanwhile.append(follower.apply_changes())

    def write(k: int):
        reg = Registry.open(db_url)
        try:
            for i in range(15):
                reg.add(_st(f"C{k}-{i}", 117 + k * 0.01, 34 + i * 0.01), actor=f"w{k}")
                reg.update("T01" if i % 2 else "T03", {"phone": f"{k}{i:03d}"}, actor=f"w{k}")
        finally:
            reg.store.dispose()

    th = threading.Thread(target=follow)
    th.start()
    writers = [threading.Thread(target=write, args=(k,)) for k in range(3)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    th.join()
    assert sum(applied_meanwhile) > 0  # the follower did read the log while it grew
    follower.apply_changes()
    try:
        stored = {s.id: s.version for s in follower.store.all()}
        held = {sid: follower.index.get(sid).version for sid in follower.index.ids()}
        assert held == stored and len(stored) == 10 + 45
    finally:
        follower.store.dispose()


def test_concurrent_editors_lose_no_update(db_url, registry):
    """Threads editing one station with the version they read: each save either lands on
    the version it saw or is refused; none overwrites another silently."""
    results: list[tuple[int, bool]] = []
    lock = threading.Lock()

    def editor(k: int):
        store = StationStore(db_url)
        try:
            for _ in range(5):
                seen = store.get("T01").version
                try:
                    store.update("T01", {"phone": f"1{k}{seen:04d}"}, actor=f"e{k}",
                                 expected_version=seen)
                    ok = True
                except Conflict:
                    ok = False
                with lock:
                    results.append((seen, ok))
        finally:
            store.dispose()

    ths = [threading.Thread(target=editor, args=(k,)) for k in range(4)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    wins = sorted(v for v, ok in results if ok)
    assert wins == sorted(set(wins))  # one winner per version read
    final = registry.store.get("T01")
    assert final.version == 1 + len(wins)
    updates = [h for h in registry.store.history("T01") if h["op"] == "update"]
    assert len(updates) == len(wins)
    # every accepted save started from the version the previous one produced
    assert [h["before"]["version"] for h in reversed(updates)] == wins


def _edit_in_process(url: str, k: int, n: int, out) -> None:
    store = StationStore(url)
    ok = 0
    for i in range(n):
        while True:
            cur = store.get("T01")
            try:
                store.update("T01", {"address": f"p{k}-{i}"}, actor=f"proc{k}",
                             expected_version=cur.version)
                ok += 1
                break
            except Conflict:
                continue
    store.dispose()
    out.put(ok)


def test_two_processes_editing_one_station_lose_nothing(db_url, registry):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_edit_in_process, args=(db_url, k, 10, q)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert q.get() + q.get() == 20
    assert registry.store.get("T01").version == 21
    addrs = {h["after"]["address"] for h in registry.store.history("T01", limit=50)
             if h["op"] == "update"}
    assert addrs == {f"p{k}-{i}" for k in range(2) for i in range(10)}


def _import_in_process(url: str, start: int, out) -> None:
    store = StationStore(url)
    batch = [_st(f"O{i:04d}", 117 + i * 1e-4, 34.2, name=f"重叠{i}") for i in range(start,
                                                                                start + 300)]
    try:
        store.add_many(batch, actor=f"import{start}", upsert=True)
        out.put("ok")
    except Exception as e:  # noqa: BLE001 - reported to the parent
        out.put(f"{type(e).__name__}: {e}")
    finally:
        store.dispose()


def test_two_concurrent_imports_with_overlapping_ids(db_url, registry):
    """Both succeed (the second updates what the first created); no IntegrityError."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_import_in_process, args=(db_url, s, q)) for s in (0, 150)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert sorted([q.get(), q.get()]) == ["ok", "ok"]
    ids = {s.id for s in registry.store.all() if s.id.startswith("O")}
    assert ids == {f"O{i:04d}" for i in range(450)}


_KILLED_IMPORT = textwrap.dedent("""
    import sys, time
    from locator import StationStore
    from locator.stations.model import station_from_dict
    store = StationStore(sys.argv[1])
    rows = [station_from_dict({"id": f"K{i}", "name": f"k{i}", "type": "outdoor_worker",
                               "lon": 117 + (i % 1000) * 1e-4, "lat": 34 + (i // 1000) * 1e-4})
            for i in range(20000)]
    def hook(conn, stored):
        print("IN-TRANSACTION", flush=True)
        time.sleep(60)
    store.add_many(rows, actor="doomed", hook=hook)
""")


def test_import_killed_mid_transaction_leaves_the_database_as_before(db_url, registry):
    before = sorted((s.id, s.version) for s in registry.store.all())
    hist = registry.store.last_change_id()
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_IMPORT, db_url],
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        line = proc.stdout.readline()
        assert line.strip() == "IN-TRANSACTION"  # 20,000 rows written, not committed
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
    after = StationStore(db_url)
    try:
        assert sorted((s.id, s.version) for s in after.all()) == before
        assert after.last_change_id() == hist
        after.add(_st("AFTER"), actor="x")  # and the database takes writes again
    finally:
        after.dispose()


def test_deleted_station_can_be_restored_and_its_id_is_not_reused(registry):
    registry.delete("T01", actor="a")
    with pytest.raises(Conflict, match="deleted stations: T01; restore them first"):
        registry.add(_st("T01"), actor="b")
    with pytest.raises(NotFound):
        registry.update("T01", {"name": "x"}, actor="b")
    back = registry.restore("T01", actor="c")
    assert back.version == 3 and "T01" in registry.index
    with pytest.raises(Conflict, match="not deleted"):
        registry.restore("T01", actor="c")


def test_restore_an_earlier_version_as_a_new_version(registry):
    v1 = registry.store.get("T01")
    registry.update("T01", {"name": "第二版", "phone": "123456"}, actor="a")
    registry.update("T01", {"name": "第三版"}, actor="a")
    back = registry.restore_version("T01", 1, actor="b", expected_version=3)
    assert (back.version, back.name, back.phone) == (4, v1.name, v1.phone)
    assert registry.index.get("T01").name == v1.name
    with pytest.raises(NotFound, match="no version 9"):
        registry.restore_version("T01", 9, actor="b")
    with pytest.raises(Conflict, match="is at version 4, not 3"):
        registry.restore_version("T01", 2, actor="b", expected_version=3)


def test_write_hook_runs_in_the_same_transaction(registry):
    """A failing hook (say, the audit row) undoes the write it belongs to."""
    def boom(conn, stored):
        raise RuntimeError("audit failed")

    with pytest.raises(RuntimeError):
        registry.update("T01", {"name": "不该保存"}, actor="a", hook=boom)
    assert registry.store.get("T01").version == 1
    assert registry.index.get("T01").name != "不该保存"


def test_version_1_database_is_upgraded_in_place(db_path, tiny_stations):
    """A database made by the first schema (no soft delete, no change versions), with
    stations and history in it, is upgraded on open with nothing lost."""
    con = sqlite3.connect(db_path)
    con.executescript(_V1_SCHEMA)
    con.execute("insert into locator_meta values ('schema_version', '1')")
    for s in tiny_stations[:3]:
        con.execute("insert into stations values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (s.id, s.name, s.type, s.lon, s.lat, s.address, s.district_adcode,
                     s.district_name, s.operator, ";".join(s.amenities), s.opening_hours,
                     s.access, s.phone, s.status, None, s.source,
                     "2025-01-01 00:00:00", "2025-01-01 00:00:00", 1))
        con.execute("insert into station_history (station_id, op, actor, at, after) values "
                    "(?, 'create', 'old', '2025-01-01 00:00:00', '{}')", (s.id,))
    con.commit()
    con.close()
    store = StationStore(db_path)
    try:
        assert store.schema_version == SCHEMA_VERSION
        assert [s.id for s in store.all()] == [s.id for s in tiny_stations[:3]]
        assert len(store.history()) == 3
        store.delete(tiny_stations[0].id, actor="new")  # the new column works
        assert store.count() == 2 and store.count(include_deleted=True) == 3
        # version 3: every existing station got its public code, derived from its id
        from locator.stations.codes import candidate_code

        codes = {s.id: s.code for s in store.all()}
        assert codes == {s.id: candidate_code(s.id) for s in tiny_stations[1:3]}
        assert store.id_for_code(codes[tiny_stations[1].id].lower()) == tiny_stations[1].id
        # version 4: how to get in, unknown until someone says
        kept = store.get(tiny_stations[1].id)
        assert (kept.entry_method, kept.staffed_hours, kept.toilet_access) == ("", None, "")
        store.update(kept.id, {"entry_method": "扫码", "entry_app": "微信"}, actor="new")
        assert store.get(kept.id).entry_method == "qr_code"
    finally:
        store.dispose()
    StationStore(db_path).dispose()  # opening again: nothing left to migrate


_V1_SCHEMA = """
CREATE TABLE stations (id VARCHAR(64) PRIMARY KEY, name VARCHAR(200) NOT NULL,
  type VARCHAR(32) NOT NULL, lon FLOAT NOT NULL, lat FLOAT NOT NULL,
  address VARCHAR(200) NOT NULL, district_adcode VARCHAR(6) NOT NULL,
  district_name VARCHAR(50) NOT NULL, operator VARCHAR(200) NOT NULL,
  amenities VARCHAR(400) NOT NULL, opening_hours VARCHAR(200), access VARCHAR(20) NOT NULL,
  phone VARCHAR(40) NOT NULL, status VARCHAR(20) NOT NULL, verified_date DATE,
  source VARCHAR(20) NOT NULL, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL,
  version INTEGER NOT NULL);
CREATE TABLE station_history (hid INTEGER PRIMARY KEY AUTOINCREMENT,
  station_id VARCHAR(64) NOT NULL, op VARCHAR(10) NOT NULL, actor VARCHAR(100) NOT NULL,
  at DATETIME NOT NULL, batch VARCHAR(64), before TEXT, after TEXT);
CREATE TABLE locator_meta (key VARCHAR(50) PRIMARY KEY, value VARCHAR(200) NOT NULL);
"""


def test_follower_ends_with_its_registry(db_url, registry):
    import gc

    other = Registry.open(db_url)
    other.follow(0.01)
    th, store = other._follower, other.store
    assert th.is_alive()
    del other
    gc.collect()
    th.join(2)
    assert not th.is_alive()
    # only now: a follower still running would reopen a pooled connection (never closed)
    store.dispose()


def test_batch_with_expected_versions_refuses_a_changed_station(registry):
    """An import planned against version 1 of T01 is refused whole if T01 changed since,
    or if a station planned as new was created meanwhile."""
    planned = registry.store.get("T01").evolve(name="导入的新名字")
    registry.update("T01", {"phone": "12345"}, actor="someone else")  # now version 2
    new = _st("PLANNED-NEW", 117.3, 34.3)
    with pytest.raises(Conflict, match="changed since the plan was made.*T01"):
        registry.add_many([planned, new], actor="import", upsert=True,
                          expected_versions={"T01": 1})
    assert "PLANNED-NEW" not in registry.index and registry.store.get("T01").version == 2
    registry.add(new, actor="racer")
    with pytest.raises(Conflict, match="PLANNED-NEW"):
        registry.add_many([new.evolve(name="x")], actor="import", upsert=True,
                          expected_versions={})
    out = registry.add_many([registry.store.get("T01").evolve(name="第三版")],
                            actor="import", upsert=True, expected_versions={"T01": 2})
    assert out[0].version == 3 and registry.store.get("T01").name == "第三版"
