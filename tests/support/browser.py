"""Browser-test support: the designer served by uvicorn in a background thread on a
temporary SQLite database, and browser contexts of Python Playwright on Debian's Chromium
(started with the arguments that work here; never ``playwright install``)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from nodes.plugins import PluginHost, SetupFunction, load_plugins
from runtime.store.db import make_engine
from support.designer import PASSWORD, add_user, make_app
from support.prompts import FakeSpeaker, fake_converter

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
STATIC_INDEX = ROOT / "designer" / "static" / "index.html"
TEST_CALL_SCALE = 0.1
"""Simulated prompts play at a tenth of their length; input time-outs are a tenth too."""


def skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return (
            "browser tests need Debian's Chromium at /usr/bin/chromium "
            "(apt-get install chromium fonts-wqy-microhei)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "browser tests need the playwright package (pip install playwright)"
    if not STATIC_INDEX.exists():
        return "the designer is not built (scripts/build-frontend.sh)"
    return None


@dataclass
class Designer:
    url: str
    app: Any
    server: uvicorn.Server

    def wait_idle(self, timeout_s: float = 10.0) -> None:
        """Wait until the server holds no connection (the suite's leak checker counts
        sockets after every test)."""
        deadline = time.monotonic() + timeout_s
        while self.server.server_state.connections and time.monotonic() < deadline:
            time.sleep(0.02)


@contextmanager
def serve_designer(
    folder: Path, plugins: Mapping[str, SetupFunction] | None = None
) -> Iterator[Designer]:
    """The designer on a fresh database in ``folder`` with users admin (admin), ed (editor),
    pub (editor, publisher) and rec (recorder), all with :data:`support.designer.PASSWORD`.
    Uploads go through the fake converter (WAV only) and placeholders through a fake TTS.
    ``plugins`` (name → setup function) are set up on the database and their routes,
    resources and pages served, as ``ivrflow serve`` does."""
    engine = make_engine(f"sqlite:///{folder / 'ivrflow.sqlite3'}")
    loaded = load_plugins(
        PluginHost(engine=engine, environ={}), include_entry_points=False, extra=plugins or {}
    )
    if loaded.problems:
        raise RuntimeError(f"plugins failed: {[p.message_en for p in loaded.problems]}")
    app = make_app(
        engine,
        test_call_scale=TEST_CALL_SCALE,
        media_dir=folder / "media",
        converter=fake_converter,
        speaker=FakeSpeaker(),
        extra_routes=loaded.routes,
        resources=loaded.for_test_calls(),
        pages=loaded.pages,
    )
    add_user(app, "admin", "admin")
    add_user(app, "ed", "editor")
    add_user(app, "pub", "editor", "publisher")
    add_user(app, "rec", "recorder")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="wsproto")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the designer did not start")
            time.sleep(0.02)
        yield Designer(f"http://127.0.0.1:{port}", app, server)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        listener.close()
        loaded.close()
        engine.dispose()


@dataclass
class Session:
    """Browser contexts (one per person at a keyboard), closed together at the end."""

    browser: Browser
    designer: Designer
    contexts: list[BrowserContext] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def page(self) -> Page:
        context = self.browser.new_context(
            viewport={"width": 1920, "height": 1080}, locale="zh-CN", base_url=self.designer.url
        )
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        return page

    def login(self, page: Page, username: str) -> None:
        page.goto("/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("[data-testid=login-submit]")
        page.wait_for_selector("[data-testid=user]")

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.designer.wait_idle()


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
