"""The plugin's node types (the ``ivrflow.nodes`` entry point names :data:`NODES`)."""

from __future__ import annotations

from ivrflow_fund.appointment import (
    FundAppointmentBook,
    FundAppointmentCancel,
    FundAppointmentDates,
    FundAppointmentLookup,
    FundAppointmentSlots,
)
from ivrflow_fund.auth import FundAuth
from ivrflow_fund.query import FundAccountQuery, FundEmployerQuery, FundLoanQuery

__all__ = [
    "NODES",
    "FundAccountQuery",
    "FundAppointmentBook",
    "FundAppointmentCancel",
    "FundAppointmentDates",
    "FundAppointmentLookup",
    "FundAppointmentSlots",
    "FundAuth",
    "FundEmployerQuery",
    "FundLoanQuery",
]

NODES = (
    FundAuth,
    FundAccountQuery,
    FundLoanQuery,
    FundEmployerQuery,
    FundAppointmentDates,
    FundAppointmentSlots,
    FundAppointmentBook,
    FundAppointmentLookup,
    FundAppointmentCancel,
)
