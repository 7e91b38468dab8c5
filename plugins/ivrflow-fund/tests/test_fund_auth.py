"""fund.auth: every exit and every bad entry, in a unit test (runtime.testing) and in the
simulator, against the demo fund system and a failing HTTP one."""

from __future__ import annotations

import time

import pytest
from ivrflow_fund.auth import FundAuth
from ivrflow_fund.http import HttpFundBackend
from ivrflow_fund.nodes import NODES
from ivrflow_fund.prompts import PROMPTS

from nodes.registry import load_registry
from runtime.simulator import simulate
from runtime.testing import run_node
from runtime.validate import validate

PIN = "123456"


def _prompts_heard(run) -> list[str]:
    return [p for h in run.heard for p in h.prompts]


async def _auth(backend, keys, config=None, **kw):
    return await run_node(
        FundAuth, config or {}, keys=keys, resources={"fund": backend}, prompts=PROMPTS, **kw
    )


@pytest.mark.parametrize(
    ("keys", "id_type", "subject"),
    [
        ("1 20261234# 123456", "account", "P-0001"),
        ("2 110101199001011237 123456", "id_card", "P-0001"),
        ("2 32010219780315456* 123456", "id_card", "P-0002"),
        ("3 6217000010001234567 123456", "card", "P-0001"),
    ],
)
async def test_personal_sign_in_by_each_kind_of_number(demo, keys, id_type, subject):
    run = await _auth(demo, keys)
    assert run.exit == "ok"
    assert run.vars["fund_id"] == subject and run.vars["fund_id_type"] == id_type
    assert run.vars["auth_reason"] == "ok" and run.vars["auth_tries"] == 1
    menu, number, pin = run.channel.specs
    assert (menu.max_digits, menu.secret) == (1, False)
    assert number.secret and pin.secret and pin.max_digits == 6
    assert "PIN" not in str(run.vars) and PIN not in str(run.vars)


async def test_employer_sign_in(demo):
    run = await _auth(demo, "880012# 654321", {"scope": "employer"})
    assert run.exit == "ok" and run.vars["fund_id"] == "U-880012"
    assert _prompts_heard(run) == ["fund_auth_enter_unit", "fund_auth_enter_pin"]
    wrong = await _auth(demo, "880012# 123456 - - ", {"scope": "employer", "max_tries": 2})
    assert wrong.exit == "failed" and wrong.vars["auth_reason"] == "no_input"


async def test_one_id_type_skips_the_choice(demo):
    run = await _auth(demo, "20261234# 123456", {"id_types": ["account"]})
    assert run.exit == "ok"
    assert _prompts_heard(run) == ["fund_auth_enter_account", "fund_auth_enter_pin"]


@pytest.mark.parametrize(
    ("first_try", "reason", "retry_prompt"),
    [
        ("-", "no_input", "fund_auth_no_input"),
        ("9", "bad_choice", "fund_auth_invalid_choice"),
        ("1 -", "no_input", "fund_auth_no_input"),
        ("1 123#", "bad_id", "fund_auth_id_invalid"),  # too short
        ("1 2026*1234#", "bad_id", "fund_auth_id_invalid"),  # not digits
        ("1 #", "no_input", "fund_auth_no_input"),  # empty entry
        ("2 1101011990#", "bad_id", "fund_auth_id_invalid"),  # ID: wrong length
        ("2 110101199001011238", "bad_id_card", "fund_auth_id_card_invalid"),  # check digit
        ("3 62170000#", "bad_id", "fund_auth_id_invalid"),  # card: too short
        ("1 20261234# 123#", "bad_pin", "fund_auth_pin_format"),
        ("1 20261234# #", "no_input", "fund_auth_no_input"),
        ("1 20261234# -", "no_input", "fund_auth_no_input"),
        ("1 20261234# 12*456", "bad_pin", "fund_auth_pin_format"),
        ("1 20261234# 000000", "wrong_pin", "fund_auth_pin_wrong"),
        ("1 11112222# 123456", "wrong_pin", "fund_auth_pin_wrong"),  # unknown: same answer
    ],
)
async def test_a_bad_entry_says_what_was_wrong_and_asks_again(
    demo, first_try, reason, retry_prompt
):
    run = await _auth(demo, f"{first_try} 1 20261234# 123456")
    assert run.exit == "ok" and run.vars["auth_tries"] == 2
    [event] = [e for e in run.events if e["event"] == "fund_auth" and e["attempt"] == 1]
    assert event["result"] == reason
    heard = _prompts_heard(run)
    assert retry_prompt in heard
    assert heard.index(retry_prompt) < len(heard) - 3  # then the caller is asked again


async def test_three_wrong_pins_fail(demo):
    run = await _auth(demo, "1 20261234# 000000 1 20261234# 111111 1 20261234# 222222")
    assert run.exit == "failed"
    assert run.vars["auth_reason"] == "wrong_pin" and run.vars["auth_tries"] == 3
    assert _prompts_heard(run).count("fund_auth_pin_wrong") == 2  # not after the last try
    results = [e.get("remaining") for e in run.events if e["event"] == "fund_auth"][:3]
    assert results == [9, 8, 7]


async def test_tries_are_counted_per_call(demo):
    run = await _auth(demo, "1 20261234# 000000", vars={"auth_tries": 2})
    assert run.exit == "failed" and run.vars["auth_tries"] == 3
    run = await _auth(demo, "1 20261234# 123456", vars={"auth_tries": 3})
    assert run.exit == "failed" and run.vars["auth_reason"] == "too_many_tries"
    assert run.heard == []
    run = await _auth(demo, "1 20261234# 000000", {"max_tries": 1})
    assert run.exit == "failed" and _prompts_heard(run).count("fund_auth_pin_wrong") == 0


async def test_a_locked_account_takes_locked_at_once(demo):
    run = await _auth(demo, "1 20269999# 123456")
    assert run.exit == "locked" and run.vars["auth_reason"] == "locked"
    assert "fund_id" not in run.vars


async def test_ten_wrong_pins_over_several_calls_lock_the_account(demo, clock):
    wrong3 = "1 20261234# 000000 1 20261234# 000000 1 20261234# 000000"
    for _ in range(3):
        assert (await _auth(demo, wrong3)).exit == "failed"  # 9 failures
    run = await _auth(demo, "1 20261234# 000000")  # the 10th, in a 4th call
    assert run.exit == "locked"
    [event] = [e for e in run.events if e["event"] == "fund_auth"]
    assert event["locked_until"].startswith("2026-11-02T09:30")
    # a fifth call with the right PIN: still locked
    assert (await _auth(demo, "2 110101199001011237 123456")).exit == "locked"


async def test_backend_down_takes_unavailable_without_retrying(fund_server):
    url, system = fund_server
    for fault in ("5xx", "invalid", "hang", "slow_body"):
        system.fault = fault
        backend = HttpFundBackend(url, timeout_s=0.2)
        run = await _auth(backend, "1 20261234# 123456 1 20261234# 123456")
        assert run.exit == "unavailable", fault
        assert run.vars["auth_reason"] == "unavailable" and run.vars["auth_tries"] == 1
        [event] = [e for e in run.events if e["event"] == "fund_auth"]
        assert event["why"] in ("http_5xx", "invalid_response", "timeout")


async def test_with_the_breaker_open_unavailable_is_immediate(black_hole):
    backend = HttpFundBackend(black_hole, timeout_s=0.2)
    backend.breaker.threshold = 1
    assert (await _auth(backend, "1 20261234# 123456")).exit == "unavailable"
    started = time.monotonic()
    run = await _auth(backend, "1 20261234# 123456")
    assert run.exit == "unavailable" and time.monotonic() - started < 0.05
    assert [e["why"] for e in run.events if e["event"] == "fund_auth"] == ["breaker_open"]


async def test_without_a_fund_system_unavailable():
    run = await run_node(FundAuth, {}, keys="1 20261234# 123456", prompts=PROMPTS)
    assert run.exit == "unavailable" and run.heard == []


async def test_the_http_system_over_the_node(fund_server):
    url, system = fund_server
    run = await _auth(HttpFundBackend(url), "2 110101199001011237 123456")
    assert run.exit == "ok" and run.vars["fund_id"] == "P-0001"
    assert system.requests[0][2]["id"] == "110101199001011237"


def _registry():
    return load_registry(include_entry_points=False, extra=list(NODES))


def test_the_flow_validates_with_the_default_prompts(auth_flow):
    result = validate(auth_flow(), registry=_registry())
    assert result.ok, [p.message_en for p in result.problems]
    doc = auth_flow()
    del doc["prompts"]["fund_auth_enter_pin"]
    result = validate(doc, registry=_registry())
    assert [p.code for p in result.problems if p.severity.value == "error"] == ["prompt.missing"]
    bad = validate(
        auth_flow({"account_min_digits": 12, "account_max_digits": 8, "max_tries": 5}),
        registry=_registry(),
    )
    assert not bad.ok


@pytest.mark.parametrize(
    ("keys", "path_end", "heard"),
    [
        ("1 20261234# 123456", ["auth", "query", "ok_node", "say_balance", "bye"], "一 万 二 千"),
        (
            "1 20261234# 000000 1 20261234# 000001 - ",
            ["auth", "failed_node", "bye"],
            "验证未通过",
        ),
        ("1 20269999# 123456", ["auth", "locked_node", "bye"], "已锁定"),
    ],
)
async def test_the_exits_in_the_simulator(auth_flow, demo, keys, path_end, heard):
    result = validate(auth_flow(), registry=_registry())
    trace, channel = await simulate(result.flow, keys, resources={"fund": demo})
    assert [s.node for s in trace.steps][1:] == path_end
    assert heard in " ".join(h.text for h in channel.heard if h.text)
    assert trace.outcome.kind == "completed"


async def test_unavailable_in_the_simulator(auth_flow, fund_server):
    url, system = fund_server
    system.fault = "5xx"
    result = validate(auth_flow(), registry=_registry())
    trace, channel = await simulate(
        result.flow, "1 20261234# 123456", resources={"fund": HttpFundBackend(url)}
    )
    assert [s.node for s in trace.steps][1:] == ["auth", "busy_node", "bye"]
    assert "系统繁忙" in channel.heard[-2].text
