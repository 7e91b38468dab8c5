"""First start: the first admin (from the environment or generated once) and the 12329 example
(loaded and published into an empty database only); ``ivrflow users`` on the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.designer import auth_settings
from support.prompts import FakeSpeaker

from designer.auth import Users
from designer.bootstrap import ensure_admin, load_example
from designer.flows import Flows
from nodes.registry import default_registry
from prompts.library import PromptLibrary
from runtime.store.publishing import entry_version

ROOT = Path(__file__).parents[2]


def test_first_admin_from_the_environment_or_generated(engine):
    users = Users(engine, auth_settings())
    first = ensure_admin(
        users, {"IVRFLOW_ADMIN_USER": "chief", "IVRFLOW_ADMIN_PASSWORD": "pw 123456"}
    )
    assert first is not None and first.username == "chief" and first.password is None
    assert ensure_admin(users, {}) is None  # users exist: nothing happens
    token, principal = users.login("chief", "pw 123456")
    assert token and principal.roles == ("admin",)


def test_a_generated_password_is_returned_once(engine):
    users = Users(engine, auth_settings())
    first = ensure_admin(users, {})
    assert first is not None and first.username == "admin" and len(first.password or "") >= 12
    assert users.login("admin", first.password or "")[0]


async def test_the_example_is_loaded_into_an_empty_database_only(engine, tmp_path):
    registry = default_registry()
    speaker = FakeSpeaker()
    assert await load_example(engine, registry, media=tmp_path, speaker=speaker) == 1
    info = entry_version(engine, "12329")
    assert info is not None and info.flow_id == "12329-main" and info.version == 1
    assert set(info.dependencies) == {"12329-agent", "12329-appointment"}
    assert await load_example(engine, registry, speaker=speaker) is None  # flows exist
    assert await load_example(engine, registry, tmp_path, speaker=speaker) is None  # no files
    pins = PromptLibrary(engine, tmp_path).pinned("12329-main", 1)
    assert {p["status"] for p in pins} == {"placeholder"}  # every prompt has audio
    assert {"welcome", "main_menu"} <= {p["prompt_id"] for p in pins}
    assert len(speaker.calls) == len(pins)
    assert {f["id"] for f in Flows(engine, registry).list()} == {
        "12329-main",
        "12329-agent",
        "12329-appointment",
    }


def _cli(*args: str, db: str, password: str = "") -> subprocess.CompletedProcess[str]:
    env = {"IVRFLOW_PASSWORD": password, "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args, "--database", db, "--lang", "en"],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_users_command(tmp_path):
    db = f"sqlite:///{tmp_path / 'u.sqlite3'}"
    added = _cli(
        "users",
        "add",
        "wang",
        "--role",
        "editor",
        "--role",
        "publisher",
        db=db,
        password="long enough 1",
    )
    assert added.returncode == 0, added.stderr
    listed = _cli("users", "list", db=db)
    assert listed.stdout.split() == ["wang", "editor,publisher"]
    again = _cli("users", "add", "wang", "--role", "viewer", db=db, password="long enough 1")
    assert again.returncode == 1 and "user wang exists" in again.stderr
    weak = _cli("users", "add", "li", "--role", "viewer", db=db, password="short")
    assert weak.returncode == 1 and "8 to 256 characters" in weak.stderr
    assert _cli("users", "roles", "wang", "--role", "viewer", db=db).returncode == 0
    assert _cli("users", "passwd", "wang", db=db, password="another long 2").returncode == 0
    assert "viewer" in _cli("users", "list", db=db).stdout
    missing = _cli("users", "passwd", "ghost", db=db, password="another long 2")
    assert missing.returncode == 1 and "no user ghost" in missing.stderr
