"""The prompt catalogue interface: what the validator and the runtime ask about prompts.

The prompt library (uploads, TTS, approvals) implements :class:`PromptCatalogue`. Until a
library is attached, :class:`FlowPromptCatalogue` answers from the flow document alone: a prompt
declared in the flow with script text can always be played as a TTS placeholder.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Protocol

from prompts.say import prompt_set

__all__ = ["FlowPromptCatalogue", "PromptCatalogue", "PromptStatus"]


class PromptStatus(enum.StrEnum):
    MISSING = "missing"  # nothing can be played
    PLACEHOLDER = "placeholder"  # TTS from the script text until a recording exists
    RECORDED = "recorded"
    APPROVED = "approved"


class PromptCatalogue(Protocol):
    def status(self, prompt_id: str, language: str) -> PromptStatus: ...

    def text(self, prompt_id: str, language: str) -> str | None:
        """The script text, if known."""


class FlowPromptCatalogue:
    """Answers from a flow's own ``prompts`` section plus the built-in number prompt set."""

    def __init__(self, prompts: Mapping[str, Any] | None = None) -> None:
        self._prompts = prompts or {}

    def text(self, prompt_id: str, language: str) -> str | None:
        entry = self._prompts.get(prompt_id)
        if entry is not None:
            texts = entry.get("text", {})
            return texts.get(language) or _by_primary(texts, language)
        if prompt_id.startswith("say/"):
            try:
                return prompt_set(language).get(prompt_id)
            except ValueError:
                return None
        return None

    def status(self, prompt_id: str, language: str) -> PromptStatus:
        return PromptStatus.PLACEHOLDER if self.text(prompt_id, language) else PromptStatus.MISSING


def _by_primary(texts: Mapping[str, str], language: str) -> str | None:
    primary = language.split("-", maxsplit=1)[0]
    for tag, text in texts.items():
        if tag.split("-")[0] == primary and text:
            return text
    return None
