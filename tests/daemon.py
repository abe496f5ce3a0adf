"""The real daemon as a subprocess, for tests of what only a process shows: signals, reload,
drain, systemd notifications, workers. Its JSON log lines are read as they come."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    """``dragoman serve`` with a config file the test may rewrite."""

    def __init__(self, config_path: Path, port: int | None = None) -> None:
        self.config_path = config_path
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lines: list[dict[str, Any]] = []
        self.text: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def start(self, *args: str, env: dict[str, str] | None = None, wait_for: str = "dragoman started") -> Daemon:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "proxy", "serve", "--config", str(self.config_path), "--port", str(self.port), *args,
            cwd=ROOT, env={**os.environ, **(env or {})}, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        self._reader = asyncio.get_running_loop().create_task(self._read())
        if wait_for:
            await self.wait_for(wait_for)
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            text = line.decode(errors="replace").rstrip("\n")
            self.text.append(text)
            try:
                self.lines.append(json.loads(text))
            except ValueError:
                pass
            self._changed.set()
        self._changed.set()

    async def wait_for(self, event: str, count: int = 1, timeout: float = 20) -> dict[str, Any]:
        """The ``count``-th log line whose event is ``event`` (waiting for it)."""
        try:
            return await self._wait_for(event, count, timeout)
        except TimeoutError:
            raise AssertionError(f"no {event!r} (x{count}) within {timeout} s; the daemon said:\n{self.log()}") from None

    async def _wait_for(self, event: str, count: int, timeout: float) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                found = [line for line in self.lines if line.get("event") == event]
                if len(found) >= count:
                    return found[count - 1]
                if self.proc is not None and self.proc.returncode is not None and self._reader is not None \
                        and self._reader.done():
                    raise AssertionError(f"the daemon exited before logging {event!r}:\n" + "\n".join(self.text[-40:]))
                self._changed.clear()
                await self._changed.wait()

    def send(self, signum: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    async def exit_code(self, timeout: float = 30) -> int:
        assert self.proc is not None
        async with asyncio.timeout(timeout):
            code = await self.proc.wait()
            if self._reader is not None:
                await self._reader
        return code

    async def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    def log(self) -> str:
        return "\n".join(self.text[-60:])
