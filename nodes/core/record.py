"""``core.record`` — record what the caller says (a complaint, a callback request…).

Plays the prompts, then (optionally) a beep, and records until the caller stops talking for
``silence_s`` seconds (0: no silence detection) or ``max_s`` passes. With
``variable`` set, the recording's file name is stored there — and cleared (set to null) when
nothing was recorded, so a retry never sees a previous attempt's file.

Exits: ``recorded``, ``no_audio`` (nothing but silence), ``error``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from nodes.api import Node
from runtime.call import Call, RecordStatus


class Record(Node):
    type = "core.record"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "录音", "en": "Record"}
    description: ClassVar[dict[str, str]] = {
        "zh": "播放提示后录下来电者的话（如投诉内容、回拨请求），可把录音文件名存入变量。",
        "en": "Plays prompts, then records the caller (a complaint, a callback request); can "
        "store the recording's file name in a variable.",
    }
    category = "input"
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "prompts": {
                "type": "array",
                "title": "录音前提示 / Prompts before recording",
                "maxItems": 20,
                "items": {"type": "string", "x-ivrflow": "prompt"},
                "default": [],
            },
            "max_s": {
                "type": "integer",
                "title": "最长录音（秒） / Longest recording (s)",
                "minimum": 1,
                "maximum": 600,
                "default": 60,
            },
            "silence_s": {
                "type": "integer",
                "title": "静音结束（秒） / Stop after silence (s)",
                "description": "0 表示不检测静音。 0: no silence detection.",
                "minimum": 0,
                "maximum": 30,
                "default": 5,
            },
            "beep": {
                "type": "boolean",
                "title": "录音前提示音 / Beep before recording",
                "default": True,
            },
            "variable": {
                "type": "string",
                "title": "保存文件名到变量 / Store file name in",
                "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$",
                "x-ivrflow": "variable-out",
            },
        },
    }
    exits = ("recorded", "no_audio", "error")
    waits_for_input = True

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        result = await call.record(
            max_s=config["max_s"],
            silence_s=config["silence_s"],
            beep=config["beep"],
            prompt_ids=list(config["prompts"]),
        )
        recorded = result.status == RecordStatus.RECORDED and bool(result.file)
        variable = config.get("variable")
        if variable:
            call.vars[variable] = result.file if recorded else None
        if recorded:
            return "recorded"
        if result.status == RecordStatus.NO_AUDIO:
            return "no_audio"
        if result.status == RecordStatus.RECORDED:
            call.note("record_no_file", reason="recorded without a file name")
        return "error"
