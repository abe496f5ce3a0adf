"""``dragoman setup claude-code|codex [--dry-run | --undo]``: point a client at dragoman for good.

Claude Code: the ``env`` block of ``~/.claude/settings.json`` (base URL, key, and the model
variables where the config names models: proxy/commands/common.py) and ``hasCompletedOnboarding``
in ``~/.claude.json``, without which its first interactive run stops at "Unable to connect to
Anthropic services". Both live in ``$CLAUDE_CONFIG_DIR`` when that is set, as Claude Code does it.

Codex: a ``[model_providers.dragoman]`` block in ``$CODEX_HOME/config.toml`` (default ``~/.codex``)
and the ``dragoman`` profile that selects it; the key stays out of the files, in the variable named
by ``env_key``. Codex's default provider is left alone: ``codex --profile dragoman`` uses dragoman.
Since Codex 0.134.0 a profile is a file of its own, ``$CODEX_HOME/dragoman.config.toml`` (top-level
keys layered over config.toml), and ``--profile dragoman`` refuses to run while config.toml still
holds a legacy ``[profiles.dragoman]`` table: setup writes the file and takes such a table out
(undo puts it back). Older Codex versions: ``dragoman codex`` works with every version.

How files are merged, backed up and restored: proxy/commands/dotfiles.py.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from ..config import Config
from .common import CODEX_ENV_KEY, FAMILIES, base_url, claude_model_env, client_key, codex_model, load
from .dotfiles import Edit, EditError, plan, shown, undo, write

__all__ = ["run", "claude_code_edits", "codex_edits", "TARGETS"]

_CLAUDE_ENV = ("ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN",
               *(f"ANTHROPIC_DEFAULT_{family.upper()}_MODEL" for family in FAMILIES))


def _claude_dir() -> tuple[Path, Path]:
    """(settings.json, .claude.json): ~/.claude/settings.json and ~/.claude.json, or both in
    $CLAUDE_CONFIG_DIR."""
    if configured := os.environ.get("CLAUDE_CONFIG_DIR"):
        return Path(configured) / "settings.json", Path(configured) / ".claude.json"
    return Path.home() / ".claude" / "settings.json", Path.home() / ".claude.json"


def codex_config_file(name: str = "config") -> Path:
    """$CODEX_HOME/config.toml, or a profile's file ($CODEX_HOME/NAME.config.toml)."""
    return Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex") / f"{name}.toml"


def claude_settings_file() -> Path:
    return _claude_dir()[0]


def claude_code_edits(config: Config | None) -> list[Edit]:
    """The two files' edits; ``config`` None: only what undo needs (which keys are dragoman's)."""
    settings, state = _claude_dir()
    env: dict[str, str] = {}
    if config is not None:
        env = {"ANTHROPIC_BASE_URL": base_url(config), "ANTHROPIC_AUTH_TOKEN": client_key(config),
               **claude_model_env(config)}
    return [Edit(settings, "json", {("env", name): value for name, value in env.items()},
                 managed=tuple(("env", name) for name in _CLAUDE_ENV)),
            Edit(state, "json", {("hasCompletedOnboarding",): True} if config is not None else {},
                 managed=(("hasCompletedOnboarding",),))]


def codex_edits(config: Config | None) -> list[Edit]:
    provider: dict[tuple[str, ...], object] = {}
    profile: dict[tuple[str, ...], object] = {}
    if config is not None:
        table = ("model_providers", "dragoman")
        provider = {(*table, "name"): "dragoman", (*table, "base_url"): base_url(config) + "/v1",
                    (*table, "env_key"): CODEX_ENV_KEY, (*table, "wire_api"): "responses"}
        profile = {("model_provider",): "dragoman"}
        if (model := codex_model(config)) is not None:
            profile[("model",)] = model
    return [Edit(codex_config_file(), "toml", provider, managed=(("model_providers", "dragoman"),),
                 removed=(("profiles", "dragoman"),)),
            Edit(codex_config_file("dragoman.config"), "toml", profile, managed=(("model_provider",), ("model",)))]


def _claude_code_notes(config: Config, config_path: str) -> list[str]:
    notes = [f"next: `dragoman serve --config {config_path}` (Claude Code now talks to {base_url(config)}), "
             "then run `claude`"]
    if os.environ.get("ANTHROPIC_API_KEY"):
        notes.append("warning: ANTHROPIC_API_KEY is set in this shell; Claude Code sends it as x-api-key, which "
                     "dragoman reads before the token: unset it where you run claude")
    return notes


def _codex_notes(config: Config, config_path: str) -> list[str]:
    key = ("already set in this shell" if os.environ.get(CODEX_ENV_KEY) == client_key(config)
           else "one of dragoman's auth.api_keys" if config.auth.api_keys else "any value: auth is off")
    return [f"next: `dragoman serve --config {config_path}` (the profile talks to {base_url(config)}/v1), then "
            f"`export {CODEX_ENV_KEY}=...` ({key}) and run `codex --profile dragoman`"]


TARGETS: dict[str, tuple[Callable[[Config | None], list[Edit]], Callable[[Config, str], list[str]]]] = {
    "claude-code": (claude_code_edits, _claude_code_notes),
    "codex": (codex_edits, _codex_notes),
}


def run(target: str, config_path: str, *, dry_run: bool = False, undo_: bool = False) -> int:
    edits_for, notes_for = TARGETS[target]
    if undo_:  # needs no config: the backups and the names of dragoman's keys are enough
        try:
            for edit in edits_for(None):
                print(undo(edit))
        except EditError as exc:
            print(f"dragoman: {exc}", file=sys.stderr)
            return 1
        return 0
    config = load(config_path)
    if config is None:
        return 2
    try:  # every file is read and merged before any is written
        plans = [plan(edit) for edit in edits_for(config)]
    except EditError as exc:
        print(f"dragoman: {exc}", file=sys.stderr)
        return 1
    if dry_run:
        for planned in plans:
            print(planned.diff().rstrip("\n") if planned.changed else f"unchanged: {shown(planned.edit.path)}")
        print("(dry run: nothing written)")
        return 0
    for planned in plans:
        print(write(planned) if planned.changed else f"unchanged: {shown(planned.edit.path)} is already set up")
    if not any(planned.changed for planned in plans):
        print("nothing to do: already set up")
    for line in notes_for(config, config_path):
        print(line)
    return 0
