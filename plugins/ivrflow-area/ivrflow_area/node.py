"""``area.route`` — route by where the caller's number is from.

The caller's number is looked up (longest prefix) in the node's own ``prefixes`` first, then
in the plugin's editable table (``call.resources["area"]``, managed through the designer
API): mobile 号段 prefixes such as ``1380013`` and landline area codes such as ``0755``.

Exits: one per configured region; ``other`` (a usable number whose region is not one of the
node's, or not in the table); ``unknown`` (no number, ``anonymous``, foreign or malformed);
``error`` (the table cannot be read). The region found (or empty) is stored in
``region_variable`` — e.g. for ``core.transfer_queue``'s caller data, or a ``core.branch``
that picks the agent group — so a flow may also wire only ``other``/``unknown`` and route on
the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ivrflow_area.numbers import PREFIX_RE, REGION_RE, longest_prefix
from nodes.api import ConfigIssue, Node
from runtime.call import Call

__all__ = ["RESERVED_EXITS", "RESOURCE", "AreaRoute"]

RESOURCE = "area"
RESERVED_EXITS = ("other", "unknown", "error")


class AreaRoute(Node):
    type = "area.route"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "来电地区路由", "en": "Area routing"}
    description: ClassVar[dict[str, str]] = {
        "zh": "按来电号码（手机号段或固话区号）查出地区，每个地区一个出口；其他地区走“其他”，"
        "无号码或号码无法识别走“未知”。地区也存入变量，可用于选择坐席组。号段表在管理界面维护。",
        "en": "Looks up the caller's region from the number (mobile prefix or landline area "
        "code): an exit per region, 'other' for the rest, 'unknown' when there is no usable "
        "number. The region is also stored in a variable (e.g. to pick the agent group). The "
        "prefix table is edited in the designer.",
    }
    category = "logic"
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["regions"],
        "properties": {
            "regions": {
                "type": "array",
                "title": "地区出口 / Regions (one exit each)",
                "description": "地区名与号段表一致，如 shenzhen。"
                " Region names as in the prefix table, e.g. shenzhen.",
                "minItems": 1,
                "maxItems": 30,
                "uniqueItems": True,
                "items": {"type": "string", "pattern": REGION_RE.pattern},
            },
            "prefixes": {
                "type": "object",
                "title": "本节点号段 / Extra prefixes",
                "description": "号段或区号 → 地区，优先于号段表。"
                " Prefix or area code → region; takes precedence over the table.",
                "propertyNames": {"pattern": PREFIX_RE.pattern},
                "additionalProperties": {"type": "string", "pattern": REGION_RE.pattern},
                "maxProperties": 200,
                "default": {},
            },
            "local_region": {
                "type": "string",
                "pattern": f"^({REGION_RE.pattern[1:-1]})?$",
                "default": "",
                "title": "本地号码地区 / Region of local numbers",
                "description": "不带区号的 7–8 位号码（本地来电）属于的地区；空表示“其他”。"
                " 7–8 digit numbers without an area code (local calls); empty: other.",
            },
            "use_table": {
                "type": "boolean",
                "default": True,
                "title": "使用号段表 / Use the prefix table",
            },
            "region_variable": {
                "type": "string",
                "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$",
                "x-ivrflow": "variable-out",
                "default": "region",
                "title": "地区存入变量 / Store the region in",
            },
        },
    }
    exits = RESERVED_EXITS
    exit_titles: ClassVar[dict[str, dict[str, str]]] = {
        "other": {"zh": "其他地区", "en": "Other regions"},
        "unknown": {"zh": "号码未知", "en": "Unknown number"},
    }

    @classmethod
    def exits_for(cls, config: Mapping[str, Any]) -> tuple[str, ...]:
        regions = [r for r in config.get("regions", ()) if r not in RESERVED_EXITS]
        return (*dict.fromkeys(regions), *RESERVED_EXITS)

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> list[ConfigIssue]:
        issues: list[ConfigIssue] = []
        for i, region in enumerate(config.get("regions", ())):
            if region in RESERVED_EXITS:
                issues.append(
                    ConfigIssue(
                        f"/regions/{i}",
                        "area.reserved_region",
                        f"地区名 “{region}” 是保留的出口名。",
                        f"Region name '{region}' is a reserved exit name.",
                    )
                )
        return issues

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        table: dict[str, str] = {}
        if config["use_table"]:
            store = call.resources.get(RESOURCE)
            if store is not None and store.available:
                table.update(await store.resolve())
            else:
                call.note("area_table_unavailable")
        table.update(config["prefixes"])
        match = longest_prefix(call.caller, table, config["local_region"])
        call.vars[config["region_variable"]] = match.region
        if match.kind is None:
            exit_name = "unknown"
        elif match.region in config["regions"]:
            exit_name = match.region
        else:
            exit_name = "other"
        call.note(
            "area",
            kind=match.kind,
            prefix=match.prefix,
            region=match.region,
            exit=exit_name,
        )
        return exit_name
