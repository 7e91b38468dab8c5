"""One example flow per built-in node (``examples/nodes``): validated, walked, run by the CLI.

Every example must validate with no problem at all, and the walks in ``node_cases.json`` —
at least one per exit of the node each example features — must produce exactly the expected
trace (``(node, exit)`` per step) and outcome, plus the key events: prompts heard, values said,
variables set, secrets never shown. The ``http`` walks talk to a real local aiohttp server
(ok, 503, too slow, no balance) or to the example's unreachable default address.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from nodes.registry import default_registry
from runtime.cli import main
from runtime.clock import parse_at
from runtime.document import load_flow_file
from runtime.flow import Flow
from runtime.library import DirectoryLibrary, MemoryLibrary
from runtime.simulator import SimulatedChannel, simulate
from runtime.trace import MASK, Trace
from runtime.validate import validate, validate_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "nodes"
FILES = sorted(EXAMPLES.glob("*.json"))
CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).with_name("node_cases.json")).read_text("utf-8")
)
REGISTRY = default_registry()
CORE_TYPES = sorted(cls.type for cls in REGISTRY if cls.type.startswith("core."))
CHILD = "subflow_child"  # called by the subflow example; not a node type of its own

DEFAULT_API = "http://127.0.0.1:8329/api"


def document(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text("utf-8"))


@cache
def example_flow(name: str) -> Flow:
    result = validate_text(
        load_flow_file(EXAMPLES / f"{name}.json"), library=DirectoryLibrary(EXAMPLES)
    )
    assert result.flow is not None, [p.render() for p in result.problems]
    return result.flow


# -- reading traces ----------------------------------------------------------------------------


def pairs(trace: Trace) -> list[tuple[str, str | None]]:
    return [(step.node, step.exit) for step in trace.steps]


def events(trace: Trace, kind: str) -> list[dict[str, Any]]:
    return [e for step in trace.steps for e in step.events if e["event"] == kind]


def played(trace: Trace) -> list[str]:
    return [prompt for e in events(trace, "play") for prompt in e["prompts"]]


def changed(trace: Trace) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for step in trace.steps:
        merged.update(step.vars_changed)
    return merged


def is_subsequence(wanted: list[Any], seen: list[Any]) -> bool:
    it = iter(seen)
    return all(any(item == other for other in it) for item in wanted)


# -- a fund system backend for the http example ------------------------------------------------


@dataclass
class Backend:
    base: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)

    def api(self, mode: str) -> str:
        return f"{self.base}/{mode}/api"


BALANCES = {"13800138000": 1234.56, "13912345678": 10.6}


@asynccontextmanager
async def fund_backend() -> AsyncIterator[Backend]:
    """``/{mode}/api/members/by-phone/{phone}``: mode ``ok`` answers the balance, ``down``
    answers 503, ``empty`` answers 200 without a balance, ``slow`` never answers in time."""
    backend = Backend()
    release = asyncio.Event()

    async def member(request: web.Request) -> web.Response:
        mode, phone = request.match_info["mode"], request.match_info["phone"]
        backend.requests.append(
            {
                "mode": mode,
                "path": request.path,
                "query": dict(request.query),
                "channel": request.headers.get("X-Channel"),
            }
        )
        if mode == "slow":
            await release.wait()
        if mode == "down":
            return web.json_response({"error": "maintenance"}, status=503)
        if mode == "empty":
            return web.json_response({"data": {}})
        return web.json_response({"data": {"balance": BALANCES[phone], "status": "normal"}})

    app = web.Application()
    app.router.add_get("/{mode}/api/members/by-phone/{phone}", member)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        backend.base = f"http://{host}:{port}"
        yield backend
    finally:
        release.set()
        await runner.cleanup()


async def walk(case: dict[str, Any], backend: Backend | None = None) -> tuple[Trace, Any]:
    flow = example_flow(case["example"])
    variables = dict(case.get("vars", {}))
    if case.get("backend"):
        assert backend is not None
        variables["fund_api"] = backend.api(case["backend"])
    library = MemoryLibrary() if case.get("library") == "empty" else DirectoryLibrary(EXAMPLES)
    options: dict[str, Any] = dict(case.get("channel", {}))
    if "caller" in case:
        options["caller"] = case["caller"]
    if "call_id" in case:
        options["call_id"] = case["call_id"]
    at = parse_at(case["at"], flow.settings.timezone) if "at" in case else None
    return await simulate(
        flow, case.get("keys", ""), at=at, library=library, variables=variables, **options
    )


# -- (a) every example validates cleanly and is written in the house style ---------------------


def test_every_builtin_node_type_has_an_example() -> None:
    stems = {path.stem for path in FILES}
    assert {f"core.{stem}" for stem in stems - {CHILD}} == set(CORE_TYPES)
    assert CHILD in stems
    for type_name in CORE_TYPES:
        name = type_name.removeprefix("core.")
        types = {node["type"] for node in document(name)["nodes"].values()}
        assert type_name in types, f"{name}.json has no {type_name} node"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_example_validates_with_no_problems(path: Path) -> None:
    result = validate_text(load_flow_file(path), library=DirectoryLibrary(EXAMPLES))
    assert [p.render(str(path), "en") for p in result.problems] == []
    assert result.ok and result.flow is not None
    assert result.flow.id == "example-" + path.stem.replace("_", "-")


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_example_document_style(path: Path) -> None:
    doc = json.loads(path.read_text("utf-8"))
    assert doc["$schema"] == "https://ivrflow.dev/schema/flow/1/flow.schema.json"
    assert doc["schema_version"] == 1
    assert doc["name"] and doc["description"]
    expected = ["zh-CN", "en-US"] if path.stem == "language_select" else ["zh-CN"]
    assert doc["languages"] == expected
    assert doc["settings"]["fallback"] in doc["nodes"]
    assert doc["settings"]["timezone"] == "Asia/Shanghai"
    for prompt_id, prompt in doc["prompts"].items():
        for language in expected:
            assert prompt["text"][language].strip(), (prompt_id, language)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in prompt["text"]["zh-CN"]), prompt_id
    positions = set()
    for node_id, node in doc["nodes"].items():
        assert node["label"], node_id
        ui = node["ui"]
        assert isinstance(ui["x"], int) and isinstance(ui["y"], int), node_id
        positions.add((ui["x"], ui["y"]))
    assert len(positions) == len(doc["nodes"]), "two nodes share a position on the canvas"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_exit_is_wired_explicitly(path: Path) -> None:
    """Not even an optional error exit is left to the fallback: each one is drawn."""
    doc = json.loads(path.read_text("utf-8"))
    for node_id, node in doc["nodes"].items():
        cls = REGISTRY.get(node["type"])
        assert cls is not None
        declared = set(cls.exits_for(cls.with_defaults(node["config"])))
        assert set(node["exits"]) == declared, node_id
        assert all(target in doc["nodes"] for target in node["exits"].values()), node_id


def test_cli_validates_all_examples(capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(p) for p in FILES]
    assert main(["validate", *paths]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{p}: 通过（0 个错误，0 个警告）" for p in paths]

    assert main(["validate", "--lang", "en", *paths]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{p}: valid (0 errors, 0 warnings)" for p in paths]

    assert main(["validate", "--json", *paths]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["exit_code"] == 0
    assert [(f["file"], f["errors"], f["warnings"], f["problems"]) for f in report["files"]] == [
        (p, 0, 0, []) for p in paths
    ]


# -- (b) table-driven walks ----------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[f"{c['example']}: {c['name']}" for c in CASES])
async def test_walk(case: dict[str, Any]) -> None:
    if case.get("backend"):
        async with fund_backend() as backend:
            trace, channel = await walk(case, backend)
        assert [r["mode"] for r in backend.requests] == [case["backend"]]
    else:
        trace, channel = await walk(case)

    assert pairs(trace) == [tuple(p) for p in case["trace"]]
    assert trace.outcome is not None
    assert trace.outcome.kind == case.get("outcome", "completed")
    assert trace.outcome.node == trace.steps[-1].node
    if trace.outcome.kind == "completed":
        assert channel.hung_up_by_flow  # never an open, silent line
    else:
        assert channel.caller_gone

    if "played" in case:
        assert played(trace) == case["played"]
    if "heard" in case:
        texts = [e["text"] for e in events(trace, "play")]
        assert is_subsequence(case["heard"], texts), texts
    if "says" in case:
        assert [e["text"] for e in events(trace, "say")] == case["says"]
    if "changed" in case:
        values = changed(trace)
        assert {k: values.get(k, "<unchanged>") for k in case["changed"]} == case["changed"]
    for name in case.get("unchanged", []):
        assert name not in changed(trace), name
    for node_id, subset in case.get("events", []):
        found = [e for step in trace.steps if step.node == node_id for e in step.events]
        assert any(subset.items() <= e.items() for e in found), (node_id, subset, found)
    for kind in case.get("no_events", []):
        assert events(trace, kind) == [], kind
    for node_id, text in case.get("step_errors", []):
        errors = [s.error or "" for s in trace.steps if s.node == node_id]
        assert any(text in e for e in errors), (node_id, errors)
    dumped = json.dumps(trace.to_json(), ensure_ascii=False)
    for secret in case.get("secrets", []):
        assert secret not in dumped
    if "unused" in case:
        assert channel.unused_keys == case["unused"]


@pytest.mark.parametrize("type_name", CORE_TYPES)
def test_every_exit_of_the_featured_node_is_walked(type_name: str) -> None:
    """The table walks every exit of every node of the type its example features (and reaches
    every featured terminal node that an exit leads to)."""
    name = type_name.removeprefix("core.")
    doc = document(name)
    walked = {tuple(p) for c in CASES if c["example"] == name for p in c["trace"]}
    visited = {node for node, _ in walked}
    targets = {t for node in doc["nodes"].values() for t in node["exits"].values()}
    cls = REGISTRY.get(type_name)
    assert cls is not None
    featured = [(i, n) for i, n in doc["nodes"].items() if n["type"] == type_name]
    assert featured
    for node_id, node in featured:
        if cls.terminal:
            if node_id in targets:
                assert node_id in visited, node_id
            continue
        for exit_name in cls.exits_for(cls.with_defaults(node["config"])):
            assert (node_id, exit_name) in walked, (node_id, exit_name)


# -- walks that need more than the table --------------------------------------------------------


async def test_http_sends_the_templated_request() -> None:
    case = next(c for c in CASES if c["example"] == "http" and c.get("caller") == "13912345678")
    async with fund_backend() as backend:
        trace, _ = await walk(case, backend)
    assert backend.requests == [
        {
            "mode": "ok",
            "path": "/ok/api/members/by-phone/13912345678",
            "query": {"fields": "balance"},
            "channel": "ivr-12329",
        }
    ]
    (http,) = events(trace, "http")
    assert http["url"] == f"{backend.api('ok')}/members/by-phone/13912345678?fields=balance"
    assert http["status"] == 200


async def test_http_default_backend_is_really_unreachable() -> None:
    flow = example_flow("http")
    assert flow.variables["fund_api"].default == DEFAULT_API
    trace, _ = await simulate(flow, "- -", library=DirectoryLibrary(EXAMPLES))
    (http,) = events(trace, "http")
    assert http["status"] is None
    assert "127.0.0.1:8329" in http["error"]  # a connection failure, not an HTTP answer
    assert "balance" not in changed(trace)


async def test_subflow_steps_are_nested_and_flagged_with_their_flow() -> None:
    trace, _ = await simulate(
        example_flow("subflow"), "110101199001011234", library=DirectoryLibrary(EXAMPLES)
    )
    assert [(s.flow, s.depth) for s in trace.steps] == [
        ("example-subflow", 0),
        ("example-subflow", 0),
        ("example-subflow-child", 1),
        ("example-subflow-child", 1),
        ("example-subflow-child", 1),
        ("example-subflow-child", 1),
        ("example-subflow", 0),
        ("example-subflow", 0),
    ]
    child_start = trace.steps[2]
    assert [e["event"] for e in child_start.events] == []  # answer: false — already answered


@pytest.mark.parametrize(
    ("keys", "outcome", "goodbye"),
    [
        ("1", "confirmed", "done_bye"),
        ("2", "retry", "retry_bye"),
        ("*", "back", "back_bye"),
        ("- -", "cancelled", "cancelled_bye"),
    ],
)
async def test_return_outcome_chooses_the_callers_exit(
    keys: str, outcome: str, goodbye: str
) -> None:
    """example-return used as a sub-flow: each core.return outcome is an exit of the caller."""
    outcomes = ["confirmed", "retry", "back", "cancelled", "unavailable"]
    byes = {"confirmed": "done_bye", "retry": "retry_bye", "back": "back_bye"}
    nodes: dict[str, Any] = {
        "start": {"type": "core.start", "version": 1, "exits": {"next": "confirm"}},
        "confirm": {
            "type": "core.subflow",
            "version": 1,
            "config": {"flow": "example-return", "outcomes": outcomes},
            "exits": {o: byes.get(o, "cancelled_bye") for o in outcomes}
            | {"error": "cancelled_bye"},
        },
    }
    for node_id in {*byes.values(), "cancelled_bye"}:
        nodes[node_id] = {"type": "core.hangup", "version": 1}
    parent = {"schema_version": 1, "id": "confirm-caller", "name": "调用确认子流程", "nodes": nodes}
    library = DirectoryLibrary(EXAMPLES)
    result = validate(parent, library=library)
    assert result.flow is not None, [p.render() for p in result.errors]
    trace, _ = await simulate(result.flow, keys, library=library)
    assert trace.steps[1].node == "confirm" and trace.steps[1].exit == outcome
    assert trace.steps[-1].node == goodbye
    assert events(trace, "subflow") == [
        {"event": "subflow", "flow": "example-return", "outcome": outcome}
    ]


async def test_return_at_top_level_ends_the_call_politely() -> None:
    trace, channel = await simulate(example_flow("return"), "1")
    assert trace.outcome is not None and trace.outcome.kind == "completed"
    assert events(trace, "hangup") == []  # no hangup node ran…
    assert channel.hung_up_by_flow  # …the runtime hung up anyway
    assert channel.heard[-1].kind == "hangup"


async def test_record_caller_hears_the_prompt_before_the_beep() -> None:
    channel = SimulatedChannel("", call_id="rec-2")
    await simulate(example_flow("record"), channel=channel)
    assert [(h.kind, h.prompts) for h in channel.heard] == [
        ("play", ["complaint_intro"]),
        ("record", []),
        ("play", ["thanks"]),
        ("hangup", []),
    ]


async def test_record_prompt_appears_in_the_trace() -> None:
    trace, _ = await simulate(example_flow("record"))
    record_step = trace.steps[1]
    assert record_step.node == "record_complaint"
    assert [e["prompts"] for e in record_step.events if e["event"] == "play"] == [
        ["complaint_intro"]
    ]


async def test_secret_collect_never_reaches_the_trace() -> None:
    trace, channel = await simulate(example_flow("collect"), "020190817001# 680315")
    dumped = json.dumps(trace.to_json(), ensure_ascii=False)
    assert "680315" not in dumped
    assert trace.steps[2].vars_changed == {"pin": MASK}
    assert "020190817001" in dumped  # the account number is not secret
    assert channel.unused_keys == []


# -- (c) the CLI ----------------------------------------------------------------------------------


def simulate_cli(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    assert main(["simulate", *args]) == 0
    captured = capsys.readouterr()
    assert captured.err == "", captured.err
    return captured.out.splitlines()


def squeeze(lines: list[str]) -> list[str]:
    return [" ".join(line.split()) for line in lines]


def test_cli_simulate_say(capsys: pytest.CaptureFixture[str]) -> None:
    lines = simulate_cli(capsys, str(EXAMPLES / "say.json"), "--keys", "")
    assert lines[0].startswith(
        "示例：播报数值（金额、日期、数字）（example-say）— 主叫 13800138000"
    )
    text = squeeze(lines)
    assert [line for line in text if line[:1].isdigit()] == [
        "1 start core.start → next",
        "2 balance_intro core.play → next",
        "3 say_balance core.say → next",
        "4 last_date_intro core.play → next",
        "5 say_last_date core.say → next",
        "6 months_intro core.play → next",
        "7 say_months core.say → next",
        "8 months_unit core.play → next",
        "9 goodbye core.hangup ■",
    ]
    assert "🔊 一千二百三十四元五角六分" in text
    assert "🔊 二零二六年九月十五日" in text
    assert "🔊 三十六" in text
    assert "▶ 您的住房公积金账户余额为" in text
    assert text[-1] == "结果: 通话正常结束（节点 goodbye）"


def test_cli_simulate_branch_at_a_frozen_time(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(EXAMPLES / "branch.json")
    lines = simulate_cli(capsys, path, "--at", "2026-10-01 10:00")
    assert "时间 2026-10-01T10:00:00+08:00" in lines[0]
    assert "2 route core.branch → holiday" in squeeze(lines)

    lines = simulate_cli(capsys, path, "--at", "2026-10-12 10:00", "--var", "vip_level=abc")
    text = squeeze(lines)
    assert "2 route core.branch → error" in text
    assert "3 system_busy core.hangup ■" in text


def test_cli_simulate_menu_retries(capsys: pytest.CaptureFixture[str]) -> None:
    lines = simulate_cli(capsys, str(EXAMPLES / "menu.json"), "--keys", "9 - 2")
    text = squeeze(lines)
    menu = "▶ 个人账户查询请按1，个人贷款查询请按2，服务网点地址请按3，重听请按星号键。"
    assert text[1:] == [
        "1 start core.start → next",
        "2 main_menu core.menu → 2",
        menu,
        "⌨ 9 [max]",
        "▶ 您的按键有误。",
        menu,
        "⌨ （未按键） [timeout]",
        "▶ 您没有按键。",
        menu,
        "⌨ 2 [max]",
        "3 loan_info core.play → next",
        "▶ 住房公积金贷款进度可以凭借款合同编号在管理中心网站查询。",
        "4 goodbye core.hangup ■",
        "▶ 感谢您的来电，再见。",
        "✆ 挂机",
        "结果: 通话正常结束（节点 goodbye）",
    ]


def test_cli_simulate_subflow_indents_the_child(capsys: pytest.CaptureFixture[str]) -> None:
    lines = simulate_cli(capsys, str(EXAMPLES / "subflow.json"), "--keys", "110101199001011234")
    heads = [line for line in lines if line[:4].strip().isdigit()]
    assert squeeze(heads) == [
        "1 start core.start → next",
        "2 collect_identity core.subflow → ok",
        "3 start core.start → next",
        "4 by_scope core.branch → default",
        "5 ask_idcard core.collect → ok",
        "6 ret_ok core.return ■",
        "7 verified core.play → next",
        "8 goodbye core.hangup ■",
    ]
    # "NNNN  " then the node id, indented by two spaces per sub-flow level
    depth = [(len(h[6:]) - len(h[6:].lstrip(" "))) // 2 for h in heads]
    assert depth == [0, 0, 1, 1, 1, 1, 0, 0]
    # the trace masks the ID number (line 0 is the header, which echoes --keys as typed)
    assert not any("110101199001011234" in line for line in lines[1:])
    assert "$ login_id = ******" in squeeze(lines)


def test_cli_simulate_transfer_number_busy(capsys: pytest.CaptureFixture[str]) -> None:
    lines = simulate_cli(capsys, str(EXAMPLES / "transfer_number.json"), "--dial", "busy")
    text = squeeze(lines)
    assert "3 to_branch core.transfer_number → busy" in text
    assert "☎ dial 075512329001" in text
    assert "▶ 网点电话正忙，请稍后再拨。再见。" in text
    assert text[-1] == "结果: 通话正常结束（节点 line_busy）"


def test_cli_simulate_language_select_in_english(capsys: pytest.CaptureFixture[str]) -> None:
    lines = simulate_cli(
        capsys, str(EXAMPLES / "language_select.json"), "--keys", "2", "--lang", "en"
    )
    text = squeeze(lines)
    assert "2 choose_language core.language_select → next" in text
    assert "$ language = en-US" in text
    assert "▶ Welcome to the 12329 housing provident fund hotline. Our hotline number is" in text
    assert "🔊 one two three two nine" in text
    assert text[-1] == "Outcome: call completed (node goodbye)"


def test_cli_simulate_http_unreachable_backend(capsys: pytest.CaptureFixture[str]) -> None:
    lines = simulate_cli(capsys, str(EXAMPLES / "http.json"), "--keys", "0")
    text = squeeze(lines)
    assert "2 lookup core.http → error" in text
    assert any(
        line.startswith(
            "⇄ GET http://127.0.0.1:8329/api/members/by-phone/13800138000?fields=balance"
        )
        for line in text
    )
    assert "3 system_busy core.menu → 0" in text
    assert "4 agent_queue core.transfer_queue → completed" in text
    assert not any(line.startswith("🔊") for line in text)  # no balance is made up


def test_cli_simulate_json(capsys: pytest.CaptureFixture[str]) -> None:
    lines = simulate_cli(capsys, str(EXAMPLES / "counter.json"), "--keys", "1# 1# 1# 9", "--json")
    data = json.loads("\n".join(lines))
    assert [(s["node"], s["exit"]) for s in data["steps"]][-2:] == [
        ("tries", "exceeded"),
        ("too_many", None),
    ]
    assert data["outcome"] == {"kind": "completed", "node": "too_many", "detail": ""}
    assert data["unused_keys"] == ["9"]
