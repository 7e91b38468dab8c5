"""Agent history: which agent served a caller before (for "sticky agent" routing).

``core.transfer_queue`` with ``sticky_agent`` enabled asks the resource named
:data:`AGENT_HISTORY` (``call.resources["ivrflow.agent_history"]``) for the agent who last
answered the caller, and offers the call to that agent first. The runtime service provides one
backed by the call records (:class:`runtime.store.history.CallRecordHistory`); without the
resource the node simply skips stickiness.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = ["AGENT_HISTORY", "AgentHistory", "AgentRef"]

AGENT_HISTORY = "ivrflow.agent_history"
"""The resource key under which nodes find the :class:`AgentHistory`."""


@dataclass(frozen=True, slots=True)
class AgentRef:
    """An agent who answered a caller: the name Asterisk reported (queue member name), the
    device interface (e.g. ``PJSIP/8001``) and when that call started."""

    name: str
    interface: str
    at: datetime


@runtime_checkable
class AgentHistory(Protocol):
    async def last_agent(self, caller: str, *, since: datetime) -> AgentRef | None:
        """The agent who answered ``caller``'s newest call that started at or after ``since``
        (only calls with a known agent interface count), or None."""
