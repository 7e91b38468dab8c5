"""A circuit breaker: when the fund system is down, fail at once instead of making every
caller wait for the timeout.

* **closed** — calls go through; ``failures`` consecutive failures open it;
* **open** — calls fail at once (:class:`~ivrflow_fund.backend.FundUnavailable`
  ``breaker_open``) for ``reset_s`` seconds;
* **half-open** — after the cool-down one call (the probe) goes through while the others
  still fail at once; its success closes the breaker, its failure opens it for another
  cool-down.

One breaker per connector, i.e. per process (each designer worker / runtime has its own).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ivrflow_fund.backend import FundUnavailable

__all__ = ["CircuitBreaker"]

log = logging.getLogger("ivrflow.fund")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    def __init__(
        self,
        failures: int = 5,
        reset_s: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1 or reset_s <= 0:
            raise ValueError("a breaker needs failures >= 1 and reset_s > 0")
        self.threshold = failures
        self.reset_s = reset_s
        self._clock = clock
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._lock = threading.Lock()  # designer workers may share it between threads

    @property
    def state(self) -> str:
        if self._state == OPEN and self._clock() - self._opened_at >= self.reset_s:
            return HALF_OPEN
        return self._state

    def before(self) -> None:
        """Ask to make a call: raises ``FundUnavailable("breaker_open")`` when it may not."""
        with self._lock:
            self._before()

    def _before(self) -> None:
        state = self.state
        if state == CLOSED:
            return
        if state == HALF_OPEN and not self._probing:
            self._state = HALF_OPEN
            self._probing = True
            log.info("fund system breaker half-open: probing")
            return
        raise FundUnavailable("breaker_open")

    def success(self) -> None:
        with self._lock:
            self._success()

    def _success(self) -> None:
        if self._state != CLOSED:
            log.warning("fund system breaker closed: the system answers again")
        self._state = CLOSED
        self._failures = 0
        self._probing = False

    def failure(self) -> None:
        with self._lock:
            self._failure()

    def _failure(self) -> None:
        self._failures += 1
        if self._state == HALF_OPEN or self._failures >= self.threshold:
            if self._state != OPEN:
                log.warning(
                    "fund system breaker open for %.0f s after %d consecutive failure(s)",
                    self.reset_s,
                    self._failures,
                )
            self._state = OPEN
            self._opened_at = self._clock()
            self._probing = False

    def release(self) -> None:
        """The call ended neither way (cancelled: the caller hung up): free the probe."""
        with self._lock:
            self._probing = False
