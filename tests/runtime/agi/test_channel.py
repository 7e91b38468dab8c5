"""AgiChannel: each Channel method's AGI commands and how replies map to results, against a
scripted Asterisk on a real socket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

import pytest

from runtime.agi.channel import AgiChannel, default_sound
from runtime.agi.protocol import AgiConnection, AgiHangup
from runtime.call import (
    CallerHangup,
    Channel,
    CollectResult,
    CollectSpec,
    DialStatus,
    Prompt,
    QueueRequest,
    QueueStatus,
    RecordStatus,
    VoicemailStatus,
)

ENV = {
    "agi_network_script": "main",
    "agi_uniqueid": "1700000000.1",
    "agi_callerid": "13800138000",
    "agi_dnid": "12329",
    "agi_extension": "s",
    "agi_channel": "PJSIP/trunk-00000001",
}
ALL_KEYS = '"0123456789*#"'
WELCOME = Prompt("welcome", "欢迎", "zh-CN")
MENU = Prompt("menu", "请按键", "zh-CN")


def stream(prompt: Prompt, escape: str = ALL_KEYS) -> str:
    return f'STREAM FILE "ivrflow/{prompt.language}/{prompt.id}" {escape}'


class Asterisk:
    """The Asterisk end: answers each command from a script of (expected, replies)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.commands: list[str] = []

    async def recv(self, wait_s: float = 2.0) -> str:
        line = await asyncio.wait_for(self.reader.readline(), wait_s)
        assert line.endswith(b"\n"), f"no command (EOF?): {line!r}"
        text = line.decode()[:-1]
        self.commands.append(text)
        return text

    async def send(self, *lines: str) -> None:
        for line in lines:
            self.writer.write(line.encode() + b"\n")
        await self.writer.drain()

    async def serve(self, script: list[tuple[str | re.Pattern[str], list[str | float]]]) -> None:
        for expected, replies in script:
            got = await self.recv()
            if isinstance(expected, re.Pattern):
                assert expected.fullmatch(got), f"expected /{expected.pattern}/, got {got!r}"
            else:
                assert got == expected, f"expected {expected!r}, got {got!r}"
            for reply in replies:
                if isinstance(reply, float):
                    await asyncio.sleep(reply)
                else:
                    await self.send(reply)

    async def nothing_more(self, within: float = 0.05) -> None:
        try:
            line = await asyncio.wait_for(self.reader.readline(), within)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected command {line!r}")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


@pytest.fixture
async def agi():
    """(channel, asterisk): an AgiChannel on a real socket and its scripted Asterisk."""
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future = loop.create_future()
    server = await asyncio.start_server(
        lambda r, w: accepted.set_result((r, w)), "127.0.0.1", 0, limit=2048
    )
    port = server.sockets[0].getsockname()[1]
    peer_reader, peer_writer = await asyncio.open_connection("127.0.0.1", port)
    reader, writer = await accepted
    server.close()
    await server.wait_closed()
    conn = AgiConnection(reader, writer, command_timeout_s=2.0)
    asterisk = Asterisk(peer_reader, peer_writer)
    try:
        yield AgiChannel(conn, ENV), asterisk
    finally:
        await conn.close()
        await asterisk.close()


async def talk(asterisk: Asterisk, script, operation):
    """Run a channel operation while Asterisk follows the script; both must finish."""
    peer = asyncio.create_task(asterisk.serve(script))
    try:
        return await operation
    finally:
        done, _ = await asyncio.wait({peer}, timeout=2.0)
        if not done:
            peer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await peer
            raise AssertionError(f"script not finished; commands seen: {asterisk.commands}")
        peer.result()
        await asterisk.nothing_more()


# -- identity --------------------------------------------------------------------------------


async def test_identity_and_protocol(agi):
    channel, _ = agi
    assert isinstance(channel, Channel)
    assert (channel.call_id, channel.caller, channel.called) == (
        "1700000000.1",
        "13800138000",
        "12329",
    )


@pytest.mark.parametrize(
    ("env", "caller", "called"),
    [
        ({"agi_callerid": "unknown", "agi_dnid": "unknown", "agi_extension": "12329"}, "", "12329"),
        ({"agi_callerid": "", "agi_extension": "8001"}, "", "8001"),
        ({"agi_callerid": " 010-1234 ", "agi_dnid": "12329"}, "010-1234", "12329"),
    ],
)
async def test_identity_variants(agi, env, caller, called):
    channel, _ = agi
    other = AgiChannel(channel.conn, env)
    assert (other.call_id, other.caller, other.called) == ("", caller, called)


def test_constructor_refuses_unsafe_configuration():
    class Conn:  # never used
        pass

    with pytest.raises(ValueError):
        AgiChannel(Conn(), ENV, dial_template="PJSIP/{number},,tT")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        AgiChannel(Conn(), ENV, dial_template="PJSIP/trunk")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        AgiChannel(Conn(), ENV, voicemail_context="a b")  # type: ignore[arg-type]
    assert default_sound(Prompt("x", language="en")) == "ivrflow/en/x"
    assert default_sound(Prompt("x")) == "ivrflow/x"


# -- answer, play ----------------------------------------------------------------------------


async def test_answer(agi):
    channel, asterisk = agi
    await talk(asterisk, [("ANSWER", ["200 result=0"])], channel.answer())
    assert channel.log[-1][:2] == ("ANSWER", 200)


async def test_play_whole_prompts(agi):
    channel, asterisk = agi
    script = [
        (stream(WELCOME), ["200 result=0 endpos=24071"]),
        (stream(MENU), ["200 result=0 endpos=8000"]),
    ]
    assert await talk(asterisk, script, channel.play([WELCOME, MENU])) is None


async def test_play_barge_in_stops_at_the_key(agi):
    channel, asterisk = agi
    script = [(stream(WELCOME), ["200 result=50 endpos=1000"])]  # '2'
    assert await talk(asterisk, script, channel.play([WELCOME, MENU])) == "2"


async def test_play_without_barge_in(agi):
    channel, asterisk = agi
    script = [
        (stream(WELCOME, '""'), ["200 result=0 endpos=1"]),
        (stream(MENU, '""'), ["200 result=0 endpos=1"]),
    ]
    assert await talk(asterisk, script, channel.play([WELCOME, MENU], barge_in=False)) is None


async def test_missing_prompt_is_recorded_and_playback_goes_on(agi, caplog):
    channel, asterisk = agi
    script = [
        (stream(WELCOME), ["200 result=-1 endpos=0"]),
        ("CHANNEL STATUS", ["200 result=6"]),
        (stream(MENU), ["200 result=0 endpos=8000"]),
    ]
    with caplog.at_level(logging.WARNING):
        assert await talk(asterisk, script, channel.play([WELCOME, MENU])) is None
    assert channel.missing_prompts == ["ivrflow/zh-CN/welcome"]
    assert "missing" in caplog.text
    assert not channel.conn.hung_up.is_set()


async def test_missing_prompt_with_a_fake_asterisk_without_channel_status(agi):
    channel, asterisk = agi
    script = [
        (stream(WELCOME), ["200 result=-1 endpos=0"]),
        ("CHANNEL STATUS", ["510 Invalid or unknown command"]),
    ]
    assert await talk(asterisk, script, channel.play([WELCOME])) is None
    assert channel.missing_prompts == ["ivrflow/zh-CN/welcome"]


async def test_hangup_during_stream_file(agi):
    channel, asterisk = agi
    script = [(stream(WELCOME), ["200 result=-1 endpos=4000", "HANGUP"])]
    with pytest.raises(CallerHangup):
        await talk(asterisk, script, channel.play([WELCOME, MENU]))
    await asyncio.wait_for(channel.wait_hangup(), 1)
    assert channel.missing_prompts == []


async def test_hangup_during_stream_file_notice_late(agi):
    channel, asterisk = agi
    script = [
        (stream(WELCOME), ["200 result=-1 endpos=0"]),
        ("CHANNEL STATUS", ["HANGUP", "511 Command Not Permitted on a dead channel"]),
    ]
    with pytest.raises(AgiHangup):
        await talk(asterisk, script, channel.play([WELCOME, MENU]))
    await asyncio.wait_for(channel.wait_hangup(), 1)
    assert channel.missing_prompts == []
    with pytest.raises(CallerHangup):  # every later operation too, without a command
        await channel.play([MENU])


# -- collect ---------------------------------------------------------------------------------


async def test_collect_first_key_from_playback(agi):
    channel, asterisk = agi
    script = [
        (stream(MENU), ["200 result=49 endpos=100"]),  # '1' during the prompt
        ("WAIT FOR DIGIT 3000", ["200 result=50"]),
    ]
    spec = CollectSpec(max_digits=2, first_timeout_ms=5000, inter_digit_timeout_ms=3000)
    assert await talk(asterisk, script, channel.collect([MENU], spec)) == CollectResult("12", "max")


async def test_collect_single_key_from_playback_needs_no_wait(agi):
    channel, asterisk = agi
    script = [(stream(MENU), ["200 result=51 endpos=100"])]
    result = await talk(asterisk, script, channel.collect([MENU], CollectSpec(max_digits=1)))
    assert result == CollectResult("3", "max")


async def test_collect_terminator_not_included(agi):
    channel, asterisk = agi
    script = [
        (stream(MENU), ["200 result=0 endpos=8000"]),
        ("WAIT FOR DIGIT 6000", ["200 result=49"]),
        ("WAIT FOR DIGIT 2000", ["200 result=50"]),
        ("WAIT FOR DIGIT 2000", ["200 result=35"]),  # '#'
    ]
    spec = CollectSpec(max_digits=18, first_timeout_ms=6000, inter_digit_timeout_ms=2000)
    result = await talk(asterisk, script, channel.collect([MENU], spec))
    assert result == CollectResult("12", "terminator")


async def test_collect_terminator_first_and_custom_terminator(agi):
    channel, asterisk = agi
    script = [("WAIT FOR DIGIT 5000", ["200 result=42"])]  # '*'
    spec = CollectSpec(max_digits=4, terminator="*")
    assert await talk(asterisk, script, channel.collect([], spec)) == CollectResult(
        "", "terminator"
    )


async def test_collect_first_timeout_is_silence(agi):
    channel, asterisk = agi
    script = [
        (stream(MENU), ["200 result=0 endpos=8000"]),
        ("WAIT FOR DIGIT 5000", ["200 result=0"]),
    ]
    result = await talk(asterisk, script, channel.collect([MENU], CollectSpec(max_digits=4)))
    assert result == CollectResult("", "timeout") and result.timed_out


async def test_collect_inter_digit_timeout(agi):
    channel, asterisk = agi
    script = [
        ("WAIT FOR DIGIT 5000", ["200 result=55"]),
        ("WAIT FOR DIGIT 3000", ["200 result=0"]),
    ]
    result = await talk(asterisk, script, channel.collect([], CollectSpec(max_digits=4)))
    assert result == CollectResult("7", "timeout") and not result.timed_out


async def test_collect_without_barge_in_and_no_terminator(agi):
    channel, asterisk = agi
    script = [
        (stream(MENU, '""'), ["200 result=0 endpos=8000"]),
        ("WAIT FOR DIGIT 5000", ["200 result=35"]),  # '#' is a digit here
        ("WAIT FOR DIGIT 3000", ["200 result=65"]),  # 'A': not a key we collect
        ("WAIT FOR DIGIT 3000", ["200 result=48"]),
    ]
    spec = CollectSpec(max_digits=2, terminator=None, barge_in=False)
    assert await talk(asterisk, script, channel.collect([MENU], spec)) == CollectResult("#0", "max")


async def test_collect_secret_digits_stay_out_of_logs(agi, caplog):
    channel, asterisk = agi
    script = [
        (stream(MENU), ["200 result=57 endpos=10"]),
        ("WAIT FOR DIGIT 3000", ["200 result=56"]),
        ("WAIT FOR DIGIT 3000", ["200 result=35"]),
    ]
    spec = CollectSpec(max_digits=6, secret=True)
    with caplog.at_level(logging.DEBUG, logger="ivrflow"):
        result = await talk(asterisk, script, channel.collect([MENU], spec))
    assert result == CollectResult("98", "terminator")
    assert "WAIT FOR DIGIT" in caplog.text  # commands are logged, replies are not
    assert "result=57" not in caplog.text and "result=56" not in caplog.text
    assert all("57" not in entry[0] for entry in channel.log)


async def test_hangup_during_wait_for_digit(agi):
    channel, asterisk = agi
    script = [("WAIT FOR DIGIT 5000", ["200 result=-1", "HANGUP"])]
    with pytest.raises(CallerHangup):
        await talk(asterisk, script, channel.collect([], CollectSpec()))
    await asyncio.wait_for(channel.wait_hangup(), 1)


async def test_hangup_notice_while_waiting_for_digit(agi):
    channel, asterisk = agi
    script = [("WAIT FOR DIGIT 5000", ["HANGUP", 0.05, "200 result=-1"])]
    with pytest.raises(CallerHangup):
        await talk(asterisk, script, channel.collect([], CollectSpec()))
    assert channel.conn.hung_up.is_set()


async def test_wait_hangup_fires_while_idle(agi):
    channel, asterisk = agi
    waiter = asyncio.create_task(channel.wait_hangup())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    await asterisk.send("HANGUP")
    await asyncio.wait_for(waiter, 1)
    with pytest.raises(CallerHangup):
        await channel.answer()


# -- queue -----------------------------------------------------------------------------------


def queue_setup(extra: list | None = None) -> list:
    return [
        ('SET VARIABLE __IVR_ID_NO "***"', ["200 result=1"]),
        ('SET VARIABLE __IVR_REASON "loan"', ["200 result=1"]),
        ("SET VARIABLE QUEUE_PRIO 5", ["200 result=1"]),
        *(extra or []),
    ]


async def test_queue_completed_with_agent(agi):
    channel, asterisk = agi
    request = QueueRequest(
        "hotline-loans",
        priority=5,
        timeout_s=120,
        caller_data={"id_no": "***", "reason": "loan"},
        announce=[Prompt("transfer", language="zh-CN")],
        music_class="fund",
    )
    script = [
        ('STREAM FILE "ivrflow/zh-CN/transfer" ""', ["200 result=0 endpos=16000"]),
        *queue_setup([('SET VARIABLE CHANNEL(musicclass) "fund"', ["200 result=1"])]),
        (
            'EXEC Queue "hotline-loans,cb(ivrflow-agent-predial^s^1),,,120,,ivrflow-agent-connect"',
            ["200 result=0"],
        ),
        ("GET VARIABLE QUEUESTATUS", ["200 result=1 (CONTINUE)"]),
        ("GET VARIABLE MEMBERNAME", ["200 result=1 (张三 8001)"]),
        ("GET VARIABLE MEMBERINTERFACE", ["200 result=1 (PJSIP/8001)"]),
        ("GET VARIABLE QUEUEWAIT", ["200 result=1 (12)"]),
        ("GET VARIABLE ANSWEREDTIME", ["200 result=1 (95)"]),
    ]
    result = await talk(asterisk, script, channel.transfer_queue(request))
    assert result.status is QueueStatus.COMPLETED
    assert (result.agent, result.wait_s, result.talk_s) == ("张三 8001", 12.0, 95.0)
    assert (result.agent_interface, result.sticky) == ("PJSIP/8001", False)
    assert channel.connected_agent == result
    assert channel.log[0][:2] == ('STREAM FILE "ivrflow/zh-CN/transfer" ""', 200)
    assert channel.log[1][:2] == ("SET VARIABLE __IVR_ID_NO ***", 200)
    assert all(ms >= 0 for _, _, ms in channel.log)


async def test_queue_completed_unset_status_falls_back_to_interface(agi):
    channel, asterisk = agi
    script = [
        ("SET VARIABLE QUEUE_PRIO 0", ["200 result=1"]),
        (
            'EXEC Queue "support,cb(ivrflow-agent-predial^s^1),,,300,,ivrflow-agent-connect"',
            ["200 result=0"],
        ),
        ("GET VARIABLE QUEUESTATUS", ["200 result=0"]),
        ("GET VARIABLE MEMBERNAME", ["200 result=0"]),
        ("GET VARIABLE MEMBERINTERFACE", ["200 result=1 (PJSIP/8001)"]),
        ("GET VARIABLE QUEUEWAIT", ["200 result=0"]),
        ("GET VARIABLE QEHOLDTIME", ["200 result=1 (7)"]),
        ("GET VARIABLE ANSWEREDTIME", ["200 result=0"]),
    ]
    result = await talk(asterisk, script, channel.transfer_queue(QueueRequest("support")))
    assert (result.status, result.agent, result.wait_s) == (
        QueueStatus.COMPLETED,
        "PJSIP/8001",
        7.0,
    )


@pytest.mark.parametrize(
    ("queuestatus", "expected"),
    [
        ("TIMEOUT", QueueStatus.TIMEOUT),
        ("FULL", QueueStatus.UNAVAILABLE),
        ("JOINEMPTY", QueueStatus.UNAVAILABLE),
        ("LEAVEEMPTY", QueueStatus.UNAVAILABLE),
        ("JOINUNAVAIL", QueueStatus.UNAVAILABLE),
        ("LEAVEUNAVAIL", QueueStatus.UNAVAILABLE),
        ("WITHDRAW", QueueStatus.ERROR),
        ("UNKNOWN", QueueStatus.ERROR),
    ],
)
async def test_queue_not_connected(agi, queuestatus, expected):
    channel, asterisk = agi
    script = [
        ("SET VARIABLE QUEUE_PRIO 0", ["200 result=1"]),
        (
            'EXEC Queue "support,cb(ivrflow-agent-predial^s^1),,,5,,ivrflow-agent-connect"',
            ["200 result=0"],
        ),
        ("GET VARIABLE QUEUESTATUS", [f"200 result=1 ({queuestatus})"]),
    ]
    result = await talk(
        asterisk, script, channel.transfer_queue(QueueRequest("support", timeout_s=5))
    )
    assert result.status is expected and result.agent == ""


async def test_hangup_during_exec_queue(agi):
    channel, asterisk = agi
    script = [
        ("SET VARIABLE QUEUE_PRIO 0", ["200 result=1"]),
        (
            'EXEC Queue "support,cb(ivrflow-agent-predial^s^1),,,300,,ivrflow-agent-connect"',
            [0.05, "200 result=-1", "HANGUP"],
        ),
    ]
    with pytest.raises(CallerHangup):
        await talk(asterisk, script, channel.transfer_queue(QueueRequest("support")))
    await asyncio.wait_for(channel.wait_hangup(), 1)
    # after the call: was an agent connected? (a dead-channel read; none here)
    settle = [("GET VARIABLE MEMBERINTERFACE", ["200 result=0"])]
    assert await talk(asterisk, settle, channel.settle_agent()) is None


async def test_caller_hanging_up_while_talking_to_the_agent_keeps_the_agent(agi):
    channel, asterisk = agi
    script = [
        ("SET VARIABLE QUEUE_PRIO 0", ["200 result=1"]),
        (
            'EXEC Queue "support,cb(ivrflow-agent-predial^s^1),,,300,,ivrflow-agent-connect"',
            ["200 result=-1", "HANGUP"],
        ),
    ]
    with pytest.raises(CallerHangup):
        await talk(asterisk, script, channel.transfer_queue(QueueRequest("support")))
    settle = [
        ("GET VARIABLE MEMBERINTERFACE", ["200 result=1 (PJSIP/8001)"]),
        ("GET VARIABLE MEMBERNAME", ["200 result=1 (Agent 8001)"]),
    ]
    agent = await talk(asterisk, settle, channel.settle_agent())
    assert agent is not None and agent == channel.connected_agent
    assert (agent.agent, agent.agent_interface, agent.sticky) == ("Agent 8001", "PJSIP/8001", False)


async def test_hangup_notice_before_exec_queue_reply(agi):
    channel, asterisk = agi
    waiter = asyncio.create_task(channel.wait_hangup())
    script = [
        ("SET VARIABLE QUEUE_PRIO 0", ["200 result=1"]),
        (
            'EXEC Queue "support,cb(ivrflow-agent-predial^s^1),,,300,,ivrflow-agent-connect"',
            ["HANGUP", 0.05, "200 result=-1"],
        ),
    ]
    with pytest.raises(CallerHangup):
        await talk(asterisk, script, channel.transfer_queue(QueueRequest("support")))
    await asyncio.wait_for(waiter, 1)


async def test_queue_app_missing_is_an_error(agi):
    channel, asterisk = agi
    script = [
        ("SET VARIABLE QUEUE_PRIO 0", ["200 result=1"]),
        (
            'EXEC Queue "support,cb(ivrflow-agent-predial^s^1),,,300,,ivrflow-agent-connect"',
            ["200 result=-2"],
        ),
    ]
    result = await talk(asterisk, script, channel.transfer_queue(QueueRequest("support")))
    assert result.status is QueueStatus.ERROR


@pytest.mark.parametrize("name", ["support,r", "a b", 'q"', "q\nEXEC System x", "", "x" * 65])
async def test_queue_name_injection_refused_without_commands(agi, name):
    channel, asterisk = agi
    result = await talk(asterisk, [], channel.transfer_queue(QueueRequest(name)))
    assert result.status is QueueStatus.ERROR


async def test_queue_caller_data_cannot_inject(agi):
    channel, asterisk = agi
    evil = 'x"\nEXEC System rm -rf /\n'
    request = QueueRequest("support", caller_data={"na me\n": evil, "": "dropped"})
    script = [
        ('SET VARIABLE __IVR_NA_ME "x\\"EXEC System rm -rf /"', ["200 result=1"]),
        ("SET VARIABLE QUEUE_PRIO 0", ["200 result=1"]),
        (
            'EXEC Queue "support,cb(ivrflow-agent-predial^s^1),,,300,,ivrflow-agent-connect"',
            ["200 result=0"],
        ),
        ("GET VARIABLE QUEUESTATUS", ["200 result=1 (TIMEOUT)"]),
    ]
    result = await talk(asterisk, script, channel.transfer_queue(request))
    assert result.status is QueueStatus.TIMEOUT


# -- dial ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialstatus", "expected"),
    [
        ("BUSY", DialStatus.BUSY),
        ("NOANSWER", DialStatus.NO_ANSWER),
        ("CHANUNAVAIL", DialStatus.UNAVAILABLE),
        ("CONGESTION", DialStatus.CONGESTION),
        ("DONTCALL", DialStatus.ERROR),
        ("", DialStatus.ERROR),
    ],
)
async def test_dial_statuses(agi, dialstatus, expected):
    channel, asterisk = agi
    value = f"200 result=1 ({dialstatus})" if dialstatus else "200 result=0"
    script = [
        ('EXEC Dial "PJSIP/12345,30,g"', ["200 result=0"]),
        ("GET VARIABLE DIALSTATUS", [value]),
    ]
    result = await talk(asterisk, script, channel.dial("12345", timeout_s=30))
    assert result.status is expected


async def test_dial_answered_with_caller_id(agi):
    channel, asterisk = agi
    script = [
        ('SET VARIABLE CALLERID(num) "12329"', ["200 result=1"]),
        ('EXEC Dial "PJSIP/+8613800138000,20,g"', ["200 result=0"]),
        ("GET VARIABLE DIALSTATUS", ["200 result=1 (ANSWER)"]),
        ("GET VARIABLE ANSWEREDTIME", ["200 result=1 (42)"]),
    ]
    result = await talk(
        asterisk, script, channel.dial("+8613800138000", timeout_s=20, caller_id="12329")
    )
    assert (result.status, result.talk_s) == (DialStatus.COMPLETED, 42.0)


async def test_dial_template(agi):
    channel, asterisk = agi
    custom = AgiChannel(channel.conn, ENV, dial_template="PJSIP/{number}@trunk")
    script = [
        ('EXEC Dial "PJSIP/8001@trunk,15,g"', ["200 result=0"]),
        ("GET VARIABLE DIALSTATUS", ["200 result=1 (NOANSWER)"]),
    ]
    result = await talk(asterisk, script, custom.dial("8001", timeout_s=15))
    assert result.status is DialStatus.NO_ANSWER


@pytest.mark.parametrize(
    "reply", [["200 result=-1", "HANGUP"], ["200 result=0"]], ids=["result-1", "cancel"]
)
async def test_dial_caller_hangs_up(agi, reply):
    channel, asterisk = agi
    script = [('EXEC Dial "PJSIP/8001,30,g"', reply)]
    if reply == ["200 result=0"]:
        script.append(("GET VARIABLE DIALSTATUS", ["200 result=1 (CANCEL)"]))
    with pytest.raises(CallerHangup):
        await talk(asterisk, script, channel.dial("8001", timeout_s=30))
    await asyncio.wait_for(channel.wait_hangup(), 1)


@pytest.mark.parametrize("number", ["", "12a", "1,2", "1 2", "1\n2", "1" * 33, "PJSIP/x"])
async def test_dial_refuses_bad_numbers_without_sending(agi, number):
    channel, asterisk = agi
    result = await talk(asterisk, [], channel.dial(number, timeout_s=30))
    assert result.status is DialStatus.ERROR


# -- voicemail -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("greeting", "option", "vmstatus", "expected"),
    [
        ("unavailable", "u", "SUCCESS", VoicemailStatus.COMPLETED),
        ("busy", "b", "USEREXIT", VoicemailStatus.COMPLETED),
        ("none", "s", "FAILED", VoicemailStatus.ERROR),
    ],
)
async def test_voicemail(agi, greeting, option, vmstatus, expected):
    channel, asterisk = agi
    script = [
        (f'EXEC VoiceMail "1001@default,{option}"', ["200 result=0"]),
        ("GET VARIABLE VMSTATUS", [f"200 result=1 ({vmstatus})"]),
    ]
    result = await talk(asterisk, script, channel.voicemail("1001", greeting=greeting))
    assert result.status is expected


async def test_voicemail_context_and_refusals(agi):
    channel, asterisk = agi
    script = [
        ('EXEC VoiceMail "2002@fund,u"', ["200 result=0"]),
        ("GET VARIABLE VMSTATUS", ["200 result=1 (SUCCESS)"]),
    ]
    result = await talk(asterisk, script, channel.voicemail("2002@fund"))
    assert result.status is VoicemailStatus.COMPLETED
    for bad in ("1001,s", "a b", "1001@x@y", ""):
        assert (await channel.voicemail(bad)).status is VoicemailStatus.ERROR
    await asterisk.nothing_more()
    script = [('EXEC VoiceMail "1001@default,u"', ["200 result=-1", "HANGUP"])]
    with pytest.raises(CallerHangup):
        await talk(asterisk, script, channel.voicemail("1001"))


# -- record ----------------------------------------------------------------------------------

RECORD = 'RECORD FILE "ivrflow/recordings/1700000000.1-{n}" wav "#" {ms}{rest}'


async def test_record_recorded(agi):
    channel, asterisk = agi
    script = [
        (
            'STREAM FILE "ivrflow/zh-CN/leave_message" "0123456789*#"',
            ["200 result=0 endpos=100"],
        ),
        (RECORD.format(n=1, ms=60000, rest=" BEEP s=3"), ["200 result=0 (timeout) endpos=40000"]),
    ]
    result = await talk(
        asterisk,
        script,
        channel.record(
            max_s=60, silence_s=3, beep=True, prompts=[Prompt("leave_message", language="zh-CN")]
        ),
    )
    assert result.status is RecordStatus.RECORDED
    assert result.file == "ivrflow/recordings/1700000000.1-1.wav"
    assert result.duration_s == 5.0


async def test_record_ended_by_key_without_beep_and_numbering(agi):
    channel, asterisk = agi
    script = [(RECORD.format(n=1, ms=30000, rest=""), ["200 result=35 (dtmf) endpos=16000"])]
    result = await talk(asterisk, script, channel.record(max_s=30, silence_s=0, beep=False))
    assert (result.status, result.duration_s) == (RecordStatus.RECORDED, 2.0)
    script = [(RECORD.format(n=2, ms=30000, rest=" s=5"), ["200 result=0 (timeout) endpos=800"])]
    result = await talk(asterisk, script, channel.record(max_s=30, silence_s=5, beep=False))
    assert result.status is RecordStatus.NO_AUDIO and result.file == ""


async def test_record_hangup(agi):
    channel, asterisk = agi
    script = [(RECORD.format(n=1, ms=30000, rest=" BEEP"), ["200 result=-1 (hangup) endpos=9000"])]
    with pytest.raises(CallerHangup):
        await talk(asterisk, script, channel.record(max_s=30, silence_s=0, beep=True))
    await asyncio.wait_for(channel.wait_hangup(), 1)


async def test_record_write_error(agi):
    channel, asterisk = agi
    script = [
        (RECORD.format(n=1, ms=30000, rest=" BEEP"), ["200 result=-1 (writefile)"]),
        ("CHANNEL STATUS", ["200 result=6"]),
    ]
    result = await talk(asterisk, script, channel.record(max_s=30, silence_s=0, beep=True))
    assert result.status is RecordStatus.ERROR


# -- variables, hangup -----------------------------------------------------------------------


async def test_set_channel_variable(agi):
    channel, asterisk = agi
    script = [('SET VARIABLE IVRFLOW_RESULT "a b\\"c\\\\"', ["200 result=1"])]
    await talk(asterisk, script, channel.set_channel_variable("IVRFLOW_RESULT", 'a b"c\\\n'))
    assert channel.log[-1][0] == "SET VARIABLE IVRFLOW_RESULT ***"
    for bad in ("a b", "x\nEXEC", "1X", "", "X)"):
        with pytest.raises(ValueError):
            await channel.set_channel_variable(bad, "v")
    await asterisk.nothing_more()


async def test_hangup_by_flow(agi):
    channel, asterisk = agi
    await talk(asterisk, [("HANGUP", ["200 result=1", "HANGUP"])], channel.hangup())
    await asyncio.wait_for(channel.wait_hangup(), 1)
    await channel.hangup()  # again: nothing sent
    with pytest.raises(CallerHangup):
        await channel.play([MENU])
    await asterisk.nothing_more()


async def test_hangup_tolerates_a_dead_channel(agi):
    channel, asterisk = agi
    await talk(
        asterisk, [("HANGUP", ["511 Command Not Permitted on a dead channel"])], channel.hangup()
    )
    other = AgiChannel(channel.conn, ENV)
    await other.hangup()  # the channel is known dead: nothing is sent
    await asterisk.nothing_more()


async def test_hangup_when_the_link_is_gone(agi):
    channel, asterisk = agi
    await asterisk.close()
    await asyncio.wait_for(channel.wait_hangup(), 1)
    await channel.hangup()
    with pytest.raises(CallerHangup):
        await channel.collect([MENU], CollectSpec())


# -- sticky agent ----------------------------------------------------------------------------

STICKY_DIAL = 'EXEC Dial "PJSIP/8001,15,gb(ivrflow-agent-predial^s^1)U(ivrflow-agent-connect)"'
DEVICE_STATE_8001 = 'GET FULL VARIABLE "${DEVICE_STATE(PJSIP/8001)}"'
SUPPORT_QUEUE = 'EXEC Queue "support,cb(ivrflow-agent-predial^s^1),,,300,,ivrflow-agent-connect"'


def sticky_request(**kw) -> QueueRequest:
    kw.setdefault("preferred_agent", "PJSIP/8001")
    kw.setdefault("preferred_agent_name", "Agent 8001")
    return QueueRequest("support", caller_data={"caller": "13800138000"}, **kw)


async def test_sticky_agent_free_is_dialled_before_the_queue_and_answers(agi):
    channel, asterisk = agi
    script = [
        ('SET VARIABLE __IVR_CALLER "13800138000"', ["200 result=1"]),
        ("SET VARIABLE QUEUE_PRIO 0", ["200 result=1"]),
        (DEVICE_STATE_8001, ["200 result=1 (NOT_INUSE)"]),
        (STICKY_DIAL, ["200 result=0"]),
        ("GET VARIABLE DIALSTATUS", ["200 result=1 (ANSWER)"]),
        ("GET VARIABLE ANSWEREDTIME", ["200 result=1 (95)"]),
        ("GET VARIABLE DIALEDTIME", ["200 result=1 (101)"]),
    ]
    result = await talk(asterisk, script, channel.transfer_queue(sticky_request()))
    assert result.status is QueueStatus.COMPLETED
    assert (result.agent, result.agent_interface, result.sticky) == (
        "Agent 8001",
        "PJSIP/8001",
        True,
    )
    assert (result.wait_s, result.talk_s) == (6.0, 95.0)
    assert channel.connected_agent == result
    assert await talk(asterisk, [], channel.settle_agent()) == result  # nothing left to ask


@pytest.mark.parametrize("state", ["INUSE", "BUSY", "RINGING", "UNAVAILABLE", "INVALID", ""])
async def test_sticky_agent_not_free_goes_straight_to_the_queue(agi, state):
    channel, asterisk = agi
    script = [
        ('SET VARIABLE __IVR_CALLER "13800138000"', ["200 result=1"]),
        ("SET VARIABLE QUEUE_PRIO 0", ["200 result=1"]),
        (DEVICE_STATE_8001, [f"200 result=1 ({state})"]),
        (SUPPORT_QUEUE, ["200 result=0"]),
        ("GET VARIABLE QUEUESTATUS", ["200 result=1 (TIMEOUT)"]),
    ]
    result = await talk(asterisk, script, channel.transfer_queue(sticky_request()))
    assert result.status is QueueStatus.TIMEOUT and not result.sticky


@pytest.mark.parametrize("dialstatus", ["NOANSWER", "BUSY", "CHANUNAVAIL", "CONGESTION"])
async def test_sticky_agent_not_answering_falls_through_to_the_queue(agi, dialstatus):
    channel, asterisk = agi
    script = [
        ('SET VARIABLE __IVR_CALLER "13800138000"', ["200 result=1"]),
        ("SET VARIABLE QUEUE_PRIO 0", ["200 result=1"]),
        (DEVICE_STATE_8001, ["200 result=1 (NOT_INUSE)"]),
        (STICKY_DIAL, ["200 result=0"]),
        ("GET VARIABLE DIALSTATUS", [f"200 result=1 ({dialstatus})"]),
        (SUPPORT_QUEUE, ["200 result=0"]),
        ("GET VARIABLE QUEUESTATUS", ["200 result=1 (CONTINUE)"]),
        ("GET VARIABLE MEMBERNAME", ["200 result=1 (Agent 8002)"]),
        ("GET VARIABLE MEMBERINTERFACE", ["200 result=1 (PJSIP/8002)"]),
        ("GET VARIABLE QUEUEWAIT", ["200 result=1 (30)"]),
        ("GET VARIABLE ANSWEREDTIME", ["200 result=1 (60)"]),
    ]
    result = await talk(asterisk, script, channel.transfer_queue(sticky_request()))
    assert (result.status, result.agent_interface, result.sticky) == (
        QueueStatus.COMPLETED,
        "PJSIP/8002",
        False,
    )


@pytest.mark.parametrize(
    "interface",
    [
        "PJSIP/8001&PJSIP/9999",
        "PJSIP/8001,60,D(1)",
        "PJSIP/${SHELL(id)}",
        'PJSIP/8001"',
        "PJSIP/8001\nEXEC System x",
        "DAHDI/g1/13800138000",
        "8001",
        "PJSIP/",
        "PJSIP/" + "9" * 65,
    ],
)
async def test_a_hostile_sticky_interface_is_refused_and_the_call_queued(agi, interface):
    channel, asterisk = agi
    script = [
        ('SET VARIABLE __IVR_CALLER "13800138000"', ["200 result=1"]),
        ("SET VARIABLE QUEUE_PRIO 0", ["200 result=1"]),
        (SUPPORT_QUEUE, ["200 result=0"]),  # no DEVICE_STATE, no Dial
        ("GET VARIABLE QUEUESTATUS", ["200 result=1 (TIMEOUT)"]),
    ]
    request = sticky_request(preferred_agent=interface)
    result = await talk(asterisk, script, channel.transfer_queue(request))
    assert result.status is QueueStatus.TIMEOUT


@pytest.mark.parametrize(
    ("dial_reply", "dialstatus", "talked"),
    [
        (["200 result=-1", "HANGUP"], "CANCEL", False),  # hung up while the agent rang
        (["200 result=-1", "HANGUP"], "ANSWER", True),  # hung up while talking to the agent
    ],
)
async def test_caller_hangup_during_the_sticky_dial(agi, dial_reply, dialstatus, talked):
    channel, asterisk = agi
    script = [
        ('SET VARIABLE __IVR_CALLER "13800138000"', ["200 result=1"]),
        ("SET VARIABLE QUEUE_PRIO 0", ["200 result=1"]),
        (DEVICE_STATE_8001, ["200 result=1 (NOT_INUSE)"]),
        (STICKY_DIAL, dial_reply),
    ]
    with pytest.raises(CallerHangup):
        await talk(asterisk, script, channel.transfer_queue(sticky_request()))
    await asyncio.wait_for(channel.wait_hangup(), 1)
    settle = [("GET VARIABLE DIALSTATUS", [f"200 result=1 ({dialstatus})"])]
    agent = await talk(asterisk, settle, channel.settle_agent())
    if talked:
        assert agent is not None and (agent.agent_interface, agent.sticky) == ("PJSIP/8001", True)
    else:
        assert agent is None


# -- sticky agent and the queue's member state (AMI) ------------------------------------------


class Members:
    """A member view with a fixed verdict (the real one: runtime.queue_members)."""

    def __init__(self, verdict: str) -> None:
        self.verdict = verdict
        self.asked: list[tuple[str, str]] = []

    def check(self, queue: str, interface: str) -> str:
        self.asked.append((queue, interface))
        if self.verdict == "raise":
            raise RuntimeError("view broken")
        return self.verdict


QUEUED_TIMEOUT = [
    (SUPPORT_QUEUE, ["200 result=0"]),
    ("GET VARIABLE QUEUESTATUS", ["200 result=1 (TIMEOUT)"]),
]
PREAMBLE = [
    ('SET VARIABLE __IVR_CALLER "13800138000"', ["200 result=1"]),
    ("SET VARIABLE QUEUE_PRIO 0", ["200 result=1"]),
]


@pytest.mark.parametrize("verdict", ["paused", "not_member"])
async def test_a_paused_or_non_member_sticky_agent_is_not_rung(agi, verdict):
    channel, asterisk = agi
    channel.queue_members = members = Members(verdict)
    # neither DEVICE_STATE nor Dial: the member view already said no
    result = await talk(
        asterisk, PREAMBLE + QUEUED_TIMEOUT, channel.transfer_queue(sticky_request())
    )
    assert members.asked == [("support", "PJSIP/8001")]
    assert (result.status, result.sticky, result.sticky_skipped) == (
        QueueStatus.TIMEOUT,
        False,
        verdict,
    )


@pytest.mark.parametrize("verdict", ["member", "unknown", "raise"])
async def test_a_member_or_an_unknown_view_leaves_the_decision_to_the_device_state(agi, verdict):
    channel, asterisk = agi
    channel.queue_members = Members(verdict)
    script = [
        *PREAMBLE,
        (DEVICE_STATE_8001, ["200 result=1 (NOT_INUSE)"]),
        (STICKY_DIAL, ["200 result=0"]),
        ("GET VARIABLE DIALSTATUS", ["200 result=1 (ANSWER)"]),
        ("GET VARIABLE ANSWEREDTIME", ["200 result=1 (40)"]),
        ("GET VARIABLE DIALEDTIME", ["200 result=1 (45)"]),
    ]
    result = await talk(asterisk, script, channel.transfer_queue(sticky_request()))
    assert (result.status, result.sticky, result.sticky_skipped) == (
        QueueStatus.COMPLETED,
        True,
        "",
    )


@pytest.mark.parametrize(
    ("steps", "reason"),
    [
        ([(DEVICE_STATE_8001, ["200 result=1 (INUSE)"])], "not_free"),
        (
            [
                (DEVICE_STATE_8001, ["200 result=1 (NOT_INUSE)"]),
                (STICKY_DIAL, ["200 result=0"]),
                ("GET VARIABLE DIALSTATUS", ["200 result=1 (NOANSWER)"]),
            ],
            "not_answered",
        ),
    ],
)
async def test_why_a_member_sticky_agent_was_not_connected_is_reported(agi, steps, reason):
    channel, asterisk = agi
    channel.queue_members = Members("member")
    script = PREAMBLE + steps + QUEUED_TIMEOUT
    result = await talk(asterisk, script, channel.transfer_queue(sticky_request()))
    assert (result.status, result.sticky_skipped) == (QueueStatus.TIMEOUT, reason)
    # the next transfer starts clean
    plain = await talk(
        asterisk,
        PREAMBLE + QUEUED_TIMEOUT,
        channel.transfer_queue(sticky_request(preferred_agent="")),
    )
    assert plain.sticky_skipped == ""
