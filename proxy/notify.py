"""systemd's notify protocol (``Type=notify``): one datagram per state change to $NOTIFY_SOCKET.

READY=1 once listening; RELOADING=1 with MONOTONIC_USEC, then READY=1, around a reload; STOPPING=1
when a drain begins; STATUS= lines for ``systemctl status``; WATCHDOG=1 every half of
$WATCHDOG_USEC when the unit sets ``WatchdogSec``. Without $NOTIFY_SOCKET (not under systemd, or a
unit of another type) every call does nothing. See sd_notify(3):
https://www.freedesktop.org/software/systemd/man/latest/sd_notify.html
"""

from __future__ import annotations

import asyncio
import os
import socket
import time

__all__ = ["Notifier"]


class Notifier:
    __slots__ = ("_address", "_watchdog", "_task")

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        if address is not None and address.startswith("@"):
            address = "\0" + address[1:]   # an abstract socket
        self._address = address
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        # WATCHDOG_PID names the process systemd expects the pings from
        self._watchdog = int(usec) / 1e6 if usec.isdigit() and (not pid or pid == str(os.getpid())) else None
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @property
    def watchdog_every(self) -> float | None:
        """Seconds between watchdog pings (half systemd's interval); None when it wants none."""
        return self._watchdog / 2 if self._watchdog is not None and self._address is not None else None

    def send(self, *lines: str) -> None:
        if self._address is None:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            try:
                sock.sendto("\n".join(lines).encode(), self._address)
            except OSError:
                pass  # systemd gone (the unit is stopping): nothing to tell

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def reloading(self) -> None:
        self.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}",
                  "STATUS=reloading the config")

    def stopping(self, status: str) -> None:
        self.send("STOPPING=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def start_watchdog(self) -> None:
        """Ping every half of the watchdog interval, from the event loop: a loop too stuck to
        ping is what the watchdog is for."""
        if self._watchdog is not None and self._address is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._pings(self._watchdog / 2))

    def stop_watchdog(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _pings(self, every: float) -> None:
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(every)
