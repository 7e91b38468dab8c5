"""The runtime service: Asterisk calls in over FastAGI, published flows run, records out.

A call arrives on ``agi://host:4573/ENTRY``. The entry names a published flow version (and
its pinned sub-flows); the call runs that version to its end even if another is published
meanwhile. When the entry is unknown (or its flow cannot run) the service sets the channel
variable ``IVRFLOW_STATUS`` and returns the call to the dialplan, whose fallback serves the
caller (see ``examples/asterisk/extensions.conf``).

Shutdown (SIGTERM): stop accepting, let active calls finish up to a deadline, then end the
rest (recorded as ``aborted``), flush the call records.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from nodes.registry import Registry, default_registry
from runtime.agi.channel import AgiChannel, Speech
from runtime.agi.protocol import AgiConnection
from runtime.agi.server import FastAgiServer
from runtime.ami import AmiClient, QueueTracker
from runtime.call import Prompt
from runtime.clock import Clock, SystemClock
from runtime.flow import Flow
from runtime.history import AGENT_HISTORY
from runtime.interpreter import Interpreter
from runtime.queue_members import QueueMemberView
from runtime.store.history import CallRecordHistory
from runtime.store.models import CallRecord, QueueLeg
from runtime.store.publishing import FlowVersionInfo, PinnedLibrary, entry_version
from runtime.store.records import RecordWriter, record_from_trace, record_values
from runtime.trace import Outcome, Trace

if TYPE_CHECKING:
    from prompts.delivery import SoundsDir

__all__ = ["RuntimeService", "entry_of", "tune_process"]

log = logging.getLogger("ivrflow.runtime")


def entry_of(env: Mapping[str, str]) -> str:
    """The entry a call asked for: the path of ``agi://host:port/ENTRY`` (no query string)."""
    script = env.get("agi_network_script") or ""
    if not script:
        request = env.get("agi_request", "")
        script = request.split("/", 3)[3] if request.count("/") >= 3 else ""
    return script.split("?", 1)[0].strip("/")


def tune_process() -> None:
    """Settings for a long-running runtime process holding many concurrent calls.

    * The objects of start-up (modules, schemas, node classes) are moved out of the garbage
      collector's view (``gc.freeze``) and young-generation collections run less often: with a
      thousand calls alive, each a stack of suspended coroutines, full collections otherwise
      pause the event loop for 50-190 ms (measured by ``benchmarks/bench_runtime.py``).
    * Threads (database work) hand the interpreter back to the event loop every 0.5 ms
      instead of 5 ms, so they do not delay prompts and replies.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)
    sys.setswitchinterval(0.0005)


def default_sound(prompt: Prompt) -> str:
    return f"ivrflow/{prompt.language}/{prompt.id}"


class RuntimeService:
    def __init__(
        self,
        engine: Engine,
        *,
        registry: Registry | None = None,
        resources: Mapping[str, Any] | None = None,
        clock: Clock | None = None,
        sound: Callable[[Prompt], str] = default_sound,
        dial_template: str = "PJSIP/{number}",
        host: str = "127.0.0.1",
        port: int = 4573,
        backlog: int = 512,
        drain_s: float = 30.0,
        command_timeout_s: float = 10.0,
        entry_cache_s: float = 1.0,
        ami: AmiClient | None = None,
        sounds: SoundsDir | None = None,
        speech: Speech | None = None,
    ) -> None:
        """``sounds``: deliver each version's prompts into Asterisk's sounds directory and play
        them from the version's own folder (else prompts play as ``sound(prompt)`` names)."""
        self.engine = engine
        self.sounds = sounds
        self.speech = speech
        self._delivering: dict[tuple[str, int], asyncio.Task[int]] = {}
        self.registry = registry or default_registry()
        self.resources = dict(resources or {})
        # sticky-agent routing (core.transfer_queue) reads who served a caller before
        self.resources.setdefault(AGENT_HISTORY, CallRecordHistory(engine))
        self.clock = clock or SystemClock()
        self.sound = sound
        self.dial_template = dial_template
        self.drain_s = drain_s
        self.records = RecordWriter(engine)
        self.server = FastAgiServer(
            self.handle,
            host=host,
            port=port,
            backlog=backlog,
            command_timeout_s=command_timeout_s,
        )
        self._flows: dict[tuple[str, int], Flow | None] = {}
        self.entry_cache_s = entry_cache_s
        self._entries: dict[str, tuple[float, FlowVersionInfo | None]] = {}
        self.ami = ami
        self.queue_tracker: QueueTracker | None = None
        self.queue_members: QueueMemberView | None = None
        """Queue membership and pauses from AMI: the sticky-agent dial skips an agent who is
        paused or not a member of the target queue (only while AMI is connected and synced)."""
        if ami is not None:
            self.queue_tracker = QueueTracker(self._queue_leg)
            self.queue_tracker.attach(ami)
            self.queue_members = QueueMemberView()
            self.queue_members.attach(ami)
        self.calls_started = 0
        self.calls_finished = 0

    @property
    def port(self) -> int:
        return self.server.port

    async def start(self) -> None:
        self.records.start()
        if self.ami is not None and self.queue_tracker is not None:
            await self.queue_tracker.start()
            if self.queue_members is not None:
                await self.queue_members.start()
            # the runtime serves calls even while AMI is unreachable; it keeps retrying
            await self.ami.start(require_connection=False)
        await self.server.start()
        log.info("FastAGI listening on %s:%d", self.server.host, self.server.port)

    async def close(self) -> None:
        """Stop accepting, drain active calls up to ``drain_s``, flush records."""
        await self.server.close(self.drain_s)
        pending = [t for t in self._delivering.values() if not t.done()]
        if pending:  # a worker thread writing files cannot be cancelled: let it finish
            await asyncio.gather(*pending, return_exceptions=True)
        if self.queue_tracker is not None:
            await self.queue_tracker.close()
        if self.queue_members is not None:
            await self.queue_members.close()
        if self.ami is not None:
            await self.ami.close()
        await self.records.close()

    async def _queue_leg(self, leg: Any) -> None:
        self.records.submit(QueueLeg(**leg.record_fields()))

    async def serve_until_signalled(self) -> None:
        """Run until SIGTERM or SIGINT, then shut down gracefully."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
            log.info("stopping: no new calls; draining %d active", self.server.active)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await self.close()

    # -- one call ------------------------------------------------------------------------

    async def handle(self, conn: AgiConnection, env: dict[str, str]) -> None:
        started = datetime.now(UTC)
        entry = entry_of(env)
        self.calls_started += 1
        try:
            info = await self._entry(entry)
            flow: Flow | None = None
            library: PinnedLibrary | None = None
            if info is not None:
                pins = {**info.dependencies, info.flow_id: info.version}
                library = PinnedLibrary(self.engine, pins, self.registry, self._flows)
                key = (info.flow_id, info.version)
                flow = (
                    self._flows[key]
                    if key in self._flows  # validated once per version, then kept
                    else await asyncio.to_thread(library.get, info.flow_id)
                )
            if info is None or flow is None or library is None:
                status = "NOENTRY" if info is None else "INVALID"
                log.warning("call %s: entry %r: %s", env.get("agi_uniqueid"), entry, status)
                await self._return_to_dialplan(conn, status)
                self._record_unserved(env, entry, started, status, info)
                return
            sound = self.sound
            if self.sounds is not None:
                sound = await self._delivered(info.flow_id, info.version)
            await self._run(
                conn,
                env=env,
                entry=entry,
                flow=flow,
                library=library,
                version=info.version,
                started=started,
                sound=sound,
            )
        finally:
            self.calls_finished += 1

    async def _delivered(self, flow_id: str, version: int) -> Callable[[Prompt], str]:
        """The version's prompts are in the sounds directory (delivered once, by one task,
        however many calls arrive at once); the call plays from that folder."""
        assert self.sounds is not None
        key = (flow_id, version)
        task = self._delivering.get(key)
        if task is None:
            task = asyncio.ensure_future(asyncio.to_thread(self.sounds.deliver, flow_id, version))
            self._delivering[key] = task
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            raise
        except Exception:
            # the call still runs; Asterisk reports the missing files, the record lists them
            log.exception("delivering the prompts of %s v%d failed", flow_id, version)
            self._delivering.pop(key, None)
        return self.sounds.sound_for(flow_id, version)

    async def _entry(self, entry: str) -> FlowVersionInfo | None:
        """What ``entry`` points at. Looked up at most once per ``entry_cache_s`` (a publish or
        rollback reaches new calls within that time; calls already running keep their
        version in any case)."""
        now = time.monotonic()
        cached = self._entries.get(entry)
        if cached is not None and now - cached[0] < self.entry_cache_s:
            return cached[1]
        info = await asyncio.to_thread(entry_version, self.engine, entry)
        self._entries[entry] = (now, info)
        return info

    async def _queue_result(
        self, uniqueid: str, status: str | None, caller_hung_up: bool, queue: str
    ) -> None:
        if self.queue_tracker is not None:
            await self.queue_tracker.note_queue_result(
                uniqueid, status, caller_hung_up=caller_hung_up, queue=queue
            )

    async def _return_to_dialplan(self, conn: AgiConnection, status: str) -> None:
        with contextlib.suppress(Exception):
            await conn.send("SET", "VARIABLE", "IVRFLOW_STATUS", status)

    def _record_unserved(
        self, env: Mapping[str, str], entry: str, started: datetime, status: str, info: Any
    ) -> None:
        trace = Trace(
            call_id=env.get("agi_uniqueid", ""),
            caller=env.get("agi_callerid", ""),
            called=env.get("agi_dnid", "") or env.get("agi_extension", ""),
        )
        detail = (
            f"no flow is published on entry {entry!r}"
            if status == "NOENTRY"
            else "the published flow cannot run (validation failed)"
        )
        trace.outcome = Outcome("no_entry" if status == "NOENTRY" else "error", None, detail)
        self.records.submit(
            record_from_trace(
                trace,
                started_at=started,
                env=env,
                entry=entry,
                flow_id=info.flow_id if info else "",
                flow_version=info.version if info else None,
            )
        )

    async def _run(
        self,
        conn: AgiConnection,
        *,
        env: Mapping[str, str],
        entry: str,
        flow: Flow,
        library: PinnedLibrary,
        version: int,
        started: datetime,
        sound: Callable[[Prompt], str],
    ) -> None:
        channel = AgiChannel(
            conn,
            env,
            sound=sound,
            speech=self.speech,
            dial_template=self.dial_template,
            queue_observer=self._queue_result if self.queue_tracker else None,
            queue_members=self.queue_members,
        )
        interpreter = Interpreter(library=library, resources=self.resources, clock=self.clock)
        trace = Trace()
        outcome: str | None = None
        detail = ""
        try:
            await interpreter.run(flow, channel, trace=trace)
        except asyncio.CancelledError:
            outcome, detail = "aborted", "runtime shut down before the call ended"
            raise
        except Exception as exc:  # a bug must not lose the record
            log.exception("call %s crashed", channel.call_id)
            outcome, detail = "error", f"{type(exc).__name__}: {exc}"
        finally:
            # GET VARIABLE works on a dead channel too; linkedid ties the call to its queue
            # legs and agent channels (AGI's environment does not carry it)
            linkedid = ""
            agent = channel.connected_agent
            if outcome != "aborted":
                with contextlib.suppress(Exception):
                    linkedid = await conn.get_variable("CHANNEL(linkedid)", timeout_s=1) or ""
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2):
                        # also when the caller hung up while talking to the agent
                        agent = await channel.settle_agent()
            values = record_values(
                trace,
                started_at=started,
                env={**env, "agi_linkedid": linkedid} if linkedid else env,
                entry=entry,
                flow_id=flow.id,
                flow_version=version,
                outcome=outcome,
                detail=detail,
                missing_prompts=channel.missing_prompts,
            )
            if agent is not None and agent.agent_interface:
                values.update(
                    agent_name=agent.agent[:100],
                    agent_interface=agent.agent_interface[:100],
                    agent_sticky=agent.sticky,
                )
            self.records.submit((CallRecord, values))
