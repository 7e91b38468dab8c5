"""``ivrflow publish`` + ``ivrflow runtime`` as real processes, driven by the fake Asterisk:
graceful SIGTERM (stop accepting, drain, flush records) and SIGKILL (Asterisk's dialplan
fallback takes over)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import pytest
from support.fake_asterisk import FakeCall

ROOT = Path(__file__).parents[2]
MAIN = ROOT / "examples" / "12329" / "main.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ivrflow(*args: str) -> list[str]:
    return [sys.executable, "-m", "runtime.cli", *args]


async def run(*argv: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


async def until_listening(port: int, proc: asyncio.subprocess.Process) -> None:
    for _ in range(200):
        if proc.returncode is not None:
            raise AssertionError(f"runtime exited early: {proc.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise AssertionError("runtime never listened")


@pytest.fixture
def env(tmp_path):
    return {
        **os.environ,
        "IVRFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'ivrflow.sqlite3'}",
        "IVRFLOW_LANG": "en",
    }


async def start_runtime(env, port, *extra):
    code, out, err = await run(*ivrflow("publish", str(MAIN), "--entry", "12329"), env=env)
    assert code == 0, err
    assert "published 12329-main v1" in out
    proc = await asyncio.create_subprocess_exec(
        *ivrflow("runtime", "--listen", f"127.0.0.1:{port}", *extra),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    await until_listening(port, proc)
    return proc


async def test_sigterm_drains_active_calls_and_flushes_records(env):
    port = free_port()
    proc = await start_runtime(env, port, "--drain", "10")
    try:
        # a call still in progress when the runtime is told to stop: prompts take 0.3 s and
        # the menus' 5 s input timeouts 0.5 s (time scaled by 0.1); it ends by itself in a few s
        active = asyncio.ensure_future(
            FakeCall(port, keys="4", playback_ms=3000, time_scale=0.1, timeout=30).run()
        )
        await asyncio.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        with pytest.raises(OSError):  # no new calls once stopping
            await asyncio.open_connection("127.0.0.1", port)
        result = await active
        code = await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    stderr = (await proc.stderr.read()).decode()
    await proc.stdout.read()
    assert code == 0, stderr
    assert "draining 1 active" in stderr
    assert result.error is None and result.hung_up_by == "runtime"  # the flow's goodbye
    code, out, _ = await run(*ivrflow("calls", "--json"), env=env)
    [record] = json.loads(out)
    assert record["call_id"] == result.env["agi_uniqueid"]
    assert record["outcome"] == "completed"
    assert record["steps"] > 5


async def test_sigkill_hands_the_call_back_to_asterisk(env):
    port = free_port()
    proc = await start_runtime(env, port)
    active = asyncio.ensure_future(
        FakeCall(port, keys="4", playback_ms=2000, time_scale=1.0, timeout=30).run()
    )
    await asyncio.sleep(0.5)
    proc.kill()
    await proc.wait()
    await proc.stdout.read()
    await proc.stderr.read()
    result = await active
    # Asterisk sees the socket close mid-call: AGI returns and the dialplan's fallback
    # (examples/asterisk/extensions.conf, [ivrflow-after]) serves the caller
    assert result.closed_by == "runtime"
    assert result.hung_up_by is None
    assert result.variables.get("IVRFLOW_STATUS", "") == ""
