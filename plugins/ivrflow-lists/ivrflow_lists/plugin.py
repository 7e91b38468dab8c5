"""The plugin's start-up: ``setup(host)`` is the ``ivrflow.plugins`` entry point.

It migrates the plugin's table (its own alembic revisions and version table,
``alembic_version_lists``), makes the :class:`~ivrflow_lists.store.ListsStore` that nodes find
as ``call.resources["lists"]``, and the designer routes that manage it with a page per list in
the designer's "业务数据 / Business data" section (:func:`pages`). Without a database the
store is there but unavailable: ``lists.check`` then follows its ``on_unavailable`` policy.
"""

from __future__ import annotations

from pathlib import Path

from ivrflow_lists.match import LISTS
from ivrflow_lists.node import RESOURCE
from ivrflow_lists.store import ListsStore
from nodes.plugins import (
    PageAction,
    PageColumn,
    PageFilter,
    PageForm,
    PluginHost,
    PluginPage,
    PluginParts,
)

__all__ = ["MIGRATIONS", "NAME", "pages", "setup"]

NAME = "lists"
MIGRATIONS = Path(__file__).with_name("migrations")

_TITLES = {
    "block": {"zh": "黑名单", "en": "Block list"},
    "allow": {"zh": "白名单", "en": "Allow list"},
    "vip": {"zh": "VIP 名单", "en": "VIP list"},
}
_DESCRIPTIONS = {
    "block": {
        "zh": "“黑白名单 / VIP”节点对这些号码走“黑名单”出口（白名单和 VIP 名单优先）。",
        "en": "The lists check node sends these callers to its blocked exit (the allow and VIP "
        "lists win).",
    },
    "allow": {
        "zh": "这些号码不受黑名单限制（例如被黑名单号段误伤的号码）。",
        "en": "These callers are never blocked (e.g. numbers inside a blocked range).",
    },
    "vip": {
        "zh": "这些号码走“VIP”出口，可用于排队优先。",
        "en": "These callers take the VIP exit, e.g. for queue priority.",
    },
}
_KIND_LABELS = {
    "exact": {"zh": "完整号码", "en": "Exact number"},
    "prefix": {"zh": "号码前缀", "en": "Prefix"},
    "pattern": {"zh": "号码规则", "en": "Pattern"},
}
ENTRY_SCHEMA = {
    "type": "object",
    "required": ["kind", "value"],
    "additionalProperties": False,
    "properties": {
        "kind": {
            "type": "string",
            "title": "匹配方式 / Match",
            "oneOf": [
                {"const": k, "title": f"{v['zh']} / {v['en']}"} for k, v in _KIND_LABELS.items()
            ],
            "default": "exact",
        },
        "value": {
            "type": "string",
            "title": "号码、前缀或规则 / Number, prefix or pattern",
            "description": "完整号码或前缀可带 +86、空格和横线；规则用数字、?（一位数字）和末尾的 *"
            "（不支持正则表达式）。 Numbers and prefixes may have +86, spaces and dashes; a "
            "pattern uses digits, ? (one digit) and a final * (no regular expressions).",
            "minLength": 1,
            "maxLength": 64,
        },
        "reason": {
            "type": "string",
            "title": "原因 / Reason",
            "maxLength": 500,
        },
        "expires_at": {
            "type": "string",
            "format": "date-time",
            "title": "到期时间（不填为长期） / Expires (empty: never)",
        },
    },
}
"""The add form of each list (the body of ``POST /api/lists/{list}``)."""


def pages() -> list[PluginPage]:
    """One page per list: its entries, an add form and a delete button."""
    made = []
    for name in LISTS:
        title = _TITLES[name]
        made.append(
            PluginPage(
                id=f"{NAME}.{name}",
                title=title,
                description=_DESCRIPTIONS[name],
                permission="flows.read",
                list_url=f"/api/lists/{name}",
                items_key="entries",
                columns=[
                    PageColumn("value", {"zh": "号码 / 规则", "en": "Number / pattern"}, "code"),
                    PageColumn("kind", {"zh": "匹配方式", "en": "Match"}, "status", _KIND_LABELS),
                    PageColumn("reason", {"zh": "原因", "en": "Reason"}),
                    PageColumn("expires_at", {"zh": "到期时间", "en": "Expires"}, "datetime"),
                    PageColumn("expired", {"zh": "已过期", "en": "Expired"}, "boolean"),
                    PageColumn("created_by", {"zh": "添加人", "en": "Added by"}),
                    PageColumn("created_at", {"zh": "添加时间", "en": "Added at"}, "datetime"),
                ],
                create=PageForm(
                    url=f"/api/lists/{name}",
                    method="POST",
                    schema=ENTRY_SCHEMA,
                    permission="data.manage",
                    title={"zh": f"添加到{title['zh']}", "en": f"Add to the {title['en']}"},
                ),
                actions=[
                    PageAction(
                        id="delete",
                        title={"zh": "删除", "en": "Delete"},
                        method="DELETE",
                        url=f"/api/lists/{name}/{{id}}",
                        permission="data.manage",
                        confirm={
                            "zh": f"从{title['zh']}删除 {{value}}？",
                            "en": f"Remove {{value}} from the {title['en']}?",
                        },
                        danger=True,
                    )
                ],
                filters=[
                    PageFilter(
                        "expired",
                        {
                            "type": "string",
                            "title": "已过期的 / Expired entries",
                            "oneOf": [
                                {"const": "", "title": "显示 / Show"},
                                {"const": "0", "title": "隐藏 / Hide"},
                            ],
                            "default": "",
                        },
                    )
                ],
            )
        )
    return made


def setup(host: PluginHost) -> PluginParts:
    store = ListsStore(host.engine)
    if host.engine is None:
        return PluginParts(resources={RESOURCE: store})
    host.migrate(NAME, MIGRATIONS)
    from ivrflow_lists.api import make_routes  # the designer's modules only when needed

    return PluginParts(resources={RESOURCE: store}, routes=make_routes(store), pages=pages())
