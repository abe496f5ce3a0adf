"""A passive circuit breaker per provider: after ``failures`` failures in a row (no connection, a
timeout, a 5xx answer) the provider is skipped, so its route's fallbacks answer at once instead of
after another timeout, for ``cooldown`` seconds; then one request tests it (the others still skip
it), and its outcome closes the breaker or opens it for another cooldown.

State is per process (each worker judges on its own traffic) and kept across reloads for a
provider whose settings did not change.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Breaker"]

_CLOSED, _OPEN, _TESTING = "closed", "open", "testing"


class Breaker:
    __slots__ = ("_limit", "_cooldown", "_clock", "_failures", "_state", "_until")

    def __init__(self, failures: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit, self._cooldown, self._clock = failures, cooldown, clock
        self._failures = 0
        self._state = _CLOSED
        self._until = 0.0   # open: when a request may test the provider again

    @property
    def available(self) -> bool:
        """Whether a request would be let through now (without taking the test slot)."""
        return self._state == _CLOSED or (self._state == _OPEN and self._clock() >= self._until)

    @property
    def state(self) -> str:
        return _CLOSED if self._state == _CLOSED else "open" if not self.available else "cooling-down-over"

    def retry_in(self) -> float:
        """Seconds until a request may test the provider again (0 when it may now)."""
        return max(0.0, self._until - self._clock()) if self._state == _OPEN else 0.0

    def allow(self) -> bool:
        """Whether this request may use the provider; after the cooldown, the first one may (the
        test), and the others wait for its outcome."""
        if self._state == _CLOSED:
            return True
        if self._state == _OPEN and self._clock() >= self._until:
            self._state = _TESTING
            return True
        return False

    def success(self) -> None:
        self._failures, self._state = 0, _CLOSED

    def failure(self) -> bool:
        """Count a failure; True when it opened the breaker."""
        if self._limit == 0:
            return False
        self._failures += 1
        if self._state == _TESTING or self._failures >= self._limit:
            opened = self._state != _OPEN
            self._state, self._until = _OPEN, self._clock() + self._cooldown
            return opened
        return False
