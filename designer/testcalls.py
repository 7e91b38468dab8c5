"""Test calls from the browser: the ``/api/simulate`` WebSocket. Signs the user in from the
session cookie (the origin is checked by :class:`designer.middleware.SameOrigin`), loads the
flow asked for — the saved draft, a published version, or what an entry runs — and hands the
socket to :func:`designer.simulation.serve_simulation`."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket

from designer.problems import ApiError
from designer.simulation import (
    SimulationOptions,
    SimulationRefused,
    SimulationSession,
    flow_for_test_call,
    serve_simulation,
)
from runtime.library import MemoryLibrary

__all__ = ["MAX_TEST_CALLS", "simulate_ws"]

MAX_TEST_CALLS = 50
"""Concurrent test calls per designer process."""


def _documents(services: Any, message: dict[str, Any]) -> tuple[dict[str, Any], MemoryLibrary]:
    """The flow document to run and the library its sub-flows come from."""
    flows = services.flows
    flow_id = message.get("flow")
    source = message.get("source", "draft")
    if not isinstance(flow_id, str) or not flow_id:
        raise SimulationRefused(
            "开始消息须包含 flow（流程编号）",
            "the start message needs flow (a flow id)",
            code="bad_options",
        )
    if source == "draft":
        library = flows.library()
        if flow_id not in library.documents:
            raise ApiError(404, "flow.unknown", f"没有流程 {flow_id}", f"no flow {flow_id}")
        return library.documents[flow_id], library
    if isinstance(source, str) and source.startswith("live:"):
        entry = source[5:]
        match = [e for e in flows.entries() if e["entry"] == entry]
        if not match:
            raise ApiError(404, "entry.unknown", f"没有入口 {entry}", f"no entry {entry}")
        flow_id, source = match[0]["flow_id"], match[0]["version"]
    if isinstance(source, int) and not isinstance(source, bool):
        versions = {v["version"]: v for v in flows.versions(flow_id)}
        if source not in versions:
            raise ApiError(
                404,
                "version.unknown",
                f"流程 {flow_id} 没有第 {source} 版",
                f"flow {flow_id} has no version {source}",
            )
        documents = {flow_id: flows.version_document(flow_id, source)}
        for child, pinned in versions[source]["dependencies"].items():
            documents[child] = flows.version_document(child, pinned)
        return documents[flow_id], MemoryLibrary(documents, registry=services.registry)
    raise SimulationRefused(
        f"source 无效：{source!r}（可用 draft、版本号或 live:入口）",
        f"invalid source {source!r} (use draft, a version number or live:ENTRY)",
        code="bad_options",
    )


async def simulate_ws(websocket: WebSocket) -> None:
    services = websocket.app.state.services
    token = websocket.cookies.get(services.auth.cookie_name, "")
    principal = await run_in_threadpool(services.users.authenticate, token)
    if principal is None or not principal.can("simulate"):
        await websocket.close(code=1008)
        return
    state = websocket.app.state
    if state.test_calls >= MAX_TEST_CALLS:
        await websocket.close(code=1013)  # try again later
        return
    state.test_calls += 1
    try:
        await websocket.accept()

        async def start(message: dict[str, Any]) -> SimulationSession:
            try:
                document, library = await run_in_threadpool(_documents, services, message)
            except ApiError as exc:
                raise SimulationRefused(exc.message_zh, exc.message_en, code=exc.code) from None
            flow = flow_for_test_call(document, registry=services.registry, library=library)
            options = SimulationOptions.from_message(message, timezone=flow.settings.timezone)
            scale = state.test_call_scale
            return SimulationSession(
                flow,
                library=library,
                resources=state.resources,
                options=options,
                speech_scale=scale,
                timeout_scale=scale,
            )

        await serve_simulation(websocket, start)
    finally:
        state.test_calls -= 1
