"""The plugin's start-up: ``setup(host)`` is the ``ivrflow.plugins`` entry point.

It picks the gateway from the environment (``IVRFLOW_SMS_URL`` set: the HTTP gateway;
otherwise the development log sink, with a warning), migrates the plugin's table (its own
alembic revisions and version table, ``alembic_version_sms``), and makes the
:class:`~ivrflow_sms.store.SmsOutbox` that nodes find as ``call.resources["sms"]``. With a
database the outbox's worker starts at once (resuming queued messages) and the designer routes
are added, with the messages page of the designer's "业务数据 / Business data" section
(:func:`pages`). Test calls get a second, log-only outbox (``test_resources``): a test call in the
designer or ``ivrflow simulate`` never texts a real phone. The outboxes are closed when the
process stops (the ``close`` hook) and at interpreter exit. Without a database the outbox
sends and keeps its records in memory.

Settings (``host.environ``): ``IVRFLOW_SMS_URL``, ``IVRFLOW_SMS_TOKEN``, ``IVRFLOW_SMS_SIGN``,
``IVRFLOW_SMS_TIMEOUT_S`` (see :mod:`ivrflow_sms.gateway`), ``IVRFLOW_SMS_MAX_ATTEMPTS``
(default 5: attempts per message when the node does not say).
"""

from __future__ import annotations

import atexit
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ivrflow_sms.gateway import LogSmsGateway, make_gateway
from ivrflow_sms.node import RESOURCE
from ivrflow_sms.store import DEFAULT_MAX_ATTEMPTS, SmsOutbox
from nodes.plugins import PageAction, PageColumn, PageFilter, PluginHost, PluginPage, PluginParts

__all__ = ["MIGRATIONS", "NAME", "make_outbox", "pages", "setup"]

NAME = "sms"
MIGRATIONS = Path(__file__).with_name("migrations")

STATUS_LABELS = {
    "queued": {"zh": "排队中", "en": "Queued"},
    "sent": {"zh": "已发送", "en": "Sent"},
    "failed": {"zh": "发送失败", "en": "Failed"},
}


def pages() -> list[PluginPage]:
    """The messages, newest first (the API's first page: 100), filtered by status and number;
    a failed one can be sent again (publishers and admins)."""
    return [
        PluginPage(
            id=NAME,
            title={"zh": "短信记录", "en": "SMS messages"},
            description={
                "zh": "流程中“发送短信”节点发出的短信（最新的 100 条）。发送失败的可以重发——"
                "会真的发给来电人。",
                "en": "Messages sent by the flows' SMS node (the newest 100). A failed one can "
                "be sent again — to the caller's real phone.",
            },
            permission="flows.read",
            list_url="/api/sms/messages",
            items_key="messages",
            columns=[
                PageColumn("phone", {"zh": "号码", "en": "Number"}, "code"),
                PageColumn("template", {"zh": "模板", "en": "Template"}, "code"),
                PageColumn("text", {"zh": "内容", "en": "Text"}),
                PageColumn("status", {"zh": "状态", "en": "Status"}, "status", STATUS_LABELS),
                PageColumn("attempts", {"zh": "尝试次数", "en": "Attempts"}, "number"),
                PageColumn("last_error", {"zh": "最近错误", "en": "Last error"}),
                PageColumn("created_at", {"zh": "创建时间", "en": "Created"}, "datetime"),
                PageColumn("sent_at", {"zh": "发送时间", "en": "Sent"}, "datetime"),
            ],
            actions=[
                PageAction(
                    id="retry",
                    title={"zh": "重发", "en": "Send again"},
                    method="POST",
                    url="/api/sms/messages/{id}/retry",
                    permission="data.manage",
                    confirm={
                        "zh": "把这条短信重新发送给 {phone}？",
                        "en": "Send this message to {phone} again?",
                    },
                    when={"status": ["failed"]},
                )
            ],
            filters=[
                PageFilter(
                    "status",
                    {
                        "type": "string",
                        "title": "状态 / Status",
                        "oneOf": [
                            {"const": "", "title": "全部 / All"},
                            *(
                                {"const": k, "title": f"{v['zh']} / {v['en']}"}
                                for k, v in STATUS_LABELS.items()
                            ),
                        ],
                        "default": "",
                    },
                ),
                PageFilter(
                    "phone",
                    {"type": "string", "title": "号码 / Number", "maxLength": 24},
                ),
            ],
        )
    ]


def _max_attempts(environ: Mapping[str, str]) -> int:
    raw = environ.get("IVRFLOW_SMS_MAX_ATTEMPTS", "").strip()
    if not raw:
        return DEFAULT_MAX_ATTEMPTS
    value = int(raw)
    if not 1 <= value <= 10:
        raise ValueError(f"IVRFLOW_SMS_MAX_ATTEMPTS must be 1–10, got {raw!r}")
    return value


def make_outbox(host: PluginHost) -> SmsOutbox:
    """The outbox for ``host`` (not started)."""
    return SmsOutbox(
        host.engine, make_gateway(host.environ), max_attempts=_max_attempts(host.environ)
    )


def _parts(
    outbox: SmsOutbox,
    routes: list[Any],
    environ: Mapping[str, str],
    page_list: list[PluginPage] | None = None,
) -> PluginParts:
    """The parts: test calls (the designer's test-call panel, ``ivrflow simulate``) get an
    outbox of their own that only logs — a test call never texts a real phone. Both outboxes
    are closed by the ``close`` hook and at interpreter exit (closing twice does nothing)."""
    sign = environ.get("IVRFLOW_SMS_SIGN", "").strip()
    test_outbox = SmsOutbox(None, LogSmsGateway(sign), max_attempts=1)

    def close() -> None:
        outbox.close(5.0)
        test_outbox.close(1.0)

    atexit.register(close)
    return PluginParts(
        resources={RESOURCE: outbox},
        test_resources={RESOURCE: test_outbox},
        routes=routes,
        close=close,
        pages=page_list or [],
    )


def setup(host: PluginHost) -> PluginParts:
    outbox = make_outbox(host)
    if host.engine is None:
        return _parts(outbox, [], host.environ)
    host.migrate(NAME, MIGRATIONS)
    outbox.start()
    from ivrflow_sms.api import make_routes  # the designer's modules only when needed

    return _parts(outbox, make_routes(outbox), host.environ, pages())
