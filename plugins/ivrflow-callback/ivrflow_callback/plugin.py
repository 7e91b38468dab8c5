"""The plugin's start-up: ``setup(host)`` is the ``ivrflow.plugins`` entry point.

It migrates the plugin's table (its own alembic revision and version table,
``alembic_version_callback``), makes the :class:`~ivrflow_callback.store.CallbackStore` that
nodes find as ``call.resources["callback"]``, and the designer routes staff use with their page
in the designer's "业务数据 / Business data" section (:func:`pages`). Without a
database the store is there but unavailable: ``callback.register`` then takes ``error``.
"""

from __future__ import annotations

from pathlib import Path

from ivrflow_callback.node import RESOURCE
from ivrflow_callback.store import NOTE_MAX, CallbackStore, DryRunCallbacks
from nodes.plugins import (
    PageAction,
    PageColumn,
    PageFilter,
    PluginHost,
    PluginPage,
    PluginParts,
)

__all__ = ["MIGRATIONS", "NAME", "NOTE_SCHEMA", "pages", "setup"]

NAME = "callback"
MIGRATIONS = Path(__file__).with_name("migrations")

STATUS_LABELS = {
    "pending": {"zh": "待回拨", "en": "Pending"},
    "done": {"zh": "已回拨", "en": "Called back"},
    "cancelled": {"zh": "已取消", "en": "Cancelled"},
}
NOTE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "note": {
            "type": "string",
            "title": "备注 / Note",
            "description": "回拨结果或取消原因（可不填）。 The result, or why it is cancelled "
            "(optional).",
            "maxLength": NOTE_MAX,
        }
    },
}
"""The small form of the done and cancel buttons (the body of ``POST …/done``)."""


def pages() -> list[PluginPage]:
    """The callback list: filter by status and number, mark a pending request done or
    cancelled with a note."""
    pending = {"status": ["pending"]}
    return [
        PluginPage(
            id=NAME,
            title={"zh": "回拨登记", "en": "Callback requests"},
            description={
                "zh": "来电人通过“登记回拨”节点留下的回拨请求。回拨后标记为已回拨并写下结果；"
                "不需要回拨的可取消。",
                "en": "Callers registered by the “Register a callback” node. Mark a request "
                "called back with the result, or cancel it when no callback is needed.",
            },
            permission="flows.read",
            list_url="/api/callbacks",
            items_key="callbacks",
            columns=[
                PageColumn("phone", {"zh": "号码", "en": "Number"}, "code"),
                PageColumn("reason", {"zh": "原因", "en": "Reason"}),
                PageColumn("queue", {"zh": "队列", "en": "Queue"}),
                PageColumn("note", {"zh": "来电备注", "en": "Caller's note"}),
                PageColumn("status", {"zh": "状态", "en": "Status"}, "status", STATUS_LABELS),
                PageColumn("attempts", {"zh": "登记次数", "en": "Requests"}, "number"),
                PageColumn("requested_at", {"zh": "首次登记", "en": "Requested"}, "datetime"),
                PageColumn(
                    "last_requested_at", {"zh": "最近登记", "en": "Last requested"}, "datetime"
                ),
                PageColumn("handled_by", {"zh": "处理人", "en": "Handled by"}),
                PageColumn("handled_at", {"zh": "处理时间", "en": "Handled at"}, "datetime"),
                PageColumn("result", {"zh": "处理结果", "en": "Result"}),
            ],
            actions=[
                PageAction(
                    id="done",
                    title={"zh": "已回拨", "en": "Called back"},
                    method="POST",
                    url="/api/callbacks/{id}/done",
                    permission="data.manage",
                    body_schema=NOTE_SCHEMA,
                    when=pending,
                ),
                PageAction(
                    id="cancel",
                    title={"zh": "取消", "en": "Cancel"},
                    method="POST",
                    url="/api/callbacks/{id}/cancel",
                    permission="data.manage",
                    confirm={
                        "zh": "取消 {phone} 的回拨登记（不再回拨）？",
                        "en": "Cancel the callback request of {phone} (no callback)?",
                    },
                    body_schema=NOTE_SCHEMA,
                    when=pending,
                    danger=True,
                ),
            ],
            filters=[
                PageFilter(
                    "status",
                    {
                        "type": "string",
                        "title": "状态 / Status",
                        "oneOf": [
                            *(
                                {"const": k, "title": f"{v['zh']} / {v['en']}"}
                                for k, v in STATUS_LABELS.items()
                            ),
                            {"const": "all", "title": "全部 / All"},
                        ],
                        "default": "pending",
                    },
                ),
                PageFilter(
                    "phone",
                    {
                        "type": "string",
                        "title": "号码包含 / Number contains",
                        "maxLength": 24,
                    },
                ),
            ],
        )
    ]


def setup(host: PluginHost) -> PluginParts:
    """Test calls get :class:`~ivrflow_callback.store.DryRunCallbacks` (kept in memory: staff
    never see a tester's request)."""
    store = CallbackStore(host.engine)
    test_calls = {RESOURCE: DryRunCallbacks()}
    if host.engine is None:
        return PluginParts(resources={RESOURCE: store}, test_resources=test_calls)
    host.migrate(NAME, MIGRATIONS)
    from ivrflow_callback.api import make_routes  # the designer's modules only when needed

    return PluginParts(
        resources={RESOURCE: store},
        test_resources=test_calls,
        routes=make_routes(store),
        pages=pages(),
    )
