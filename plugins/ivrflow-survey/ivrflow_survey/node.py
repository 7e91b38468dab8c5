"""``survey.ask`` — a satisfaction survey: one key per question on a scale (1–5 by default).

Typically placed on the ``completed`` exit of ``core.transfer_queue`` (the agent has finished,
the caller is still on the line), but it works anywhere in a flow. For each question the
caller presses a digit of the question's scale, or the skip key (``#`` by default) to pass;
a key outside the scale is invalid and the question is asked again (up to ``max_attempts``
times, with the invalid / timeout prompts in between).

Exits: ``done`` (every question answered), ``partial`` (some answered), ``skipped`` (none:
the caller skipped, pressed nothing or only wrong keys), ``error``.

The answers are stored by the plugin (``call.resources["survey"]``, table ``survey_answer``)
with the call id, the caller, the agent and the queue — read from the variables named by
``agent_variable`` and ``queue_variable`` (the flow sets them, e.g. ``core.set_variable``
before the transfer; ``queue`` in the config is the fallback) — and the time. Storing never
delays or fails the call: the answers are queued in memory and written in the background. A
caller who hangs up mid-survey keeps the answers given so far.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from nodes.api import ConfigIssue, Node
from runtime.call import Call, CallerHangup, CollectSpec

__all__ = ["RESOURCE", "SurveyAsk"]

RESOURCE = "survey"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
VARIABLE_OR_EMPTY = r"^([A-Za-z_][A-Za-z0-9_]{0,63})?$"


def _prompts(title: str, description: str, *, min_items: int = 0) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "array",
        "title": title,
        "description": description,
        "maxItems": 20,
        "items": {"type": "string", "x-ivrflow": "prompt"},
    }
    if min_items:
        schema["minItems"] = min_items
    else:
        schema["default"] = []
    return schema


QUESTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "prompts"],
    "properties": {
        "id": {
            "type": "string",
            "pattern": NAME_PATTERN,
            "title": "问题编号 / Question id",
            "description": "统计时用的名字，如 agent、overall。 The name used in the summary.",
        },
        "prompts": _prompts(
            "问题提示 / Question prompts",
            "例如“对坐席服务满意请按5……不满意请按1，跳过请按井号键”。"
            " E.g. 'Press 5 if very satisfied … 1 if not; # to skip'.",
            min_items=1,
        ),
        "min": {
            "type": "integer",
            "minimum": 0,
            "maximum": 9,
            "default": 1,
            "title": "最低分 / Lowest score",
        },
        "max": {
            "type": "integer",
            "minimum": 0,
            "maximum": 9,
            "default": 5,
            "title": "最高分 / Highest score",
        },
        "skip_key": {
            "type": "string",
            "enum": ["#", "*", ""],
            "default": "#",
            "title": "跳过键 / Skip key",
            "description": "按此键跳过本题；空表示不能跳过。"
            " Skips this question; empty: no skipping.",
        },
    },
}


class SurveyAsk(Node):
    type = "survey.ask"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "满意度调查", "en": "Satisfaction survey"}
    description: ClassVar[dict[str, str]] = {
        "zh": "逐题请来电者按键评分（如 1–5 分，可按井号键跳过），按错重问；答案连同通话编号、"
        "来电号码、坐席和队列保存，供按日期、坐席、队列统计。全部回答走“完成”，部分回答走"
        "“部分完成”，一题未答走“未参与”。",
        "en": "Asks the caller to rate one or more questions with a key (e.g. 1–5, # to skip), "
        "asking again after a wrong key; answers are stored with the call id, caller, agent "
        "and queue for a summary by day, agent and queue. Exits: done (all answered), partial, "
        "skipped (none answered).",
    }
    category = "input"
    waits_for_input = True
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["questions"],
        "properties": {
            "survey": {
                "type": "string",
                "pattern": NAME_PATTERN,
                "default": "satisfaction",
                "title": "调查名称 / Survey name",
                "description": "统计时区分不同调查。 Tells surveys apart in the summary.",
            },
            "intro_prompts": _prompts(
                "开场提示 / Introduction",
                "例如“请对我们的服务进行评价”。 E.g. 'Please rate our service'.",
            ),
            "questions": {
                "type": "array",
                "title": "问题 / Questions",
                "minItems": 1,
                "maxItems": 10,
                "items": QUESTION_SCHEMA,
            },
            "max_attempts": {
                "type": "integer",
                "minimum": 1,
                "maximum": 5,
                "default": 2,
                "title": "每题最多询问次数 / Attempts per question",
            },
            "first_timeout_ms": {
                "type": ["integer", "null"],
                "minimum": 500,
                "maximum": 60000,
                "default": None,
                "title": "等待按键（毫秒） / Wait for a key (ms)",
                "description": "留空则使用流程设置。 Empty: the flow's setting.",
            },
            "invalid_prompts": _prompts(
                "按错提示 / Invalid-key prompts",
                "按了范围外的键时播放，然后重问。 Played after a key outside the scale.",
            ),
            "timeout_prompts": _prompts(
                "超时提示 / Timeout prompts",
                "没有按键时播放，然后重问。 Played when nothing was pressed.",
            ),
            "stop_when_silent": {
                "type": "boolean",
                "default": True,
                "title": "无人应答即结束 / Stop when the caller is silent",
                "description": "某题每次询问都没有按键时，不再问后面的题。"
                " A question that gets no key at all ends the survey.",
            },
            "thanks_prompts": _prompts(
                "结束语 / Thanks",
                "至少回答了一题时播放。 Played when at least one question was answered.",
            ),
            "agent_variable": {
                "type": "string",
                "pattern": VARIABLE_OR_EMPTY,
                "default": "agent",
                "title": "坐席变量 / Agent variable",
                "description": "保存坐席工号的变量；空表示不记录。"
                " The variable holding the agent; empty: not recorded.",
            },
            "queue_variable": {
                "type": "string",
                "pattern": VARIABLE_OR_EMPTY,
                "default": "queue",
                "title": "队列变量 / Queue variable",
                "description": "保存队列（技能组）名的变量；为空或变量无值时用下面的队列。"
                " The variable holding the queue; empty or unset: the queue below.",
            },
            "queue": {
                "type": "string",
                "pattern": "^[A-Za-z0-9_.-]{0,100}$",
                "default": "",
                "title": "队列 / Queue",
                "description": "队列变量没有值时记录的队列名。"
                " Recorded when the queue variable has no value.",
            },
        },
    }
    exits = ("done", "partial", "skipped", "error")
    optional_exits = frozenset({"error"})
    exit_titles: ClassVar[dict[str, dict[str, str]]] = {
        "done": {"zh": "完成", "en": "All answered"},
        "partial": {"zh": "部分完成", "en": "Partly answered"},
        "skipped": {"zh": "未参与", "en": "Not answered"},
    }

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> list[ConfigIssue]:
        issues: list[ConfigIssue] = []
        seen: set[str] = set()
        questions = config.get("questions")
        for i, question in enumerate(questions if isinstance(questions, list) else ()):
            if not isinstance(question, Mapping):
                continue
            qid = question.get("id")
            if isinstance(qid, str):
                if qid in seen:
                    issues.append(
                        ConfigIssue(
                            f"/questions/{i}/id",
                            "survey.duplicate_question",
                            f"问题编号 “{qid}” 重复。",
                            f"Question id '{qid}' is used twice.",
                        )
                    )
                seen.add(qid)
            low, high = question.get("min", 1), question.get("max", 5)
            if isinstance(low, int) and isinstance(high, int) and low >= high:
                issues.append(
                    ConfigIssue(
                        f"/questions/{i}/min",
                        "survey.scale",
                        f"最低分（{low}）须小于最高分（{high}）。",
                        f"The lowest score ({low}) must be below the highest ({high}).",
                    )
                )
        return issues

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        survey = config["survey"]
        store = call.resources.get(RESOURCE)
        settings = call.settings
        timeout = config["first_timeout_ms"]
        answered: list[dict[str, Any]] = []
        asked = 0
        try:
            if config["intro_prompts"]:
                await call.play(config["intro_prompts"])
            for question in config["questions"]:
                asked += 1
                outcome, score = await self._ask(call, config, question, settings, timeout)
                if score is not None:
                    answered.append({"question": question, "score": score, "at": call.now()})
                if outcome == "timeout" and config["stop_when_silent"]:
                    break
        except CallerHangup:
            call.note("survey_hangup", survey=survey, answered=len(answered))
            self._store(call, config, store, answered)
            raise
        self._store(call, config, store, answered)
        if not answered:
            exit_name = "skipped"
        elif len(answered) == len(config["questions"]):
            exit_name = "done"
        else:
            exit_name = "partial"
        call.note(
            "survey",
            survey=survey,
            exit=exit_name,
            asked=asked,
            answered=len(answered),
        )
        if answered and config["thanks_prompts"]:
            await call.play(config["thanks_prompts"], barge_in=False)
        return exit_name

    @staticmethod
    async def _ask(
        call: Call,
        config: dict[str, Any],
        question: dict[str, Any],
        settings: Any,
        first_timeout_ms: int | None,
    ) -> tuple[str, int | None]:
        """Ask one question; (``answer`` / ``skip`` / ``invalid`` / ``timeout``, score)."""
        low, high, skip = question["min"], question["max"], question["skip_key"]
        spec = CollectSpec(
            min_digits=1,
            max_digits=1,
            terminator=None,
            first_timeout_ms=(
                settings.input_timeout_ms if first_timeout_ms is None else first_timeout_ms
            ),
            inter_digit_timeout_ms=settings.inter_digit_timeout_ms,
            barge_in=True,
        )
        attempts = config["max_attempts"]
        outcome = "timeout"
        for attempt in range(1, attempts + 1):
            result = await call.collect(question["prompts"], spec)
            key = result.digits[:1]
            if result.timed_out or not key:
                outcome = "timeout"
            elif skip and key == skip:
                outcome = "skip"
            elif key.isdigit() and low <= int(key) <= high:
                outcome = "answer"
            else:
                outcome = "invalid"
            call.note(
                "survey_answer",
                question=question["id"],
                attempt=attempt,
                key=key or None,
                result=outcome,
            )
            if outcome == "answer":
                return outcome, int(key)
            if outcome == "skip":
                return outcome, None
            if attempt < attempts:
                retry = config["timeout_prompts" if outcome == "timeout" else "invalid_prompts"]
                if retry:
                    await call.play(retry, barge_in=False)
        return outcome, None

    @staticmethod
    def _store(
        call: Call, config: dict[str, Any], store: Any, answered: list[dict[str, Any]]
    ) -> None:
        """Hand the answers to the store's background writer; never raises."""
        if not answered:
            return
        try:
            from ivrflow_survey.store import Answer

            def text(variable: str) -> str:
                value = call.vars.get(variable) if variable else None
                return "" if value is None else str(value)

            agent = text(config["agent_variable"])
            queue = text(config["queue_variable"]) or config["queue"]
            rows = [
                Answer(
                    call_id=call.call_id or "",
                    caller=call.caller or "",
                    survey=config["survey"],
                    question=a["question"]["id"],
                    score=a["score"],
                    scale_min=a["question"]["min"],
                    scale_max=a["question"]["max"],
                    agent=agent,
                    queue=queue,
                    day=a["at"].date(),
                    answered_at=a["at"],
                )
                for a in answered
            ]
            stored = store is not None and store.submit(rows)
        except Exception as exc:  # storing must never fail the call
            call.note("survey_not_stored", reason=type(exc).__name__)
            return
        if not stored:
            call.note("survey_not_stored", reason="no database" if store is None else "refused")
