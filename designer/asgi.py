"""The designer as an ASGI application built from the environment, for running several
worker processes (``ivrflow serve --no-runtime --workers N``): each worker builds its own
app on the same database. Sessions, throttling and drafts live in the database, so any worker
can answer any request."""

from __future__ import annotations

import atexit
import logging
import os

from starlette.applications import Starlette

from designer.app import create_app
from designer.bootstrap import default_auth
from nodes.plugins import PluginHost, load_plugins
from runtime.store.db import make_engine

__all__ = ["app_from_env"]

log = logging.getLogger("ivrflow.designer")


def app_from_env() -> Starlette:
    engine = make_engine(os.environ.get("IVRFLOW_DATABASE_URL"))
    from prompts.engines import default_converter, default_speaker

    media = os.environ.get("IVRFLOW_MEDIA_DIR", "var/media")
    plugins = load_plugins(PluginHost(engine=engine))
    for problem in plugins.problems:
        log.error("%s", problem.message_en)
    atexit.register(plugins.close)  # a worker process: stop the plugins when it exits
    return create_app(
        engine,
        auth=default_auth(),
        media_dir=media,
        converter=default_converter(os.path.join(media, "work")),
        speaker=default_speaker(os.path.join(media, "tts-cache")),
        extra_routes=plugins.routes,
        resources=plugins.for_test_calls(),
        pages=plugins.pages,
    )
