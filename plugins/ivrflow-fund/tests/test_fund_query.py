"""The query nodes: variables a core.say reads out, and their exits."""

from __future__ import annotations

import pytest
from ivrflow_fund.http import HttpFundBackend
from ivrflow_fund.nodes import NODES
from ivrflow_fund.prompts import PROMPTS
from ivrflow_fund.query import FundAccountQuery, FundEmployerQuery, FundLoanQuery

from nodes.registry import load_registry
from runtime.simulator import simulate
from runtime.testing import run_node
from runtime.validate import validate


async def test_personal_account(demo):
    run = await run_node(FundAccountQuery, {}, vars={"fund_id": "P-0001"}, resources={"fund": demo})
    assert run.exit == "ok"
    assert run.vars_changed == {
        "balance": "12345.67",
        "monthly_deposit": "1860.50",
        "last_deposit_date": "2026-10-15",
        "account_status": "normal",
    }


async def test_loan_and_no_loan(demo):
    run = await run_node(FundLoanQuery, {}, vars={"fund_id": "P-0001"}, resources={"fund": demo})
    assert run.exit == "ok"
    assert run.vars["loan_balance"] == "356000.00" and run.vars["loan_remaining_months"] == 212
    assert run.vars["loan_monthly_repayment"] == "2680.05"
    assert (
        run.vars["loan_next_due_date"] == "2026-12-05" and run.vars["loan_progress"] == "repaying"
    )
    none = await run_node(FundLoanQuery, {}, vars={"fund_id": "P-0002"}, resources={"fund": demo})
    assert none.exit == "no_loan"


async def test_employer_account_and_renamed_variables(demo):
    run = await run_node(
        FundEmployerQuery,
        {"id_variable": "unit", "variables": {"headcount": "people"}},
        vars={"unit": "U-880012"},
        resources={"fund": demo},
    )
    assert run.exit == "ok"
    assert run.vars["people"] == 128 and run.vars["unit_paid_until"] == "2026-10-31"
    assert run.vars["unit_deposit_status"] == "normal"


@pytest.mark.parametrize("node", [FundAccountQuery, FundLoanQuery, FundEmployerQuery])
async def test_not_authenticated_or_unknown(demo, node):
    run = await run_node(node, {}, resources={"fund": demo})
    assert run.exit == "not_found"
    run = await run_node(node, {}, vars={"fund_id": "X-1"}, resources={"fund": demo})
    assert run.exit == ("no_loan" if node is FundLoanQuery else "not_found")
    run = await run_node(node, {}, vars={"fund_id": "P-0001"})
    assert run.exit == "unavailable"


@pytest.mark.parametrize("fault", ["5xx", "invalid", "bad_shape", "hang", "slow_body"])
async def test_faults_take_unavailable(fund_server, fault):
    url, system = fund_server
    system.fault = fault
    backend = HttpFundBackend(url, timeout_s=0.2)
    run = await run_node(
        FundAccountQuery, {}, vars={"fund_id": "P-0001"}, resources={"fund": backend}
    )
    assert run.exit == "unavailable"
    assert run.events[0]["why"] in ("http_5xx", "invalid_response", "timeout")


async def test_read_out_in_the_simulator(demo):
    doc = {
        "schema_version": 1,
        "id": "loan",
        "name": "贷款查询",
        "languages": ["zh-CN"],
        "variables": {
            "fund_id": {"type": "string", "default": "P-0001"},
            "loan_balance": {"type": "string", "default": "0"},
            "loan_next_due_date": {"type": "string", "default": ""},
        },
        "prompts": {
            **PROMPTS,
            "none": {"text": {"zh-CN": "您没有贷款。"}},
            "busy": {"text": {"zh-CN": "系统繁忙。"}},
        },
        "settings": {"fallback": "busy"},
        "nodes": {
            "start": {"type": "core.start", "version": 1, "exits": {"next": "loan"}},
            "loan": {
                "type": "fund.loan_query",
                "version": 1,
                "exits": {
                    "ok": "say_balance",
                    "no_loan": "none",
                    "not_found": "none",
                    "unavailable": "busy",
                },
            },
            "say_balance": {
                "type": "core.say",
                "version": 1,
                "config": {"kind": "money", "value": "{{loan_balance}}"},
                "exits": {"next": "say_due"},
            },
            "say_due": {
                "type": "core.say",
                "version": 1,
                "config": {"kind": "date", "value": "{{loan_next_due_date}}"},
                "exits": {"next": "bye"},
            },
            "none": {
                "type": "core.play",
                "version": 1,
                "config": {"prompts": ["none"]},
                "exits": {"next": "bye"},
            },
            "busy": {
                "type": "core.play",
                "version": 1,
                "config": {"prompts": ["busy"]},
                "exits": {"next": "bye"},
            },
            "bye": {"type": "core.hangup", "version": 1},
        },
    }
    registry = load_registry(include_entry_points=False, extra=list(NODES))
    result = validate(doc, registry=registry)
    assert result.ok, [p.message_en for p in result.problems]
    _, channel = await simulate(result.flow, "", resources={"fund": demo})
    said = " ".join(h.text for h in channel.heard if h.text)
    assert "三 十 五 万 六 千 元" in said and "十 二 月 五 日" in said
    _, channel = await simulate(
        result.flow, "", resources={"fund": demo}, variables={"fund_id": "P-0002"}
    )
    assert "您没有贷款" in " ".join(h.text for h in channel.heard)
