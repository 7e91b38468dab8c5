"""The query nodes: personal account, loan and employer account from the fund system.

Each reads the id that ``fund.auth`` stored (``id_variable``, ``fund_id`` by default), asks
``call.resources["fund"]`` and sets flow variables a ``core.say`` node reads out: amounts as
decimal strings in yuan (``"12345.67"``, said as 元角分 by ``kind: money``), dates as
``YYYY-MM-DD`` (``kind: date``), counts as integers, states as codes (for a ``core.branch``).

Exits: ``ok``; ``not_found`` (no id — the caller is not authenticated — or no such
account; the loan query's ``no_loan`` when the person has none); ``unavailable`` (timeout,
5xx, invalid response, breaker open).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

from ivrflow_fund.backend import FundBackend, FundNotFound, FundUnavailable
from nodes.api import Node
from runtime.call import Call

__all__ = ["FundAccountQuery", "FundEmployerQuery", "FundLoanQuery"]

RESOURCE = "fund"
VAR = "^[A-Za-z_][A-Za-z0-9_]{0,63}$"


def _variables(fields: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    return {
        "type": "object",
        "title": "结果存入变量 / Results into variables",
        "additionalProperties": False,
        "default": {},
        "properties": {
            name: {
                "type": "string",
                "title": title,
                "pattern": VAR,
                "x-ivrflow": "variable-out",
                "default": default,
            }
            for name, (title, default) in fields.items()
        },
    }


def _value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, date):
        return value.isoformat()
    return value


class _FundQuery(Node):
    abstract = True
    category = "integration"
    fields: ClassVar[dict[str, tuple[str, str]]] = {}
    missing_exit: ClassVar[str] = "not_found"
    lookup: ClassVar[str] = ""
    """The :class:`~ivrflow_fund.backend.FundBackend` method that fetches the record."""
    timeout_s = 15.0  # the connector's own timeout (3 s) comes first

    @classmethod
    def _schema(cls, fields: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
        return {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "id_variable": {
                    "type": "string",
                    "title": "编号变量（身份验证设置）/ Id variable (set by authentication)",
                    "pattern": VAR,
                    "x-ivrflow": "variable-in",
                    "default": "fund_id",
                },
                "variables": _variables(fields),
            },
        }

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        backend: FundBackend | None = call.resources.get(RESOURCE)
        subject = call.vars.get(config["id_variable"])
        if backend is None:
            call.note("fund_query", result="unavailable", detail="no fund system configured")
            return "unavailable"
        if not isinstance(subject, str) or not subject:
            call.note("fund_query", result="not_found", detail="no id: not authenticated")
            return "not_found"
        try:
            record = await getattr(backend, self.lookup)(subject)
        except FundUnavailable as exc:
            call.note("fund_query", result="unavailable", why=exc.reason)
            return "unavailable"
        except FundNotFound:
            call.note("fund_query", result=self.missing_exit)
            return self.missing_exit
        for field, variable in config["variables"].items():
            call.vars[variable] = _value(getattr(record, field))
        call.note("fund_query", result="ok")
        return "ok"


class FundAccountQuery(_FundQuery):
    type = "fund.account_query"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "个人账户查询", "en": "Personal account"}
    description: ClassVar[dict[str, str]] = {
        "zh": "查询个人住房公积金账户：余额、月缴存额、最近缴存日期、账户状态，存入变量供播报。",
        "en": "Looks up the personal fund account: balance, monthly deposit, last deposit "
        "date and status, into variables to read out.",
    }
    fields: ClassVar[dict[str, tuple[str, str]]] = {
        "balance": ("余额 / Balance", "balance"),
        "monthly_deposit": ("月缴存额 / Monthly deposit", "monthly_deposit"),
        "last_deposit_date": ("最近缴存日期 / Last deposit date", "last_deposit_date"),
        "status": ("账户状态 / Status", "account_status"),
    }
    config_schema: ClassVar[dict[str, Any]] = _FundQuery._schema(fields)
    exits = ("ok", "not_found", "unavailable")
    exit_titles: ClassVar[dict[str, dict[str, str]]] = {
        "not_found": {"zh": "无此账户", "en": "Not found"}
    }

    lookup = "personal_account"


class FundLoanQuery(_FundQuery):
    type = "fund.loan_query"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "贷款查询", "en": "Loan"}
    description: ClassVar[dict[str, str]] = {
        "zh": "查询住房公积金贷款：贷款余额、剩余期数、月还款额、下次还款日、办理进度。",
        "en": "Looks up the fund loan: balance, remaining months, monthly repayment, next due "
        "date and application progress.",
    }
    fields: ClassVar[dict[str, tuple[str, str]]] = {
        "balance": ("贷款余额 / Loan balance", "loan_balance"),
        "remaining_months": ("剩余期数（月）/ Remaining months", "loan_remaining_months"),
        "monthly_repayment": ("月还款额 / Monthly repayment", "loan_monthly_repayment"),
        "next_due_date": ("下次还款日 / Next due date", "loan_next_due_date"),
        "progress": ("办理进度 / Application progress", "loan_progress"),
    }
    config_schema: ClassVar[dict[str, Any]] = _FundQuery._schema(fields)
    exits = ("ok", "no_loan", "not_found", "unavailable")
    missing_exit = "no_loan"
    exit_titles: ClassVar[dict[str, dict[str, str]]] = {
        "no_loan": {"zh": "无贷款", "en": "No loan"},
        "not_found": {"zh": "未验证身份", "en": "Not authenticated"},
    }

    lookup = "loan"


class FundEmployerQuery(_FundQuery):
    type = "fund.employer_query"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "单位账户查询", "en": "Employer account"}
    description: ClassVar[dict[str, str]] = {
        "zh": "查询单位住房公积金账户：单位名称、缴存状态、缴存人数、缴至年月。",
        "en": "Looks up the employer's fund account: name, deposit status, headcount and the "
        "date deposits are paid until.",
    }
    fields: ClassVar[dict[str, tuple[str, str]]] = {
        "name": ("单位名称 / Name", "unit_name"),
        "deposit_status": ("缴存状态 / Deposit status", "unit_deposit_status"),
        "headcount": ("缴存人数 / Headcount", "unit_headcount"),
        "paid_until": ("缴至 / Paid until", "unit_paid_until"),
    }
    config_schema: ClassVar[dict[str, Any]] = _FundQuery._schema(fields)
    exits = ("ok", "not_found", "unavailable")
    exit_titles: ClassVar[dict[str, dict[str, str]]] = {
        "not_found": {"zh": "无此单位", "en": "Not found"}
    }

    lookup = "employer_account"
