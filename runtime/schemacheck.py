"""Fast JSON Schema checks with precise error reports.

Valid documents are the common case (every save, every publish, every runtime load), so they
are checked by ``jsonschema-rs`` (Rust, 2020-12). Only when that says "invalid" is the
reference implementation, ``jsonschema`` (Python), run to produce the detailed errors — paths,
keywords and values the validator turns into bilingual messages. If the two ever disagree on an
instance, the Python implementation's verdict is the one reported.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

__all__ = ["CompiledSchema"]


class CompiledSchema:
    """A JSON Schema (2020-12) compiled once, checked many times."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema
        self._reference = Draft202012Validator(schema)
        try:
            self._fast: Any = jsonschema_rs.Draft202012Validator(schema)
        except Exception:  # a feature jsonschema-rs cannot compile: use the reference only
            self._fast = None

    def _fast_says_valid(self, instance: Any) -> bool:
        """True when jsonschema-rs accepts ``instance``; False when it rejects it or cannot
        judge it (e.g. an integer too large for Rust) — the reference then decides."""
        if self._fast is None:
            return False
        try:
            return bool(self._fast.is_valid(instance))
        except (ValueError, TypeError, OverflowError):
            return False

    def is_valid(self, instance: Any) -> bool:
        if self._fast_says_valid(instance):
            return True
        return next(self._reference.iter_errors(instance), None) is None

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        """Detailed errors (none when the instance is valid)."""
        if self._fast_says_valid(instance):
            return iter(())
        return self._reference.iter_errors(instance)
