"""Bounds on the work a JSON document may cause, checked on its bytes before it is parsed."""

from __future__ import annotations

__all__ = ["json_value_bound", "BIG_EVENT"]

# Events smaller than this are parsed without counting: their worst case is microseconds.
BIG_EVENT = 64 * 1024


def json_value_bound(data: bytes) -> int:
    """An upper bound on the number of JSON values in ``data``: every value but the first follows a
    comma or opens a container. Three C-speed counts (about 1 ms per MB), so a body can be judged
    before ``orjson.loads`` spends a second and a gigabyte on a million tiny objects. Commas and
    brackets inside strings count too: the bound is loose for prose and code, exact for the
    attack (base64 and ordinary text have few)."""
    return data.count(b",") + data.count(b"{") + data.count(b"[") + 1
