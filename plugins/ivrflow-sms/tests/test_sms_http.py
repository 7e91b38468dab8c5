"""The HTTP gateway against a local gateway server: the wire format and the bearer token, each
failure classified as temporary or permanent and bounded by the timeout, the token kept out of
reprs and logs, and the choice between the HTTP gateway and the log sink."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest
from ivrflow_sms.gateway import (
    HttpSmsGateway,
    LogSmsGateway,
    SmsGateway,
    SmsPermanentError,
    SmsTemporaryError,
    make_gateway,
)
from ivrflow_sms.plugin import setup

from nodes.plugins import PluginHost, load_plugins

TOKEN = "s3cret-token-12329"
SIGN = "【某市住房公积金】"


async def test_the_wire_format(sms_server, message):
    url, server = sms_server
    gateway = HttpSmsGateway(url, token=TOKEN, sign=SIGN)
    assert isinstance(gateway, SmsGateway)
    sms = message()
    assert await gateway.send(sms) == "gw-1"
    assert server.requests == [
        (
            "/sms/send",
            {
                "to": "13800138000",
                "text": "您的公积金余额为12345.67元。",
                "template": "balance",
                "params": {"balance": "12345.67"},
                "sign": SIGN,
                "client_ref": sms.client_ref,
            },
        )
    ]
    headers = server.headers[0]
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Content-Type"].startswith("application/json")


async def test_without_a_token_no_authorization_header(sms_server, message):
    url, server = sms_server
    await HttpSmsGateway(url).send(message())
    assert "Authorization" not in server.headers[0]
    assert server.requests[0][1]["sign"] == ""


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("5xx", (SmsTemporaryError, "http_503", "maintenance")),
        ("429", (SmsTemporaryError, "http_429", "rate limited")),
        ("400", (SmsPermanentError, "http_400", "invalid mobile number")),
        ("invalid", (SmsTemporaryError, "invalid_response", "not JSON")),
        ("no_id", (SmsTemporaryError, "invalid_response", 'no "id" in the answer')),
    ],
)
async def test_failures_are_classified(sms_server, message, fault, expected):
    url, server = sms_server
    server.fault = fault
    error, reason, detail = expected
    with pytest.raises(error) as raised:
        await HttpSmsGateway(url, token=TOKEN).send(message())
    assert type(raised.value) is error
    assert (raised.value.reason, raised.value.detail) == (reason, detail)
    if fault == "429":
        assert raised.value.retry_after == 12


@pytest.mark.parametrize("fault", ["hang", "slow_body"])
async def test_a_slow_gateway_is_bounded_by_the_timeout(sms_server, message, fault):
    url, server = sms_server
    server.fault = fault
    gateway = HttpSmsGateway(url, timeout_s=0.2)
    with pytest.raises(SmsTemporaryError) as raised:
        await gateway.send(message())
    assert raised.value.reason == "timeout"


async def test_no_gateway_listening(message):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SmsTemporaryError) as raised:
        await HttpSmsGateway(f"http://127.0.0.1:{port}/sms", timeout_s=1).send(message())
    assert raised.value.reason == "connect"


async def test_through_the_outbox_and_the_token_never_shows(
    sms_server, make_outbox, message, caplog, clock
):
    url, server = sms_server
    server.fault = "5xx"
    caplog.set_level(logging.DEBUG)
    gateway = HttpSmsGateway(url, token=TOKEN, sign=SIGN)
    outbox = make_outbox(None, gateway)
    assert outbox.submit(message())
    assert await asyncio.to_thread(outbox.flush, 5)  # the server runs on this loop
    server.fault = None
    clock.advance(5)
    assert await asyncio.to_thread(outbox.flush, 5)
    [record] = outbox.messages()
    assert (record["status"], record["attempts"], record["gateway_id"]) == ("sent", 2, "gw-2")
    assert record["gateway"] == "http"
    assert "http_503" in caplog.text  # the failed attempt was logged…
    for text in (caplog.text, repr(gateway), repr(outbox), str(vars(outbox).get("gateway"))):
        assert TOKEN not in text  # …without the credentials
    assert url in repr(gateway)


def test_the_gateway_is_chosen_from_the_environment(caplog):
    http = make_gateway(
        {
            "IVRFLOW_SMS_URL": "https://sms.example.gov.cn/api/send",
            "IVRFLOW_SMS_TOKEN": TOKEN,
            "IVRFLOW_SMS_SIGN": SIGN,
            "IVRFLOW_SMS_TIMEOUT_S": "2.5",
        }
    )
    assert isinstance(http, HttpSmsGateway) and http.delivers
    assert (http.url, http.sign, http.timeout_s) == (
        "https://sms.example.gov.cn/api/send",
        SIGN,
        2.5,
    )
    assert TOKEN not in repr(http) and "timeout_s=2.5" in repr(http)
    assert caplog.text == ""

    sink = make_gateway({"IVRFLOW_SMS_SIGN": SIGN})
    assert isinstance(sink, LogSmsGateway) and not sink.delivers and sink.name == "log"
    assert "IVRFLOW_SMS_URL is not set" in caplog.text and "不会发送" in caplog.text

    with pytest.raises(ValueError, match="http"):
        make_gateway({"IVRFLOW_SMS_URL": "ftp://sms.example"})
    with pytest.raises(ValueError, match="TIMEOUT"):
        make_gateway({"IVRFLOW_SMS_URL": "https://sms.example", "IVRFLOW_SMS_TIMEOUT_S": "0"})


def test_a_bad_configuration_is_reported_by_name():
    loaded = load_plugins(
        PluginHost(engine=None, environ={"IVRFLOW_SMS_URL": "sms.example.gov.cn"}),
        include_entry_points=False,
        extra={"sms": setup},
    )
    [problem] = loaded.problems
    assert problem.code == "plugin_setup_failed" and "IVRFLOW_SMS_URL" in problem.message_en
    assert "sms" not in loaded.resources

    bad_attempts = load_plugins(
        PluginHost(engine=None, environ={"IVRFLOW_SMS_MAX_ATTEMPTS": "99"}),
        include_entry_points=False,
        extra={"sms": setup},
    )
    assert "IVRFLOW_SMS_MAX_ATTEMPTS" in bad_attempts.problems[0].message_en


def test_max_attempts_from_the_environment():
    parts = setup(PluginHost(engine=None, environ={"IVRFLOW_SMS_MAX_ATTEMPTS": "3"}))
    outbox = parts.resources["sms"]
    assert outbox.max_attempts == 3
    parts.close()


def test_test_calls_never_use_the_real_gateway():
    """With a gateway configured, calls on Asterisk send through it; test calls (designer,
    ``ivrflow simulate``) get a log-only outbox of their own."""
    loaded = load_plugins(
        PluginHost(engine=None, environ={"IVRFLOW_SMS_URL": "https://sms.example.gov.cn/send"}),
        include_entry_points=False,
        extra={"sms": setup},
    )
    try:
        assert loaded.problems == []
        real, test = loaded.resources["sms"], loaded.for_test_calls()["sms"]
        assert isinstance(real.gateway, HttpSmsGateway)
        assert isinstance(test.gateway, LogSmsGateway) and not test.gateway.delivers
        assert test is not real and test.engine is None
    finally:
        loaded.close()
    assert real.closed and test.closed
