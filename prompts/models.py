"""The prompt library's tables.

Prompt ids are global (one "goodbye" for every flow); each (prompt, language) is a
*variant* with its current audio and status. Audio is stored once, by the SHA-256 of its
8 kHz WAV, in the database — so every process on the database (designer, runtimes, the sync
command on an Asterisk host) can deliver it. Originals of uploads are kept on the designer's
disk. A published version pins the audio of every prompt it plays (``version_prompt``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

__all__ = ["AudioBlob", "EntryPolicy", "PromptVariant", "VariantStatus", "VersionPrompt"]


class VariantStatus:
    PLACEHOLDER = "placeholder"
    RECORDED = "recorded"
    APPROVED = "approved"


class PromptVariant(SQLModel, table=True):
    __tablename__ = "prompt_variant"
    __table_args__ = (UniqueConstraint("prompt_id", "language"),)

    id: int | None = Field(default=None, primary_key=True)
    prompt_id: str = Field(index=True, max_length=128)
    language: str = Field(max_length=16)
    status: str = Field(max_length=12)
    """placeholder | recorded | approved"""
    audio_sha: str | None = Field(default=None, max_length=64)
    source: str = Field(default="tts", max_length=8)
    """tts | upload"""
    tts_engine: str = Field(default="", max_length=32)
    tts_voice: str = Field(default="", max_length=64)
    spoken_text: str = Field(default="", sa_column=Column(Text, nullable=False))
    """For a placeholder, the text it says; for a recording, the script text when it was
    uploaded (a later script change marks the recording as outdated)."""
    duration_ms: int = 0
    original_name: str = Field(default="", max_length=200)
    original_format: str = Field(default="", max_length=16)
    original_sha: str = Field(default="", max_length=64)
    original_bytes: int = 0
    recorded_by: str = Field(default="", max_length=100)
    recorded_at: datetime | None = None
    approved_by: str = Field(default="", max_length=100)
    approved_at: datetime | None = None
    updated_at: datetime


class AudioBlob(SQLModel, table=True):
    __tablename__ = "audio_blob"

    sha256: str = Field(primary_key=True, max_length=64)
    wav: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    """8 kHz mono 16-bit PCM WAV."""
    duration_ms: int
    created_at: datetime


class VersionPrompt(SQLModel, table=True):
    """The audio a published version plays: pinned at publish time, never changed."""

    __tablename__ = "version_prompt"
    __table_args__ = (UniqueConstraint("flow_id", "version", "prompt_id", "language"),)

    id: int | None = Field(default=None, primary_key=True)
    flow_id: str = Field(index=True, max_length=64)
    version: int
    prompt_id: str = Field(max_length=128)
    language: str = Field(max_length=16)
    audio_sha: str | None = Field(default=None, max_length=64)
    status: str = Field(max_length=12)
    """missing | placeholder | recorded | approved (at publish time)"""


class EntryPolicy(SQLModel, table=True):
    """Publishing rules of an entry (a dialled number)."""

    __tablename__ = "entry_policy"

    entry: str = Field(primary_key=True, max_length=100)
    require_approved: bool = False
    """Publishing on this entry needs an approved recording of every prompt."""
    updated_by: str = Field(default="", max_length=100)
    updated_at: datetime
