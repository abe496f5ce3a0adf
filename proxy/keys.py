"""A provider's key pool: requests spread over several keys of one account (a single key is the
whole team's rate limit), with affinity: requests of one conversation stay on one key, so the
provider's prompt cache (keyed per organisation and often per key) keeps hitting.

The key for a request is chosen by rendezvous hashing of its affinity (the conversation, else the
client's key) over the usable keys, so affinity survives other keys resting or leaving. A key
answered with 429 rests for its Retry-After; a key answered with 401/403 is set aside for good
(logged, masked) until the config changes. State is per process.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable

import structlog

__all__ = ["KeyPool"]

log = structlog.get_logger("dragoman")
_DEFAULT_REST = 30.0   # seconds a rate-limited key rests when the answer said nothing


class KeyPool:
    __slots__ = ("_provider", "_keys", "_resting", "_disabled", "_clock", "_turn")

    def __init__(self, provider: str, keys: tuple[str, ...], clock: Callable[[], float] = time.monotonic) -> None:
        self._provider = provider
        self._keys = keys
        self._resting: dict[str, float] = {}   # key -> when it may be used again
        self._disabled: set[str] = set()
        self._clock = clock
        self._turn = itertools.count()          # spreads requests without affinity

    def __len__(self) -> int:
        return len(self._keys)

    def order(self, affinity: str | None) -> list[str]:
        """The keys to try, best first: usable keys by the affinity's ranking (or in turn without
        one), then resting keys by when they rest until; disabled keys never."""
        now = self._clock()
        usable = [k for k in self._keys if k not in self._disabled and self._resting.get(k, 0.0) <= now]
        if affinity:
            usable.sort(key=lambda k: _score(affinity, k), reverse=True)
        elif usable:
            start = next(self._turn) % len(usable)
            usable = usable[start:] + usable[:start]
        resting = sorted((k for k in self._keys if k not in self._disabled and k not in usable),
                         key=lambda k: self._resting[k])
        return usable + resting

    def rest(self, key: str, seconds: float | None) -> None:
        self._resting[key] = self._clock() + (seconds if seconds is not None else _DEFAULT_REST)
        log.warning("provider key rate-limited, resting", provider=self._provider, key=mask(key),
                    seconds=round(self._resting[key] - self._clock(), 1))

    def disable(self, key: str, status: int) -> None:
        if key not in self._disabled:
            self._disabled.add(key)
            log.error("provider key refused, set aside until the config changes", provider=self._provider,
                      key=mask(key), status=status)


def _score(affinity: str, key: str) -> int:
    digest = hashlib.blake2b(f"{affinity}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def mask(key: str) -> str:
    """A key as logs may show it: enough to tell which, never enough to use."""
    return key[:3] + "…" + key[-2:] if len(key) > 12 else "***"
