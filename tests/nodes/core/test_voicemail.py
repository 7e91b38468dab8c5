"""core.voicemail: mailbox template, greeting, completed / error."""

from __future__ import annotations

from typing import Any

import pytest

from nodes.api import Reference
from nodes.core.voicemail import Voicemail
from runtime.call import VoicemailResult, VoicemailStatus
from runtime.simulator import SimulatedChannel
from runtime.testing import run_node


class MailChannel(SimulatedChannel):
    def __init__(self, status: VoicemailStatus = VoicemailStatus.COMPLETED) -> None:
        super().__init__("")
        self.calls: list[tuple[str, str]] = []
        self.status = status

    async def voicemail(self, mailbox: str, *, greeting: str = "unavailable") -> VoicemailResult:
        self.calls.append((mailbox, greeting))
        return VoicemailResult(self.status)


def test_describe_and_defaults() -> None:
    assert Voicemail.exits == ("completed", "error")
    assert Voicemail.with_defaults({"mailbox": "m"}) == {"mailbox": "m", "greeting": "unavailable"}
    assert Voicemail.references({"mailbox": "{{box}}", "greeting": "busy"}) == [
        Reference("template", "/mailbox", "{{box}}")
    ]


@pytest.mark.parametrize(
    "config", [{}, {"mailbox": ""}, {"mailbox": "m", "greeting": "hello"}, {"mailbox": 5}]
)
def test_schema_rejects(config: dict[str, Any]) -> None:
    assert Voicemail.config_errors(config)


@pytest.mark.parametrize(
    ("mailbox", "ok"),
    [
        ("complaints@fund", True),
        ("{{area}}_box", True),
        ("box 1", False),
        ("box|evil", False),
        ("b" * 65, False),
    ],
)
def test_check_config_literal_mailbox(mailbox: str, ok: bool) -> None:
    found = Voicemail.check_config({"mailbox": mailbox, "greeting": "none"})
    assert [i.code for i in found] == ([] if ok else ["voicemail.invalid_mailbox"])


async def test_leaves_a_message() -> None:
    channel = MailChannel()
    run = await run_node(
        Voicemail,
        {"mailbox": "{{area}}.complaints@fund", "greeting": "busy"},
        vars={"area": "hz"},
        channel=channel,
    )
    assert run.exit == "completed"
    assert channel.calls == [("hz.complaints@fund", "busy")]


async def test_default_greeting_with_the_simulator() -> None:
    run = await run_node(Voicemail, {"mailbox": "1001"})
    assert run.exit == "completed"
    assert run.heard[0].kind == "voicemail" and run.heard[0].text == "1001"


async def test_voicemail_failure_takes_error() -> None:
    channel = MailChannel(VoicemailStatus.ERROR)
    run = await run_node(Voicemail, {"mailbox": "1001"}, channel=channel)
    assert run.exit == "error"
    assert channel.calls == [("1001", "unavailable")]


@pytest.mark.parametrize("value", ["", None, "1001,evil", "1001&Dial(SIP/x)", "a\nb", "邮箱"])
async def test_invalid_rendered_mailbox_is_refused(value: Any) -> None:
    channel = MailChannel()
    run = await run_node(Voicemail, {"mailbox": "{{box}}"}, vars={"box": value}, channel=channel)
    assert run.exit == "error"
    assert channel.calls == []
    assert run.events[0]["event"] == "voicemail_refused"
