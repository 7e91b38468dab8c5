"""Fixtures of the survey plugin's tests (self-contained): a migrated database, the plugin set
up on it, a designer app with its routes, signed-in clients, and a flow using ``survey.ask``.

Helpers are fixtures (``survey_flow``, ``answer``), not imports: with
``--import-mode=importlib`` a test module cannot import this conftest by name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ivrflow_survey.plugin import setup
from ivrflow_survey.store import Answer

from designer.testing import ApiTestClient, designer_with_plugins
from nodes.plugins import PluginHost, Plugins, load_plugins
from runtime.pytest_fixtures import engine  # noqa: F401  (a fixture)

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def plugins(engine) -> Iterator[Plugins]:
    """The plugin set up on the database, exactly as ``ivrflow serve`` does."""
    loaded = load_plugins(
        PluginHost(engine=engine, environ={}), include_entry_points=False, extra={"survey": setup}
    )
    assert loaded.problems == []
    yield loaded
    loaded.resources["survey"].close()


@pytest.fixture
def store(plugins):
    return plugins.resources["survey"]


def _answer(
    score: int,
    *,
    day: str = "2026-03-02",
    agent: str = "8001",
    queue: str = "loans",
    question: str = "agent",
    call_id: str = "c1",
    survey: str = "satisfaction",
) -> Answer:
    at = datetime.fromisoformat(f"{day} 10:00").replace(tzinfo=SHANGHAI)
    return Answer(
        call_id=call_id,
        caller="13800138000",
        survey=survey,
        question=question,
        score=score,
        scale_min=1,
        scale_max=5,
        agent=agent,
        queue=queue,
        day=at.date(),
        answered_at=at,
    )


@pytest.fixture
def answer():
    """``answer(5, day=…, agent=…, queue=…, question=…, call_id=…)``: an :class:`Answer`."""
    return _answer


QUESTIONS = [
    {"id": "agent", "prompts": ["q_agent"]},
    {"id": "overall", "prompts": ["q_overall"], "min": 1, "max": 3, "skip_key": ""},
]


@pytest.fixture
def questions() -> list[dict[str, Any]]:
    return json.loads(json.dumps(QUESTIONS))


def _survey_flow(config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Set queue → transfer → (completed) survey → one prompt per exit → hang up."""
    survey = {
        "questions": QUESTIONS,
        "intro_prompts": ["intro"],
        "invalid_prompts": ["invalid"],
        "thanks_prompts": ["thanks"],
        **(config or {}),
    }

    def play(prompt: str) -> dict[str, Any]:
        return {
            "type": "core.play",
            "version": 1,
            "config": {"prompts": [prompt]},
            "exits": {"next": "bye"},
        }

    prompts = (
        "intro",
        "q_agent",
        "q_overall",
        "invalid",
        "thanks",
        "done",
        "partial",
        "skipped",
        "busy",
    )
    return {
        "schema_version": 1,
        "id": "survey-demo",
        "name": "满意度",
        "languages": ["zh-CN"],
        "variables": {
            "queue": {"type": "string", "default": "loans"},
            "agent": {"type": "string", "default": "8001"},
        },
        "prompts": {p: {"text": {"zh-CN": p}} for p in prompts},
        "settings": {"fallback": "busy_node"},
        "nodes": {
            "start": {"type": "core.start", "version": 1, "exits": {"next": "transfer"}},
            "transfer": {
                "type": "core.transfer_queue",
                "version": 1,
                "config": {"queue": "loans"},
                "exits": {
                    "completed": "survey",
                    "timeout": "busy_node",
                    "unavailable": "busy_node",
                    "error": "busy_node",
                },
            },
            "survey": {
                "type": "survey.ask",
                "version": 1,
                "config": survey,
                "exits": {
                    "done": "done_node",
                    "partial": "partial_node",
                    "skipped": "skipped_node",
                    "error": "busy_node",
                },
            },
            "done_node": play("done"),
            "partial_node": play("partial"),
            "skipped_node": play("skipped"),
            "busy_node": play("busy"),
            "bye": {"type": "core.hangup", "version": 1},
        },
    }


@pytest.fixture
def survey_flow():
    """``survey_flow(config_overrides)``: a flow document ending in survey.ask."""
    return _survey_flow


@pytest.fixture
def app(engine, plugins, tmp_path):
    """The designer with the plugin's routes and resources, as ``ivrflow serve`` builds it."""
    return designer_with_plugins(engine, plugins, tmp_path / "media", {"viewer": ["viewer"]})


@pytest.fixture
def clients(app) -> Iterator[dict[str, ApiTestClient]]:
    made = {"viewer": ApiTestClient(app, "viewer"), "anon": ApiTestClient(app, None)}
    yield made
    for client in made.values():
        client.close()
