"""Processes for ``bench_runtime.py``: the runtime under test, the bare FastAGI floor, and the
fake-Asterisk load driver. Each runs in its own process (spawned by ``bench_runtime.py``) so
the fake's own CPU (~50 us per command) never competes with the runtime for one event loop.

Nothing here is a test; the entry points are ``serve_runtime``, ``serve_floor`` and ``drive``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import os
import resource
import signal
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"

# -- flows -------------------------------------------------------------------------------------

# 18 nodes between start and hang-up; with the caller pressing a key at every menu (menus
# without barge-in: STREAM FILE then WAIT FOR DIGIT) this is exactly 20 AGI commands:
# ANSWER, 10 x STREAM FILE (plays), 4 x (STREAM FILE + WAIT FOR DIGIT) (menus), HANGUP;
# the four set_variable nodes send nothing but still run through the interpreter.
CHAIN = [
    *("play", "play", "set", "menu", "play", "play", "menu", "set", "play"),
    *("play", "menu", "play", "set", "play", "menu", "play", "set", "play"),
]
CHAIN_KEYS = "1212"
CHAIN_COMMANDS = 20  # as designed; bench_runtime.py takes the real count from a probe call


def chain_flow() -> dict[str, Any]:
    """core.start, the CHAIN of play / set_variable / menu nodes, core.hangup."""
    nodes: dict[str, Any] = {"start": {"type": "core.start", "version": 1, "exits": {"next": "n1"}}}
    prompts: dict[str, Any] = {}
    for i, kind in enumerate(CHAIN, 1):
        nxt = f"n{i + 1}" if i < len(CHAIN) else "bye"
        if kind == "play":
            prompts[f"p{i}"] = {"text": {"zh-CN": f"提示{i}"}}
            nodes[f"n{i}"] = {
                "type": "core.play",
                "version": 1,
                "config": {"prompts": [f"p{i}"]},
                "exits": {"next": nxt},
            }
        elif kind == "set":
            nodes[f"n{i}"] = {
                "type": "core.set_variable",
                "version": 1,
                "config": {"assignments": [{"variable": "n", "expression": "n + 1"}]},
                "exits": {"next": nxt, "error": "bye"},
            }
        else:
            prompts[f"m{i}"] = {"text": {"zh-CN": f"菜单{i}"}}
            nodes[f"n{i}"] = {
                "type": "core.menu",
                "version": 1,
                "config": {
                    "prompts": [f"m{i}"],
                    "options": [{"key": "1"}, {"key": "2"}],
                    "barge_in": False,
                },
                "exits": {"1": nxt, "2": nxt, "timeout": "bye", "invalid": "bye"},
            }
    nodes["bye"] = {"type": "core.hangup", "version": 1}
    return {
        "schema_version": 1,
        "id": "bench-chain",
        "name": "bench chain",
        "variables": {"n": {"type": "number", "default": 0}},
        "prompts": prompts,
        "settings": {"fallback": "bye"},
        "nodes": nodes,
    }


# A short realistic call for the burst: answer, welcome, a menu the caller answers at once
# (barge-in), a result prompt, hang-up: 5 AGI commands.
BURST_KEYS = "1"
BURST_COMMANDS = 5  # as designed; bench_runtime.py takes the real count from a probe call


def burst_flow() -> dict[str, Any]:
    def play(prompt: str, nxt: str) -> dict[str, Any]:
        return {
            "type": "core.play",
            "version": 1,
            "config": {"prompts": [prompt]},
            "exits": {"next": nxt},
        }

    return {
        "schema_version": 1,
        "id": "bench-burst",
        "name": "bench burst",
        "prompts": {p: {"text": {"zh-CN": p}} for p in ("welcome", "menu", "result")},
        "settings": {"fallback": "bye"},
        "nodes": {
            "start": {"type": "core.start", "version": 1, "exits": {"next": "welcome"}},
            "welcome": play("welcome", "menu"),
            "menu": {
                "type": "core.menu",
                "version": 1,
                "config": {"prompts": ["menu"], "options": [{"key": "1"}, {"key": "2"}]},
                "exits": {"1": "result", "2": "result", "timeout": "bye", "invalid": "bye"},
            },
            "result": play("result", "bye"),
            "bye": {"type": "core.hangup", "version": 1},
        },
    }


# -- measuring helpers -------------------------------------------------------------------------


def pct(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (NaN when empty)."""
    if not sorted_values:
        return float("nan")
    rank = min(len(sorted_values) - 1, max(0, int(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def summary_ms(values: list[float]) -> dict[str, float]:
    """p50 / p99 / p99.9 / max (ms) and the count of a list of seconds."""
    data = sorted(values)
    return {
        "n": len(data),
        "p50": pct(data, 50) * 1000,
        "p99": pct(data, 99) * 1000,
        "p999": pct(data, 99.9) * 1000,
        "max": (data[-1] * 1000) if data else float("nan"),
    }


class LoopLag:
    """How late a 5 ms sleep wakes up: a cheap gauge of how busy an event loop is."""

    def __init__(self, period_s: float = 0.005) -> None:
        self.period_s = period_s
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.period_s
            await asyncio.sleep(self.period_s)
            self.samples.append(max(0.0, loop.time() - due))

    def take(self) -> dict[str, float]:
        samples, self.samples = self.samples, []
        return summary_ms(samples)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class GcPauses:
    """Garbage-collector pauses (``gc.callbacks``): count, total and longest, per window."""

    def __init__(self) -> None:
        self._t0 = 0.0
        self.pauses: list[float] = []
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:  # every full collection, and the young ones that took over 1 ms
            took = time.perf_counter() - self._t0
            if info.get("generation") == 2 or took > 0.001:
                self.pauses.append(took)

    def take(self) -> dict[str, float]:
        pauses, self.pauses = self.pauses, []
        return {"n": len(pauses), "max": max(pauses, default=0.0) * 1000, "sum": sum(pauses) * 1000}


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _quiet_child() -> None:
    # Ctrl-C reaches the whole process group: only the orchestrator handles it (and stops us).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.ERROR, format="%(processName)s %(name)s: %(message)s")


async def _control_loop(
    conn: Connection,
    stats: Callable[[], dict[str, Any]],
    stop: asyncio.Event,
    flush: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Answer ``stats`` requests from the orchestrator until it says ``stop`` (or goes away)."""
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Any] = asyncio.Queue()

    def readable() -> None:
        try:
            inbox.put_nowait(conn.recv())
        except (EOFError, OSError):
            inbox.put_nowait("stop")
            loop.remove_reader(conn.fileno())

    loop.add_reader(conn.fileno(), readable)
    try:
        while True:
            msg = await inbox.get()
            if msg == "stop":
                stop.set()
                return
            if msg == "stats":
                conn.send(stats())
            elif msg == "flush":  # wait until the call records queued so far are written
                if flush is not None:
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(60):
                            await flush()
                conn.send("flushed")
            elif isinstance(msg, tuple) and msg[0] == "profile":
                conn.send(_profile(msg[1]))
    finally:
        with contextlib.suppress(Exception):
            loop.remove_reader(conn.fileno())


_profiler: dict[str, Any] = {}


def _profile(action: str) -> str:
    """cProfile in the server process: ``start``, then ``stop`` returns the top entries."""
    import cProfile
    import io
    import pstats

    if action == "start":
        _profiler["p"] = cProfile.Profile()
        _profiler["p"].enable()
        return "started"
    profiler = _profiler.pop("p", None)
    if profiler is None:
        return ""
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)
    by_file: dict[str, float] = {}
    for (filename, _line, _name), row in stats.stats.items():  # type: ignore[attr-defined]
        key = filename.split("/site-packages/")[-1].split("/lib/python3")[-1]
        key = key.replace(str(Path(__file__).resolve().parents[1]) + "/", "")
        by_file[key] = by_file.get(key, 0.0) + row[2]
    ours = sorted(
        (
            (row[2], f"{fn.split('/')[-1]}:{line}({name}) x{row[1]}")
            for (fn, line, name), row in stats.stats.items()
            if "/work/main/runtime" in fn
        ),  # type: ignore[attr-defined]
        reverse=True,
    )[:25]
    out.write("\nour functions by internal time\n")
    for seconds, label in ours:
        out.write(f"{seconds * 1000:9.1f} ms  {label}\n")
    out.write("\ninternal time by file\n")
    for name, seconds in sorted(by_file.items(), key=lambda kv: -kv[1])[:25]:
        out.write(f"{seconds * 1000:9.1f} ms  {name}\n")
    return out.getvalue()


# -- the runtime under test ---------------------------------------------------------------------


def serve_runtime(database_url: str, conn: Connection) -> None:
    """Run ``RuntimeService`` on 127.0.0.1 (a free port) until the orchestrator says stop,
    tuned as ``ivrflow runtime`` tunes its process."""
    from runtime.service import tune_process

    _quiet_child()
    tune_process()
    asyncio.run(_serve_runtime(database_url, conn))


async def _serve_runtime(database_url: str, conn: Connection) -> None:
    from runtime.service import RuntimeService
    from runtime.store.db import make_engine

    engine = make_engine(database_url, create=False)
    service = RuntimeService(engine, host=HOST, port=0, drain_s=5.0)
    await service.start()
    lag = LoopLag()
    lag.start()
    pauses = GcPauses()

    def stats() -> dict[str, Any]:
        return {
            "cpu_s": _cpu_s(),
            "wall_s": time.monotonic(),
            "accepted": service.server.accepted,
            "rejected": service.server.rejected,
            "handler_errors": service.server.handler_errors,
            "active": service.server.active,
            "calls_started": service.calls_started,
            "calls_finished": service.calls_finished,
            "records_written": service.records.written,
            "records_dropped": service.records.dropped,
            "rss_mb": _rss_mb(),
            "peak_rss_mb": _peak_rss_mb(),
            "lag": lag.take(),
            "gc": pauses.take(),
        }

    conn.send({"port": service.port})
    stop = asyncio.Event()

    async def settle() -> None:
        """Calls whose fake already hung up may still be ending here: wait for them, then
        for their records."""
        for _ in range(1000):
            if not service.server.connections:
                break
            await asyncio.sleep(0.01)
        await service.records.flush()

    control = asyncio.get_running_loop().create_task(_control_loop(conn, stats, stop, settle))
    try:
        await stop.wait()
    finally:
        await lag.stop()
        await service.close()
        with contextlib.suppress(Exception):
            await service.records.flush()
        final = stats()
        engine.dispose()
        with contextlib.suppress(Exception):
            conn.send(final)
        control.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await control


# -- the floor: a bare asyncio FastAGI handler -----------------------------------------------------


def serve_floor(lines: list[bytes], conn: Connection) -> None:
    """A bare FastAGI server: read the env block, send ``lines`` one by one, reading each reply
    line, then close. No parsing, no interpreter, no records: the least any server must do."""
    _quiet_child()
    asyncio.run(_serve_floor(lines, conn))


async def _serve_floor(lines: list[bytes], conn: Connection) -> None:
    counts = {"accepted": 0, "calls_finished": 0, "errors": 0}
    tasks: set[asyncio.Task[None]] = set()

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(30):
                for _ in range(256):  # the env block, up to its blank line
                    line = await reader.readline()
                    if not line.strip():
                        break
                for line in lines:
                    writer.write(line)
                    await writer.drain()
                    reply = await reader.readline()
                    if reply == b"HANGUP\n":  # the unsolicited notice: the reply follows
                        reply = await reader.readline()
                    if not reply:
                        break
            counts["calls_finished"] += 1
        except (OSError, TimeoutError):
            counts["errors"] += 1
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counts["accepted"] += 1
        task = asyncio.get_running_loop().create_task(session(reader, writer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(on_connect, HOST, 0, backlog=512)
    lag = LoopLag()
    lag.start()

    def stats() -> dict[str, Any]:
        return {
            "cpu_s": _cpu_s(),
            "wall_s": time.monotonic(),
            **counts,
            "rss_mb": _rss_mb(),
            "peak_rss_mb": _peak_rss_mb(),
            "lag": lag.take(),
        }

    conn.send({"port": server.sockets[0].getsockname()[1]})
    stop = asyncio.Event()
    control = asyncio.get_running_loop().create_task(_control_loop(conn, stats, stop))
    try:
        await stop.wait()
    finally:
        await lag.stop()
        server.close()
        if tasks:
            await asyncio.wait(set(tasks), timeout=5)
        for task in list(tasks):
            task.cancel()
        await server.wait_closed()
        with contextlib.suppress(Exception):
            conn.send(stats())
        control.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await control


# -- the fake Asterisk: load driver ------------------------------------------------------------


def drive(job: dict[str, Any], conn: Connection) -> None:
    """Run one load job with ``support.fake_asterisk.FakeCall`` and send back its summary."""
    _quiet_child()
    try:
        result = asyncio.run(_drive(job))
    except BaseException as exc:  # report, never hang the orchestrator
        result = {"crash": f"{type(exc).__name__}: {exc}"}
    conn.send(result)


class _Tally:
    """Per-call outcomes and the step gaps inside the measuring window."""

    def __init__(self, job: dict[str, Any], window: tuple[float, float]) -> None:
        self.expect = job.get("expect_commands")
        self.window = window
        self.gaps: list[float] = []
        self.setup: list[float] = []
        self.started = 0
        self.completed = 0
        self.refused = 0
        self.timed_out = 0
        self.failed = 0
        self.cut = 0  # hung up by the driver at the end of a timed run
        self.commands = 0
        self.samples: list[str] = []
        self.lines: list[bytes] = []

    def add(self, res: Any, *, cut: bool) -> None:
        lo, hi = self.window
        cmds = res.commands
        if not self.lines:
            self.lines = [c.raw + b"\n" for c in cmds]
        self.commands += len(cmds)
        for prev, nxt in itertools.pairwise(cmds):
            if prev.replied_at is not None and prev.replied_at >= lo and nxt.received_at <= hi:
                self.gaps.append(nxt.received_at - prev.replied_at)
        if cmds:
            self.setup.append(cmds[0].received_at - res.started_at)
        error = res.error or ""
        if error.startswith("FastAGI connect failed"):
            self.refused += 1
            kind = "refused"
        elif "not finished after" in error or "sent no command" in error:
            self.timed_out += 1
            kind = "timed out"
        elif cut:
            self.cut += 1
            return
        elif (
            error
            or res.reset
            or res.hung_up_by != "runtime"
            or (self.expect is not None and len(cmds) != self.expect)
        ):
            self.failed += 1
            kind = "failed"
        else:
            self.completed += 1
            return
        if len(self.samples) < 5:
            self.samples.append(
                f"{kind}: error={error!r} hung_up_by={res.hung_up_by} closed_by={res.closed_by}"
                f" commands={len(cmds)} reset={res.reset}"
            )


async def _drive(job: dict[str, Any]) -> dict[str, Any]:
    from support.fake_asterisk import FakeCall

    loop = asyncio.get_running_loop()
    lag = LoopLag()
    lag.start()
    pauses = GcPauses()
    # The driver is the measuring instrument: its own GC pauses (tens of ms with 1,000 calls
    # alive) would show up as runtime overhead, so its cyclic GC is off for the job (a job is
    # bounded and its process ends with it; reference counting frees almost everything).
    gc.collect()
    gc.freeze()
    gc.disable()
    kwargs = dict(job["call"])
    for key in ("playback_ms", "delay_ms"):
        if isinstance(kwargs.get(key), list):
            kwargs[key] = tuple(kwargs[key])
    seq = itertools.count()

    def new_call() -> FakeCall:
        return FakeCall(job["port"], host=HOST, seed=next(seq), **kwargs)

    cpu0, t0 = _cpu_s(), loop.time()
    mode = job["mode"]
    live: dict[asyncio.Task[Any], FakeCall] = {}
    cutting = False

    def finished(task: asyncio.Task[Any]) -> None:
        live.pop(task, None)
        if not task.cancelled() and task.exception() is None:
            tally.add(task.result(), cut=cutting)

    def launch() -> None:
        call = new_call()
        task = loop.create_task(call.run())
        live[task] = call
        tally.started += 1
        task.add_done_callback(finished)

    if mode == "closed":
        # ``concurrency`` calls in flight for ``duration_s``: the first ones started evenly
        # over ``ramp_s``, then a new call as soon as one ends. Steps are counted only between
        # the end of the ramp (+ ``settle_s``) and the end; then the remaining calls hang up.
        conc, ramp = job["concurrency"], job["ramp_s"]
        start_at = time.monotonic()
        window = (start_at + ramp + job.get("settle_s", 0.0), start_at + job["duration_s"])
        tally = _Tally(job, window)
        for i in range(conc):
            launch()
            await asyncio.sleep(max(0.0, start_at + ramp * (i + 1) / conc - time.monotonic()))
        while time.monotonic() < window[1]:
            while len(live) < conc and time.monotonic() < window[1]:
                launch()
            await asyncio.sleep(0.002)
        cutting = True
        for call in list(live.values()):
            call.hang_up()
    elif mode == "count":
        # ``total`` calls, ``concurrency`` at a time, as fast as the server takes them.
        tally = _Tally(job, (0.0, float("inf")))
        total, conc = job["total"], job["concurrency"]
        while tally.started < total:
            while len(live) < conc and tally.started < total:
                launch()
            await asyncio.sleep(0.001)
    elif mode == "rate":
        # ``rate`` new calls per second for ``duration_s`` (open loop: starts never wait).
        rate, duration = job["rate"], job["duration_s"]
        start_at = time.monotonic()
        tally = _Tally(job, (start_at, start_at + duration + 60))
        for i in range(int(rate * duration)):
            await asyncio.sleep(max(0.0, start_at + i / rate - time.monotonic()))
            launch()
    else:
        raise ValueError(mode)
    offered_s = loop.time() - t0
    # Wait for the calls still running (each FakeCall has its own timeout; this is a backstop).
    deadline = time.monotonic() + job.get("drain_s", 30.0)
    while live and time.monotonic() < deadline:
        await asyncio.wait(set(live), timeout=max(0.01, deadline - time.monotonic()))
    stuck = len(live)
    for task in list(live):
        task.cancel()
    if live:
        await asyncio.wait(set(live), timeout=5)
    wall = loop.time() - t0
    await lag.stop()
    return {
        "started": tally.started,
        "completed": tally.completed,
        "refused": tally.refused,
        "timed_out": tally.timed_out,
        "failed": tally.failed,
        "cut": tally.cut,
        "stuck": stuck,
        "commands": tally.commands,
        "gaps": summary_ms(tally.gaps),
        "setup": summary_ms(tally.setup),
        "samples": tally.samples,
        "lines": tally.lines,
        "offered_s": offered_s,
        "wall_s": wall,
        "window_s": (tally.window[1] - tally.window[0]) if mode == "closed" else wall,
        "cpu_s": _cpu_s() - cpu0,
        "lag": lag.take(),
        "gc": pauses.take(),
        "peak_rss_mb": _peak_rss_mb(),
    }
