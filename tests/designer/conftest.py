from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from support.designer import ApiClient, add_user, make_app


@pytest.fixture
def app(engine) -> Starlette:
    """The designer on a fresh database (SQLite and PostgreSQL), with one user per role."""
    app = make_app(engine)
    add_user(app, "admin", "admin")
    add_user(app, "ed", "editor")
    add_user(app, "pub", "editor", "publisher")
    add_user(app, "viewer", "viewer")
    add_user(app, "rec", "recorder")
    return app


@pytest.fixture
def clients(app) -> Iterator[dict[str, ApiClient]]:
    made = {name: ApiClient(app, name) for name in ("admin", "ed", "pub", "viewer", "rec")}
    made["anon"] = ApiClient(app)
    yield made
    for client in made.values():
        client.close()
