"""The designer application: ``create_app(...)`` assembles services, routes, middleware and
the lifespan explicitly. With ``runtime`` set, the same process also serves calls (FastAGI),
which is how ``ivrflow serve`` starts the whole product on one machine."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute

from designer import api, prompts_api
from designer.auth import PERMISSIONS, AuthSettings, Users
from designer.flows import Flows
from designer.middleware import BodyLimit, SameOrigin, SecurityHeaders
from designer.openapi import openapi_document
from designer.problems import problem_handlers
from designer.spa import spa_routes
from designer.testcalls import simulate_ws
from nodes.plugins import PluginPage
from nodes.registry import Registry, default_registry
from prompts.library import Converter, PromptLibrary, Speaker
from runtime.history import AGENT_HISTORY
from runtime.store.history import CallRecordHistory

__all__ = ["Services", "create_app"]

log = logging.getLogger("ivrflow.designer")


@dataclass
class Services:
    engine: Engine
    registry: Registry
    users: Users
    flows: Flows
    auth: AuthSettings
    prompts: PromptLibrary
    placeholder_delay_s: float = 20.0
    """Placeholders are spoken this long after the last save of a flow."""
    placeholder_generations: dict[str, int] = field(default_factory=dict)
    placeholder_tasks: set[asyncio.Task[None]] = field(default_factory=set)
    pages: tuple[PluginPage, ...] = ()
    """The plugins' pages (``GET /api/plugin-pages``)."""


async def _openapi(request: Request) -> JSONResponse:
    return JSONResponse(openapi_document(request.app.routes))


def create_app(
    engine: Engine,
    *,
    registry: Registry | None = None,
    auth: AuthSettings | None = None,
    runtime: Any | None = None,
    max_body_bytes: int = 4 * 1024 * 1024,
    test_call_scale: float = 1.0,
    placeholder_delay_s: float = 20.0,
    media_dir: Path | str = "var/media",
    converter: Converter | None = None,
    speaker: Speaker | None = None,
    extra_routes: list[BaseRoute] | None = None,
    resources: Mapping[str, Any] | None = None,
    pages: Sequence[PluginPage] = (),
) -> Starlette:
    """The designer app on ``engine`` (already migrated). ``runtime``: an object with async
    ``start()``/``close()`` (a :class:`runtime.service.RuntimeService`) run for the app's
    lifetime. ``media_dir`` keeps the originals of uploaded recordings; ``converter`` and
    ``speaker`` convert uploads and make TTS placeholders. ``test_call_scale`` scales prompt
    lengths and input time-outs of browser test calls (tests make them fast). ``extra_routes``
    and ``resources``: what plugins contribute for test calls
    (``nodes.plugins.load_plugins(...).for_test_calls()``: the runtime's resources, except
    where a plugin gives a stand-in without real side effects, e.g. SMS that are only logged).
    ``pages``: the plugins' pages (``Plugins.pages``), listed by ``GET /api/plugin-pages`` for
    the editor's "业务数据 / Business data" section."""
    registry = registry or default_registry()
    auth = auth or AuthSettings()
    pages = _known_permissions(pages)
    prompts = PromptLibrary(
        engine, Path(media_dir), converter=converter, speaker=speaker, registry=registry
    )
    services = Services(
        engine=engine,
        registry=registry,
        users=Users(engine, auth),
        flows=Flows(engine, registry, catalogue_for=prompts.catalogue),
        auth=auth,
        prompts=prompts,
        placeholder_delay_s=placeholder_delay_s,
        pages=tuple(pages),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if runtime is not None:
            await runtime.start()
        try:
            yield
        finally:
            pending = list(services.placeholder_tasks)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if runtime is not None:
                await runtime.close()

    routes: list[BaseRoute] = [
        Route("/api/openapi.json", _openapi, methods=["GET"]),
        *api.routes,
        *prompts_api.routes,
        WebSocketRoute("/api/simulate", simulate_ws),
        *(extra_routes or []),
        *spa_routes(),  # the browser designer: after every API route
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                BodyLimit,
                max_bytes=max_body_bytes,
                larger={"/api/prompts/": prompts_api.MAX_UPLOAD_BYTES + 64 * 1024},
            ),
            Middleware(SameOrigin),
        ],
        exception_handlers=problem_handlers(),
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.test_call_scale = test_call_scale
    app.state.test_calls = 0
    # test calls see who served a caller before (sticky agent), as the runtime's calls do
    app.state.resources = {AGENT_HISTORY: CallRecordHistory(engine), **dict(resources or {})}
    return app


def _known_permissions(pages: Sequence[PluginPage]) -> tuple[PluginPage, ...]:
    """The pages whose permissions (page, form, actions) the designer knows. A page naming
    one it does not know (a typo would hide it from everyone, silently) is left out and
    logged by name."""
    known = frozenset().union(*PERMISSIONS.values())
    kept = []
    for page in pages:
        named = {page.permission, *(a.permission for a in page.actions)}
        if page.create is not None:
            named.add(page.create.permission)
        unknown = sorted(named - known)
        if unknown:
            log.error(
                "plugin page %s names unknown permissions %s (known: %s); it is not shown",
                page.id,
                ", ".join(unknown),
                ", ".join(sorted(known)),
            )
            continue
        kept.append(page)
    return tuple(kept)
