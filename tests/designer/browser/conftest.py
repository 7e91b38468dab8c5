"""Fixtures of the browser tests (see :mod:`support.browser`): one designer server and one
Chromium per module, a fresh set of browser contexts per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from support.browser import CHROMIUM, CHROMIUM_ARGS, Designer, Session, serve_designer

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture(scope="module")
def designer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Designer]:
    with serve_designer(tmp_path_factory.mktemp("designer")) as served:
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def session(browser: Browser, designer: Designer) -> Iterator[Session]:
    made = Session(browser, designer)
    try:
        yield made
    finally:
        made.close()
    assert not made.errors, f"errors in the page: {made.errors}"
