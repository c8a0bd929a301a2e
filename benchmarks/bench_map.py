"""Map page with 10,000 stations: HTML size and time until markers are visible in headless
Chromium, against folium's stock MarkerCluster page for the same stations.

Targets (issue #3): HTML under 3 MB; markers visible in under 3 s.

The stock folium page loads Leaflet, the cluster plugin, jQuery and Bootstrap from CDNs,
which this machine cannot reach, so only its size can be compared; it is the page a
planner would get from ``folium.plugins.MarkerCluster`` without the project's own
clustering layer.

Run: ``python benchmarks/bench_map.py`` (needs Debian's ``chromium`` and ``playwright``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

from _common import machine_lines, markdown_table  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
MARKERS_SHOWN = ("() => { const m = document.querySelector('.locator-map');"
                 " return m && Number(m.dataset.markerCount) > 0 && "
                 " document.querySelector('.st-cluster') ? performance.now() : false; }")


def stock_folium_html(stations) -> str:
    import folium
    from folium.plugins import MarkerCluster

    m = folium.Map(location=[34.26, 117.18], zoom_start=10)
    cluster = MarkerCluster().add_to(m)
    for s in stations:
        folium.Marker([s.lat, s.lon], popup=s.name).add_to(cluster)
    return m.get_root().render()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stations", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS-map.md")
    a = ap.parse_args()

    from conftest_browser import live_server, many_stations, registry_of
    from playwright.sync_api import sync_playwright

    from locator.web import create_app

    stations = many_stations(a.stations)
    tmp = Path(tempfile.mkdtemp(prefix="bench-map-"))
    times, sizes, cold = [], [], None
    with registry_of(tmp / "map.sqlite", stations) as reg, live_server(create_app(
            {"LOCATOR_REGISTRY": reg, "LOCATOR_RATE_LIMIT": 0, "LOCATOR_TILES": "none"})) as url, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for run in range(a.runs + 1):
            ctx = browser.new_context(viewport={"width": 1280, "height": 800})
            page = ctx.new_page()
            resp = page.goto(url + "/map", wait_until="commit")
            size = len(resp.body())
            shown = page.wait_for_function(MARKERS_SHOWN, polling="raf",
                                           timeout=30_000).json_value()
            ctx.close()
            if run == 0:
                cold = shown  # the server's first /map request also imports folium
                continue
            times.append(shown)
            sizes.append(size)
        browser.close()
    stock = stock_folium_html(stations)
    med = statistics.median(times)
    size = statistics.median(sizes)
    rows = [
        ["Station Locator /map (own clustering, no CDN)", f"{size / 1e6:.2f}",
         f"{med:.0f}", f"{max(times):.0f}", f"{cold:.0f}"],
        ["folium stock MarkerCluster (CDN assets)", f"{len(stock.encode()) / 1e6:.2f}",
         "cannot render offline", "—", "—"],
    ]
    table = markdown_table(["page", "HTML MB", "markers visible, median ms",
                            "worst ms", "first request ms"], rows)
    checks = [(f"HTML {size / 1e6:.2f} MB < 3 MB", size < 3e6),
              (f"markers visible in {med:.0f} ms (median of {len(times)}) < 3000 ms",
               med < 3000)]
    lines = ["# Map page benchmark", "",
             f"{a.stations:,} stations around Xuzhou; headless Chromium; time from navigation "
             "start to the first cluster marker drawn (performance.now()).", "",
             *machine_lines(["folium", "flask", "playwright"]), "", table, "",
             *[f"- {'PASS' if ok else 'FAIL'}: {msg}" for msg, ok in checks]]
    text = "\n".join(lines) + "\n"
    print(text)
    a.out.write_text(text)
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
