"""The browser designer: the single-page app built from ``designer/frontend`` into
``designer/static`` (committed, shipped as package data; no Node at run time).

``spa_routes()`` gives the routes that serve it: ``/assets/…`` (hashed, immutable files) and,
for every other ``GET`` outside ``/api/``, ``index.html`` — the app routes on the client
(``/flows/12329-main`` is a page of the app, not a file). Paths under ``/api/`` are never
answered here, so an unknown API path stays a 404 problem document and a wrong method a 405.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

__all__ = ["STATIC_DIR", "SpaRoute", "spa_routes"]

STATIC_DIR = Path(__file__).resolve().parent / "static"

_NOT_BUILT = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>ivrflow</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>ivrflow 流程设计器</h1>
<p>浏览器设计器尚未构建：请运行 <code>scripts/build-frontend.sh</code>。
REST API 可用：<a href="/api/openapi.json">/api/openapi.json</a>。</p>
<p lang="en">The browser designer is not built: run <code>scripts/build-frontend.sh</code>.
The REST API is at <a href="/api/openapi.json">/api/openapi.json</a>.</p>
</body></html>
"""


class _Assets(StaticFiles):
    """Hashed build output: cacheable for a year. Without a build: 404s, not errors."""

    async def check_config(self) -> None:
        if self.directory is not None and not await anyio.to_thread.run_sync(
            os.path.isdir, self.directory
        ):
            return
        await super().check_config()

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if status_code == 200:
            response.headers["cache-control"] = "public, max-age=31536000, immutable"
        return response


class SpaRoute(BaseRoute):
    """``GET``/``HEAD`` of any path outside ``/api/``: a file at the top of the build
    (``favicon.svg``) or else ``index.html``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return Match.NONE, {}
        path: str = scope["path"]
        if path == "/api" or path.startswith("/api/"):
            return Match.NONE, {}
        return Match.FULL, {}

    def _top_level_file(self, path: str) -> Path | None:
        name = path.strip("/")
        if not name or "/" in name or name.startswith(".") or name == "index.html":
            return None
        if not self.directory.is_dir():
            return None
        listed = {p.name: p for p in self.directory.iterdir() if p.is_file()}
        return listed.get(name)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: Response
        found = self._top_level_file(scope["path"])
        index = self.directory / "index.html"
        if found is not None:
            response = FileResponse(found)
        elif index.is_file():
            response = FileResponse(index, headers={"cache-control": "no-cache"})
        else:
            response = HTMLResponse(_NOT_BUILT, headers={"cache-control": "no-cache"})
        await response(scope, receive, send)

    def __repr__(self) -> str:
        return f"SpaRoute(directory={str(self.directory)!r})"


def spa_routes(directory: Path | None = None) -> list[BaseRoute]:
    """The designer's pages and assets; put them after every API route."""
    root = directory or STATIC_DIR
    return [
        Mount(
            "/assets",
            # compressed for browsers that accept it (the JS bundle: 806 KB → ~260 KB); cached
            # for a year, so each browser fetches it once per build
            app=GZipMiddleware(
                _Assets(directory=root / "assets", check_dir=False),
                minimum_size=1024,
                compresslevel=6,
            ),
            name="assets",
        ),
        SpaRoute(root),
    ]
