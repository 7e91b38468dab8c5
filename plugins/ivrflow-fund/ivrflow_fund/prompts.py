"""The default prompts of the fund nodes, with their script text.

The nodes' configs name prompts by id (``x-ivrflow: prompt``, so a flow must have them); the
defaults are the ids below. Copy :data:`PROMPTS` into a flow's ``prompts`` (or
``{**flow["prompts"], **PROMPTS}``) to get them with this text, then record or re-word them.
"""

from __future__ import annotations

__all__ = ["APPOINTMENT_PROMPTS", "AUTH_PROMPTS", "PROMPTS"]


def _p(zh: str, en: str) -> dict[str, dict[str, str]]:
    return {"text": {"zh-CN": zh, "en-US": en}}


AUTH_PROMPTS: dict[str, dict[str, dict[str, str]]] = {
    "fund_auth_choose_id_type": _p(
        "请选择登录方式：公积金账号请按1，身份证号请按2，联名卡号请按3。",
        "To sign in with your fund account number press 1, ID card number 2, co-branded card 3.",
    ),
    "fund_auth_enter_account": _p(
        "请输入您的住房公积金账号，以井号键结束。",
        "Enter your housing fund account number, then the hash key.",
    ),
    "fund_auth_enter_id_card": _p(
        "请输入您的十八位身份证号码，末位为X请按星号键。",
        "Enter your 18-digit ID card number; for a final X press star.",
    ),
    "fund_auth_enter_card": _p(
        "请输入您的住房公积金联名卡号，以井号键结束。",
        "Enter your co-branded card number, then the hash key.",
    ),
    "fund_auth_enter_unit": _p(
        "请输入单位住房公积金账号，以井号键结束。",
        "Enter your employer's fund account number, then the hash key.",
    ),
    "fund_auth_enter_pin": _p(
        "请输入六位查询密码。",
        "Enter your six-digit PIN.",
    ),
    "fund_auth_no_input": _p(
        "没有收到您的按键，请重新输入。",
        "We did not receive any input. Please try again.",
    ),
    "fund_auth_invalid_choice": _p(
        "您的按键有误，请重新选择。",
        "That key is not an option. Please choose again.",
    ),
    "fund_auth_id_invalid": _p(
        "您输入的号码位数不正确，请重新输入。",
        "That number has the wrong length. Please try again.",
    ),
    "fund_auth_id_card_invalid": _p(
        "您输入的身份证号码有误，请核对后重新输入。",
        "That ID card number is not valid. Please check it and try again.",
    ),
    "fund_auth_pin_format": _p(
        "密码应为六位数字，请重新输入。",
        "The PIN has six digits. Please try again.",
    ),
    "fund_auth_pin_wrong": _p(
        "账号或密码错误，请重新输入。",
        "The number or PIN is wrong. Please try again.",
    ),
}

APPOINTMENT_PROMPTS: dict[str, dict[str, dict[str, str]]] = {
    # played by the appointment nodes
    "fund_appt_dates_intro": _p(
        "请选择预约日期。",
        "Please choose the day of your appointment.",
    ),
    "fund_appt_slots_intro": _p(
        "请选择预约时段。",
        "Please choose the time of your appointment.",
    ),
    "fund_appt_press": _p("请按", "press"),
    "fund_appt_to": _p("至", "to"),
    "fund_appt_no_input": _p(
        "没有收到您的按键。",
        "We did not receive any input.",
    ),
    "fund_appt_invalid": _p(
        "您的按键有误。",
        "That key is not an option.",
    ),
    # for the flow around them (the nodes' exits)
    "fund_appt_none": _p(
        "近期没有可预约的日期，请稍后再拨或直接前往服务网点办理。",
        "There are no appointments available in the coming days. Please call again later or "
        "visit a service centre.",
    ),
    "fund_appt_full": _p(
        "该日期已约满，请选择其他日期。",
        "That day is fully booked. Please choose another day.",
    ),
    "fund_appt_taken": _p(
        "很抱歉，您选择的时段刚刚约满，请重新选择。",
        "Sorry, that time has just been taken. Please choose again.",
    ),
    "fund_appt_duplicate": _p(
        "您已预约过该项业务，预约码为",
        "You already have an appointment for this service; its code is",
    ),
    "fund_appt_booked": _p(
        "预约成功，您的预约码为",
        "Your appointment is booked. Your confirmation code is",
    ),
    "fund_appt_sms": _p(
        "预约信息将以短信发送到您的手机。",
        "The details will be sent to your phone by text message.",
    ),
    "fund_appt_found": _p(
        "您的预约为",
        "Your appointment is on",
    ),
    "fund_appt_not_found": _p(
        "没有查询到您的预约。",
        "We found no appointment for your number.",
    ),
    "fund_appt_cancelled": _p(
        "您的预约已取消。",
        "Your appointment has been cancelled.",
    ),
}

PROMPTS: dict[str, dict[str, dict[str, str]]] = {**AUTH_PROMPTS, **APPOINTMENT_PROMPTS}
