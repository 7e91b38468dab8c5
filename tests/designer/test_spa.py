"""The browser designer's files: served by create_app from designer/static (no Node at run
time), index.html for every page of the app, the API left alone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from designer.spa import STATIC_DIR, spa_routes


def _assets() -> list[str]:
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return re.findall(r'(?:src|href)="(/assets/[^"]+)"', html)


def test_the_built_designer_is_in_the_package():
    assert (STATIC_DIR / "index.html").is_file()
    assets = _assets()
    assert any(a.endswith(".js") for a in assets)
    assert any(a.endswith(".css") for a in assets)
    for asset in assets:
        assert (STATIC_DIR / asset.lstrip("/")).is_file(), asset


def test_the_page_has_no_inline_script_for_the_csp():
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, tag
    assert "cdn" not in html.lower()


def test_home_and_client_routes_serve_the_app(clients):
    http = clients["anon"].http
    home = http.get("/")
    assert home.status_code == 200
    assert home.headers["content-type"].startswith("text/html")
    assert "ivrflow" in home.text
    assert "default-src 'self'" in home.headers["content-security-policy"]
    page = http.get("/flows/12329-main")
    assert page.status_code == 200
    assert page.text == home.text
    assert page.headers["cache-control"] == "no-cache"
    assert http.get("/favicon.svg").headers["content-type"].startswith("image/svg")


def test_assets_are_served_and_cacheable(clients):
    http = clients["anon"].http
    for asset in _assets():
        response = http.get(asset)
        assert response.status_code == 200, asset
        assert "immutable" in response.headers["cache-control"]
    assert http.get("/assets/nope.js").status_code == 404


def test_api_paths_are_never_the_app(clients):
    http = clients["viewer"].http
    missing = http.get("/api/nope")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    assert http.patch("/api/flows").status_code == 405
    assert http.get("/api").status_code == 404
    spec = http.get("/api/openapi.json").json()
    assert all(path.startswith("/api/") for path in spec["paths"])


def test_without_a_build_the_page_says_how_to_build(tmp_path: Path):
    app = Starlette(routes=spa_routes(tmp_path))
    with TestClient(app) as client:
        page = client.get("/anything")
        assert page.status_code == 200
        assert "scripts/build-frontend.sh" in page.text
        assert client.get("/assets/index.js").status_code == 404
        assert client.post("/").status_code in (404, 405)


def test_the_bundle_is_sent_compressed_to_browsers_that_accept_it(engine):
    from support.designer import make_app

    scripts = sorted((STATIC_DIR / "assets").glob("*.js"))
    if not scripts:
        pytest.skip("the designer is not built")
    client = TestClient(make_app(engine))
    url = f"/assets/{scripts[0].name}"
    compressed = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.content == scripts[0].read_bytes()  # the client unpacks it
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert "immutable" in plain.headers["cache-control"]
    client.close()
