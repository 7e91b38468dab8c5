"""The plugin's start-up: migrate ``area_prefix`` (seeded with a small sample on creation),
make the :class:`~ivrflow_area.store.AreaStore` that nodes find as
``call.resources["area"]``, and the designer routes that edit it with its page in the
designer's "业务数据 / Business data" section (:func:`pages`)."""

from __future__ import annotations

from pathlib import Path

from ivrflow_area.node import RESOURCE
from ivrflow_area.numbers import PREFIX_RE, REGION_RE
from ivrflow_area.store import AreaStore
from nodes.plugins import (
    PageAction,
    PageColumn,
    PageFilter,
    PageForm,
    PluginHost,
    PluginPage,
    PluginParts,
)

__all__ = ["MIGRATIONS", "NAME", "PREFIX_SCHEMA", "pages", "setup"]

NAME = "area"
MIGRATIONS = Path(__file__).with_name("migrations")

_REGION = {
    "type": "string",
    "title": "地区 / Region",
    "description": "地区代码，如 shenzhen（流程中“号码归属地路由”节点的出口名）。 A region "
    "code, e.g. shenzhen (the exit name in the area routing node).",
    "pattern": REGION_RE.pattern,
}
_NOTE = {"type": "string", "title": "备注 / Note", "maxLength": 200}
PREFIX_SCHEMA = {
    "type": "object",
    "required": ["prefix", "region"],
    "properties": {
        "prefix": {
            "type": "string",
            "title": "号段或区号 / Prefix or area code",
            "description": "手机号段为 1 开头 3–7 位，区号为 0 开头 3–4 位；已有的会被替换。 "
            "Mobile prefixes are 3–7 digits starting with 1, area codes 3–4 digits starting "
            "with 0; an existing one is replaced.",
            "pattern": PREFIX_RE.pattern,
        },
        "region": _REGION,
        "note": _NOTE,
    },
}
"""The add form: ``PUT /api/area-prefixes/{prefix}`` with the region and note (the API
ignores the ``prefix`` in the body: it is in the URL)."""
EDIT_SCHEMA = {
    "type": "object",
    "required": ["region"],
    "properties": {"region": _REGION, "note": _NOTE},
}


def pages() -> list[PluginPage]:
    """The prefix table: add or replace a prefix, change its region, delete it."""
    return [
        PluginPage(
            id=NAME,
            title={"zh": "号码归属地", "en": "Area prefixes"},
            description={
                "zh": "来电号码的号段或区号 → 地区，“号码归属地路由”节点按最长前缀查这张表。",
                "en": "Caller number prefixes and area codes → regions; the area routing node "
                "looks the longest matching prefix up here.",
            },
            permission="flows.read",
            list_url="/api/area-prefixes",
            items_key="prefixes",
            row_key="prefix",
            columns=[
                PageColumn("prefix", {"zh": "号段 / 区号", "en": "Prefix"}, "code"),
                PageColumn("region", {"zh": "地区", "en": "Region"}, "code"),
                PageColumn("note", {"zh": "备注", "en": "Note"}),
                PageColumn("updated_by", {"zh": "修改人", "en": "Changed by"}),
                PageColumn("updated_at", {"zh": "修改时间", "en": "Changed at"}, "datetime"),
            ],
            create=PageForm(
                url="/api/area-prefixes/{prefix}",
                method="PUT",
                schema=PREFIX_SCHEMA,
                permission="data.manage",
                title={"zh": "添加号段", "en": "Add a prefix"},
            ),
            actions=[
                PageAction(
                    id="edit",
                    title={"zh": "修改", "en": "Edit"},
                    method="PUT",
                    url="/api/area-prefixes/{prefix}",
                    permission="data.manage",
                    body_schema=EDIT_SCHEMA,
                    prefill=True,
                ),
                PageAction(
                    id="delete",
                    title={"zh": "删除", "en": "Delete"},
                    method="DELETE",
                    url="/api/area-prefixes/{prefix}",
                    permission="data.manage",
                    confirm={
                        "zh": "删除号段 {prefix}（{region}）？这些号码将走节点的“其他”出口。",
                        "en": "Delete prefix {prefix} ({region})? Its numbers then take the "
                        "node's other exit.",
                    },
                    danger=True,
                ),
            ],
            filters=[
                PageFilter(
                    "region",
                    {"type": "string", "title": "地区 / Region", "maxLength": 32},
                )
            ],
        )
    ]


def setup(host: PluginHost) -> PluginParts:
    store = AreaStore(host.engine)
    if host.engine is None:
        return PluginParts(resources={RESOURCE: store})
    host.migrate(NAME, MIGRATIONS)
    from ivrflow_area.api import make_routes  # the designer's modules only when needed

    return PluginParts(resources={RESOURCE: store}, routes=make_routes(store), pages=pages())
