"""core.transfer_number: dial results as exits; no dial-string injection through variables."""

from __future__ import annotations

from typing import Any

import pytest

from nodes.api import Reference
from nodes.core.transfer_number import TransferNumber
from runtime.call import DialResult, DialStatus
from runtime.simulator import SimulatedChannel
from runtime.testing import run_node


class DialChannel(SimulatedChannel):
    def __init__(self, status: Any = DialStatus.COMPLETED) -> None:
        super().__init__("")
        self.dials: list[tuple[str, int, str]] = []
        self.status = status

    async def dial(self, number: str, *, timeout_s: int, caller_id: str = "") -> DialResult:
        self.dials.append((number, timeout_s, caller_id))
        return DialResult(self.status)


def issues(config: dict[str, Any]) -> list[tuple[str, str]]:
    assert TransferNumber.config_errors(config) == []
    full = TransferNumber.with_defaults(config)
    return [(i.pointer, i.code) for i in TransferNumber.check_config(full)]


def test_describe_and_defaults() -> None:
    assert TransferNumber.exits == (
        "completed",
        "busy",
        "no_answer",
        "unavailable",
        "congestion",
        "error",
    )
    assert TransferNumber.with_defaults({"number": "123"}) == {"number": "123", "timeout_s": 30}


@pytest.mark.parametrize(
    "config",
    [{}, {"number": ""}, {"number": "1", "timeout_s": 4}, {"number": "1", "timeout_s": 121}],
)
def test_schema_rejects(config: dict[str, Any]) -> None:
    assert TransferNumber.config_errors(config)


def test_check_config_literal_numbers() -> None:
    assert issues({"number": "057188001234"}) == []
    assert issues({"number": "+8657188001234", "caller_id": "12329"}) == []
    assert issues({"number": "{{branch_phone}}", "caller_id": "{{cid}}"}) == []
    assert issues({"number": "123&SIP/evil"}) == [("/number", "transfer_number.invalid_number")]
    assert issues({"number": "0571-8800"}) == [("/number", "transfer_number.invalid_number")]
    assert issues({"number": "123", "caller_id": "Fund <12329>"}) == [
        ("/caller_id", "transfer_number.invalid_caller_id")
    ]


def test_references() -> None:
    config = {"number": "{{phone}}", "timeout_s": 30, "caller_id": "{{cid}}"}
    assert TransferNumber.references(config) == [
        Reference("template", "/number", "{{phone}}"),
        Reference("template", "/caller_id", "{{cid}}"),
    ]


async def test_dials_the_rendered_number() -> None:
    channel = DialChannel()
    run = await run_node(
        TransferNumber,
        {"number": "{{phone}}", "timeout_s": 45, "caller_id": "{{cid}}"},
        vars={"phone": "057188001234", "cid": 12329},
        channel=channel,
    )
    assert run.exit == "completed"
    assert channel.dials == [("057188001234", 45, "12329")]
    assert {"event": "dial", "number": "057188001234"} in run.events


async def test_default_caller_id_is_empty() -> None:
    channel = DialChannel()
    await run_node(TransferNumber, {"number": "*99#"}, channel=channel)
    assert channel.dials == [("*99#", 30, "")]


@pytest.mark.parametrize(
    "status", ["completed", "busy", "no_answer", "unavailable", "congestion", "error"]
)
async def test_every_dial_status_maps_to_its_exit(status: str) -> None:
    run = await run_node(TransferNumber, {"number": "10086"}, dial_status=status)
    assert run.exit == status


async def test_unknown_status_is_an_error() -> None:
    run = await run_node(TransferNumber, {"number": "10086"}, channel=DialChannel("gone"))
    assert run.exit == "error"


@pytest.mark.parametrize(
    "number",
    ["123&SIP/evil", "123,20,tT", "", "12 34", "123\nEXEC System", "1" * 33, "１２３", "abc"],
)
async def test_injected_numbers_are_refused_without_dialling(number: str) -> None:
    channel = DialChannel()
    run = await run_node(
        TransferNumber, {"number": "{{phone}}"}, vars={"phone": number}, channel=channel
    )
    assert run.exit == "error"
    assert channel.dials == []
    assert run.events[0]["event"] == "dial_refused"
    assert run.events[0]["reason"] == "invalid number"


async def test_injected_caller_id_is_refused() -> None:
    channel = DialChannel()
    run = await run_node(
        TransferNumber,
        {"number": "10086", "caller_id": "{{cid}}"},
        vars={"cid": '"x" <1>&SIP/evil'},
        channel=channel,
    )
    assert run.exit == "error"
    assert channel.dials == []
    assert run.events[0]["reason"] == "invalid caller id"


async def test_surrounding_whitespace_is_ignored() -> None:
    channel = DialChannel()
    run = await run_node(
        TransferNumber, {"number": " {{phone}} "}, vars={"phone": "10086"}, channel=channel
    )
    assert run.exit == "completed"
    assert channel.dials[0][0] == "10086"
