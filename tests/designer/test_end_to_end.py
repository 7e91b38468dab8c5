"""The whole path on SQLite and PostgreSQL: sign in → edit → validate → publish → the runtime
(fake Asterisk calling over FastAGI) serves the new version → roll back → it serves the old
one. And ``ivrflow serve`` as a real process: first admin, the 12329 example live, a call."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
from starlette.testclient import TestClient
from support.designer import ApiClient, add_user, make_app, tiny_flow
from support.fake_asterisk import FakeCall

from runtime.service import RuntimeService

ROOT = Path(__file__).parents[2]


def _call(port: int, keys: str) -> list[str]:
    result = asyncio.run(FakeCall(port, entry="12329", keys=keys, timeout=20).run())
    assert result.error is None, result.error
    return [name.rsplit("/", 1)[-1] for name in result.played]


def test_edit_publish_serve_roll_back_serve(engine):
    runtime = RuntimeService(engine, port=0, entry_cache_s=0, drain_s=2)
    app = make_app(engine, runtime=runtime)
    add_user(app, "ed", "editor")
    add_user(app, "pub", "publisher")
    with TestClient(app):  # runs the lifespan: the runtime listens while the app lives
        ed, pub = ApiClient(app, "ed"), ApiClient(app, "pub")
        try:
            assert ed.post("/api/flows", tiny_flow()).status_code == 201
            assert ed.post("/api/flows/tiny/validate").json()["ok"] is True
            first = pub.post("/api/flows/tiny/publish", {"entry": "12329", "message": "v1"})
            assert first.json()["version"] == 1
            assert _call(runtime.port, "2") == ["menu"]  # v1: key 2 says nothing, hangs up

            saved = ed.put("/api/flows/tiny", tiny_flow(key2="other"), headers={"If-Match": "1"})
            assert saved.status_code == 200
            assert ed.post("/api/flows/tiny/validate").json()["ok"] is True
            second = pub.post(
                "/api/flows/tiny/publish", {"entry": "12329", "message": "v2", "base_revision": 2}
            )
            assert second.json()["version"] == 2
            assert _call(runtime.port, "2") == ["menu", "other"]  # the new version

            back = pub.post("/api/entries/12329/rollback", {"version": 1, "message": "undo"})
            assert back.json()["version"] == 1
            assert _call(runtime.port, "2") == ["menu"]  # the old one again
        finally:
            ed.close()
            pub.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ivrflow_serve_starts_the_product(tmp_path):
    web, agi = _free_port(), _free_port()
    env = {
        **os.environ,
        "IVRFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'ivrflow.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("IVRFLOW_ADMIN_PASSWORD", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runtime.cli",
            "serve",
            "--listen",
            f"127.0.0.1:{web}",
            "--agi",
            f"127.0.0.1:{agi}",
            "--log-level",
            "warning",
            "--media",
            str(tmp_path / "media"),
            "--sounds",
            str(tmp_path / "sounds"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = ""
        assert proc.stdout is not None
        while "first admin" not in banner:
            line = proc.stdout.readline()
            assert line, f"serve exited: {proc.stderr.read() if proc.stderr else ''}"
            banner += line
        banner += proc.stdout.readline()
        assert f"http://localhost:{web}/" in banner
        assert "12329 example published on entry 12329 (version 1)" in banner
        password = re.search(r"first admin: admin / (\S+)", banner)
        assert password, banner
        base = f"http://127.0.0.1:{web}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx2.get(f"{base}/api/health").status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, "the designer never answered"
            time.sleep(0.1)
        with httpx2.Client(base_url=base) as http:
            login = http.post(
                "/api/login", json={"username": "admin", "password": password.group(1)}
            )
            assert login.status_code == 200
            entries = http.get("/api/entries").json()["entries"]
            assert [(e["entry"], e["flow_id"], e["version"]) for e in entries] == [
                ("12329", "12329-main", 1)
            ]
            assert "ivrflow" in http.get("/").text
        heard = _call(agi, "")
        # the example's prompts were delivered for Asterisk, in version 1's own folder
        assert (tmp_path / "sounds/ivrflow/12329-main/v1/zh-CN/welcome.wav").is_file()
        # the real clock decides: open hours go to the main menu, closed hours say so
        assert heard[0] == "welcome" and heard[1] in ("main_menu", "closed_notice"), heard
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rest, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
    assert proc.returncode == 0
    assert "ivrflow stopped" in rest
