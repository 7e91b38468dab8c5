"""The sms.send node: the rendered text reaches the gateway, numbers are checked, missing and
secret variables are refused, a full or missing outbox takes ``error``, the call never waits
for the gateway — alone (runtime.testing) and in a flow in the simulator."""

from __future__ import annotations

import pytest
from ivrflow_sms.node import SmsSend, normalize_mobile

from nodes.registry import load_registry
from runtime.simulator import simulate
from runtime.testing import run_node
from runtime.validate import validate

TEXT = "您的公积金余额为{{balance}}元，上月缴存{{account.deposit}}元。"


class Recorder:
    """A fake outbox: what the node submits."""

    closed = False

    def __init__(self, accept: bool = True) -> None:
        self.accept = accept
        self.submitted: list = []

    def submit(self, message) -> bool:
        self.submitted.append(message)
        return self.accept


async def _run(outbox, *, caller="13800138000", vars=None, variables=None, **config):
    return await run_node(
        SmsSend,
        {"text": TEXT, "template": "balance", **config},
        vars={"balance": "12345.67", "account": {"deposit": 1860.5}, **(vars or {})},
        variables=variables,
        resources={"sms": outbox} if outbox is not None else {},
        caller=caller,
        call_id="call-7",
    )


async def test_the_rendered_text_reaches_the_gateway(make_outbox, gateway):
    outbox = make_outbox(None, gateway)
    run = await _run(outbox)
    assert run.exit == "queued"
    assert outbox.flush(5)
    [sent] = gateway.sent
    assert sent.to == "13800138000"
    assert sent.text == "您的公积金余额为12345.67元，上月缴存1860.5元。"
    assert sent.template == "balance" and sent.call_id == "call-7"
    assert dict(sent.params) == {"balance": "12345.67", "account.deposit": "1860.5"}
    [event] = run.events
    assert event == {
        "event": "sms_queued",
        "to": "*******8000",
        "template": "balance",
        "text": sent.text,
        "chars": len(sent.text),
        "ref": sent.client_ref,
    }
    [record] = outbox.messages()
    assert (record["status"], record["gateway_id"], record["attempts"]) == ("sent", "gw-1", 1)


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("13800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("008613900139000", "13900139000"),
        ("8619912345678", "19912345678"),
        ("(+86) 166 1234 5678", "16612345678"),
    ],
)
def test_numbers_are_normalised(raw, number):
    assert normalize_mobile(raw) == number


@pytest.mark.parametrize(
    "to",
    [
        "",  # anonymous caller: no number
        "anonymous",
        "1380013800a",  # a letter
        "1380013800",  # too short
        "138001380001",  # too long
        "02787654321",  # a Wuhan landline
        "87654321",  # a local landline
        "12345678901",  # 12… is not a mobile segment
        "+85291234567",  # Hong Kong
    ],
)
async def test_not_a_mobile_number(to):
    outbox = Recorder()
    run = await _run(outbox, caller=to)
    assert run.exit == "invalid_number"
    assert outbox.submitted == []
    [event] = run.events
    assert event["event"] == "sms_invalid_number"
    assert set(event["to"][:-4]) <= {"*"} and len(event["to"]) == len(to)  # masked


async def test_the_number_from_a_variable():
    outbox = Recorder()
    run = await _run(outbox, to="{{mobile}}", vars={"mobile": "+86 139 0013 9000"})
    assert run.exit == "queued"
    assert outbox.submitted[0].to == "13900139000"
    assert run.events[0]["to"] == "*******9000"


@pytest.mark.parametrize("value", [None, "", "  "])
async def test_a_variable_without_a_value_is_an_error(value):
    outbox = Recorder()
    run = await _run(outbox, vars={"balance": value})
    assert run.exit == "error"
    assert outbox.submitted == []
    [event] = run.events
    assert event["event"] == "sms_error" and event["reason"] == "missing_variable"
    assert event["variables"] == ["balance"]
    assert "balance" in event["reason_zh"] and "balance" in event["reason_en"]


async def test_a_missing_field_of_an_object_is_named():
    run = await _run(Recorder(), vars={"account": {}})
    assert run.exit == "error"
    assert run.events[0]["variables"] == ["account.deposit"]


async def test_secret_variables_are_never_sent():
    outbox = Recorder()
    run = await _run(
        outbox,
        text="您的查询密码为{{pin}}",
        vars={"pin": "735194"},
        variables={"pin": {"type": "string", "secret": True}},
    )
    assert run.exit == "error"
    assert outbox.submitted == []
    [event] = run.events
    assert event["reason"] == "secret_variable" and event["variables"] == ["pin"]
    assert "735194" not in repr(run.events)


async def test_a_variable_marked_secret_during_the_call_is_refused_too():
    outbox = Recorder()
    run = await run_node(
        SmsSend,
        {"text": "验证码{{code}}"},
        vars={"code": "4711"},
        resources={"sms": outbox},
        caller="13800138000",
    )
    assert run.exit == "queued"  # not secret: sent
    run.call.mark_secret("code")
    assert await SmsSend().run(run.call, SmsSend.with_defaults({"text": "验证码{{code}}"})) == (
        "error"
    )
    assert len(outbox.submitted) == 1


async def test_a_full_outbox_is_an_error(make_outbox, gateway, caplog):
    outbox = make_outbox(None, gateway, max_pending=0)
    run = await _run(outbox)
    assert run.exit == "error"
    assert run.events[0]["reason"] == "full"
    assert outbox.dropped == 1 and "outbox full" in caplog.text
    assert "13800138000" not in caplog.text  # the number is masked in the log


async def test_a_closed_or_missing_or_broken_outbox_is_an_error(make_outbox, gateway):
    closed = make_outbox(None, gateway)
    closed.close()
    assert (await _run(closed)).events[0]["reason"] == "closed"
    missing = await _run(None)
    assert missing.exit == "error" and missing.events[0]["reason"] == "unavailable"

    class Broken:
        def submit(self, message):
            raise RuntimeError("on fire")

    broken = await _run(Broken())
    assert broken.exit == "error" and broken.events[0]["reason"] == "unavailable"


async def test_the_call_never_waits_for_the_gateway(make_outbox, gateway):
    gateway.script = [("sleep", 10)]
    outbox = make_outbox(None, gateway)
    run = await _run(outbox)
    at_return = list(gateway.events)
    gateway.events.append("node returned")
    assert run.exit == "queued"
    assert "send finished" not in at_return  # the node did not wait for the answer
    assert gateway.started.wait(5)  # the send did start, in the background
    outbox.close(0.1)  # shutdown interrupts the send: nothing waits 10 s
    events = gateway.events
    assert events[-1] == "send cancelled" and "send finished" not in events
    assert events.index("node returned") < events.index("send cancelled")


def test_a_literal_number_is_checked_in_the_designer():
    assert [i.code for i in SmsSend.check_config(SmsSend.with_defaults({"text": "x"}))] == []
    bad = SmsSend.check_config(SmsSend.with_defaults({"text": "x", "to": "02787654321"}))
    assert [(i.pointer, i.code) for i in bad] == [("/to", "sms.invalid_number")]
    assert SmsSend.check_config(SmsSend.with_defaults({"text": "x", "to": "13800138000"})) == []


def test_the_schema():
    described = SmsSend.describe()
    assert described["category"] == "integration"
    assert described["exits"] == ["queued", "invalid_number", "error"]
    assert SmsSend.config_errors({"text": "x", "template": "Bad Name"})
    assert SmsSend.config_errors({"text": "x" * 501})
    assert SmsSend.config_errors({})  # text is required
    assert not SmsSend.config_errors({"text": "您好", "max_attempts": 3})
    refs = {(r.kind, r.pointer) for r in SmsSend.references(SmsSend.with_defaults({"text": "x"}))}
    assert {("template", "/to"), ("template", "/text")} <= refs


def _flow(text: str = "您的余额为{{balance}}元。") -> dict:
    def play(prompt: str) -> dict:
        return {
            "type": "core.play",
            "version": 1,
            "config": {"prompts": [prompt]},
            "exits": {"next": "bye"},
        }

    return {
        "schema_version": 1,
        "id": "sms-demo",
        "name": "短信",
        "languages": ["zh-CN"],
        "variables": {"balance": {"type": "string", "default": "100.5"}},
        "prompts": {p: {"text": {"zh-CN": p}} for p in ("sent", "landline", "busy")},
        "settings": {"fallback": "busy_node"},
        "nodes": {
            "start": {"type": "core.start", "version": 1, "exits": {"next": "sms"}},
            "sms": {
                "type": "sms.send",
                "version": 1,
                "config": {"text": text, "template": "balance"},
                "exits": {
                    "queued": "sent_node",
                    "invalid_number": "landline_node",
                    "error": "busy_node",
                },
            },
            "sent_node": play("sent"),
            "landline_node": play("landline"),
            "busy_node": play("busy"),
            "bye": {"type": "core.hangup", "version": 1},
        },
    }


@pytest.mark.parametrize(
    ("caller", "path"),
    [("13800138000", "sent_node"), ("02787654321", "landline_node")],
)
async def test_in_a_flow_in_the_simulator(caller, path):
    registry = load_registry(extra=[SmsSend], include_entry_points=False)
    result = validate(_flow(), registry=registry)
    assert result.ok, [p.message_en for p in result.problems]
    outbox = Recorder()
    trace, channel = await simulate(result.flow, "", caller=caller, resources={"sms": outbox})
    assert [s.node for s in trace.steps] == ["start", "sms", path, "bye"]
    if path == "sent_node":
        [sent] = outbox.submitted
        assert (sent.text, sent.flow, sent.call_id) == (
            "您的余额为100.5元。",
            "sms-demo",
            channel.call_id,
        )


def test_the_validator_sees_the_template_variables():
    registry = load_registry(extra=[SmsSend], include_entry_points=False)
    result = validate(_flow("尊敬的{{name}}"), registry=registry)
    assert any("name" in p.message_en for p in result.problems)


def test_installed_as_a_plugin():
    registry = load_registry()
    assert registry.get("sms.send") is SmsSend
    assert registry.providers["sms.send"].startswith("ivrflow-sms ")
