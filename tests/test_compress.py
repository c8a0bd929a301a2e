"""Compressed responses for weak signal: gzip for pages, assets and JSON when the client
accepts it, the same bytes once decompressed, 304s with the compressed ETag, and nothing
compressed that should not be (small bodies, HEAD, clients without gzip)."""

from __future__ import annotations

import gzip

import pytest

from locator.web import create_app

GZ = {"Accept-Encoding": "gzip, deflate, br"}


def _get(client, path, **kw):
    """GET, read the body and close the response (static files are open files)."""
    r = client.get(path, **kw)
    r.get_data()
    r.close()
    return r


@pytest.fixture()
def client(registry):
    app = create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"})
    return app.test_client()


@pytest.mark.parametrize("path", ["/vendor/leaflet/leaflet.js", "/static/rider.js", "/",
                                  "/api/v1/nearest?lon=117.18&lat=34.26&k=10",
                                  "/api/v1/openapi.json"])
def test_text_responses_are_gzipped_and_decompress_to_the_same_bytes(client, path):
    plain = _get(client, path)
    packed = _get(client, path, headers=GZ)
    assert plain.status_code == packed.status_code == 200
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert int(packed.headers["Content-Length"]) == len(packed.data) < len(plain.data)
    assert packed.headers["Content-Type"] == plain.headers["Content-Type"]
    if path == "/":  # the page has a per-request nonce: compare its size only
        assert abs(len(gzip.decompress(packed.data)) - len(plain.data)) < 64
    else:
        assert gzip.decompress(packed.data) == plain.data


def test_the_map_library_shrinks_to_a_third(client):
    plain = _get(client, "/vendor/leaflet/leaflet.js")
    packed = _get(client, "/vendor/leaflet/leaflet.js", headers=GZ)
    assert len(packed.data) < 0.4 * len(plain.data)


def test_a_cached_asset_is_revalidated_with_its_compressed_etag(client):
    first = _get(client, "/static/rider.js", headers=GZ)
    etag = first.headers["ETag"]
    assert etag.endswith('-gz"')
    again = _get(client, "/static/rider.js", headers={**GZ, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    plain = _get(client, "/static/rider.js")
    assert plain.headers["ETag"] != etag and not plain.headers["ETag"].endswith('-gz"')


def test_small_bodies_head_requests_and_images_are_left_alone(client):
    small = _get(client, "/api/v1/nearest?lon=117.18&lat=34.26&k=1&max_distance_m=1",
                       headers=GZ)
    assert small.status_code == 200 and len(small.data) < 1024
    assert "Content-Encoding" not in small.headers
    head = client.head("/static/rider.js", headers=GZ)
    head.close()
    assert "Content-Encoding" not in head.headers
    png = _get(client, "/vendor/leaflet/images/marker-icon.png", headers=GZ)
    assert png.status_code == 200 and "Content-Encoding" not in png.headers


def test_errors_are_compressed_too_and_stay_problem_json(client):
    r = _get(client, "/api/v1/nearest?lon=500&lat=34.26&" + "x=1&" * 300, headers=GZ)
    assert r.status_code == 400
    body = gzip.decompress(r.data) if r.headers.get("Content-Encoding") == "gzip" else r.data
    assert b"lon" in body and r.mimetype == "application/problem+json"
