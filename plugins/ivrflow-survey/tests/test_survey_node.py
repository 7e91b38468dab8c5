"""The survey.ask node: answers, invalid keys, skipping, silence and hang-up — alone
(runtime.testing) and after a queue transfer in the simulator — and that storing never
delays or fails the call."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from ivrflow_survey.node import SurveyAsk

from nodes.registry import load_registry
from runtime.call import CallerHangup
from runtime.simulator import SimulatedChannel, simulate
from runtime.testing import run_node
from runtime.validate import validate

AT = datetime(2026, 3, 2, 23, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
VARS = {"queue": "loans", "agent": "8001"}


class Recorder:
    """A fake store: what the node submits."""

    def __init__(self, accept: bool = True) -> None:
        self.accept = accept
        self.submitted: list = []

    def submit(self, answers):
        self.submitted.extend(answers)
        return self.accept


class Broken:
    def submit(self, answers):
        raise RuntimeError("database on fire")


async def _run(questions, keys, store=None, **config):
    return await run_node(
        SurveyAsk,
        {"questions": questions, **config},
        keys=keys,
        vars=VARS,
        at=AT,
        resources={"survey": store} if store is not None else {},
        caller="13912345678",
        call_id="call-1",
    )


async def test_all_answered_is_done_and_stored(questions):
    store = Recorder()
    run = await _run(questions, "4 3", store)
    assert run.exit == "done"
    assert [(a.question, a.score) for a in store.submitted] == [("agent", 4), ("overall", 3)]
    first = store.submitted[0]
    assert (first.call_id, first.caller, first.agent, first.queue) == (
        "call-1",
        "13912345678",
        "8001",
        "loans",
    )
    assert (first.scale_min, first.scale_max, first.survey) == (1, 5, "satisfaction")
    assert first.day.isoformat() == "2026-03-02" and first.answered_at == AT  # local day
    assert run.events[-1] == {
        "event": "survey",
        "survey": "satisfaction",
        "exit": "done",
        "asked": 2,
        "answered": 2,
    }


async def test_invalid_keys_are_asked_again(questions):
    store = Recorder()
    run = await _run(questions, "7 5 9 0", store, invalid_prompts=["invalid"], max_attempts=2)
    # question 1: 7 (out of 1–5) then 5; question 2: 9, 0 (out of 1–3): no answer
    assert run.exit == "partial"
    assert [(a.question, a.score) for a in store.submitted] == [("agent", 5)]
    results = [
        (e["question"], e["key"], e["result"]) for e in run.events if e["event"] == "survey_answer"
    ]
    assert results == [
        ("agent", "7", "invalid"),
        ("agent", "5", "answer"),
        ("overall", "9", "invalid"),
        ("overall", "0", "invalid"),
    ]
    played = [h.prompts for h in run.heard if h.kind == "play"]
    assert played.count(["invalid"]) == 2  # not after the last attempt of a question
    assert [s.max_digits for s in run.channel.specs] == [1, 1, 1, 1]


async def test_skip_key_and_all_skipped(questions):
    store = Recorder()
    run = await _run(questions, "# 2", store)
    assert run.exit == "partial"
    assert [(a.question, a.score) for a in store.submitted] == [("overall", 2)]
    # the second question has no skip key: # is invalid there
    run = await _run(questions, "# # #", store, max_attempts=2)
    assert run.exit == "skipped"
    assert [e["result"] for e in run.events if e["event"] == "survey_answer"] == [
        "skip",
        "invalid",
        "invalid",
    ]


async def test_a_silent_caller_is_skipped_and_not_asked_further(questions):
    store = Recorder()
    run = await _run(questions, "_ _ 5", store, timeout_prompts=["again"])
    assert run.exit == "skipped"
    assert store.submitted == []
    assert run.channel.unused_keys == ["5"]  # stopped after the first question
    assert ["again"] in [h.prompts for h in run.heard]
    # unless configured to go on
    run = await _run(questions, "_ _ 2", store, stop_when_silent=False)
    assert run.exit == "partial"


async def test_hanging_up_mid_survey_keeps_the_answers_given(questions):
    store = Recorder()
    channel = SimulatedChannel("3", caller="13912345678", call_id="call-9")
    with pytest.raises(CallerHangup):
        await run_node(
            SurveyAsk,
            {"questions": questions},
            vars=VARS,
            at=AT,
            resources={"survey": store},
            channel=channel,
        )
    assert [(a.question, a.score, a.call_id) for a in store.submitted] == [("agent", 3, "call-9")]


async def test_storing_never_fails_the_call(questions):
    run = await _run(questions, "5 3", Broken())
    assert run.exit == "done"
    assert {"event": "survey_not_stored", "reason": "RuntimeError"} in run.events
    run = await _run(questions, "5 3")  # no store at all (simulate without a database)
    assert run.exit == "done"
    assert {"event": "survey_not_stored", "reason": "no database"} in run.events
    run = await _run(questions, "5 3", Recorder(accept=False))  # queue full
    assert {"event": "survey_not_stored", "reason": "refused"} in run.events


async def test_agent_and_queue_variables_are_configurable(questions):
    store = Recorder()
    await run_node(
        SurveyAsk,
        {
            "questions": questions[:1],
            "agent_variable": "who",
            "queue_variable": "",
            "queue": "general",
        },
        keys="5",
        vars={"who": 8123},
        at=AT,
        resources={"survey": store},
    )
    [row] = store.submitted
    assert (row.agent, row.queue) == ("8123", "general")


def _registry():
    return load_registry(extra=[SurveyAsk], include_entry_points=False)


@pytest.mark.parametrize(
    ("keys", "exit_", "scores"),
    [
        ("4 2", "done_node", [4, 2]),
        ("# 3", "partial_node", [3]),
        ("_ _", "skipped_node", []),
        ("8 8 # 9 9", "skipped_node", []),
    ],
)
async def test_after_the_agent_in_the_simulator(survey_flow, keys, exit_, scores):
    result = validate(survey_flow(), registry=_registry())
    assert result.ok, [p.message_en for p in result.problems]
    store = Recorder()
    trace, channel = await simulate(
        result.flow, keys, at=AT, caller="02787654321", resources={"survey": store}
    )
    assert [s.node for s in trace.steps] == ["start", "transfer", "survey", exit_, "bye"]
    assert [a.score for a in store.submitted] == scores
    for row in store.submitted:
        assert (row.queue, row.agent, row.caller) == ("loans", "8001", "02787654321")
        assert row.call_id == channel.call_id
    heard = [h.prompts for h in channel.heard if h.kind == "play"]
    assert (["thanks"] in heard) == bool(scores)


async def test_hang_up_mid_survey_in_the_simulator(survey_flow):
    result = validate(survey_flow(), registry=_registry())
    store = Recorder()
    trace, _ = await simulate(result.flow, "5", at=AT, resources={"survey": store})
    assert trace.outcome.kind == "hangup"
    assert [s.node for s in trace.steps][-1] == "survey"
    assert [a.score for a in store.submitted] == [5]


def _codes(result):
    return sorted((p.code, p.pointer) for p in result.problems)


def test_validation_reports_bad_questions(survey_flow, questions):
    questions[1]["id"] = "agent"
    questions[0].update({"min": 5, "max": 5})
    result = validate(survey_flow({"questions": questions}), registry=_registry())
    base = "/nodes/survey/config/questions"
    assert _codes(result) == [
        ("survey.duplicate_question", f"{base}/1/id"),
        ("survey.scale", f"{base}/0/min"),
    ]
    questions[0]["max"] = 12
    result = validate(survey_flow({"questions": questions}), registry=_registry())
    assert "config.invalid" in [p.code for p in result.errors]
    result = validate(survey_flow({"questions": []}), registry=_registry())
    assert not result.ok


def test_installed_through_its_entry_point():
    registry = load_registry()
    assert registry.get("survey.ask") is SurveyAsk
    assert registry.providers["survey.ask"].startswith("ivrflow-survey ")
    described = SurveyAsk.describe()
    assert described["exits"] == ["done", "partial", "skipped", "error"]
