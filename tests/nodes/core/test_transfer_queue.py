"""core.transfer_queue: the queue request, VIP priority, screen-pop data without secrets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nodes.api import Reference
from nodes.core.transfer_queue import TransferQueue
from runtime.call import Prompt, QueueRequest, QueueResult, QueueStatus
from runtime.history import AGENT_HISTORY, AgentHistory, AgentRef
from runtime.simulator import SimulatedChannel
from runtime.testing import NodeRun, run_node

PROMPTS = {"please_hold": {"text": {"zh-CN": "正在为您转接"}}}


class QueueChannel(SimulatedChannel):
    """Keeps the QueueRequest the node built."""

    def __init__(self, status: Any = QueueStatus.COMPLETED, **options: Any) -> None:
        super().__init__("", **options)
        self.requests: list[QueueRequest] = []
        self.status = status

    async def transfer_queue(self, request: QueueRequest) -> QueueResult:
        self.requests.append(request)
        return QueueResult(self.status, agent="8001")


async def transfer(config: dict[str, Any], **kw: Any) -> tuple[NodeRun, QueueRequest]:
    channel = QueueChannel(kw.pop("status", QueueStatus.COMPLETED), caller=kw.pop("caller", "1"))
    run = await run_node(TransferQueue, config, channel=channel, prompts=PROMPTS, **kw)
    (request,) = channel.requests
    return run, request


def test_describe_and_defaults() -> None:
    assert TransferQueue.exits == ("completed", "timeout", "unavailable", "error")
    assert TransferQueue.category == "transfer"
    assert TransferQueue.with_defaults({"queue": "support"}) == {
        "queue": "support",
        "priority": 0,
        "timeout_s": 300,
        "caller_data": {},
        "announce": [],
        "music_class": "",
    }


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"queue": ""},
        {"queue": "support&evil"},
        {"queue": "q" * 65},
        {"queue": "q", "priority": 11},
        {"queue": "q", "priority": -1},
        {"queue": "q", "timeout_s": 9},
        {"queue": "q", "timeout_s": 3601},
        {"queue": "q", "caller_data": {"lower": "x"}},
        {"queue": "q", "caller_data": {f"K{i}": "x" for i in range(21)}},
        {"queue": "q", "music_class": "a,b"},
        {"queue": "q", "priority_variable": "1x"},
    ],
)
def test_schema_rejects(config: dict[str, Any]) -> None:
    assert TransferQueue.config_errors(config)


def test_references() -> None:
    config = TransferQueue.with_defaults(
        {
            "queue": "support",
            "priority_variable": "vip_level",
            "caller_data": {"MEMBER": "{{member_id}}"},
            "announce": ["please_hold"],
        }
    )
    assert sorted(TransferQueue.references(config), key=lambda r: r.pointer) == [
        Reference("prompt", "/announce/0", "please_hold"),
        Reference("template", "/caller_data/MEMBER", "{{member_id}}"),
        Reference("variable-in", "/priority_variable", "vip_level"),
        Reference("queue", "/queue", "support"),
    ]


async def test_request_with_defaults() -> None:
    run, request = await transfer({"queue": "support"})
    assert run.exit == "completed"
    assert request == QueueRequest("support", 0, 300, {}, (), "")


async def test_request_with_everything() -> None:
    run, request = await transfer(
        {
            "queue": "loans",
            "priority": 3,
            "timeout_s": 120,
            "caller_data": {"CALLER": "{{caller}}", "CATEGORY": "loan-{{kind}}"},
            "announce": ["please_hold"],
            "music_class": "fund_moh",
        },
        vars={"kind": "repay"},
        caller="13900001111",
    )
    assert run.exit == "completed"
    assert request.queue == "loans"
    assert request.priority == 3
    assert request.timeout_s == 120
    assert dict(request.caller_data) == {"CALLER": "13900001111", "CATEGORY": "loan-repay"}
    assert list(request.announce) == [Prompt("please_hold", "正在为您转接", "zh-CN")]
    assert request.music_class == "fund_moh"
    queue_event = next(e for e in run.events if e["event"] == "queue")
    assert queue_event["caller_data"] == {"CALLER": "13900001111", "CATEGORY": "loan-repay"}


@pytest.mark.parametrize(
    ("status", "exit_name"),
    [
        (QueueStatus.COMPLETED, "completed"),
        (QueueStatus.TIMEOUT, "timeout"),
        (QueueStatus.UNAVAILABLE, "unavailable"),
        (QueueStatus.ERROR, "error"),
    ],
)
async def test_every_status_maps_to_its_exit(status: QueueStatus, exit_name: str) -> None:
    run, _ = await transfer({"queue": "support"}, status=status)
    assert run.exit == exit_name


async def test_simulator_queue_status_option() -> None:
    run = await run_node(TransferQueue, {"queue": "support"}, queue_status="unavailable")
    assert run.exit == "unavailable"
    assert run.heard[0].kind == "queue" and run.heard[0].text == "support"


async def test_unknown_status_is_an_error() -> None:
    run, _ = await transfer({"queue": "support"}, status="transferred")
    assert run.exit == "error"
    assert {"event": "queue_unknown_status", "status": "transferred"} in run.events


@pytest.mark.parametrize(
    ("value", "priority"),
    [(7, 7), ("9", 9), (15, 10), (-2, 0), (4.6, 5), ("abc", 2), (None, 2), (True, 2), ("", 2)],
)
async def test_priority_variable(value: Any, priority: int) -> None:
    run, request = await transfer(
        {"queue": "vip", "priority": 2, "priority_variable": "level"}, vars={"level": value}
    )
    assert request.priority == priority
    ignored = [e for e in run.events if e["event"] == "priority_variable_ignored"]
    assert bool(ignored) == (value in ("abc", True))


async def test_secret_caller_data_is_dropped() -> None:
    run, request = await transfer(
        {
            "queue": "support",
            "caller_data": {
                "PIN": "{{pin}}",
                "SHOWN": "pin is {{pin}}",
                "COPY": "{{copied}}",
                "MEMBER": "{{member}}",
            },
        },
        variables={"pin": {"secret": True}},
        vars={"pin": "654321", "copied": "x654321y", "member": "M001"},
    )
    assert run.exit == "completed"
    assert dict(request.caller_data) == {"MEMBER": "M001"}
    dropped = sorted(e["name"] for e in run.events if e["event"] == "caller_data_dropped")
    assert dropped == ["COPY", "PIN", "SHOWN"]
    assert "654321" not in repr(run.events)


async def test_short_secret_only_blocks_an_exact_match() -> None:
    _, request = await transfer(
        {"queue": "support", "caller_data": {"A": "{{flag}}", "B": "{{choice}}", "C": "12"}},
        variables={"code": {"secret": True}},
        vars={"code": "1", "flag": "1", "choice": "21"},
    )
    assert dict(request.caller_data) == {"B": "21", "C": "12"}


async def test_control_characters_never_reach_the_agent_desktop() -> None:
    _, request = await transfer(
        {"queue": "support", "caller_data": {"NOTE": "{{note}}"}},
        vars={"note": 'a"\r\nEXEC System rm\x00' + "x" * 600},
    )
    value = request.caller_data["NOTE"]
    assert "\r" not in value and "\n" not in value and "\x00" not in value
    assert value.startswith('a" EXEC System rm ')
    assert len(value) == 256


async def test_the_agent_and_queue_can_be_kept_in_variables() -> None:
    config = {"queue": "consult", "agent_variable": "agent", "queue_variable": "queue"}
    run, _ = await transfer(config)
    assert run.exit == "completed"
    assert (run.vars["agent"], run.vars["queue"]) == ("8001", "consult")
    unset, _ = await transfer({"queue": "consult"})
    assert "agent" not in unset.vars and "queue" not in unset.vars  # only when asked
    refs = TransferQueue.references(TransferQueue.with_defaults(config))
    assert Reference("variable-out", "/agent_variable", "agent") in refs


# -- sticky agent ----------------------------------------------------------------------------

NOW = datetime(2026, 10, 12, 9, 30, tzinfo=UTC)
STICKY = {"queue": "consult", "sticky_agent": {"enabled": True}}


class History:
    """An agent history that remembers what it was asked."""

    def __init__(self, found: AgentRef | None = None, error: Exception | None = None) -> None:
        self.found = found
        self.error = error
        self.asked: list[tuple[str, datetime]] = []

    async def last_agent(self, caller: str, *, since: datetime) -> AgentRef | None:
        self.asked.append((caller, since))
        if self.error is not None:
            raise self.error
        return self.found


AGENT = AgentRef("Agent 8001", "PJSIP/8001", datetime(2026, 10, 1, 8, 0, tzinfo=UTC))


def sticky_events(run: NodeRun) -> list[dict[str, Any]]:
    return [e for e in run.events if e["event"] == "sticky_agent"]


def test_sticky_agent_schema() -> None:
    assert isinstance(History(), AgentHistory)
    config = TransferQueue.with_defaults({"queue": "q", "sticky_agent": {"enabled": True}})
    assert config["sticky_agent"] == {"enabled": True, "within_days": 30, "ring_s": 15}
    assert TransferQueue.version == 1
    props = TransferQueue.config_schema["properties"]["sticky_agent"]["properties"]
    assert all(" / " in p["title"] for p in props.values())  # zh / en like the other fields
    assert (
        TransferQueue.config_errors(
            {"queue": "q", "sticky_agent": {"enabled": True, "within_days": 365, "ring_s": 60}}
        )
        == []
    )


@pytest.mark.parametrize(
    "sticky",
    [
        {"enabled": "yes"},
        {"within_days": 0},
        {"within_days": 366},
        {"ring_s": 4},
        {"ring_s": 61},
        {"interface": "PJSIP/1"},
    ],
)
def test_sticky_agent_schema_rejects(sticky: dict[str, Any]) -> None:
    assert TransferQueue.config_errors({"queue": "q", "sticky_agent": sticky})


async def test_sticky_agent_asks_the_history_and_prefers_that_agent() -> None:
    history = History(AGENT)
    config = {"queue": "consult", "sticky_agent": {"enabled": True, "within_days": 7, "ring_s": 20}}
    run, request = await transfer(
        config, caller="13900001111", at=NOW, resources={AGENT_HISTORY: history}
    )
    assert run.exit == "completed"
    assert history.asked == [("13900001111", NOW - timedelta(days=7))]
    assert (request.preferred_agent, request.preferred_agent_name, request.preferred_ring_s) == (
        "PJSIP/8001",
        "Agent 8001",
        20,
    )
    assert sticky_events(run) == [
        {
            "event": "sticky_agent",
            "agent": "Agent 8001",
            "interface": "PJSIP/8001",
            "last_call": "2026-10-01",
        }
    ]
    assert "13900001111" not in repr(sticky_events(run))


async def test_sticky_agent_disabled_never_asks() -> None:
    history = History(AGENT)
    run, request = await transfer(
        {"queue": "consult", "sticky_agent": {"enabled": False}},
        caller="13900001111",
        resources={AGENT_HISTORY: history},
    )
    _, plain = await transfer({"queue": "consult"}, resources={AGENT_HISTORY: history})
    assert history.asked == []
    assert request.preferred_agent == "" == plain.preferred_agent
    assert sticky_events(run) == []


@pytest.mark.parametrize(
    ("caller", "history", "skipped"),
    [
        ("13900001111", None, "no agent history"),
        ("13900001111", History(None), "no previous agent"),
        ("13900001111", History(AgentRef("x", "", NOW)), "no previous agent"),
        ("", History(AGENT), "caller number unusable"),
        ("anonymous", History(AGENT), "caller number unusable"),
        ("12", History(AGENT), "caller number unusable"),
        ("139 0000", History(AGENT), "caller number unusable"),
        ("13900001111", History(error=ConnectionError("db down")), "history failed"),
    ],
)
async def test_sticky_agent_skipped(caller: str, history: History | None, skipped: str) -> None:
    resources = {AGENT_HISTORY: history} if history is not None else {}
    run, request = await transfer(STICKY, caller=caller, resources=resources, at=NOW)
    assert run.exit == "completed"  # the caller is queued as usual
    assert request.preferred_agent == ""
    [event] = sticky_events(run)
    assert event["skipped"] == skipped
    if caller:
        assert caller not in repr(run.events)
    if history is not None and skipped == "caller number unusable":
        assert history.asked == []


async def test_a_slow_history_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    import nodes.core.transfer_queue as module

    class Slow:
        async def last_agent(self, caller: str, *, since: datetime) -> AgentRef | None:
            await asyncio.sleep(10)
            return AGENT

    monkeypatch.setattr(module, "HISTORY_TIMEOUT_S", 0.01)
    run, request = await transfer(STICKY, caller="13900001111", resources={AGENT_HISTORY: Slow()})
    assert request.preferred_agent == ""
    assert sticky_events(run) == [
        {"event": "sticky_agent", "skipped": "history failed", "error": "TimeoutError"}
    ]


@pytest.mark.parametrize("answers", [False, True])
async def test_simulator_preferred_agent_option(answers: bool) -> None:
    run = await run_node(
        TransferQueue,
        {**STICKY, "agent_variable": "agent"},
        resources={AGENT_HISTORY: History(AGENT)},
        caller="13900001111",
        preferred_agent_answers=answers,
    )
    assert run.exit == "completed"
    heard = run.heard[0]
    assert heard.kind == "queue" and heard.data["preferred_agent"] == "PJSIP/8001"
    assert heard.data["preferred_agent_answered"] is answers
    assert run.vars["agent"] == ("Agent 8001" if answers else "sim-agent")
    result = next(e for e in run.events if e["event"] == "queue_result")
    if answers:
        assert result == {
            "event": "queue_result",
            "status": "completed",
            "agent": "Agent 8001",
            "agent_interface": "PJSIP/8001",
            "sticky": True,
        }
    else:
        assert result == {"event": "queue_result", "status": "completed", "agent": "sim-agent"}


async def test_simulator_without_a_preferred_agent_is_unchanged() -> None:
    run = await run_node(TransferQueue, {"queue": "support"}, preferred_agent_answers=True)
    assert run.heard[0].data == {"priority": 0, "caller_data": {}}
    assert sticky_events(run) == []
