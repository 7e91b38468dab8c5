"""The interpreter: run a validated flow on a channel, one node at a time.

Each step runs one node and follows the exit it names. The rules that keep callers out of
dead air and loops:

* the caller hanging up cancels the running node (even one busy with a back-end request) and
  ends the call;
* a node that raises, or runs past its ``timeout_s``, takes its ``timeout``/``error`` exit when
  it has one wired, else the flow's fallback node, else the call is ended politely;
* a step cap (per call) and a repeat cap (visits to one node per call) stop runaway loops: the
  call goes to the fallback once (with a small extra budget), else it is ended;
* whatever happens, the channel is hung up when the flow is done — never an open silent line.

Every step lands in the :class:`~runtime.trace.Trace`, with secrets masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from prompts.say import spell
from runtime.call import (
    Call,
    CallerHangup,
    Channel,
    CollectResult,
    CollectSpec,
    DialResult,
    Prompt,
    QueueRequest,
    QueueResult,
    RecordResult,
    SubflowResult,
    VoicemailResult,
)
from runtime.clock import Clock, SystemClock, zone
from runtime.flow import Flow, FlowLibrary, NodeSpec, Settings
from runtime.template import PLACEHOLDER_RE, render
from runtime.trace import MASK, Outcome, Step, Trace

__all__ = [
    "FALLBACK_GRACE_STEPS",
    "MAX_SUBFLOW_DEPTH",
    "FlowCall",
    "Interpreter",
    "StepObserver",
    "Variables",
]

log = logging.getLogger("ivrflow.interpreter")

MAX_SUBFLOW_DEPTH = 8
FALLBACK_GRACE_STEPS = 50
READ_ONLY = frozenset({"caller", "called", "call_id", "language", "last_error"})


class _EndCall(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.kind)
        self.outcome = outcome


class Variables(MutableMapping[str, Any]):
    """A flow frame's variables. Writes are recorded for the trace; secret ones masked."""

    def __init__(self, values: dict[str, Any], secret: set[str], state: _CallState) -> None:
        self._values = values
        self._secret = secret
        self._state = state

    def __getitem__(self, name: str) -> Any:
        if name == "language":
            return self._state.language
        return self._values[name]

    def __setitem__(self, name: str, value: Any) -> None:
        if name in READ_ONLY:
            raise KeyError(f"variable {name!r} is set by the runtime and cannot be changed")
        self._values[name] = value
        step = self._state.step
        if name in self._secret and value not in (None, ""):
            self._state.trace.add_secret(value)
            shown: Any = MASK
        else:
            shown = self._state.trace.scrub(value)
        if step is not None:
            step.vars_changed[name] = shown

    def __delitem__(self, name: str) -> None:
        raise KeyError("variables cannot be deleted; set them to null instead")

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def is_secret(self, name: str) -> bool:
        return name in self._secret

    def mark_secret(self, name: str) -> None:
        self._secret.add(name)
        if name in self._values:
            self._state.trace.add_secret(self._values[name])

    def snapshot(self, *, masked: bool = True) -> dict[str, Any]:
        out = dict(self._values)
        out["language"] = self._state.language
        if masked:
            for name in self._secret:
                if out.get(name) not in (None, ""):
                    out[name] = MASK
        return out


class _CallState:
    """What all frames of one call share."""

    def __init__(
        self, channel: Channel, trace: Trace, language: str, clock: Clock, step_cap: int
    ) -> None:
        self.channel = channel
        self.trace = trace
        self.language = language
        self.clock = clock
        self.step: Step | None = None
        self.steps = 0
        self.step_cap = step_cap
        self.visits: dict[tuple[str, str], int] = {}
        self.t0 = time.perf_counter()
        self.hung_up = False
        self.cap_fallback_used = False
        self.typeahead: str | None = None
        self.hangup_watch: asyncio.Future[None] | None = None
        self.hangup_cancel_sent = False
        """The call's task was cancelled to stop a node because the caller hung up."""
        self.on_step: StepObserver | None = None


class FlowCall:
    """The :class:`~runtime.call.Call` handed to nodes of one flow frame."""

    def __init__(
        self,
        interpreter: Interpreter,
        flow: Flow,
        state: _CallState,
        variables: Variables,
        depth: int,
    ) -> None:
        self._interpreter = interpreter
        self._flow = flow
        self._state = state
        self._vars = variables
        self._depth = depth
        self._tz = zone(flow.settings.timezone)
        self.call_id = state.channel.call_id
        self.caller = state.channel.caller
        self.called = state.channel.called
        self.ended: tuple[str, Mapping[str, Any]] | None = None

    # -- state ---------------------------------------------------------------------------

    @property
    def language(self) -> str:
        return self._state.language

    def set_language(self, language: str) -> None:
        self._state.language = language
        if self._state.step is not None:
            self._state.step.vars_changed["language"] = language

    @property
    def vars(self) -> Variables:
        return self._vars

    @property
    def flow(self) -> Flow:
        return self._flow

    @property
    def node_id(self) -> str:
        step = self._state.step
        return step.node if step is not None else ""

    @property
    def resources(self) -> Mapping[str, Any]:
        return self._interpreter.resources

    @property
    def settings(self) -> Settings:
        return self._flow.settings

    def is_secret(self, name: str) -> bool:
        return self._vars.is_secret(name)

    def now(self) -> datetime:
        return self._state.clock.now().astimezone(self._tz)

    def mark_secret(self, name: str) -> None:
        self._vars.mark_secret(name)

    def note(self, event: str, **data: Any) -> None:
        step = self._state.step
        if step is not None:
            step.events.append({"event": event, **self._state.trace.scrub(data)})

    def end_flow(self, outcome: str, outputs: Mapping[str, Any] | None = None) -> None:
        """Used by ``core.return``: how this (sub-)flow ends."""
        self.ended = (outcome, dict(outputs or {}))

    # -- prompts -------------------------------------------------------------------------

    def prompt(self, prompt_id: str) -> Prompt:
        language = self._state.language
        entry = self._flow.prompts.get(prompt_id)
        text = ""
        if entry is not None:
            texts = entry.get("text", {})
            text = texts.get(language) or next(
                (t for tag, t in texts.items() if tag.split("-")[0] == language.split("-")[0]),
                "",
            )
        if "{{" in text and PLACEHOLDER_RE.search(text):
            return Prompt(prompt_id, render(text, self._vars), language, dynamic=True)
        return Prompt(prompt_id, text, language)

    def _prompts(self, prompt_ids: Sequence[str]) -> list[Prompt]:
        return [self.prompt(p) for p in prompt_ids]

    # -- media ---------------------------------------------------------------------------

    async def answer(self) -> None:
        await self._state.channel.answer()
        self.note("answer")

    async def play(self, prompt_ids: Sequence[str], *, barge_in: bool = True) -> str | None:
        prompts = self._prompts(prompt_ids)
        self.note("play", prompts=[p.id for p in prompts], text=_text(prompts))
        key = await self._state.channel.play(prompts, barge_in=barge_in)
        self._barged(key)
        return key

    def _barged(self, key: str | None) -> None:
        """A key that interrupted a prompt is kept for the next input (type-ahead): a caller
        who presses * during a long announcement gets what * does at the next menu."""
        if key:
            self._state.typeahead = key
            self.note("barge_in", key=key)

    async def collect(self, prompt_ids: Sequence[str], spec: CollectSpec) -> CollectResult:
        key, self._state.typeahead = self._state.typeahead, None
        if key is not None:
            result = await self._collect_after(key, spec)
        else:
            prompts = self._prompts(prompt_ids)
            if prompts:
                self.note("play", prompts=[p.id for p in prompts], text=_text(prompts))
            result = await self._state.channel.collect(prompts, spec)
        if spec.secret:
            self._state.trace.add_secret(result.digits)
            shown = "*" * len(result.digits)
        else:
            shown = result.digits
        self.note("collect", digits=shown, ended_by=result.ended_by)
        return result

    async def _collect_after(self, key: str, spec: CollectSpec) -> CollectResult:
        """Collect with ``key`` already typed: the prompts are skipped."""
        self.note("typeahead", key="*" if spec.secret else key)
        if spec.terminator and key == spec.terminator:
            return CollectResult("", "terminator")
        if spec.max_digits <= 1:
            return CollectResult(key, "max")
        rest = await self._state.channel.collect(
            [],
            replace(
                spec,
                max_digits=spec.max_digits - 1,
                first_timeout_ms=spec.inter_digit_timeout_ms,
                barge_in=False,
            ),
        )
        ended_by = rest.ended_by if rest.digits or rest.ended_by == "terminator" else "timeout"
        return CollectResult(key + rest.digits, ended_by)

    async def say(
        self, kind: str, value: Any, *, language: str | None = None, barge_in: bool = True
    ) -> str | None:
        lang = language or self._state.language
        words = spell(kind, value, lang)
        prompts = [Prompt(w.prompt, w.text, lang) for w in words]
        sep = "" if lang.startswith("zh") else " "
        trace = self._state.trace
        secret = value is not None and trace.scrub(str(value)) != str(value)
        self.note("say", kind=kind, text=MASK if secret else sep.join(w.text for w in words))
        key = await self._state.channel.play(prompts, barge_in=barge_in)
        self._barged(key)
        return key

    async def transfer_queue(self, request: QueueRequest) -> QueueResult:
        self.note(
            "queue",
            queue=request.queue,
            priority=request.priority,
            caller_data=dict(request.caller_data),
        )
        result = await self._state.channel.transfer_queue(request)
        extra: dict[str, Any] = {}
        if result.agent_interface:
            extra["agent_interface"] = result.agent_interface
        if result.sticky:
            extra["sticky"] = True
        if result.sticky_skipped:
            extra["sticky_skipped"] = result.sticky_skipped
        self.note("queue_result", status=str(result.status), agent=result.agent, **extra)
        return result

    async def dial(self, number: str, *, timeout_s: int, caller_id: str = "") -> DialResult:
        self.note("dial", number=number)
        result = await self._state.channel.dial(number, timeout_s=timeout_s, caller_id=caller_id)
        self.note("dial_result", status=str(result.status))
        return result

    async def voicemail(self, mailbox: str, *, greeting: str = "unavailable") -> VoicemailResult:
        self.note("voicemail", mailbox=mailbox)
        result = await self._state.channel.voicemail(mailbox, greeting=greeting)
        self.note("voicemail_result", status=str(result.status))
        return result

    async def record(
        self, *, max_s: int, silence_s: int, beep: bool, prompt_ids: Sequence[str] = ()
    ) -> RecordResult:
        prompts = self._prompts(prompt_ids)
        if prompts:
            self.note("play", prompts=[p.id for p in prompts], text=_text(prompts))
        result = await self._state.channel.record(
            max_s=max_s, silence_s=silence_s, beep=beep, prompts=prompts
        )
        self.note("record", status=str(result.status), file=result.file)
        return result

    async def hangup(self) -> None:
        self.note("hangup")
        self._state.hung_up = True
        await self._state.channel.hangup()

    async def subflow(self, flow_id: str, inputs: Mapping[str, Any]) -> SubflowResult:
        return await self._interpreter._run_subflow(self, flow_id, inputs)


StepObserver = Callable[[FlowCall, Step], None]
"""Called as each step begins (``step.exit`` still None), with the frame it runs in; see
:meth:`Interpreter.run`."""


def _text(prompts: Sequence[Prompt]) -> str:
    return " ".join(p.text or f"[{p.id}]" for p in prompts)


class Interpreter:
    """Runs flows. One per process is enough; it keeps no per-call state."""

    def __init__(
        self,
        *,
        library: FlowLibrary | None = None,
        resources: Mapping[str, Any] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.library = library
        self.resources: Mapping[str, Any] = resources or {}
        self.clock: Clock = clock or SystemClock()

    async def run(
        self,
        flow: Flow,
        channel: Channel,
        *,
        variables: Mapping[str, Any] | None = None,
        trace: Trace | None = None,
        clock: Clock | None = None,
        on_step: StepObserver | None = None,
    ) -> Trace:
        """Run ``flow`` on ``channel`` to the end and return the trace.

        ``variables`` override declared defaults (e.g. from the simulator's ``--var``).
        ``on_step(call, step)`` is called synchronously as every step in the trace begins
        (sub-flow steps, and steps the step or repeat cap stops, too), before its node runs —
        the designer's test calls follow the call on the canvas with it. An exception it
        raises is logged and ignored."""
        clock = clock or self.clock
        trace = trace or Trace()
        trace.call_id = channel.call_id
        trace.flow = flow.id
        trace.caller = channel.caller
        trace.called = channel.called
        trace.started_at = clock.now().astimezone(zone(flow.settings.timezone)).isoformat()
        state = _CallState(channel, trace, flow.languages[0], clock, flow.settings.step_cap)
        state.on_step = on_step
        hangup_watch = asyncio.ensure_future(channel.wait_hangup())
        state.hangup_watch = hangup_watch
        try:
            call = self._frame(flow, state, dict(variables or {}), depth=0)
            try:
                await self._run_frame(call, hangup_watch)
                trace.outcome = Outcome("completed", state.step.node if state.step else None)
            except _EndCall as end:
                trace.outcome = end.outcome
        finally:
            hangup_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await hangup_watch
        if not state.hung_up and trace.outcome.kind != "hangup":
            with contextlib.suppress(CallerHangup, Exception):
                await channel.hangup()
        return trace

    # -- frames --------------------------------------------------------------------------

    def _frame(
        self, flow: Flow, state: _CallState, overrides: dict[str, Any], depth: int
    ) -> FlowCall:
        values: dict[str, Any] = {
            name: _copy_default(spec.default) for name, spec in flow.variables.items()
        }
        values.update(overrides)
        channel = state.channel
        values.update(
            caller=channel.caller, called=channel.called, call_id=channel.call_id, last_error=None
        )
        secret = set(flow.secret_variables)
        for name in secret:
            if values.get(name) not in (None, ""):
                state.trace.add_secret(values[name])
        return FlowCall(self, flow, state, Variables(values, secret, state), depth)

    async def _run_subflow(
        self, parent: FlowCall, flow_id: str, inputs: Mapping[str, Any]
    ) -> SubflowResult:
        state = parent._state
        if parent._depth + 1 > MAX_SUBFLOW_DEPTH:
            raise RuntimeError(f"sub-flows nested deeper than {MAX_SUBFLOW_DEPTH}")
        flow = self.library.get(flow_id) if self.library else None
        if flow is None:
            raise LookupError(f"sub-flow {flow_id!r} not found or not valid")
        child = self._frame(flow, state, dict(inputs), parent._depth + 1)
        for name, value in inputs.items():
            # an input carrying a secret value stays secret inside the sub-flow
            if value is not None and state.trace.scrub(str(value)) != str(value):
                child.mark_secret(name)
        outer_step = state.step
        watch = state.hangup_watch
        own_watch = watch is None  # a node run on its own (runtime.testing.run_node)
        if watch is None:
            watch = state.hangup_watch = asyncio.ensure_future(state.channel.wait_hangup())
        try:
            await self._run_frame(child, watch)
        finally:
            state.step = outer_step
            if own_watch:
                state.hangup_watch = None
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await watch
        if state.hung_up:  # the sub-flow ended the call (core.hangup)
            raise _EndCall(Outcome("completed", child.flow.id, "sub-flow hung up"))
        outcome, _ = child.ended or ("completed", {})
        outputs = {k: v for k, v in child.vars.items() if k not in READ_ONLY}
        return SubflowResult(outcome, outputs, frozenset(child.vars._secret))

    async def _run_frame(self, call: FlowCall, hangup_watch: asyncio.Future[None]) -> None:
        flow = call.flow
        state = call._state
        node_id: str | None = flow.start
        while node_id is not None:
            spec = flow.nodes[node_id]
            state.steps += 1
            key = (flow.id, node_id)
            visits = state.visits.get(key, 0) + 1
            state.visits[key] = visits
            step = Step(
                index=state.steps,
                node=node_id,
                type=spec.type,
                flow=flow.id,
                depth=call._depth,
                at_ms=(time.perf_counter() - state.t0) * 1000,
            )
            state.trace.steps.append(step)
            state.step = step
            if state.on_step is not None:
                try:
                    state.on_step(call, step)
                except Exception:
                    log.exception("step observer failed at node %s", node_id)
            if state.steps > state.step_cap or visits > flow.settings.repeat_cap:
                kind = "step_cap" if state.steps > state.step_cap else "repeat_cap"
                step.error = (
                    f"step cap {state.step_cap} reached"
                    if kind == "step_cap"
                    else f"node visited more than {flow.settings.repeat_cap} times"
                )
                node_id = self._cap_fallback(call, kind, node_id, step)
                continue
            started = time.perf_counter()
            try:
                exit_name = await self._run_node(call, spec, hangup_watch)
            except CallerHangup:
                step.duration_ms = (time.perf_counter() - started) * 1000
                step.error = "caller hung up"
                raise _EndCall(Outcome("hangup", node_id, "caller hung up")) from None
            except _NodeFailed as failure:
                step.duration_ms = (time.perf_counter() - started) * 1000
                step.error = failure.reason
                call._vars._values["last_error"] = failure.reason
                exit_name = failure.exit_name
                if exit_name is None or exit_name not in spec.exits:
                    step.exit = exit_name
                    node_id = self._fallback(call, node_id, step, failure.reason)
                    continue
            step.duration_ms = (time.perf_counter() - started) * 1000
            step.exit = exit_name
            if spec.cls.terminal or exit_name is None:
                return
            target = spec.exits.get(exit_name)
            if target is None:
                reason = (
                    f"exit {exit_name!r} is not wired"
                    if exit_name in spec.declared_exits
                    else f"node returned unknown exit {exit_name!r}"
                )
                step.error = reason
                node_id = self._fallback(call, node_id, step, reason)
                continue
            node_id = target

    async def _run_node(
        self, call: FlowCall, spec: NodeSpec, hangup_watch: asyncio.Future[None]
    ) -> str | None:
        if hangup_watch.done():
            raise CallerHangup()
        node = spec.cls()
        coro = node.run(call, dict(spec.config))
        if spec.cls.timeout_s is not None:
            coro = _with_timeout(coro, spec.cls.timeout_s)
        # The node runs in the call's own task (no task per step). If the caller hangs up
        # while it is busy (e.g. waiting on a back end), the task is cancelled once and the
        # cancellation is turned back into CallerHangup here.
        me = asyncio.current_task()
        assert me is not None
        state = call._state
        running = True

        def caller_left(_: object) -> None:
            if running and not state.hangup_cancel_sent:
                state.hangup_cancel_sent = True
                me.cancel()

        hangup_watch.add_done_callback(caller_left)
        try:
            result = await coro
        except asyncio.CancelledError:
            if state.hangup_cancel_sent and me.cancelling() == 1:
                me.uncancel()  # ours: the caller hung up
                state.hangup_cancel_sent = False
                raise CallerHangup() from None
            if me.cancelling():  # the whole call is being stopped (runtime shutdown)
                raise
            raise _NodeFailed(None, "node was cancelled") from None
        except (CallerHangup, _EndCall):  # the caller left, or a sub-flow ended the call
            raise
        except TimeoutError:
            exit_name = "timeout" if "timeout" in spec.declared_exits else None
            if exit_name is None and "error" in spec.declared_exits:
                exit_name = "error"
            raise _NodeFailed(exit_name, f"node ran longer than {spec.cls.timeout_s:g} s") from None
        except Exception as exc:
            log.warning(
                "node %s (%s) failed: %s", spec.id, spec.type, exc, exc_info=log.isEnabledFor(10)
            )
            exit_name = "error" if "error" in spec.declared_exits else None
            raise _NodeFailed(exit_name, f"{type(exc).__name__}: {exc}") from None
        finally:
            running = False
            hangup_watch.remove_done_callback(caller_left)
        if result is not None and not isinstance(result, str):
            raise _NodeFailed(None, f"node returned {result!r} instead of an exit name")
        return result

    def _fallback(self, call: FlowCall, node_id: str, step: Step, reason: str) -> str:
        fallback = call.flow.settings.fallback
        if fallback and fallback in call.flow.nodes and fallback != node_id:
            step.events.append({"event": "fallback", "to": fallback, "reason": reason})
            return fallback
        raise _EndCall(Outcome("error", node_id, reason))

    def _cap_fallback(self, call: FlowCall, kind: str, node_id: str, step: Step) -> str:
        state = call._state
        fallback = call.flow.settings.fallback
        if fallback and fallback in call.flow.nodes and not state.cap_fallback_used:
            state.cap_fallback_used = True
            state.step_cap = state.steps + FALLBACK_GRACE_STEPS
            state.visits = {k: v for k, v in state.visits.items() if k != (call.flow.id, fallback)}
            step.events.append({"event": "fallback", "to": fallback, "reason": step.error})
            return fallback
        raise _EndCall(Outcome(kind, node_id, step.error or kind))


class _NodeFailed(Exception):
    def __init__(self, exit_name: str | None, reason: str) -> None:
        super().__init__(reason)
        self.exit_name = exit_name
        self.reason = reason


async def _with_timeout(coro: Any, seconds: float) -> Any:
    async with asyncio.timeout(seconds):
        return await coro


def _copy_default(value: Any) -> Any:
    if isinstance(value, dict | list):
        import copy

        return copy.deepcopy(value)
    return value


def is_call(obj: object) -> bool:
    """True when ``obj`` satisfies the :class:`~runtime.call.Call` protocol."""
    return isinstance(obj, Call)
