"""``{{variable}}`` templates in node configs (URLs, request bodies, SMS text, caller data).

Deliberately tiny: a placeholder is a variable name, optionally dotted into a JSON object
(``{{account.balance}}``). No logic — conditions belong in branch nodes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["PLACEHOLDER_RE", "lookup", "render", "render_value", "stringify", "variables_in"]

PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*\}\}")


def variables_in(template: str) -> set[str]:
    """Root variable names used by a template."""
    return {m.group(1).split(".", 1)[0] for m in PLACEHOLDER_RE.finditer(template)}


def lookup(variables: Mapping[str, Any], path: str) -> Any:
    root, *rest = path.split(".")
    value = variables.get(root)
    for key in rest:
        if isinstance(value, Mapping):
            value = value.get(key)
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return None
    return value


def stringify(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def render(
    template: str,
    variables: Mapping[str, Any],
    *,
    quote: Callable[[str], str] | None = None,
) -> str:
    """Replace each placeholder with its value as text (missing or null → empty).
    ``quote`` escapes each inserted value (e.g. ``urllib.parse.quote`` for URLs)."""

    def sub(match: re.Match[str]) -> str:
        text = stringify(lookup(variables, match.group(1)))
        return quote(text) if quote else text

    return PLACEHOLDER_RE.sub(sub, template)


def render_value(template: Any, variables: Mapping[str, Any]) -> Any:
    """Render a JSON value: strings are templates; a string that is exactly one placeholder
    keeps the variable's type (number, object…); lists and objects are rendered inside."""
    if isinstance(template, str):
        match = PLACEHOLDER_RE.fullmatch(template.strip())
        if match:
            return lookup(variables, match.group(1))
        return render(template, variables)
    if isinstance(template, list):
        return [render_value(v, variables) for v in template]
    if isinstance(template, dict):
        return {k: render_value(v, variables) for k, v in template.items()}
    return template
