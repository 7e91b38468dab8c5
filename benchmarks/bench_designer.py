"""Benchmark: the designer API under 20 concurrent editors, while the runtime reads entries.
A script that prints latencies and ratios, never a timed test.

Run:  .venv/bin/python benchmarks/bench_designer.py            (SQLite, 20 s window)
      .venv/bin/python benchmarks/bench_designer.py --quick    (SQLite, 5 s window)
      eval "$(scripts/postgres.sh start)"; .venv/bin/python benchmarks/bench_designer.py
                                            (SQLite, then PostgreSQL: $IVRFLOW_TEST_POSTGRES_URL)
      add --postgres URL to name a server, --profile to sample the designer with py-spy
      (``scripts/postgres.sh start`` re-creates its cluster: when one is already running, set
      IVRFLOW_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5439/postgres instead)

Per database (a SQLite file in a temporary directory; PostgreSQL when ``--postgres URL`` or
``$IVRFLOW_TEST_POSTGRES_URL`` names a server — the benchmark works in its own database there,
``ivrflow_bench`` (``--pg-database``), created when missing, reset with ``DROP SCHEMA public
CASCADE; CREATE SCHEMA public``, migrated, and dropped at the end, so a test run on the same
server is not disturbed):

* the designer runs as a separate process, exactly as deployed:
  ``python -m runtime.cli serve --no-runtime --no-example --listen 127.0.0.1:PORT --database
  URL --log-level warning`` with ``IVRFLOW_ADMIN_PASSWORD`` set (the first admin);
* as admin, through the API: 20 editor users, each with its own valid 500-node flow (start,
  10 menus, chains of core.play / core.set_variable, core.hangup; every prompt declared; checked
  with ``runtime.validate.validate`` before use), one shared flow, published on entry
  ``bench``;
* for the window (20 s, 5 s with --quick) 20 editors (asyncio tasks, one ``httpx2`` client and
  cookie jar each, signed in as themselves) loop: GET their flow, change one prompt's text,
  PUT it with ``If-Match``; every ``--shared-every`` iterations the same on the shared flow,
  which all 20 edit at once: a 409 there is a correct outcome (counted as a conflict), the
  editor reloads and tries again (up to 10 times);
* a "runtime" process (multiprocessing, its own engine on the same database) calls
  ``runtime.store.publishing.entry_version(engine, "bench")`` in a loop (``--reader-rate``
  per second, 0 = as fast as it can) and counts reads and errors.

With ``--think-ms 0`` (the default) every editor goes on as soon as an answer arrives: 20
requests are always in flight, the designer is saturated, and latency is about 20 x the
designer's time per request. ``--think-ms N`` pauses N ms on average (0.5-1.5 N) between an
editor's iterations, each editor starting at a random moment in the first N ms.

Printed per database:
  count      requests made (PUT shared: every attempt, 200 or 409)
  p50 ... max   latency measured by the client: request sent -> whole response read (the
             client's JSON work is outside it; see "client loop lag" for its own delays)
  errors     5xx, transport errors, unexpected statuses, "database is locked" in a body
  conflicts  409 (the shared flow: a correct outcome; the editor reloads and retries)
  runtime reads   entry_version calls of the reader process, their rate, latency and errors
  "database is locked"   in responses, the reader's exceptions and the designer's log
  designer CPU   its process's CPU over the window (100 % = one core; it is one process, so
             about 100 % is its ceiling) and per request; client CPU; machine CPU, and what
             processes outside the benchmark used (the machine may be shared)
  revisions  every flow's final revision = 1 + the saves counted (no lost or phantom update)
Then the goal line (p95 GET and PUT of a 500-node flow on SQLite <= 50 ms; p95/goal <= 1.0x
meets it) and, when both ran, SQLite / PostgreSQL side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import math
import multiprocessing as mp
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CTX = mp.get_context("spawn")
GOAL_MS = 50.0
ENTRY = "bench"
LOCKED = "database is locked"
N_NODES = 500
MAX_RETRIES = 10
OPS = (
    ("get", "GET 500-node flow"),
    ("put", "PUT 500-node flow"),
    ("get_shared", "GET shared (load/reload)"),
    ("put_shared", "PUT shared (with conflicts)"),
)


# -- the flow ----------------------------------------------------------------------------------
def generate_flow(flow_id: str, n_nodes: int = N_NODES) -> dict[str, Any]:
    """A valid flow of exactly ``n_nodes`` nodes: start -> a main menu (keys 1-9) -> 9 menus
    (keys 1-9) -> 81 chains alternating core.play (each with its own prompt) and
    core.set_variable, all ending in core.hangup; every node has a layout position."""
    keys = [str(k) for k in range(1, 10)]
    fixed = 1 + 1 + len(keys) + 2  # start, main menu, 9 menus, busy, bye
    per, extra = divmod(n_nodes - fixed, len(keys) ** 2)
    prompts: dict[str, Any] = {
        "main_menu": {"text": {"zh-CN": "欢迎致电12329住房公积金服务热线，请按1到9选择业务。"}},
        "busy": {"text": {"zh-CN": "系统繁忙，请稍后再拨。"}},
        "bye": {"text": {"zh-CN": "感谢您的来电，再见。"}},
    }
    nodes: dict[str, Any] = {
        "start": {
            "type": "core.start",
            "version": 1,
            "config": {},
            "exits": {"next": "main_menu"},
            "ui": {"x": 0, "y": 0},
        }
    }

    def menu(prompt: str, targets: list[str], x: int, y: int) -> dict[str, Any]:
        return {
            "type": "core.menu",
            "version": 1,
            "label": f"菜单 {prompt}",
            "config": {
                "prompts": [prompt],
                "options": [{"key": k, "label": f"选项 {k}"} for k in keys],
            },
            "exits": {**dict(zip(keys, targets, strict=True)), "timeout": "bye", "invalid": "bye"},
            "ui": {"x": x, "y": y},
        }

    nodes["main_menu"] = menu("main_menu", [f"m{a}" for a in keys], 200, 0)
    chain_no = 0
    for a in keys:
        prompts[f"m{a}"] = {"text": {"zh-CN": f"第{a}类业务，请按1到9选择具体事项。"}}
        heads = []
        for b in keys:
            length = per + (1 if chain_no < extra else 0)
            ids = [f"c{a}{b}_{i}" for i in range(length)]
            heads.append(ids[0])
            for i, node_id in enumerate(ids):
                following = ids[i + 1] if i + 1 < length else "bye"
                ui = {"x": 400 + 180 * i, "y": 60 * chain_no}
                if i % 2 == 0:
                    prompts[node_id] = {
                        "text": {"zh-CN": f"业务{a}-{b}第{i}段：请准备好身份证件和公积金账号。"}
                    }
                    nodes[node_id] = {
                        "type": "core.play",
                        "version": 1,
                        "label": f"播放 {a}-{b}-{i}",
                        "config": {"prompts": [node_id]},
                        "exits": {"next": following},
                        "ui": ui,
                    }
                else:
                    nodes[node_id] = {
                        "type": "core.set_variable",
                        "version": 1,
                        "label": f"记录 {a}-{b}-{i}",
                        "config": {
                            "assignments": [
                                {"variable": "topic", "text": f"{a}-{b}-{i}"},
                                {"variable": "steps", "expression": "steps + 1"},
                            ]
                        },
                        "exits": {"next": following, "error": "busy"},
                        "ui": ui,
                    }
            chain_no += 1
        nodes[f"m{a}"] = menu(f"m{a}", heads, 300, 100 * int(a))
    nodes["busy"] = {
        "type": "core.play",
        "version": 1,
        "config": {"prompts": ["busy"]},
        "exits": {"next": "bye"},
        "ui": {"x": 0, "y": 200},
    }
    nodes["bye"] = {
        "type": "core.hangup",
        "version": 1,
        "config": {"prompts": ["bye"]},
        "exits": {},
        "ui": {"x": 0, "y": 400},
    }
    return {
        "schema_version": 1,
        "id": flow_id,
        "name": f"压测流程 {flow_id}",
        "languages": ["zh-CN"],
        "variables": {
            "topic": {"type": "string", "default": ""},
            "steps": {"type": "number", "default": 0},
        },
        "prompts": prompts,
        "settings": {"fallback": "busy"},
        "nodes": nodes,
    }


def own_prompts(document: dict[str, Any], flow_id: str) -> dict[str, Any]:
    """Prompt ids are global in ivrflow: each generated flow gets its own (``<flow>/<id>``),
    as distinct flows of a fund centre have distinct prompts — otherwise 21 flows would keep
    rewriting one prompt's script and its TTS placeholder."""
    rename = {old: f"{flow_id}/{old}" for old in document["prompts"]}
    document["prompts"] = {rename[k]: v for k, v in document["prompts"].items()}
    for node in document["nodes"].values():
        config = node.get("config", {})
        if "prompts" in config:
            config["prompts"] = [rename.get(p, p) for p in config["prompts"]]
    return document


def checked_flow(flow_id: str) -> dict[str, Any]:
    from runtime.validate import validate

    document = own_prompts(generate_flow(flow_id), flow_id)
    result = validate(document)
    if len(document["nodes"]) != N_NODES or result.errors:
        raise SystemExit(
            f"generated flow {flow_id} is not a valid {N_NODES}-node flow: "
            + "; ".join(p.render(language="en") for p in result.errors[:5])
        )
    return document


def body_of(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


# -- the designer process ----------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc); NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return math.nan


def machine_busy_s() -> float:
    """CPU seconds all processes of the machine have used (Linux /proc/stat); NaN elsewhere."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return math.nan


class Designer:
    """``ivrflow serve --no-runtime`` as a child process, its output in a log file."""

    def __init__(self, url: str, log_path: Path, admin_password: str, workers: int = 1) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {
            **os.environ,
            "IVRFLOW_ADMIN_USER": "admin",
            "IVRFLOW_ADMIN_PASSWORD": admin_password,
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("IVRFLOW_DATABASE_URL", None)
        command = [
            sys.executable,
            "-m",
            "runtime.cli",
            "serve",
            "--no-runtime",
            "--no-example",
            "--listen",
            f"127.0.0.1:{self.port}",
            "--database",
            url,
            "--log-level",
            "warning",
            "--workers",
            str(workers),
            "--media",
            str(log_path.parent / "media"),
        ]
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        try:
            self._wait_healthy(60.0)
        except BaseException:
            self.stop()
            raise

    def _wait_healthy(self, budget_s: float) -> None:
        deadline = time.monotonic() + budget_s
        with httpx2.Client(base_url=self.base, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"the designer exited ({self.proc.returncode}):\n{self.log()}"
                    )
                with contextlib.suppress(httpx2.HTTPError):
                    if client.get("/api/health").status_code == 200:
                        return
                time.sleep(0.1)
        raise RuntimeError(f"the designer did not answer /api/health:\n{self.log()}")

    def cpu_s(self) -> float:
        return proc_cpu_s(self.proc.pid)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 20 s; the exit status (None if it had to be killed)."""
        code: int | None = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        else:
            code = self.proc.returncode
        self._log.close()
        return code


# -- the runtime reader (another process) ------------------------------------------------------
def reader_main(url: str, rate: float, conn: Any) -> None:
    """Read entry ``bench`` like the runtime does for each new call, until told to stop."""
    try:
        from runtime.store.db import make_engine
        from runtime.store.publishing import entry_version

        engine = make_engine(url, create=False)
        if entry_version(engine, ENTRY) is None:
            raise RuntimeError(f"entry {ENTRY!r} is not published")
        conn.send("ready")
        conn.recv()  # go
        latencies: list[float] = []
        errors = locked = missing = 0
        samples: list[str] = []
        interval = 1.0 / rate if rate > 0 else 0.0
        began, cpu0 = time.perf_counter(), time.process_time()
        due = began
        while not conn.poll():
            t0 = time.perf_counter()
            try:
                if entry_version(engine, ENTRY) is None:
                    missing += 1
            except Exception as exc:
                errors += 1
                locked += LOCKED in str(exc)
                if len(samples) < 3:
                    samples.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            t1 = time.perf_counter()
            latencies.append(t1 - t0)
            if interval:
                due = max(due + interval, t1 - 1.0)  # no catch-up burst after a long stall
                if due > t1:
                    time.sleep(due - t1)
        wall = time.perf_counter() - began
        conn.send(
            {
                "reads": len(latencies),
                "wall_s": wall,
                "cpu_s": time.process_time() - cpu0,
                "lat_ms": summary([x * 1000 for x in latencies]),
                "errors": errors + missing,
                "locked": locked,
                "samples": samples + ([f"{missing} reads found no entry"] if missing else []),
            }
        )
        engine.dispose()
    except BaseException as exc:
        with contextlib.suppress(OSError):
            conn.send({"crash": f"{type(exc).__name__}: {exc}"})
        raise


class Reader:
    def __init__(self, url: str, rate: float) -> None:
        self.conn, child = CTX.Pipe()
        self.proc = CTX.Process(
            target=reader_main, args=(url, rate, child), name="runtime-reader", daemon=True
        )
        self.proc.start()
        child.close()
        self.result: dict[str, Any] = {}
        if not self.conn.poll(60):
            self.kill()
            raise RuntimeError("the runtime reader did not start")
        first = self.conn.recv()
        if first != "ready":
            self.kill()
            raise RuntimeError(f"the runtime reader failed: {first}")

    def go(self) -> None:
        self.conn.send("go")

    def stop(self) -> dict[str, Any]:
        with contextlib.suppress(OSError, EOFError):
            self.conn.send("stop")
            if self.conn.poll(30):
                self.result = self.conn.recv()
        self.kill()
        if "crash" in self.result:
            raise RuntimeError(f"the runtime reader crashed: {self.result['crash']}")
        return self.result

    def kill(self) -> None:
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        self.conn.close()


# -- statistics --------------------------------------------------------------------------------
def pct(ordered: list[float], q: float) -> float:
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50": pct(ordered, 0.50),
        "p95": pct(ordered, 0.95),
        "p99": pct(ordered, 0.99),
        "max": ordered[-1] if ordered else math.nan,
    }


@dataclass
class OpStats:
    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    conflicts: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    samples: list[str] = field(default_factory=list)

    def error(self, kind: str, text: str) -> None:
        self.errors[kind] += 1
        if len(self.samples) < 3:
            self.samples.append(text[:300])


# -- the editors -------------------------------------------------------------------------------
@dataclass
class Editor:
    name: str
    password: str
    flow_id: str
    client: httpx2.AsyncClient | None = None
    csrf: str = ""
    puts_ok: int = 0
    shared_puts_ok: int = 0


async def sign_in(base: str, username: str, password: str) -> tuple[httpx2.AsyncClient, str]:
    client = httpx2.AsyncClient(
        base_url=base,
        timeout=httpx2.Timeout(60.0),
        limits=httpx2.Limits(max_connections=4, max_keepalive_connections=4),
    )
    response = await client.post("/api/login", json={"username": username, "password": password})
    if response.status_code != 200:
        await client.aclose()
        raise RuntimeError(f"sign-in of {username} failed: {response.status_code} {response.text}")
    csrf = response.json()["csrf_token"]
    check = await client.get("/api/session")
    if check.status_code != 200:
        await client.aclose()
        raise RuntimeError(f"the session cookie of {username} is not sent back ({check.text})")
    return client, csrf


def _expect(response: httpx2.Response, status: int, what: str) -> httpx2.Response:
    if response.status_code != status:
        raise RuntimeError(f"{what}: {response.status_code} {response.text[:500]}")
    return response


def _classify(stats: OpStats, response: httpx2.Response, conflict_ok: bool) -> str:
    """'ok', 'conflict' or 'error' (counted in ``stats``)."""
    status = response.status_code
    if LOCKED.encode() in response.content:
        stats.error("locked", f"{status}: {response.text}")
        return "error"
    if status == 200:
        stats.ok += 1
        return "ok"
    if status == 409:
        stats.conflicts += 1
        if not conflict_ok:
            stats.error("unexpected 409", f"409 on a flow only one editor edits: {response.text}")
        return "conflict"
    stats.error("5xx" if status >= 500 else f"{status}", f"{status}: {response.text}")
    return "error"


class Run:
    """The editors' loop on one designer."""

    def __init__(self, base: str, opts: argparse.Namespace, deadline: float) -> None:
        self.base = base
        self.opts = opts
        self.deadline = deadline
        self.stats = {key: OpStats() for key, _ in OPS}
        self.record = True
        self.lag: list[float] = []

    async def _timed(
        self, editor: Editor, key: str, method: str, url: str, **kw: Any
    ) -> httpx2.Response | None:
        assert editor.client is not None
        stats = self.stats[key]
        t0 = time.perf_counter()
        try:
            response = await editor.client.request(method, url, **kw)
        except httpx2.HTTPError as exc:
            if self.record:
                stats.latencies.append((time.perf_counter() - t0) * 1000)
                stats.error("transport", f"{type(exc).__name__}: {exc}")
            return None
        if self.record:
            stats.latencies.append((time.perf_counter() - t0) * 1000)
        return response

    def _counted(self, key: str, response: httpx2.Response, conflict_ok: bool) -> str:
        if not self.record:  # warm-up: only the outcome matters
            status = response.status_code
            return {200: "ok", 409: "conflict"}.get(status, "error")
        return _classify(self.stats[key], response, conflict_ok)

    async def edit(self, editor: Editor, flow_id: str, shared: bool, iteration: int) -> None:
        """GET, change one prompt, PUT with If-Match; on the shared flow reload after a 409
        and try again."""
        get_key, put_key = ("get_shared", "put_shared") if shared else ("get", "put")
        for _attempt in range(MAX_RETRIES if shared else 1):
            response = await self._timed(editor, get_key, "GET", f"/api/flows/{flow_id}")
            if response is None or self._counted(get_key, response, False) != "ok":
                return
            etag = response.headers.get("etag", "")
            document = response.json()["document"]
            prompt = random.choice(
                [p for p in document["prompts"] if p.rsplit("/", 1)[-1].startswith("c")]
            )
            document["prompts"][prompt]["text"]["zh-CN"] = (
                f"{editor.name} 第{iteration}次修改：请准备好身份证件和公积金账号。"
            )
            headers = {
                "If-Match": etag,
                "X-CSRF-Token": editor.csrf,
                "Content-Type": "application/json",
            }
            response = await self._timed(
                editor,
                put_key,
                "PUT",
                f"/api/flows/{flow_id}",
                content=body_of(document),
                headers=headers,
            )
            if response is None:
                return
            outcome = self._counted(put_key, response, shared)
            if outcome == "ok":
                if shared:
                    editor.shared_puts_ok += 1
                else:
                    editor.puts_ok += 1
                return
            if outcome != "conflict" or time.monotonic() >= self.deadline:
                return

    async def editor_loop(self, editor: Editor) -> None:
        iteration = 0
        think = self.opts.think_ms / 1000
        if think:  # independent people: not all at the same moment
            await asyncio.sleep(random.uniform(0, think))
        while time.monotonic() < self.deadline:
            iteration += 1
            await self.edit(editor, editor.flow_id, False, iteration)
            if iteration % self.opts.shared_every == 0 and time.monotonic() < self.deadline:
                await self.edit(editor, "bench-shared", True, iteration)
            if think:
                left = self.deadline - time.monotonic()
                await asyncio.sleep(max(0.0, min(left, think * random.uniform(0.5, 1.5))))

    async def lag_monitor(self) -> None:
        """How late a 5 ms timer fires in this (the client's) event loop."""
        loop = asyncio.get_running_loop()
        while time.monotonic() < self.deadline:
            t0 = loop.time()
            await asyncio.sleep(0.005)
            self.lag.append((loop.time() - t0 - 0.005) * 1000)


async def set_up(base: str, admin_password: str, opts: argparse.Namespace) -> list[Editor]:
    """Users, flows, the published entry; every editor signed in."""
    admin, admin_csrf = await sign_in(base, "admin", admin_password)
    headers = {"X-CSRF-Token": admin_csrf}
    try:
        editors = [
            Editor(f"editor{i:02d}", secrets.token_urlsafe(12), f"bench-ed{i:02d}")
            for i in range(opts.editors)
        ]
        for editor in editors:
            _expect(
                await admin.post(
                    "/api/users",
                    json={
                        "username": editor.name,
                        "password": editor.password,
                        "roles": ["editor"],
                        "display_name": f"压测编辑 {editor.name}",
                    },
                    headers=headers,
                ),
                201,
                f"create user {editor.name}",
            )
        for editor in editors:
            editor.client, editor.csrf = await sign_in(base, editor.name, editor.password)
            _expect(
                await editor.client.post(
                    "/api/flows",
                    content=body_of(checked_flow(editor.flow_id)),
                    headers={"X-CSRF-Token": editor.csrf, "Content-Type": "application/json"},
                ),
                201,
                f"create flow {editor.flow_id}",
            )
        shared = checked_flow("bench-shared")
        _expect(
            await admin.post(
                "/api/flows",
                content=body_of(shared),
                headers={**headers, "Content-Type": "application/json"},
            ),
            201,
            "create the shared flow",
        )
        _expect(
            await admin.post(
                "/api/flows/bench-shared/publish",
                json={"entry": ENTRY, "message": "bench"},
                headers=headers,
            ),
            200,
            f"publish on entry {ENTRY}",
        )
        # New flows get TTS placeholders for their prompts a few seconds after they are saved:
        # a one-off burst of work. Make them now, so the window measures editing.
        started = time.perf_counter()
        made = 0
        for flow_id in [e.flow_id for e in editors]:
            response = await admin.post(f"/api/flows/{flow_id}/placeholders", headers=headers)
            made += len(_expect(response, 200, f"placeholders of {flow_id}").json()["made"])
        print(
            f"one-off: TTS placeholders for {made:,} prompts of the new flows made in "
            f"{time.perf_counter() - started:.1f} s before the window"
        )
        return editors
    finally:
        await admin.aclose()


async def final_revisions(base: str, admin_password: str, editors: list[Editor]) -> list[str]:
    """Each flow's revision must be 1 + the saves that got 200 (warm-up included)."""
    admin, _ = await sign_in(base, "admin", admin_password)
    wrong = []
    try:
        for editor in editors:
            got = (await admin.get(f"/api/flows/{editor.flow_id}")).json()["revision"]
            if got != 1 + editor.puts_ok:
                wrong.append(f"{editor.flow_id}: revision {got}, saves counted {editor.puts_ok}")
        shared_ok = sum(e.shared_puts_ok for e in editors)
        got = (await admin.get("/api/flows/bench-shared")).json()["revision"]
        if got != 1 + shared_ok:
            wrong.append(f"bench-shared: revision {got}, saves counted {shared_ok}")
    finally:
        await admin.aclose()
    return wrong


async def drive(designer: Designer, url: str, admin_password: str, opts: argparse.Namespace):
    editors = await set_up(designer.base, admin_password, opts)
    reader: Reader | None = None
    try:
        # warm-up: one GET + PUT per editor, not recorded
        warm = Run(designer.base, opts, time.monotonic() + 3600)
        warm.record = False
        await asyncio.gather(*(warm.edit(e, e.flow_id, False, 0) for e in editors))
        reader = await asyncio.to_thread(Reader, url, opts.reader_rate)
        profiler = start_profiler(designer, opts)
        run = Run(designer.base, opts, time.monotonic() + opts.seconds)
        reader.go()
        cpu0, client0, t0 = designer.cpu_s(), time.process_time(), time.perf_counter()
        machine0 = machine_busy_s()
        await asyncio.gather(run.lag_monitor(), *(run.editor_loop(e) for e in editors))
        wall = time.perf_counter() - t0
        cpu1, client1, machine1 = designer.cpu_s(), time.process_time(), machine_busy_s()
        read = await asyncio.to_thread(reader.stop)
        reader = None
        profile = await asyncio.to_thread(finish_profiler, profiler)
        wrong = await final_revisions(designer.base, admin_password, editors)
    finally:
        if reader is not None:
            await asyncio.to_thread(reader.stop)
        for editor in editors:
            if editor.client is not None:
                await editor.client.aclose()
    return {
        "stats": run.stats,
        "wall_s": wall,
        "server_cpu_s": cpu1 - cpu0,
        "client_cpu_s": client1 - client0,
        "machine_cpu_s": machine1 - machine0,
        "lag": summary(run.lag),
        "reader": read,
        "wrong": wrong,
        "profile": profile,
    }


# -- profiling the designer with py-spy (--profile) ----------------------------------------------
def start_profiler(designer: Designer, opts: argparse.Namespace) -> Any:
    if not opts.profile:
        return None
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("(--profile: py-spy not found; no profile)", file=sys.stderr)
        return None
    out = designer.log_path.with_suffix(".pyspy.txt")
    command = [spy, "record", "--pid", str(designer.proc.pid), "--format", "raw"]
    command += ["--output", str(out), "--rate", "250", "--duration", str(math.ceil(opts.seconds))]
    command += ["--nonblocking"] + (["--gil"] if opts.profile == "cpu" else [])
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)  # attached before the window starts
    return proc, out, opts.profile


_FRAME = re.compile(r"^(?P<fn>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _frame_name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "/work/main/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['fn']} ({path})"


def finish_profiler(profiler: Any) -> str:
    """The top frames of the designer process while it was busy (py-spy samples of threads
    that were not idle), inclusive and self."""
    if profiler is None:
        return ""
    proc, out, mode = profiler
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    if not out.exists():
        return f"(py-spy wrote nothing: {proc.stderr.read().decode(errors='replace')[-500:]})"
    total = 0
    inclusive: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    for line in out.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_frame_name(f) for f in stack.split(";") if f]
        for name in set(frames):
            inclusive[name] += n
        if frames:
            leaf[frames[-1]] += n
    if not total:
        return "(no samples)"
    what = "the thread holding the GIL" if mode == "cpu" else "every designer thread not idle"
    lines = [f"{total:,} samples of {what} (py-spy --nonblocking, 250/s)", "inclusive:"]
    plumbing = ("(threading.py)", "WorkerThread.run", "(asyncio/runners.py)", "(runpy.py)")
    shown = [(k, n) for k, n in inclusive.most_common() if not k.endswith(plumbing[:1])]
    shown = [(k, n) for k, n in shown if not any(p in k for p in plumbing[1:])]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in shown[:35]]
    lines.append("self (leaf frames):")
    lines += [f"  {n / total:6.1%}  {name}" for name, n in leaf.most_common(20)]
    return "\n".join(lines)


# -- one database ------------------------------------------------------------------------------
def prepare_postgres(url: str, dbname: str) -> str:
    """Reset (and create) the benchmark's PostgreSQL database and migrate it; its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from runtime.store.db import make_engine

    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if dbname and dbname != parsed.database:
        server = create_engine(parsed, isolation_level="AUTOCOMMIT")
        try:
            with server.connect() as connection:
                exists = connection.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": dbname}
                ).first()
                if not exists:
                    connection.execute(text(f'CREATE DATABASE "{dbname}"'))
        finally:
            server.dispose()
        parsed = parsed.set(database=dbname)
    bench_url = parsed.render_as_string(hide_password=False)
    engine = create_engine(bench_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    make_engine(bench_url).dispose()  # migrate
    return bench_url


def drop_postgres(server_url: str, bench_url: str) -> None:
    """Remove the benchmark's own database again (not the server's database it was given)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server, bench = make_url(server_url), make_url(bench_url)
    if server.database == bench.database:
        return
    if server.drivername == "postgresql":
        server = server.set(drivername="postgresql+psycopg")
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{bench.database}" WITH (FORCE)'))
    except Exception as exc:
        print(f"(could not drop database {bench.database}: {exc})", file=sys.stderr)
    finally:
        engine.dispose()


def run_database(label: str, url: str, tmp: Path, opts: argparse.Namespace) -> dict[str, Any]:
    from runtime.store.db import make_engine

    if url.startswith("sqlite"):
        make_engine(url).dispose()  # migrate
        return run_designer(label, url, tmp, opts)
    bench_url = prepare_postgres(url, opts.pg_database)
    try:
        return run_designer(label, bench_url, tmp, opts)
    finally:
        drop_postgres(url, bench_url)


def run_designer(label: str, url: str, tmp: Path, opts: argparse.Namespace) -> dict[str, Any]:
    admin_password = secrets.token_urlsafe(16)
    log_path = tmp / f"designer-{label}.log"
    designer = Designer(url, log_path, admin_password, opts.workers)
    try:
        result = asyncio.run(drive(designer, url, admin_password, opts))
    except BaseException:
        designer.stop()
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        print(f"\n-- the designer's log ({label}), last lines:\n{tail}", file=sys.stderr)
        raise
    code = designer.stop()
    log = log_path.read_text(encoding="utf-8", errors="replace")
    result["log_locked"] = log.count(LOCKED)
    result["log_tracebacks"] = log.count("Traceback (most recent call last)")
    result["log_errors"] = [
        line for line in log.splitlines() if " ERROR " in line or " CRITICAL " in line
    ][:3]
    result["exit_code"] = code
    result["label"] = label
    return result


# -- report ------------------------------------------------------------------------------------
def fmt(value: float, width: int, digits: int = 1) -> str:
    return f"{'-':>{width}}" if math.isnan(value) else f"{value:>{width}.{digits}f}"


def ratio(a: float, b: float) -> str:
    return "     -" if math.isnan(a) or math.isnan(b) or b == 0 else f"{a / b:>5.2f}x"


def report_database(r: dict[str, Any], opts: argparse.Namespace) -> None:
    stats: dict[str, OpStats] = r["stats"]
    requests = sum(len(s.latencies) for s in stats.values())
    print(
        f"\n== {r['label']}: {opts.editors} editors for {r['wall_s']:.1f} s,"
        f" {requests:,} requests ({requests / r['wall_s']:,.0f}/s)"
    )
    print(
        f"{'operation':<28} {'count':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
        f" {'max ms':>7} {'errors':>6} {'conflicts':>9}"
    )
    locked = r["log_locked"]
    for key, title in OPS:
        s = stats[key]
        q = summary(s.latencies)
        locked += s.errors["locked"]
        print(
            f"{title:<28} {q['n']:>6,} {fmt(q['p50'], 7)} {fmt(q['p95'], 7)} {fmt(q['p99'], 7)}"
            f" {fmt(q['max'], 7)} {sum(s.errors.values()):>6} {s.conflicts:>9,}"
        )
        for sample in s.samples[:2]:
            print(f"      e.g. {sample}")
        if s.errors:
            print(f"      errors: {dict(s.errors)}")
    rd = r["reader"]
    locked += rd["locked"]
    lat = rd["lat_ms"]
    asked = f"{opts.reader_rate:g}/s asked" if opts.reader_rate > 0 else "unpaced"
    print(
        f"runtime reads (entry_version, another process): {rd['reads']:,} ="
        f" {rd['reads'] / rd['wall_s']:,.0f}/s ({asked}), p50 {lat['p50']:.2f} ms,"
        f" p95 {lat['p95']:.2f} ms, max {lat['max']:.1f} ms, errors {rd['errors']},"
        f" CPU {rd['cpu_s'] / rd['wall_s']:.0%}"
    )
    for sample in rd["samples"]:
        print(f"      e.g. {sample}")
    puts = len(stats["put"].latencies) + len(stats["put_shared"].latencies)
    print(
        f'"{LOCKED}": {locked} (responses {locked - rd["locked"] - r["log_locked"]},'
        f" runtime reader {rd['locked']}, server log {r['log_locked']});"
        f" server log: {r['log_tracebacks']} tracebacks, exit status {r['exit_code']}"
    )
    for line in r["log_errors"]:
        print(f"      log: {line[:200]}")
    print(
        f"designer CPU {r['server_cpu_s'] / r['wall_s']:.0%} of one core"
        f" ({r['server_cpu_s'] / max(1, requests) * 1000:.1f} ms per request, {puts:,} PUTs);"
        f" client CPU {r['client_cpu_s'] / r['wall_s']:.0%}, client loop lag"
        f" p99 {r['lag']['p99']:.1f} ms"
    )
    others = r["machine_cpu_s"] - r["server_cpu_s"] - r["client_cpu_s"] - rd["cpu_s"]
    where = "incl. the PostgreSQL server" if r["label"] == "PostgreSQL" else "other work"
    print(
        f"machine: {r['machine_cpu_s'] / r['wall_s'] / (os.cpu_count() or 1):.0%} of"
        f" {os.cpu_count()} CPUs busy; processes outside this benchmark ({where}):"
        f" {max(0.0, others) / r['wall_s']:.0%} of one core"
    )
    if r["wrong"]:
        print(f"REVISION MISMATCH (lost or phantom saves): {r['wrong'][:5]}")
    else:
        print(
            f"revisions: all {opts.editors} own flows and the shared flow match the saves counted"
            f" ({sum(s.ok for k, s in stats.items() if k.startswith('put')):,} saves,"
            f" {stats['put_shared'].conflicts:,} refused as stale)"
        )
    if r["profile"]:
        print(f"\ndesigner profile ({r['label']}):\n{r['profile']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 5 s window (smoke run)")
    parser.add_argument("--seconds", type=float, help="the measured window (default 20, quick 5)")
    parser.add_argument("--editors", type=int, default=20, help="concurrent editors (20)")
    parser.add_argument(
        "--shared-every", type=int, default=4, help="edit the shared flow every N iterations (4)"
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="mean pause between an editor's iterations, also its random start offset (0: none,"
        " every editor back to back: the designer saturated)",
    )
    parser.add_argument(
        "--reader-rate",
        type=float,
        default=100.0,
        help="runtime entry reads per second (100, like a burst of 100 new calls/s; 0: unpaced)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("IVRFLOW_TEST_POSTGRES_URL", ""),
        help="PostgreSQL server URL (default $IVRFLOW_TEST_POSTGRES_URL; none: SQLite only)",
    )
    parser.add_argument(
        "--pg-database",
        default="ivrflow_bench",
        help="database on that server to reset and use ('' = the URL's own database)",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument(
        "--workers", type=int, default=1, help="designer worker processes (ivrflow serve --workers)"
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const="cpu",
        choices=["cpu", "wall"],
        help="sample the designer with py-spy during the window: cpu = the thread holding the"
        " GIL (where CPU goes), wall = every thread not idle (also waits for locks and the pool)",
    )
    opts = parser.parse_args()
    opts.seconds = opts.seconds or (5.0 if opts.quick else 20.0)
    # SIGTERM unwinds like Ctrl-C, so the designer and the reader are always stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    size = len(body_of(checked_flow("bench-ed00")))
    print(
        f"ivrflow designer benchmark ({'quick' if opts.quick else 'full'} run:"
        f" {opts.seconds:g} s window, {opts.editors} editors, shared flow every"
        f" {opts.shared_every} iterations, think {opts.think_ms:g} ms; 127.0.0.1,"
        f" {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f})"
    )
    pace = f"{opts.reader_rate:g} reads/s" if opts.reader_rate > 0 else "unpaced"
    print(f"{N_NODES}-node flow: {size:,} bytes (UTF-8 JSON as sent); runtime reader {pace}")
    results: list[dict[str, Any]] = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ivrflow-bench-designer-") as tmp_name:
        tmp = Path(tmp_name)
        targets = []
        if not opts.no_sqlite:
            targets.append(("SQLite", f"sqlite:///{tmp / 'designer.sqlite3'}"))
        if opts.postgres:
            targets.append(("PostgreSQL", opts.postgres))
        for label, url in targets:
            result = run_database(label, url, tmp, opts)
            report_database(result, opts)
            results.append(result)

    by = {r["label"]: r for r in results}
    if "SQLite" in by:
        s = by["SQLite"]["stats"]
        g95, p95 = summary(s["get"].latencies)["p95"], summary(s["put"].latencies)["p95"]
        met = max(g95, p95) <= GOAL_MS
        print(
            f"\ngoal (SQLite, p95 <= {GOAL_MS:g} ms): GET {g95:.1f} ms = {g95 / GOAL_MS:.2f}x,"
            f" PUT {p95:.1f} ms = {p95 / GOAL_MS:.2f}x -> {'met' if met else 'MISSED'}"
        )
    if len(by) == 2:
        a, b = by["SQLite"], by["PostgreSQL"]
        print(
            f"\n{'SQLite vs PostgreSQL':<28} {'p50 SQLite':>10} {'p50 PG':>7} {'ratio':>6}"
            f" {'p95 SQLite':>10} {'p95 PG':>7} {'ratio':>6}"
        )
        for key, title in OPS:
            qa, qb = summary(a["stats"][key].latencies), summary(b["stats"][key].latencies)
            print(
                f"{title:<28} {fmt(qa['p50'], 10)} {fmt(qb['p50'], 7)}"
                f" {ratio(qa['p50'], qb['p50'])}"
                f" {fmt(qa['p95'], 10)} {fmt(qb['p95'], 7)} {ratio(qa['p95'], qb['p95'])}"
            )
        ra, rb = a["reader"]["lat_ms"], b["reader"]["lat_ms"]
        print(
            f"{'runtime entry read':<28} {fmt(ra['p50'], 10, 2)} {fmt(rb['p50'], 7, 2)}"
            f" {ratio(ra['p50'], rb['p50'])} {fmt(ra['p95'], 10, 2)} {fmt(rb['p95'], 7, 2)}"
            f" {ratio(ra['p95'], rb['p95'])}"
        )
        na = sum(len(x.latencies) for x in a["stats"].values()) / a["wall_s"]
        nb = sum(len(x.latencies) for x in b["stats"].values()) / b["wall_s"]
        print(f"{'requests/s':<28} {na:>10,.0f} {nb:>7,.0f} {ratio(na, nb)}")
        print("(ratio = SQLite / PostgreSQL; below 1.0x SQLite is faster)")
    print(f"run took {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
