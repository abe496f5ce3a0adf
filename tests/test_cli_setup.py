"""``dragoman setup claude-code|codex``: merged into the user's files, idempotent, backed up, undone
byte for byte; ``--dry-run`` writes nothing."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import tomlkit

from proxy.commands.common import claude_model_env, codex_model
from proxy.config import parse_config

from tests.cli_support import clean_env, dragoman

CONFIG = """
server: {host: 0.0.0.0, port: 9123}
auth: {api_keys: ["${DRAGOMAN_API_KEY}"]}
providers: [{name: o, protocol: openai, base_url: "http://127.0.0.1:9/v1"}]
routes:
  - {match: "*haiku*", provider: o, model: small, client: anthropic}
  - {match: "claude-sonnet-4-5", provider: o, model: big, client: anthropic}
  - {match: "*", provider: o}
"""

SETTINGS = """{
  "permissions": {"allow": ["Bash(ls:*)"], "deny": []},
  "env": {"FOO": "bar", "ANTHROPIC_BASE_URL": "https://old.example"},
  "model": "opus"
}
"""
STATE = '{"numStartups": 12, "projects": {"/work": {"allowedTools": ["Edit"]}}}'
CODEX = """# my Codex settings
model = "o3"  # the default model

[model_providers.other]
name = "Other"
base_url = "http://other.example/v1"  # keep this comment

[profiles.fast]
model = "gpt-5-mini"
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    (home / ".codex").mkdir()
    (home / ".claude" / "settings.json").write_text(SETTINGS)
    (home / ".claude" / "settings.json").chmod(0o640)
    (home / ".claude.json").write_text(STATE)
    (home / ".codex" / "config.toml").write_text(CODEX)
    (tmp_path / "config.yaml").write_text(CONFIG)
    return home


def setup(tmp_path: Path, *args: str, **env: str) -> tuple[int, list[str]]:
    done = dragoman("setup", *args, "--config", str(tmp_path / "config.yaml"),
                    env=clean_env(tmp_path, **{"DRAGOMAN_API_KEY": "dm-key-1", **env}))
    assert done.stderr == "", done.stderr
    return done.returncode, done.stdout.splitlines()


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_claude_code_merges_backs_up_and_is_idempotent(tmp_path: Path, home: Path) -> None:
    code, lines = setup(tmp_path, "claude-code")
    assert code == 0
    assert lines[:2] == ["updated ~/.claude/settings.json (backup: ~/.claude/settings.json.dragoman-backup)",
                         "updated ~/.claude.json (backup: ~/.claude.json.dragoman-backup)"]
    settings = json.loads((home / ".claude" / "settings.json").read_text())
    assert settings == {
        "permissions": {"allow": ["Bash(ls:*)"], "deny": []},
        "env": {"FOO": "bar", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9123",   # 0.0.0.0 is reached on loopback
                "ANTHROPIC_AUTH_TOKEN": "dm-key-1",
                "ANTHROPIC_DEFAULT_SONNET_MODEL": "claude-sonnet-4-5"},        # the exact-name route only
        "model": "opus"}
    assert json.loads((home / ".claude.json").read_text()) == {**json.loads(STATE), "hasCompletedOnboarding": True}
    assert stat.S_IMODE((home / ".claude" / "settings.json").stat().st_mode) == 0o640   # mode kept
    assert (home / ".claude" / "settings.json.dragoman-backup").read_text() == SETTINGS
    assert (home / ".claude.json.dragoman-backup").read_text() == STATE
    written = snapshot(home)

    code, lines = setup(tmp_path, "claude-code")
    assert code == 0
    assert lines[:3] == ["unchanged: ~/.claude/settings.json is already set up",
                         "unchanged: ~/.claude.json is already set up", "nothing to do: already set up"]
    assert snapshot(home) == written


def test_claude_code_undo_restores_byte_for_byte(tmp_path: Path, home: Path) -> None:
    before = snapshot(home)
    assert setup(tmp_path, "claude-code")[0] == 0
    # a second run with another key: the backups still hold the user's files, not dragoman's
    assert setup(tmp_path, "claude-code", DRAGOMAN_API_KEY="dm-key-2")[0] == 0
    assert (home / ".claude" / "settings.json.dragoman-backup").read_text() == SETTINGS
    code, lines = setup(tmp_path, "claude-code", "--undo")
    assert code == 0
    assert lines == ["restored ~/.claude/settings.json from ~/.claude/settings.json.dragoman-backup",
                     "restored ~/.claude.json from ~/.claude.json.dragoman-backup"]
    assert snapshot(home) == before
    assert stat.S_IMODE((home / ".claude" / "settings.json").stat().st_mode) == 0o640
    assert setup(tmp_path, "claude-code", "--undo")[1][0] == (
        "nothing to undo in ~/.claude/settings.json (no .dragoman-backup or .dragoman-created file next to it)")


def test_undo_keeps_what_changed_since_setup(tmp_path: Path, home: Path) -> None:
    """Claude Code rewrites ~/.claude.json as it runs: undo then takes out only dragoman's key."""
    assert setup(tmp_path, "claude-code")[0] == 0
    state = json.loads((home / ".claude.json").read_text())
    (home / ".claude.json").write_text(json.dumps({**state, "numStartups": 13}))
    code, lines = setup(tmp_path, "claude-code", "--undo")
    assert code == 0 and lines[1] == ("took dragoman's settings out of ~/.claude.json (it changed since setup, so "
                                      "the rest is kept as it is now)")
    assert json.loads((home / ".claude.json").read_text()) == {**json.loads(STATE), "numStartups": 13}
    assert not (home / ".claude.json.dragoman-backup").exists()
    assert (home / ".claude" / "settings.json").read_text() == SETTINGS


def test_dry_run_prints_a_diff_and_writes_nothing(tmp_path: Path, home: Path) -> None:
    before = snapshot(home)
    code, lines = setup(tmp_path, "claude-code", "--dry-run")
    assert code == 0
    assert lines[:2] == ["--- ~/.claude/settings.json", "+++ ~/.claude/settings.json"]
    assert '+    "ANTHROPIC_AUTH_TOKEN": "dm-key-1",' in lines
    assert '-  "env": {"FOO": "bar", "ANTHROPIC_BASE_URL": "https://old.example"},' in lines
    assert '+  "hasCompletedOnboarding": true' in lines
    assert lines[-1] == "(dry run: nothing written)"
    code, lines = setup(tmp_path, "codex", "--dry-run")
    assert code == 0 and '+[model_providers.dragoman]' in lines
    assert ["--- /dev/null", "+++ ~/.codex/dragoman.config.toml", "@@ -0,0 +1 @@", '+model_provider = "dragoman"',
            "(dry run: nothing written)"] == lines[-5:]
    assert snapshot(home) == before


def test_files_that_did_not_exist_are_created_and_undo_removes_them(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)
    home = tmp_path / "home"
    code, lines = setup(tmp_path, "claude-code")
    assert code == 0 and lines[:2] == ["updated ~/.claude/settings.json", "updated ~/.claude.json"]
    assert json.loads((home / ".claude.json").read_text()) == {"hasCompletedOnboarding": True}
    assert stat.S_IMODE((home / ".claude" / "settings.json").stat().st_mode) == 0o600   # it holds a key
    code, lines = setup(tmp_path, "claude-code", "--undo")
    assert lines == ["removed ~/.claude/settings.json (dragoman had created it)",
                     "removed ~/.claude.json (dragoman had created it)"]
    assert snapshot(home) == {}


def test_claude_config_dir_is_respected(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)
    elsewhere = tmp_path / "claude-dir"
    code, lines = setup(tmp_path, "claude-code", CLAUDE_CONFIG_DIR=str(elsewhere))
    assert code == 0
    assert lines[:2] == [f"updated {elsewhere}/settings.json", f"updated {elsewhere}/.claude.json"]
    assert not (tmp_path / "home" / ".claude").exists()


def test_codex_merges_keeping_comments_and_undo_restores(tmp_path: Path, home: Path) -> None:
    before = snapshot(home)
    code, lines = setup(tmp_path, "codex")
    assert code == 0
    assert lines[0] == "updated ~/.codex/config.toml (backup: ~/.codex/config.toml.dragoman-backup)"
    assert lines[1] == "updated ~/.codex/dragoman.config.toml"   # the profile: a file of its own
    assert lines[2] == ("next: `dragoman serve --config " + str(tmp_path / "config.yaml") + "` (the profile talks "
                        "to http://127.0.0.1:9123/v1), then `export DRAGOMAN_API_KEY=...` (already set in this shell) "
                        "and run `codex --profile dragoman`")
    text = (home / ".codex" / "config.toml").read_text()
    assert text.startswith(CODEX.split("[profiles.fast]")[0])   # the user's lines and comments, untouched
    assert 'base_url = "http://other.example/v1"  # keep this comment' in text
    doc = tomlkit.parse(text).unwrap()
    assert doc["model"] == "o3" and doc["profiles"]["fast"] == {"model": "gpt-5-mini"}
    assert doc["model_providers"]["dragoman"] == {"name": "dragoman", "base_url": "http://127.0.0.1:9123/v1",
                                                  "env_key": "DRAGOMAN_API_KEY", "wire_api": "responses"}
    assert "dragoman" not in doc["profiles"]
    # no exact-name route for Responses clients: Codex keeps its own model
    assert (home / ".codex" / "dragoman.config.toml").read_text() == 'model_provider = "dragoman"\n'
    written = snapshot(home)
    assert setup(tmp_path, "codex")[1][:3] == ["unchanged: ~/.codex/config.toml is already set up",
                                               "unchanged: ~/.codex/dragoman.config.toml is already set up",
                                               "nothing to do: already set up"]
    assert snapshot(home) == written
    code, lines = setup(tmp_path, "codex", "--undo")
    assert lines == ["restored ~/.codex/config.toml from ~/.codex/config.toml.dragoman-backup",
                     "removed ~/.codex/dragoman.config.toml (dragoman had created it)"]
    assert snapshot(home) == before


def test_codex_keeps_the_users_own_keys_in_dragomans_table(tmp_path: Path, home: Path) -> None:
    (home / ".codex" / "config.toml").write_text(CODEX + '\n[model_providers.dragoman]\nname = "old"\n'
                                                 "request_max_retries = 0  # mine\n")
    (tmp_path / "config.yaml").write_text(CONFIG + '  - {match: "gpt-5-codex", provider: o, client: responses}\n')
    assert setup(tmp_path, "codex")[0] == 0
    text = (home / ".codex" / "config.toml").read_text()
    assert "request_max_retries = 0  # mine" in text
    doc = tomlkit.parse(text).unwrap()
    assert doc["model_providers"]["dragoman"]["name"] == "dragoman"
    profile = tomlkit.parse((home / ".codex" / "dragoman.config.toml").read_text()).unwrap()
    assert profile == {"model_provider": "dragoman", "model": "gpt-5-codex"}   # the exact-name route's name


def test_codex_takes_out_a_legacy_profile_table_and_undo_puts_it_back(tmp_path: Path, home: Path) -> None:
    """Codex 0.134+ refuses ``--profile dragoman`` while config.toml holds ``[profiles.dragoman]``."""
    legacy = CODEX + '\n[profiles.dragoman]\nmodel_provider = "mine"  # from an old guide\n'
    (home / ".codex" / "config.toml").write_text(legacy)
    assert setup(tmp_path, "codex")[0] == 0
    doc = tomlkit.parse((home / ".codex" / "config.toml").read_text()).unwrap()
    assert doc["profiles"] == {"fast": {"model": "gpt-5-mini"}}
    assert setup(tmp_path, "codex", "--undo")[0] == 0
    assert (home / ".codex" / "config.toml").read_text() == legacy


def test_a_file_that_does_not_parse_stops_everything(tmp_path: Path, home: Path) -> None:
    (home / ".claude.json").write_text("{not json")
    before = snapshot(home)
    done = dragoman("setup", "claude-code", "--config", str(tmp_path / "config.yaml"), env=clean_env(tmp_path))
    assert done.returncode == 1
    assert done.stderr.startswith("dragoman: ~/.claude.json is not valid JSON (")
    assert snapshot(home) == before   # settings.json was fine, and still not written


def test_a_symlinked_settings_file_is_written_through_the_link(tmp_path: Path, home: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    target = dotfiles / "settings.json"
    (home / ".claude" / "settings.json").rename(target)
    os.symlink(target, home / ".claude" / "settings.json")
    assert setup(tmp_path, "claude-code")[0] == 0
    assert (home / ".claude" / "settings.json").is_symlink()
    assert json.loads(target.read_text())["env"]["ANTHROPIC_AUTH_TOKEN"] == "dm-key-1"
    assert setup(tmp_path, "claude-code", "--undo")[0] == 0
    assert target.read_text() == SETTINGS and (home / ".claude" / "settings.json").is_symlink()


def test_model_variable_rules() -> None:
    def config(routes: list[dict[str, object]]) -> object:
        return parse_config({"providers": [{"name": "o", "protocol": "openai", "base_url": "http://x"}],
                             "routes": [{**r, "provider": "o"} for r in routes]}, environ={})

    globs = config([{"match": "*haiku*"}, {"match": "*sonnet*"}, {"match": "*"}])
    assert claude_model_env(globs) == {} and codex_model(globs) is None
    named = config([{"match": "claude-opus-4-1", "thinking": True},          # conditional: not a name to use
                    {"match": "claude-haiku-4-5", "client": "openai"},       # not for Claude Code
                    {"match": "my-Haiku"}, {"match": "claude-opus-4-1"}, {"match": "claude-haiku-4-5"},
                    {"match": "gpt-5", "client": "responses"}, {"match": "*"}])
    assert claude_model_env(named) == {"ANTHROPIC_DEFAULT_HAIKU_MODEL": "my-Haiku",
                                       "ANTHROPIC_DEFAULT_OPUS_MODEL": "claude-opus-4-1"}
    assert codex_model(named) == "gpt-5"                                     # client: responses comes first
    any_client = config([{"match": "gpt-4o-mini", "client": "openai"}, {"match": "gpt-4.1"}, {"match": "*"}])
    assert codex_model(any_client) == "gpt-4.1"


def test_codex_undo_after_the_user_edited_the_file_takes_out_only_dragomans_tables(tmp_path: Path, home: Path) -> None:
    assert setup(tmp_path, "codex")[0] == 0
    config = home / ".codex" / "config.toml"
    config.write_text('approval_policy = "never"\n' + config.read_text())
    code, lines = setup(tmp_path, "codex", "--undo")
    assert code == 0 and lines[0].startswith("took dragoman's settings out of ~/.codex/config.toml")
    assert config.read_text() == 'approval_policy = "never"\n' + CODEX
