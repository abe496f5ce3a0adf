"""Recent translated responses, for ``previous_response_id``: bounded in count, bytes and age.

A Responses client may continue a conversation by naming the previous response instead of
sending it again. Providers that speak the Responses API keep their own; for answers dragoman
translated from another dialect, it keeps the conversation itself: the input items and the
output items of each response a client did not ask to leave unstored (``store: false``, what
Codex sends, stores nothing). Entries are kept serialized (compact, and their size is exact),
oldest dropped first. The store is per process: with several workers or machines, a client must
reach the same one to continue (documented in the README), or send its history itself.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson

__all__ = ["ResponseStore"]


class ResponseStore:
    __slots__ = ("_entries", "_bytes", "_max_entries", "_max_bytes", "_ttl", "_clock")

    def __init__(self, max_entries: int, max_bytes: int, ttl: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0
        self._max_entries, self._max_bytes, self._ttl, self._clock = max_entries, max_bytes, ttl, clock

    @property
    def enabled(self) -> bool:
        return self._max_entries > 0

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, response_id: str, conversation: bytes, output: list[dict[str, Any]]) -> None:
        """Remember a response: ``conversation`` is the request's input items (a serialized JSON
        list), ``output`` the response's output items."""
        if not self.enabled:
            return
        tail = orjson.dumps(output)
        joined = conversation[:-1] + (b"," if len(conversation) > 2 and len(tail) > 2 else b"") + tail[1:]
        if len(joined) > self._max_bytes:
            return  # larger than the whole store: not kept
        self._drop(response_id)
        self._entries[response_id] = (self._clock() + self._ttl, joined)
        self._bytes += len(joined)
        while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
            self._drop(next(iter(self._entries)))

    def get(self, response_id: str) -> list[dict[str, Any]] | None:
        """The whole conversation up to and including ``response_id``'s output; None when unknown
        or expired."""
        entry = self._entries.get(response_id)
        if entry is None:
            return None
        if entry[0] < self._clock():
            self._drop(response_id)
            return None
        items: list[dict[str, Any]] = orjson.loads(entry[1])
        return items

    def _drop(self, response_id: str) -> None:
        entry = self._entries.pop(response_id, None)
        if entry is not None:
            self._bytes -= len(entry[1])
