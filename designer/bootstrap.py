"""First start of a fresh installation: the first admin account and the 12329 example.

The first admin comes from ``IVRFLOW_ADMIN_USER``/``IVRFLOW_ADMIN_PASSWORD`` (or
``ivrflow users add``); without them a password is generated and shown once. The example
flows are loaded as drafts and published on entry ``12329`` only into an empty database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from designer.auth import AuthSettings, Users
from designer.flows import Actor, Flows
from nodes.registry import Registry
from prompts.engines import default_speaker
from prompts.library import PromptLibrary, Speaker, prompt_uses

log = logging.getLogger("ivrflow.designer")

__all__ = ["EXAMPLE_DIR", "FirstAdmin", "ensure_admin", "load_example"]

EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "12329"
EXAMPLE_FILES = ("agent.json", "appointment.json", "main.json")
EXAMPLE_ENTRY = "12329"


@dataclass
class FirstAdmin:
    username: str
    password: str | None
    """Set only when it was generated now (to be shown once)."""


def ensure_admin(users: Users, env: dict[str, str] | None = None) -> FirstAdmin | None:
    """Create the first admin when there is no user at all; None when users exist."""
    env = dict(os.environ) if env is None else env
    if users.count() > 0:
        return None
    username = env.get("IVRFLOW_ADMIN_USER") or "admin"
    given = env.get("IVRFLOW_ADMIN_PASSWORD")
    password = given or secrets.token_urlsafe(12)
    users.create(username, password, ["admin"], display_name="管理员", actor="ivrflow")
    return FirstAdmin(username, None if given else password)


async def load_example(
    engine: Engine,
    registry: Registry,
    directory: Path = EXAMPLE_DIR,
    *,
    media: Path | None = None,
    speaker: Speaker | None = None,
) -> int | None:
    """Load and publish the 12329 example into a database without flows, with TTS
    placeholders for its prompts pinned to the version. Returns the published version, or
    None when flows exist or the example is not there."""
    flows = Flows(engine, registry)
    existing = await asyncio.to_thread(flows.list)
    if existing or not all((directory / name).is_file() for name in EXAMPLE_FILES):
        return None
    if speaker is None and media is not None:
        speaker = default_speaker(media / "tts-cache")
    prompts = PromptLibrary(engine, media or Path("var/media"), speaker=speaker, registry=registry)
    actor = Actor("ivrflow")
    main_id = ""
    for name in EXAMPLE_FILES:
        document = json.loads((directory / name).read_text(encoding="utf-8"))
        await asyncio.to_thread(flows.create, document, actor, action="flow.import")
        main_id = document["id"]
    documents = await asyncio.to_thread(flows.closure, main_id)
    uses = prompt_uses(documents.values(), registry)
    made = await prompts.ensure_placeholders(uses)
    for failure in made["failed"][:3]:
        log.warning("no TTS placeholder for %s: %s", failure["prompt_id"], failure["error"])

    plan = await asyncio.to_thread(prompts.plan, uses)

    def pin(session: Any, result: Any) -> None:
        prompts.pin(session, result.flow_id, result.version, plan)

    result = await asyncio.to_thread(
        lambda: flows.publish(
            main_id,
            entry=EXAMPLE_ENTRY,
            message="12329 示例流程 / 12329 example",
            actor=actor,
            extra=pin,
            prompts_sha=prompts.fingerprint(plan),
        )
    )
    return result.version


def default_auth() -> AuthSettings:
    return AuthSettings(cookie_secure=os.environ.get("IVRFLOW_COOKIE_SECURE", "") == "1")
