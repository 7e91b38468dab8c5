"""Helpers for testing nodes and flows — for ivrflow's own tests and for plugin authors.

    result = await run_node(MyNode, {"prompt": "welcome"}, keys="1 #")
    assert result.exit == "ok"
    assert result.vars["account"] == "123"

``run_node`` runs one node's ``run`` on a :class:`~runtime.simulator.SimulatedChannel` (with
the node's schema defaults applied), exactly as the interpreter would, and returns its exit,
the variables afterwards, what the caller heard and the trace events.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nodes.api import Node
from runtime.clock import FrozenClock, SystemClock
from runtime.flow import Flow, FlowLibrary, NodeSpec, Settings, VariableSpec
from runtime.interpreter import Interpreter, _CallState
from runtime.simulator import Heard, SimulatedChannel
from runtime.trace import Step, Trace

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["NodeRun", "make_flow", "run_node"]


@dataclass
class NodeRun:
    exit: str | None
    vars: dict[str, Any]
    heard: list[Heard]
    events: list[dict[str, Any]]
    vars_changed: dict[str, Any]
    channel: SimulatedChannel
    call: Any = field(repr=False, default=None)
    language: str = "zh-CN"


def make_flow(
    node_cls: type[Node],
    config: Mapping[str, Any] | None = None,
    *,
    prompts: Mapping[str, Any] | None = None,
    variables: Mapping[str, Mapping[str, Any]] | None = None,
    languages: Iterable[str] = ("zh-CN",),
    settings: Settings | None = None,
) -> Flow:
    """A one-node flow around ``node_cls`` (for tests that need a Flow object)."""
    full = node_cls.with_defaults(config)
    spec = NodeSpec(
        id="node",
        type=node_cls.type,
        version=node_cls.version,
        cls=node_cls,
        config=full,
        exits={},
        declared_exits=tuple(node_cls.exits_for(full)),
    )
    return Flow(
        id="test",
        name="test",
        nodes={"node": spec},
        start="node",
        languages=tuple(languages),
        variables={
            name: VariableSpec(
                name, v.get("type", "string"), v.get("default"), bool(v.get("secret", False))
            )
            for name, v in (variables or {}).items()
        },
        prompts=dict(prompts or {}),
        settings=settings or Settings(),
    )


async def run_node(
    node_cls: type[Node],
    config: Mapping[str, Any] | None = None,
    *,
    keys: str | Iterable[str] = "",
    vars: Mapping[str, Any] | None = None,
    variables: Mapping[str, Mapping[str, Any]] | None = None,
    prompts: Mapping[str, Any] | None = None,
    languages: Iterable[str] = ("zh-CN",),
    settings: Settings | None = None,
    at: datetime | None = None,
    resources: Mapping[str, Any] | None = None,
    library: FlowLibrary | None = None,
    channel: SimulatedChannel | None = None,
    **channel_options: Any,
) -> NodeRun:
    """Run one node once. ``vars`` sets variable values; ``variables`` declares them
    (``{"pin": {"secret": True}}``)."""
    flow = make_flow(node_cls, config, prompts=prompts, variables=variables, languages=languages)
    channel = channel or SimulatedChannel(keys, **channel_options)
    interpreter = Interpreter(
        library=library, resources=resources, clock=FrozenClock(at) if at else SystemClock()
    )
    trace = Trace()
    state = _CallState(channel, trace, flow.languages[0], interpreter.clock, flow.settings.step_cap)
    call = interpreter._frame(flow, state, dict(vars or {}), depth=0)
    step = Step(index=1, node="node", type=node_cls.type, flow=flow.id)
    state.step = step
    exit_name = await node_cls().run(call, dict(flow.nodes["node"].config))
    return NodeRun(
        exit=exit_name,
        vars=dict(call.vars._values),
        heard=channel.heard,
        events=step.events,
        vars_changed=step.vars_changed,
        channel=channel,
        call=call,
        language=call.language,
    )


TEST_POSTGRES_ENV = "IVRFLOW_TEST_POSTGRES_URL"


def make_test_engine(kind: str, directory: str | os.PathLike[str]) -> Engine | None:
    """A fresh database with ivrflow's schema, for a test (plugins' tests use it too):
    ``"sqlite"`` — a new file in ``directory``; ``"postgresql"`` — the throwaway server named
    by ``$IVRFLOW_TEST_POSTGRES_URL`` (``./test`` starts one), emptied first; None when no
    such server is set (skip the test). Dispose of the engine after the test."""
    from sqlalchemy import text

    from runtime.store.db import make_engine
    from runtime.store.migrate import migrate

    if kind == "sqlite":
        return make_engine(f"sqlite:///{Path(directory) / 'ivrflow.sqlite3'}")
    url = os.environ.get(TEST_POSTGRES_ENV)
    if not url:
        return None
    engine = make_engine(url, create=False)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    migrate(engine)
    return engine
