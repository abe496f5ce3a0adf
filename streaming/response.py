"""The SSE response every streaming endpoint writes to: aiohttp-sse's EventSourceResponse, with a
keepalive that speaks the client's dialect and fires only while the stream is idle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiohttp_sse import EventSourceResponse

__all__ = ["SSEStream"]


class SSEStream(EventSourceResponse):
    """An EventSourceResponse for POST endpoints whose pre-framed bytes go out with ``write()``.

    aiohttp-sse's keepalive is a ``: ping`` comment every interval. Anthropic clients expect an
    ``event: ping`` frame instead, and neither dialect needs one while data is flowing, so the
    ping loop here writes the dialect's ``keepalive`` frame only after ``interval`` seconds in which
    nothing was written.
    """

    def __init__(self, keepalive: bytes, interval: float, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(headers=headers, allow_all_methods=True, ping_interval=interval, sep="\n")
        self._keepalive = keepalive
        self._loop = asyncio.get_running_loop()
        self._last_write = self._loop.time()

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        self._last_write = self._loop.time()
        await super().write(data)

    async def _ping(self) -> None:
        interval = self._ping_interval
        while True:
            idle_until = self._last_write + interval
            now = self._loop.time()
            if now < idle_until:
                await asyncio.sleep(idle_until - now)
                continue
            try:
                async with asyncio.timeout(self._send_timeout):
                    await self.write(self._keepalive)
            except TimeoutError:
                self._abort_transport()  # a peer that never drains: give up on it
                break
            except (ConnectionResetError, RuntimeError):
                break  # the client went away, or the response already ended
