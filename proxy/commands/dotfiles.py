"""Editing a client's own config files (``dragoman setup``): merge, back up, write, undo.

An edit names the keys dragoman owns in a file (``managed``), the values it sets (``values``) and
what it must take out (``removed``); everything else in the file is the user's and is kept. Rules, so that setup is safe to run twice
and undo never loses anyone's work:

- a key is written only when its value differs, so a second run changes nothing (and a TOML
  line keeps its comment);
- the file is backed up once, byte for byte, before dragoman first writes it (``X.dragoman-backup``;
  ``X.dragoman-created`` when there was no file), and a later run never overwrites that backup;
- writes go to a temporary file in the same directory, then ``os.replace``, keeping the mode
  (a new file is 0600: it may hold a key); a symlinked file is written through the link;
- undo restores the backup byte for byte when the file differs from it only in dragoman's keys;
  when something else changed the file since (Claude Code rewrites ~/.claude.json as it runs),
  it puts back only dragoman's keys and keeps the rest.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import tempfile
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import tomlkit
import tomlkit.exceptions
from tomlkit.items import Table

__all__ = ["Edit", "EditError", "plan", "write", "undo", "shown", "BACKUP", "CREATED"]

BACKUP = ".dragoman-backup"
CREATED = ".dragoman-created"
KeyPath = tuple[str, ...]
_MISSING = object()


class EditError(Exception):
    """A file cannot be edited (it does not parse, or holds the wrong shape); nothing was written."""


@dataclass(frozen=True)
class Edit:
    path: Path
    format: Literal["json", "toml"]
    values: dict[KeyPath, Any]                            # leaf key paths -> the values dragoman sets
    managed: tuple[KeyPath, ...] = field(default=())      # what undo takes back (defaults to values' keys)
    removed: tuple[KeyPath, ...] = field(default=())      # what setup takes out (undo puts it back)

    @property
    def owned(self) -> tuple[KeyPath, ...]:
        return (self.managed or tuple(self.values)) + self.removed


def shown(path: Path) -> str:
    """``path`` as the user knows it: ``~/...`` under $HOME."""
    home = Path.home()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _read(path: Path) -> str | None:
    try:
        return _real(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


# -- documents: JSON objects and tomlkit documents, both MutableMappings -----------------------

def _parse(edit: Edit, text: str | None) -> MutableMapping[str, Any]:
    if text is None or not text.strip():
        return {} if edit.format == "json" else tomlkit.document()
    try:
        data = json.loads(text) if edit.format == "json" else tomlkit.parse(text)
    except (ValueError, tomlkit.exceptions.TOMLKitError) as exc:
        raise EditError(f"{shown(edit.path)} is not valid {edit.format.upper()} ({exc}); fix it or move it away, "
                        "then run this again") from None
    if not isinstance(data, MutableMapping):
        raise EditError(f"{shown(edit.path)} does not hold a {edit.format.upper()} object at the top level")
    return data


def _dump(edit: Edit, data: MutableMapping[str, Any]) -> str:
    if edit.format == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return tomlkit.dumps(data).rstrip("\n") + "\n"  # a new last table's blank line is not kept


def _child(edit: Edit, parent: MutableMapping[str, Any], key: str) -> MutableMapping[str, Any] | None:
    child = parent.get(key)
    if child is not None and not isinstance(child, MutableMapping):
        raise EditError(f"{shown(edit.path)}: {key} is not a table/object, so dragoman cannot add its keys to it")
    return child


def _set(edit: Edit, data: MutableMapping[str, Any], path: KeyPath, values: Mapping[str, Any]) -> bool:
    """Set ``values`` in the table at ``path`` (created when missing); True when anything changed.
    TOML: the tables above it are super tables (only ``[model_providers.dragoman]`` is written) and
    a new table is filled before it is added, so it is followed by a blank line, not preceded."""
    node = data
    for i, key in enumerate(path):
        child = _child(edit, node, key)
        if child is None:
            if i < len(path) - 1:
                node[key] = {} if edit.format == "json" else tomlkit.table(is_super_table=True)
            else:
                table: MutableMapping[str, Any] = {} if edit.format == "json" else tomlkit.table()
                table.update(values)
                if isinstance(table, Table):
                    table.add(tomlkit.nl())
                node[key] = table
                return True
            child = node[key]
        node = child
    changed = False
    for key, value in values.items():
        if key not in node or node[key] != value:
            node[key] = value
            changed = True
    return changed


def _get(data: Mapping[str, Any], path: KeyPath) -> Any:
    node: Any = data
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return _MISSING
        node = node[key]
    return node


def _delete(data: MutableMapping[str, Any], path: KeyPath) -> None:
    """Remove ``path``, and the parents that were only there to hold it."""
    parents: list[MutableMapping[str, Any]] = [data]
    for key in path[:-1]:
        child = parents[-1].get(key)
        if not isinstance(child, MutableMapping):
            return
        parents.append(child)
    parents[-1].pop(path[-1], None)
    for depth in range(len(path) - 1, 0, -1):
        if len(parents[depth]) == 0:
            parents[depth - 1].pop(path[depth - 1], None)



def _without_owned(edit: Edit, text: str | None) -> Any:
    """The file's data without dragoman's keys: what must be equal for a byte-for-byte undo."""
    data = _parse(edit, text)
    plain = data.unwrap() if isinstance(data, tomlkit.TOMLDocument) else copy.deepcopy(dict(data))
    for path in edit.owned:
        _delete(plain, path)
    return plain


# -- setup and undo ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Planned:
    edit: Edit
    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        name = shown(self.edit.path)
        return "".join(difflib.unified_diff((self.before or "").splitlines(keepends=True),
                                            self.after.splitlines(keepends=True),
                                            fromfile=name if self.before is not None else "/dev/null", tofile=name))


def plan(edit: Edit) -> Planned:
    """The file's text after the edit (the same text when it already holds dragoman's values)."""
    before = _read(edit.path)
    data = _parse(edit, before)
    tables: dict[KeyPath, dict[str, Any]] = {}
    for path, value in edit.values.items():
        tables.setdefault(path[:-1], {})[path[-1]] = value
    changed = False
    for path, values in tables.items():
        changed |= _set(edit, data, path, values)
    for path in edit.removed:
        if _get(data, path) is not _MISSING:
            _delete(data, path)
            changed = True
    if not changed and before is not None:
        return Planned(edit, before, before)  # already set up: the user's text stays as it is
    return Planned(edit, before, _dump(edit, data))


def write(planned: Planned) -> str:
    """Back the file up (once), write the new text; a line saying what happened."""
    path = _real(planned.edit.path)
    backup, created = path.with_name(path.name + BACKUP), path.with_name(path.name + CREATED)
    saved = ""
    if not backup.exists() and not created.exists():
        if planned.before is None:
            _atomic_write(created, b"", 0o600)
        else:
            _atomic_write(backup, path.read_bytes(), path.stat().st_mode & 0o7777)
            saved = f" (backup: {shown(planned.edit.path)}{BACKUP})"
    _atomic_write(path, planned.after.encode("utf-8"), None)
    return f"updated {shown(planned.edit.path)}{saved}"


def undo(edit: Edit) -> str:
    path = _real(edit.path)
    backup, created = path.with_name(path.name + BACKUP), path.with_name(path.name + CREATED)
    name = shown(edit.path)
    if not backup.exists() and not created.exists():
        return f"nothing to undo in {name} (no {BACKUP} or {CREATED} file next to it)"
    original = backup.read_text(encoding="utf-8") if backup.exists() else None
    current = _read(edit.path)
    if current is not None and _without_owned(edit, current) != _without_owned(edit, original):
        # changed since by someone else: take back dragoman's keys only, keep the rest
        data = _parse(edit, current)
        before = _parse(edit, original)
        for key in edit.owned:
            value = _get(before, key)
            if value is _MISSING:
                _delete(data, key)
            else:
                _set(edit, data, key[:-1], {key[-1]: value})
        _atomic_write(path, _dump(edit, data).encode("utf-8"), None)
        (backup if backup.exists() else created).unlink()
        return f"took dragoman's settings out of {name} (it changed since setup, so the rest is kept as it is now)"
    if backup.exists():
        os.replace(backup, path)
        return f"restored {name} from {name}{BACKUP}"
    path.unlink(missing_ok=True)
    created.unlink()
    return f"removed {name} (dragoman had created it)"


def _atomic_write(path: Path, data: bytes, mode: int | None) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``: a reader never sees
    half a file. ``mode`` None: the file's own mode, or 0600 for a new file."""
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o600
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
