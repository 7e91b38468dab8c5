"""``fund.auth`` — caller authentication against the fund system.

Personal callers pick how to identify themselves (fund account number, 18-digit ID card
number with a final X typed as ``*``, or co-branded card number) and type their 6-digit PIN;
employers type the unit account number and PIN. The fund system (``call.resources["fund"]``)
checks the PIN and keeps the lock-out (10 wrong PINs lock the account for 30 minutes, across
calls).

One *try* is one round of (choice,) number and PIN. A wrong entry — nothing typed, a wrong
length, a bad ID check digit, a PIN that is not 6 digits, a wrong PIN — uses a try and, while
tries remain, plays the prompt that says what was wrong and asks again. Tries are counted per
call (in ``tries_variable``), so a flow that comes back to the node cannot exceed
``max_tries`` (at most 3).

Exits: ``ok`` (``subject_variable`` holds the person or unit id), ``failed`` (tries used up),
``locked``, ``unavailable`` (the fund system did not answer: timeout, 5xx, invalid response,
breaker open — at once, no retry). ``reason_variable`` says why:
``ok``, ``no_input``, ``bad_choice``, ``bad_id``, ``bad_id_card``, ``bad_pin``,
``wrong_pin``, ``too_many_tries``, ``locked``, ``unavailable``.

The PIN is collected as a **secret** entry (masked in the trace and logs), held in a local
variable only, sent to the fund system only and never stored in a flow variable. The number
is collected secret too (``mask_id``); the trace notes its last 4 characters.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ivrflow_fund.backend import (
    FundBackend,
    FundUnavailable,
    id_card_valid,
    mask_id,
    normalise_id_card,
)
from nodes.api import ConfigIssue, Node
from runtime.call import Call, CollectSpec

__all__ = ["FundAuth"]

RESOURCE = "fund"
PERSONAL_ID_TYPES = ("account", "id_card", "card")
VAR = "^[A-Za-z_][A-Za-z0-9_]{0,63}$"
CARD_DIGITS = (16, 19)
ID_CARD_DIGITS = 18
PIN_DIGITS = 6
MAX_TRIES = 3


def _prompt(title: str, default: str) -> dict[str, Any]:
    return {"type": "string", "title": title, "x-ivrflow": "prompt", "default": default}


def _var(title: str, default: str, kind: str = "variable-out") -> dict[str, Any]:
    return {"type": "string", "title": title, "pattern": VAR, "x-ivrflow": kind, "default": default}


PROMPT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "语音提示 / Prompts",
    "additionalProperties": False,
    "default": {},
    "properties": {
        "choose_id_type": _prompt(
            "选择登录方式 / Choose how to sign in", "fund_auth_choose_id_type"
        ),
        "enter_account": _prompt("输入公积金账号 / Enter the account", "fund_auth_enter_account"),
        "enter_id_card": _prompt("输入身份证号 / Enter the ID number", "fund_auth_enter_id_card"),
        "enter_card": _prompt("输入联名卡号 / Enter the card number", "fund_auth_enter_card"),
        "enter_unit": _prompt("输入单位账号 / Enter the unit account", "fund_auth_enter_unit"),
        "enter_pin": _prompt("输入密码 / Enter the PIN", "fund_auth_enter_pin"),
        "no_input": _prompt("未按键 / Nothing typed", "fund_auth_no_input"),
        "invalid_choice": _prompt("按键无效 / Not an option", "fund_auth_invalid_choice"),
        "id_invalid": _prompt("号码位数错误 / Wrong length", "fund_auth_id_invalid"),
        "id_card_invalid": _prompt("身份证号有误 / Invalid ID number", "fund_auth_id_card_invalid"),
        "pin_format": _prompt("密码格式错误 / PIN not 6 digits", "fund_auth_pin_format"),
        "pin_wrong": _prompt("密码错误 / Wrong PIN", "fund_auth_pin_wrong"),
    },
}

RETRY_PROMPT = {
    "no_input": "no_input",
    "bad_choice": "invalid_choice",
    "bad_id": "id_invalid",
    "bad_id_card": "id_card_invalid",
    "bad_pin": "pin_format",
    "wrong_pin": "pin_wrong",
}


class FundAuth(Node):
    type = "fund.auth"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "身份验证", "en": "Caller authentication"}
    description: ClassVar[dict[str, str]] = {
        "zh": "个人：公积金账号、身份证号（末位X按*）或联名卡号加六位密码；单位：单位账号加密码。"
        "每通电话最多 3 次；连续 10 次密码错误账户锁定 30 分钟（由公积金系统记录）。"
        "密码不进入任何日志、轨迹或变量。",
        "en": "Personal: fund account, 18-digit ID number (final X as *) or co-branded card, "
        "plus a 6-digit PIN; employer: unit account plus PIN. At most 3 tries per call; 10 "
        "wrong PINs lock the account for 30 minutes (kept by the fund system). The PIN never "
        "reaches a log, trace or variable.",
    }
    category = "integration"
    waits_for_input = True
    exits = ("ok", "failed", "locked", "unavailable")
    exit_titles: ClassVar[dict[str, dict[str, str]]] = {
        "ok": {"zh": "验证通过", "en": "Authenticated"},
        "failed": {"zh": "验证失败", "en": "Failed"},
        "locked": {"zh": "账户已锁定", "en": "Locked"},
        "unavailable": {"zh": "系统不可用", "en": "System unavailable"},
    }
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "scope": {
                "type": "string",
                "title": "对象 / Who",
                "enum": ["personal", "employer"],
                "default": "personal",
                "description": "personal 个人 / employer 单位",
            },
            "id_types": {
                "type": "array",
                "title": "个人登录方式 / Personal sign-in with",
                "description": "按键为列表中的位置（1、2、3）。The key is the position in "
                "this list (1, 2, 3). account 公积金账号 / id_card 身份证号 / card 联名卡号",
                "items": {"type": "string", "enum": list(PERSONAL_ID_TYPES)},
                "minItems": 1,
                "maxItems": 3,
                "uniqueItems": True,
                "default": list(PERSONAL_ID_TYPES),
            },
            "max_tries": {
                "type": "integer",
                "title": "每通电话最多尝试次数 / Tries per call",
                "minimum": 1,
                "maximum": MAX_TRIES,
                "default": MAX_TRIES,
            },
            "account_min_digits": {
                "type": "integer",
                "title": "账号最少位数 / Account number: fewest digits",
                "minimum": 1,
                "maximum": 32,
                "default": 6,
            },
            "account_max_digits": {
                "type": "integer",
                "title": "账号最多位数 / Account number: most digits",
                "minimum": 1,
                "maximum": 32,
                "default": 20,
            },
            "input_timeout_ms": {
                "type": "integer",
                "title": "等待按键（毫秒）/ Wait for the first key (ms)",
                "description": "默认使用流程设置。Default: the flow's setting.",
                "minimum": 1000,
                "maximum": 60000,
            },
            "mask_id": {
                "type": "boolean",
                "title": "号码保密 / Keep the number secret",
                "description": "轨迹中只显示末 4 位。The trace shows only the last 4 characters.",
                "default": True,
            },
            "prompts": PROMPT_SCHEMA,
            "subject_variable": _var("个人/单位编号存入 / Person or unit id into", "fund_id"),
            "id_type_variable": _var("登录方式存入 / Sign-in method into", "fund_id_type"),
            "reason_variable": _var("结果原因存入 / Reason into", "auth_reason"),
            "tries_variable": _var("已尝试次数 / Tries so far", "auth_tries"),
        },
    }

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> list[ConfigIssue]:
        if config["account_min_digits"] > config["account_max_digits"]:
            return [
                ConfigIssue(
                    "/account_min_digits",
                    "fund.auth.digits",
                    "账号最少位数大于最多位数。",
                    "The fewest account digits exceed the most.",
                )
            ]
        return []

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        prompts = config["prompts"]
        backend: FundBackend | None = call.resources.get(RESOURCE)
        reason_var = config["reason_variable"]
        tries_var = config["tries_variable"]
        if backend is None:
            call.note("fund_auth", result="unavailable", detail="no fund system configured")
            call.vars[reason_var] = "unavailable"
            return "unavailable"
        tries = _int(call.vars.get(tries_var))
        if tries >= config["max_tries"]:  # this call has used its tries already
            call.vars[reason_var] = "too_many_tries"
        while tries < config["max_tries"]:
            tries += 1
            call.vars[tries_var] = tries
            reason = await self._try(call, config, backend, tries)
            call.vars[reason_var] = reason
            if reason in ("ok", "locked", "unavailable"):
                return reason
            if tries < config["max_tries"]:
                await call.play([prompts[RETRY_PROMPT[reason]]], barge_in=False)
        call.note("fund_auth", result="failed", tries=tries)
        return "failed"

    async def _try(self, call: Call, config: dict[str, Any], backend: FundBackend, n: int) -> str:
        prompts = config["prompts"]
        timeout = config.get("input_timeout_ms")
        first_ms = call.settings.input_timeout_ms if timeout is None else timeout
        inter_ms = call.settings.inter_digit_timeout_ms

        def spec(max_digits: int, *, secret: bool, terminator: str | None = "#") -> CollectSpec:
            return CollectSpec(
                min_digits=1,
                max_digits=max_digits,
                terminator=terminator,
                first_timeout_ms=first_ms,
                inter_digit_timeout_ms=inter_ms,
                barge_in=True,
                secret=secret,
            )

        def note(result: str, **data: Any) -> str:
            call.note("fund_auth", attempt=n, result=result, **data)
            return result

        # 1. how the caller identifies themselves
        if config["scope"] == "employer":
            id_type = "unit"
        elif len(config["id_types"]) == 1:
            id_type = config["id_types"][0]
        else:
            got = await call.collect(
                [prompts["choose_id_type"]], spec(1, secret=False, terminator=None)
            )
            if not got.digits:
                return note("no_input", step="id_type")
            keys = {str(i): t for i, t in enumerate(config["id_types"], 1)}
            if got.digits not in keys:
                return note("bad_choice", step="id_type")
            id_type = keys[got.digits]
        call.vars[config["id_type_variable"]] = id_type

        # 2. the number
        max_digits = {
            "id_card": ID_CARD_DIGITS,
            "card": CARD_DIGITS[1],
        }.get(id_type, config["account_max_digits"])
        entry = {
            "account": "enter_account",
            "id_card": "enter_id_card",
            "card": "enter_card",
            "unit": "enter_unit",
        }[id_type]
        got = await call.collect([prompts[entry]], spec(max_digits, secret=config["mask_id"]))
        login_id = got.digits
        if not login_id:
            return note("no_input", step="id", id_type=id_type)
        problem = self._id_problem(id_type, login_id, config)
        if problem:
            return note(problem, step="id", id_type=id_type, digits=len(login_id))
        if id_type == "id_card":
            login_id = normalise_id_card(login_id)
        shown = mask_id(login_id)

        # 3. the PIN: secret from the moment it is typed
        got = await call.collect([prompts["enter_pin"]], spec(PIN_DIGITS, secret=True))
        pin = got.digits
        if not pin:
            return note("no_input", step="pin", id_type=id_type, id=shown)
        if len(pin) != PIN_DIGITS or not pin.isdigit():
            return note("bad_pin", step="pin", id_type=id_type, id=shown)

        # 4. the fund system decides
        scope = "employer" if id_type == "unit" else "personal"
        try:
            result = await backend.authenticate(scope, id_type, login_id, pin)  # type: ignore[arg-type]
        except FundUnavailable as exc:
            return note("unavailable", id_type=id_type, id=shown, why=exc.reason)
        if result.status == "ok":
            call.vars[config["subject_variable"]] = result.subject_id
            return note("ok", id_type=id_type, id=shown)
        if result.status == "locked":
            until = result.locked_until.isoformat() if result.locked_until else None
            return note("locked", id_type=id_type, id=shown, locked_until=until)
        return note("wrong_pin", id_type=id_type, id=shown, remaining=result.remaining)

    @staticmethod
    def _id_problem(id_type: str, login_id: str, config: dict[str, Any]) -> str | None:
        if id_type == "id_card":
            if len(login_id) != ID_CARD_DIGITS:
                return "bad_id"
            return None if id_card_valid(login_id) else "bad_id_card"
        if not login_id.isdigit():
            return "bad_id"
        low, high = (
            CARD_DIGITS
            if id_type == "card"
            else (config["account_min_digits"], config["account_max_digits"])
        )
        return None if low <= len(login_id) <= high else "bad_id"


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
