"""The app's in-memory index against PostGIS's own nearest-neighbour search, same run.

Data: the demo's sample stations plus N synthetic ones around China's cities (the
stations of ``bench_api.py``; N = 100,000 by default, ``--stations 400000`` for the
national scale), stored through the store in a new PostgreSQL database with PostGIS
(``stations.geom`` geography(Point, 4326) with its GiST index; ``VACUUM (ANALYZE)`` after
the load, as autovacuum would do).

Per query, k = 5 nearest stations (not closed) to random points over the same area,
timed one call at a time in interleaved rounds (``_common.time_rounds``):

* **index**: ``StationIndex.nearest`` on the index built from the store, what every app
  worker answers from;
* **PostGIS KNN**: the database's own search, ``SELECT id, geom <-> point ... ORDER BY
  geom <-> point LIMIT k``, a prepared statement over one psycopg 3 connection on
  127.0.0.1 (the round trip included: that is what any caller pays);
* **store.nearest**: what ``locator nearest`` runs on PostGIS, the KNN query for a few
  more candidates with the full rows, re-ranked exactly in a small index.

For reference, the server's own execution time of the KNN query (``EXPLAIN (ANALYZE,
TIMING OFF)``, no round trip) on the first 500 points.

Exactness: every method's answer to every query is compared with the index's (ids in
order; distances: the index and store.nearest use the same haversine, PostGIS its
sphere of radius 6,371,008.77 m, 5e-9 apart).

Target (issue #11): the index at least 10x faster per query than PostGIS's KNN, both
exact.

Run: ``python benchmarks/bench_postgis.py`` (needs a PostgreSQL server with PostGIS on
127.0.0.1:5432 with trust auth, or ``--pg URL`` of a maintenance database where the role
may create databases). ``--quick`` for a smoke run; writes ``RESULTS-postgis.md`` unless
``--out -``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(ROOT))

from _common import fmt_ratio, machine_lines, markdown_table, time_rounds  # noqa: E402

K = 5
KNN_SQL = ("SELECT id, geom <-> ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography "
           "AS d FROM stations WHERE deleted_at IS NULL AND status <> 'closed' "
           "ORDER BY geom <-> ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography "
           "LIMIT %(k)s")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def new_database(admin_url: str) -> tuple[str, str]:
    """A new database with the postgis extension: (its SQLAlchemy URL, its name)."""
    import sqlalchemy as sa

    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"bench_postgis_{secrets.token_hex(3)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    url = sa.engine.make_url(admin_url).set(database=name)
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    eng.dispose()
    return url.render_as_string(hide_password=False), name


def drop_database(admin_url: str, name: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def query_points(n: int, seed: int) -> list[tuple[float, float]]:
    """Random points over the synthetic stations' area (China's cities, 100-122 E,
    22-42 N), a fifth of them in Xuzhou."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(100, 122, n)
    lat = rng.uniform(22, 42, n)
    m = n // 5
    lon[:m] = rng.uniform(117.05, 117.35, m)
    lat[:m] = rng.uniform(34.15, 34.40, m)
    return [(float(a), float(b)) for a, b in zip(lon, lat, strict=True)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stations", type=int, default=100_000, help="synthetic stations")
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pg", default=os.environ.get(
        "LOCATOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
        help="maintenance database URL (the role must be able to CREATE DATABASE)")
    ap.add_argument("--quick", action="store_true", help="10,000 stations, 300 queries")
    ap.add_argument("--keep", action="store_true", help="keep the benchmark database")
    ap.add_argument("--out", default=None, help="markdown output (default "
                    "benchmarks/RESULTS-postgis.md; '-' for none)")
    a = ap.parse_args(argv)
    if a.quick:
        a.stations, a.queries, a.rounds = 10_000, 300, 3
    out = a.out or ("-" if a.quick else str(HERE / "RESULTS-postgis.md"))

    import psycopg
    import sqlalchemy as sa
    from bench_api import build_db

    from locator import StationStore
    from locator.store.registry import Registry

    url, name = new_database(a.pg)
    try:
        _log(f"loading {a.stations:,} synthetic stations plus the demo's into {name} ...")
        t0 = time.perf_counter()
        n = build_db(url, a.stations)
        load_s = time.perf_counter() - t0
        store = StationStore(url)
        assert store.spatial, "the benchmark database has no geometry column"
        dsn = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(
            hide_password=False)
        pg = psycopg.connect(dsn, autocommit=True)
        pg.execute("VACUUM (ANALYZE) stations")  # as autovacuum would after a bulk load
        t0 = time.perf_counter()
        index = Registry(store).index
        build_s = time.perf_counter() - t0
        _log(f"{n:,} stations stored in {load_s:.0f} s; index built from the store in "
             f"{build_s:.1f} s")
        points = query_points(a.queries, seed=11)
        args = [(lon, lat) for lon, lat in points]

        def knn(lon: float, lat: float) -> list[tuple[str, float]]:
            return pg.execute(KNN_SQL, {"lon": lon, "lat": lat, "k": K}, prepare=True
                              ).fetchall()

        methods = {
            "index": lambda lon, lat: index.nearest(lon, lat, K),
            "PostGIS KNN (<->, GiST)": knn,
            "store.nearest (KNN + exact re-rank)": lambda lon, lat: store.nearest(lon, lat, K),
        }
        _log(f"checking {len(points):,} queries for exactness ...")
        exact = {name: [0, 0.0] for name in methods}
        for lon, lat in points:
            want = [(r.id, r.distance_m) for r in index.nearest(lon, lat, K)]
            got = {
                "index": want,
                "PostGIS KNN (<->, GiST)": [(i, float(d)) for i, d in knn(lon, lat)],
                "store.nearest (KNN + exact re-rank)": [
                    (r.id, r.distance_m) for r in store.nearest(lon, lat, K)],
            }
            for m, ans in got.items():
                if [i for i, _ in ans] != [i for i, _ in want]:
                    exact[m][0] += 1
                rel = max((abs(d - w) / w for (_, d), (_, w) in zip(ans, want, strict=False)
                           if w > 0), default=0.0)
                exact[m][1] = max(exact[m][1], rel)
        _log(f"timing {a.rounds} rounds of {len(points):,} queries per method ...")
        stats = time_rounds(methods, args, rounds=a.rounds, warmup=min(200, len(args)))
        # What the server itself spends on the search, without the round trip.
        server_us = []
        for lon, lat in points[:500]:
            (plan,), = pg.execute("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + KNN_SQL,
                                  {"lon": lon, "lat": lat, "k": K}).fetchall()
            server_us.append(float(plan[0]["Execution Time"]) * 1000)
        pg.close()
        store.dispose()
    finally:
        if not a.keep:
            drop_database(a.pg, name)

    base = stats["index"]
    rows = []
    for m, st in stats.items():
        wrong, rel = exact[m]
        rows.append([m, f"{st.p50_ns / 1000:,.1f}", f"{st.p99_ns / 1000:,.1f}",
                     fmt_ratio(st.p50_ns / base.p50_ns), fmt_ratio(st.p99_ns / base.p99_ns),
                     f"{len(points) - wrong:,} / {len(points):,}", f"{rel:.1e}"])
    p50s, p99s = np.percentile(server_us, [50, 99])
    rows.insert(2, ["PostGIS KNN, server execution only (EXPLAIN ANALYZE, 500 queries)",
                    f"{p50s:,.1f}", f"{p99s:,.1f}", fmt_ratio(p50s * 1000 / base.p50_ns),
                    fmt_ratio(p99s * 1000 / base.p99_ns), "(same query)", ""])
    table = markdown_table(
        ["method (k = 5)", "p50 µs", "p99 µs", "p50 vs index", "p99 vs index",
         "same ids as the index", "max rel. distance diff"], rows, "lrrrrrr")
    knn_st = stats["PostGIS KNN (<->, GiST)"]
    speedup = knn_st.p50_ns / base.p50_ns
    both_exact = exact["index"][0] == 0 and exact["PostGIS KNN (<->, GiST)"][0] == 0 \
        and exact["store.nearest (KNN + exact re-rank)"][0] == 0
    verdicts = [
        f"- {'PASS' if speedup >= 10 else 'FAIL'}: the index is {speedup:.1f}x faster than "
        f"PostGIS's KNN per query at p50 (target >= 10x); "
        f"{knn_st.p99_ns / base.p99_ns:.1f}x at p99",
        f"- {'PASS' if both_exact else 'FAIL'}: every method gives the index's ids in its "
        f"order on all {len(points):,} queries",
    ]
    text = "\n".join([
        "# In-memory index vs PostGIS KNN",
        "",
        f"{n:,} stations (the demo's sample stations plus {a.stations:,} synthetic ones "
        "around China's cities, all labelled sample) in PostgreSQL with PostGIS: "
        "`stations.geom` geography(Point, 4326), generated from lon/lat, GiST index, "
        "`VACUUM (ANALYZE)` after the load. "
        f"{len(points):,} random query points over the same area (a fifth in Xuzhou), "
        f"k = {K}, statuses other than closed; per-call latency, median of {a.rounds} "
        "interleaved rounds of every query. PostGIS is asked over one psycopg 3 "
        "connection on 127.0.0.1 with a prepared statement (the round trip included).",
        "",
        *machine_lines(["numpy", "scipy", "SQLAlchemy", "psycopg", "GeoAlchemy2", "alembic"]),
        f"- Stored through the store (one transaction per 20,000) in {load_s:.0f} s; the "
        f"index built from the store (what a worker does at start-up) in {build_s:.1f} s",
        "",
        table,
        "",
        *verdicts,
        "",
    ])
    print(text)
    if out != "-":
        Path(out).write_text(text, encoding="utf-8")
        _log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
