"""What changes for a caller between two versions of a flow: the publish dialog's diff.

:func:`semantic_diff` compares the live document with the draft and returns a
:class:`FlowDiff` with two lists:

* ``changes`` — :class:`Change`\\ s in caller terms, each with a stable ``kind`` code, the node
  id and a message in Chinese and English, e.g. ``主菜单（main_menu）：按 3 现在转到“贷款查询”
  （loan_menu），原来是“人工服务”（agent）``;
* ``raw`` — the structural diff (:class:`RawChange`: JSON pointer, ``add`` / ``remove`` /
  ``replace``, old and new value, values clipped), everything included (layout, labels…).

Nodes are named by their ``label`` (else their type's title) and always with their id. Layout
(``ui``), labels (of nodes, menu options, branch rules), descriptions, the flow's name and node
versions are not caller-facing: they show in ``raw`` only; so does the text of a prompt no node
plays. Configs are compared with their schema defaults filled in, so writing out a default is
no change. Either document may be invalid or not a flow at all: odd parts are compared as well
as they can be, never raising.

Change kinds (``Change.kind``):

``start.changed``
    the call starts at another node, or the start node's first step changed;
``node.added`` / ``node.removed`` / ``node.type_changed``
    a step appeared, disappeared or became another type of step;
``route.changed``
    an exit (a key, no input, error…) now leads somewhere else, or is (dis)connected;
``menu.key_added`` / ``menu.key_removed``
    a menu offers a new key or no longer offers one;
``prompt.changed``
    a node plays other prompts (ids swapped, added, removed);
``prompt.text_changed`` / ``prompt.removed``
    the script text of a prompt the flow plays changed; a prompt still played was deleted;
``hours.changed``
    open hours changed: a condition or assignment using the clock (``hour()``, ``time()``,
    ``weekday()``…), or any config of a time-related node type or field (schedules,
    holidays…);
``condition.changed`` / ``assignment.changed``
    a branch condition (not about time) / a variable assignment (not about time) changed;
``queue.changed``
    an agent-queue transfer changed (queue, priority, longest wait, caller data…);
``config.changed``
    any other node config field (``config.timeout_ms: 5000 → 8000``);
``variable.added`` / ``variable.removed`` / ``variable.default_changed`` / ``variable.changed``
    flow variables (``variable.changed``: type or secrecy);
``settings.changed``
    a flow setting (step cap, default timeouts, fallback node, time zone);
``language.added`` / ``language.removed`` / ``language.default_changed``
    the languages the flow speaks.

Changes are ordered: start changes, then flow-wide changes (no node), then by node id, kind
and path.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from nodes.api import Node
from nodes.core._ask import option_keys
from nodes.core.branch import Branch
from nodes.core.menu import Menu
from nodes.core.set_variable import SetVariable
from nodes.core.start import Start
from nodes.core.transfer_queue import TransferQueue
from nodes.registry import Registry, default_registry
from runtime.call import DTMF_KEYS
from runtime.document import escape_pointer
from runtime.expr import FUNCTIONS, parse
from runtime.flow import flow_schema

__all__ = ["KINDS", "Change", "FlowDiff", "RawChange", "raw_diff", "semantic_diff"]

Severity = Literal["major", "minor", "info"]

KINDS: dict[str, Severity] = {
    "start.changed": "major",
    "node.added": "major",
    "node.removed": "major",
    "node.type_changed": "major",
    "route.changed": "major",
    "menu.key_added": "major",
    "menu.key_removed": "major",
    "prompt.changed": "minor",
    "prompt.text_changed": "minor",
    "prompt.removed": "major",
    "hours.changed": "major",
    "condition.changed": "major",
    "assignment.changed": "minor",
    "queue.changed": "major",
    "config.changed": "minor",
    "variable.added": "info",
    "variable.removed": "info",
    "variable.default_changed": "minor",
    "variable.changed": "info",
    "settings.changed": "minor",
    "language.added": "major",
    "language.removed": "major",
    "language.default_changed": "major",
}
"""Every change kind and its severity (``major``: callers are routed or served differently)."""

_MAX_DEPTH = 64  # deeper than any valid document (the loader's limit)
_CLIP_TEXT = 200  # longest string kept in a raw/old/new value
_CLIP_ITEMS = 20  # most list items / object members kept
_CLIP_DEPTH = 6  # nesting kept in a value
_MSG_VALUE = 80  # longest value shown in a message
_MSG_EXPR = 120  # longest expression shown in a message
_MSG_TEXT = 60  # longest prompt text shown in a message
_MSG_USERS = 3  # nodes named as playing a prompt
_MSG_LABEL = 60  # longest node label shown

_MISSING: Any = object()


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """One difference a caller will notice."""

    kind: str
    node: str | None
    message_zh: str
    message_en: str
    old: Any = None
    new: Any = None
    severity: Severity = "minor"
    path: str = ""
    """JSON pointer of what changed (in the new document; in the old one for removals)."""

    def message(self, language: str = "zh") -> str:
        return self.message_en if language.startswith("en") else self.message_zh

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "node": self.node,
            "severity": self.severity,
            "path": self.path,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "old": self.old,
            "new": self.new,
        }


@dataclass(frozen=True, slots=True)
class RawChange:
    """One structural difference (as in JSON Patch; values clipped)."""

    path: str
    op: Literal["add", "remove", "replace"]
    old: Any = None
    new: Any = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "op": self.op}
        if self.op != "add":
            out["old"] = self.old
        if self.op != "remove":
            out["new"] = self.new
        return out


@dataclass(slots=True)
class FlowDiff:
    changes: list[Change] = field(default_factory=list)
    raw: list[RawChange] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "changes": [c.to_json() for c in self.changes],
            "raw": [r.to_json() for r in self.raw],
        }


def semantic_diff(
    old: Mapping[str, Any], new: Mapping[str, Any], *, registry: Registry | None = None
) -> FlowDiff:
    """What changes for a caller from ``old`` (the live flow) to ``new`` (the draft), plus the
    structural diff. Never raises on odd documents."""
    reg = registry if registry is not None else default_registry()
    differ = _Differ(_Doc(old, reg), _Doc(new, reg))
    differ.run()
    return FlowDiff(changes=differ.sorted_changes(), raw=raw_diff(old, new))


# -- JSON helpers ----------------------------------------------------------------------------


def _str_keys(value: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        out.setdefault(key if isinstance(key, str) else str(key), item)
    return out


def _json_equal(a: Any, b: Any, depth: int = 0) -> bool:
    """Equality of JSON values (``true`` is not ``1``; ``1`` is ``1.0``)."""
    if a is b:
        return True
    if depth > _MAX_DEPTH:
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        da, db = _str_keys(a), _str_keys(b)
        return da.keys() == db.keys() and all(_json_equal(da[k], db[k], depth + 1) for k in da)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(
            _json_equal(x, y, depth + 1) for x, y in zip(a, b, strict=True)
        )
    if a is _MISSING or b is _MISSING:
        return False
    try:
        return bool(a == b)
    except Exception:  # an odd object with a broken __eq__: call it different
        return False


def _clip(value: Any, depth: int = 0) -> Any:
    """A JSON-serialisable copy of ``value``, clipped (long text, many items, deep nesting)."""
    if value is _MISSING:
        return None
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value if len(value) <= _CLIP_TEXT else value[: _CLIP_TEXT - 1] + "…"
    if isinstance(value, Mapping):
        if depth >= _CLIP_DEPTH:
            return "{…}"
        items = list(_str_keys(value).items())
        out: dict[str, Any] = {k: _clip(v, depth + 1) for k, v in items[:_CLIP_ITEMS]}
        if len(items) > _CLIP_ITEMS:
            out["…"] = f"+{len(items) - _CLIP_ITEMS}"
        return out
    if isinstance(value, list | tuple):
        if depth >= _CLIP_DEPTH:
            return "[…]"
        clipped = [_clip(v, depth + 1) for v in value[:_CLIP_ITEMS]]
        if len(value) > _CLIP_ITEMS:
            clipped.append(f"… +{len(value) - _CLIP_ITEMS}")
        return clipped
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return _clip(text)


def _pointer(tokens: Iterable[str]) -> str:
    return "".join("/" + escape_pointer(t) for t in tokens)


def _token_key(token: str) -> tuple[int, int, str]:
    if token.isascii() and token.isdigit():
        return (0, int(token), "")
    return (1, 0, token)


def raw_diff(old: Any, new: Any) -> list[RawChange]:
    """The structural diff of two JSON values, sorted by path (array indexes numerically)."""
    found: list[tuple[tuple[str, ...], RawChange]] = []

    def emit(tokens: tuple[str, ...], op: Any, a: Any = None, b: Any = None) -> None:
        found.append((tokens, RawChange(_pointer(tokens), op, _clip(a), _clip(b))))

    stack: list[tuple[tuple[str, ...], Any, Any]] = [((), old, new)]
    while stack:
        tokens, a, b = stack.pop()
        if a is b:
            continue
        deep = len(tokens) >= _MAX_DEPTH
        if isinstance(a, Mapping) and isinstance(b, Mapping) and not deep:
            da, db = _str_keys(a), _str_keys(b)
            for key in da.keys() | db.keys():
                if key not in db:
                    emit((*tokens, key), "remove", da[key])
                elif key not in da:
                    emit((*tokens, key), "add", None, db[key])
                else:
                    stack.append(((*tokens, key), da[key], db[key]))
        elif isinstance(a, list | tuple) and isinstance(b, list | tuple) and not deep:
            for i in range(min(len(a), len(b))):
                stack.append(((*tokens, str(i)), a[i], b[i]))
            for i in range(len(b), len(a)):
                emit((*tokens, str(i)), "remove", a[i])
            for i in range(len(a), len(b)):
                emit((*tokens, str(i)), "add", None, b[i])
        elif not _json_equal(a, b):
            emit(tokens, "replace", a, b)
    found.sort(key=lambda item: [_token_key(t) for t in item[0]])
    return [change for _, change in found]


def _leaf_diffs(
    a: Any, b: Any, tokens: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], Any, Any]]:
    """Differences between two configs: objects are walked, everything else is a leaf."""
    if _json_equal(a, b):
        return []
    if isinstance(a, Mapping) and isinstance(b, Mapping) and len(tokens) < _MAX_DEPTH:
        da, db = _str_keys(a), _str_keys(b)
        out = []
        for key in sorted(da.keys() | db.keys()):
            out.extend(_leaf_diffs(da.get(key, _MISSING), db.get(key, _MISSING), (*tokens, key)))
        return out
    return [(tokens, a, b)]


# -- message helpers -------------------------------------------------------------------------


def _w(lang: str, zh: str, en: str) -> str:
    return zh if lang == "zh" else en


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _q(text: str) -> str:
    return f"“{text}”"


def _paren(lang: str, text: str) -> str:
    return f"（{text}）" if lang == "zh" else f" ({text})"


def _fmt(value: Any, lang: str) -> str:
    """A config or variable value as shown in a message."""
    if value is _MISSING or value is None:
        return _w(lang, "（未设置）", "(not set)")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return _q(_cut(value, _MSG_VALUE))
    try:
        text = json.dumps(_clip(value), ensure_ascii=False, separators=(", ", ": "))
    except (TypeError, ValueError):
        text = str(_clip(value))
    return _cut(text, _MSG_VALUE)


def _join(lang: str, items: Sequence[str]) -> str:
    return ("、" if lang == "zh" else ", ").join(items)


def _split_title(title: Any) -> tuple[str, str] | None:
    """``"最长排队时间（秒） / Longest wait (s)"`` → (zh, en)."""
    if not isinstance(title, str) or not title.strip():
        return None
    zh, sep, en = title.partition(" / ")
    return (zh.strip(), en.strip()) if sep else (title.strip(), title.strip())


def _schema_at(schema: Any, tokens: Sequence[str]) -> Mapping[str, Any] | None:
    for token in tokens:
        if not isinstance(schema, Mapping):
            return None
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        items = schema.get("items")
        if isinstance(props, Mapping) and token in props:
            schema = props[token]
        elif isinstance(items, Mapping) and token.isdigit():
            schema = items
        elif isinstance(extra, Mapping):
            schema = extra
        else:
            return None
    return schema if isinstance(schema, Mapping) else None


_CLOCK = frozenset(name for name, spec in FUNCTIONS.items() if spec.uses_clock)
_CLOCK_RE = re.compile(r"\b(" + "|".join(sorted(_CLOCK)) + r")\s*\(")


def _uses_clock(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    try:
        return parse(text).uses_clock
    except (ValueError, TypeError, RecursionError):
        return bool(_CLOCK_RE.search(text))


_TIME_WORDS = frozenset(
    {
        "hour",
        "hours",
        "schedule",
        "schedules",
        "holiday",
        "holidays",
        "calendar",
        "timetable",
        "workday",
        "workdays",
        "weekday",
        "weekdays",
        "opening",
        "closing",
        "worktime",
        "officehours",
        "businesshours",
    }
)


def _time_related(name: Any) -> bool:
    """A node type or config field about open hours (``fund.office_hours``, ``holidays``…)."""
    if not isinstance(name, str):
        return False
    words = set(re.split(r"[^a-z0-9]+", name.lower()))
    return not words.isdisjoint(_TIME_WORDS)


# exit names → (zh, en); input nodes describe timeout/invalid in caller terms
_EXIT_NAMES: dict[str, tuple[str, str]] = {
    "next": ("下一步", "next step"),
    "ok": ("成功", "success"),
    "error": ("出错", "error"),
    "timeout": ("超时", "time-out"),
    "invalid": ("无效", "invalid"),
    "default": ("其他情况", "otherwise"),
    "completed": ("完成", "completed"),
    "unavailable": ("不可用", "unavailable"),
    "busy": ("占线", "busy"),
    "no_answer": ("无人接听", "no answer"),
    "congestion": ("线路拥塞", "congestion"),
    "recorded": ("已录音", "recorded"),
    "no_audio": ("未录到声音", "no audio"),
    "exceeded": ("超过次数", "limit reached"),
    "failed": ("失败", "failure"),
    "locked": ("已锁定", "locked"),
    "done": ("完成", "done"),
}
_INPUT_EXIT_NAMES: dict[str, tuple[str, str]] = {
    "timeout": ("无输入", "no input"),
    "invalid": ("按键错误", "invalid key"),
}

_SETTING_TITLES: dict[str, tuple[str, str]] = {
    "step_cap": ("每通电话最多步数", "Most steps per call"),
    "repeat_cap": ("同一节点最多经过次数", "Most visits to one step per call"),
    "input_timeout_ms": ("默认等待按键时间（毫秒）", "Default wait for a key (ms)"),
    "inter_digit_timeout_ms": ("默认按键间隔（毫秒）", "Default time between keys (ms)"),
    "fallback": ("出错时的兜底节点", "Fallback step on errors"),
    "timezone": ("时区（用于工作时间判断）", "Time zone (used for open hours)"),
}

_VARIABLE_FIELDS: dict[str, tuple[str, str, Any]] = {
    "type": ("类型", "type", "string"),
    "secret": ("保密", "secret", False),
}


def _settings_defaults() -> dict[str, Any]:
    try:
        props = flow_schema()["$defs"]["settings"]["properties"]
        return {k: v["default"] for k, v in props.items() if "default" in v}
    except (KeyError, TypeError):  # pragma: no cover - the shipped schema has them
        return {}


_SETTINGS_DEFAULTS = _settings_defaults()


# -- the documents as the differ sees them ---------------------------------------------------


@dataclass(slots=True)
class _NodeView:
    id: str
    type: str | None
    cls: type[Node] | None
    label: str | None
    full: dict[str, Any]  # config with schema defaults ({} when not an object)
    exits: dict[str, str | None]
    prompts: dict[str, list[str]]  # prompt field pointer → prompt ids

    def is_a(self, base: type[Node]) -> bool:
        if self.cls is not None:
            return issubclass(self.cls, base)
        return self.type == base.type

    @property
    def takes_input(self) -> bool:
        if self.cls is not None:
            return self.cls.waits_for_input or issubclass(self.cls, Menu)
        return True  # unknown type: single-key exits are most likely keys

    def title(self, lang: str) -> str:
        if self.cls is not None:
            title = self.cls.title.get(lang) if isinstance(self.cls.title, Mapping) else None
            if isinstance(title, str) and title:
                return title
        if self.type:
            return self.type
        return _w(lang, "节点", "Step")

    def field_title(self, tokens: Sequence[str], lang: str) -> str | None:
        schema = _schema_at(self.cls.config_schema, tokens) if self.cls else None
        pair = _split_title(schema.get("title")) if schema else None
        return None if pair is None else pair[0 if lang == "zh" else 1]

    def annotation(self, tokens: Sequence[str]) -> Any:
        schema = _schema_at(self.cls.config_schema, tokens) if self.cls else None
        return schema.get("x-ivrflow") if schema else None

    def refs(self, kind: str) -> list[tuple[tuple[str, ...], Any]]:
        """References of one ``x-ivrflow`` kind as (pointer tokens, value)."""
        if self.cls is None:
            return []
        try:
            found = self.cls.references(self.full)
        except Exception:  # a malformed config can trip a node's own references()
            return []
        out = []
        for ref in found:
            if ref.kind == kind and isinstance(ref.pointer, str):
                tokens = tuple(
                    t.replace("~1", "/").replace("~0", "~") for t in ref.pointer.split("/")[1:]
                )
                out.append((tokens, ref.value))
        return out


def _node_view(node_id: str, raw: Any, registry: Registry) -> _NodeView:
    data = raw if isinstance(raw, Mapping) else {}
    node_type = data.get("type")
    node_type = node_type if isinstance(node_type, str) else None
    cls: type[Node] | None = None
    if node_type is not None:
        try:
            found = registry.get(node_type)
        except Exception:
            found = None
        cls = found if isinstance(found, type) and issubclass(found, Node) else None
    label = data.get("label")
    ui = data.get("ui")
    if not (isinstance(label, str) and label.strip()) and isinstance(ui, Mapping):
        label = ui.get("label") or ui.get("title")
    label = _cut(label, _MSG_LABEL) if isinstance(label, str) and label.strip() else None
    config = data.get("config")
    config = _str_keys(config) if isinstance(config, Mapping) else {}
    full = config
    if cls is not None:
        try:
            full = _str_keys(cls.with_defaults(config))
        except Exception:
            full = config
    exits_raw = data.get("exits")
    exits: dict[str, str | None] = {}
    if isinstance(exits_raw, Mapping):
        for name, target in _str_keys(exits_raw).items():
            exits[name] = target if isinstance(target, str) and target else None
    view = _NodeView(node_id, node_type, cls, label, full, exits, {})
    view.prompts = _prompt_fields(view)
    return view


def _prompt_fields(view: _NodeView) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    if view.cls is not None:
        for tokens, value in view.refs("prompt"):
            if not isinstance(value, str):
                continue
            field_tokens = tokens[:-1] if tokens and tokens[-1].isdigit() else tokens
            fields.setdefault(_pointer(field_tokens), []).append(value)
        return fields
    # an unknown node type: guess from the field names
    for key, value in view.full.items():
        if "prompt" not in key.lower() and "announce" not in key.lower():
            continue
        if isinstance(value, str):
            fields[_pointer((key,))] = [value]
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            fields[_pointer((key,))] = list(value)
    return fields


class _Doc:
    def __init__(self, doc: Any, registry: Registry) -> None:
        data = doc if isinstance(doc, Mapping) else {}
        nodes = data.get("nodes")
        self.nodes: dict[str, _NodeView] = {}
        if isinstance(nodes, Mapping):
            for node_id, raw in _str_keys(nodes).items():
                self.nodes[node_id] = _node_view(node_id, raw, registry)
        languages = data.get("languages", ["zh-CN"])
        if not isinstance(languages, list):
            languages = ["zh-CN"]
        self.languages: list[str] = []
        for lang in languages:
            if isinstance(lang, str) and lang not in self.languages:
                self.languages.append(lang)
        self.prompts: dict[str, dict[str, str]] = {}
        prompts = data.get("prompts")
        for prompt_id, entry in _str_keys(prompts).items() if isinstance(prompts, Mapping) else ():
            text = entry.get("text") if isinstance(entry, Mapping) else None
            texts = _str_keys(text) if isinstance(text, Mapping) else {}
            self.prompts[prompt_id] = {k: v for k, v in texts.items() if isinstance(v, str)}
        variables = data.get("variables")
        self.variables: dict[str, Mapping[str, Any]] = {}
        for name, spec in _str_keys(variables).items() if isinstance(variables, Mapping) else ():
            self.variables[name] = _str_keys(spec) if isinstance(spec, Mapping) else {}
        settings = data.get("settings")
        self.settings: dict[str, Any] = _str_keys(settings) if isinstance(settings, Mapping) else {}
        starts = sorted(n for n, v in self.nodes.items() if v.is_a(Start))
        self.start: str | None = starts[0] if starts else None
        self.prompt_users: dict[str, list[str]] = {}
        self.incoming: dict[str, list[str]] = {}
        for node_id in sorted(self.nodes):
            for target in self.nodes[node_id].exits.values():
                if target is not None:
                    sources = self.incoming.setdefault(target, [])
                    if node_id not in sources:
                        sources.append(node_id)
            for ids in self.nodes[node_id].prompts.values():
                for prompt_id in ids:
                    users = self.prompt_users.setdefault(prompt_id, [])
                    if node_id not in users:
                        users.append(node_id)

    def text(self, prompt_id: str, lang: str) -> str | None:
        """A prompt's script text, preferring ``lang`` (``zh``/``en``), then the default."""
        texts = self.prompts.get(prompt_id, {})
        for tag in texts:
            if tag.split("-")[0] == lang and texts[tag]:
                return texts[tag]
        for tag in self.languages:
            if texts.get(tag):
                return texts[tag]
        return next((t for t in texts.values() if t), None)


# -- the differ ------------------------------------------------------------------------------

_Message = Callable[[str], str]


class _Differ:
    def __init__(self, old: _Doc, new: _Doc) -> None:
        self.old = old
        self.new = new
        self.changes: list[Change] = []

    def emit(
        self,
        kind: str,
        node: str | None,
        message: _Message,
        *,
        old: Any = None,
        new: Any = None,
        path: str = "",
    ) -> None:
        self.changes.append(
            Change(
                kind=kind,
                node=node,
                message_zh=message("zh"),
                message_en=message("en"),
                old=_clip(old),
                new=_clip(new),
                severity=KINDS.get(kind, "minor"),
                path=path,
            )
        )

    def sorted_changes(self) -> list[Change]:
        def key(c: Change) -> tuple[Any, ...]:
            return (
                0 if c.kind.startswith("start.") else 1,
                c.node is not None,
                c.node or "",
                c.kind,
                [_token_key(t) for t in c.path.split("/")],
                c.message_en,
            )

        return sorted(self.changes, key=key)

    def run(self) -> None:
        self.compare_start()
        for node_id in sorted(self.old.nodes.keys() | self.new.nodes.keys()):
            self.compare_node(node_id)
        self.compare_prompt_texts()
        self.compare_variables()
        self.compare_settings()
        self.compare_languages()

    # -- naming --------------------------------------------------------------------------

    def view(self, node_id: str) -> _NodeView | None:
        return self.new.nodes.get(node_id) or self.old.nodes.get(node_id)

    def subject(self, node_id: str, lang: str) -> str:
        """A node as the subject of a message: ``主菜单（main_menu）`` / ``Menu (x)``."""
        view = self.view(node_id)
        name = view.label if view and view.label else self.type_title(view, lang)
        return name + _paren(lang, node_id)

    def target(self, node_id: str | None, lang: str) -> str:
        """A node as the target of a route: ``“贷款查询”（loan_menu）``."""
        if node_id is None:
            return _w(lang, "（未连接）", "(not connected)")
        view = self.view(node_id)
        if view is None:
            return _w(lang, "不存在的节点", "a missing step") + _paren(lang, node_id)
        name = _q(view.label) if view.label else self.type_title(view, lang)
        return name + _paren(lang, node_id)

    @staticmethod
    def type_title(view: _NodeView | None, lang: str) -> str:
        return view.title(lang) if view else _w(lang, "节点", "Step")

    def exit_phrase(self, view: _NodeView, exit_name: str, lang: str) -> str:
        if view.takes_input and len(exit_name) == 1 and exit_name in DTMF_KEYS:
            return _w(lang, f"按 {exit_name}", f"key {exit_name}")
        table = _INPUT_EXIT_NAMES if view.takes_input else {}
        pair = table.get(exit_name) or _EXIT_NAMES.get(exit_name)
        if pair:
            return pair[0] if lang == "zh" else pair[1]
        title = None
        if view.cls is not None:
            try:
                title = view.cls.exit_title(exit_name, view.full).get(lang)
            except Exception:
                title = None
        if isinstance(title, str) and title and title != exit_name:
            return _q(title) + _paren(lang, exit_name)
        return _w(lang, f"出口{_q(exit_name)}", f"exit {_q(exit_name)}")

    def prompt_list(self, doc: _Doc, ids: Sequence[str], lang: str) -> str:
        if not ids:
            return _w(lang, "（无）", "(none)")
        shown = []
        for prompt_id in ids:
            text = doc.text(prompt_id, lang)
            item = _q(prompt_id)
            if text:
                item += _paren(lang, _q(_cut(text, _MSG_TEXT)))
            shown.append(item)
        return _join(lang, shown)

    def users(self, prompt_id: str, lang: str) -> str:
        users = self.new.prompt_users.get(prompt_id) or self.old.prompt_users.get(prompt_id, [])
        names = [self.subject(u, lang) for u in users[:_MSG_USERS]]
        more = len(users) - len(names)
        text = _join(lang, names)
        if more:
            text += _w(lang, f"等 {len(users)} 个节点", f" and {more} more")
        return text

    # -- start ---------------------------------------------------------------------------

    def compare_start(self) -> None:
        a, b = self.old.start, self.new.start
        if a != b:
            if b is None:
                path = _pointer(("nodes", a)) if a else ""
                self.emit(
                    "start.changed",
                    None,
                    lambda L: _w(
                        L,
                        f"流程不再有开始节点（原来是{self.target(a, L)}）",
                        f"The flow no longer has a start step (it was {self.target(a, L)})",
                    ),
                    old=a,
                    path=path,
                )
                return
            self.emit(
                "start.changed",
                b,
                lambda L: (
                    _w(
                        L,
                        f"来电现在从{self.target(b, L)}开始",
                        f"Calls now start at {self.target(b, L)}",
                    )
                    + (
                        _w(L, f"，原来是{self.target(a, L)}", f" instead of {self.target(a, L)}")
                        if a
                        else ""
                    )
                ),
                old=a,
                new=b,
                path=_pointer(("nodes", b)),
            )
            return
        if b is None:
            return
        first_a = self.old.nodes[b].exits.get("next")
        first_b = self.new.nodes[b].exits.get("next")
        if first_a == first_b:
            return
        self.emit(
            "start.changed",
            b,
            lambda L: _w(
                L,
                f"接听后现在转到{self.target(first_b, L)}，原来是{self.target(first_a, L)}",
                f"After answering, calls now go to {self.target(first_b, L)} "
                f"instead of {self.target(first_a, L)}",
            ),
            old=first_a,
            new=first_b,
            path=_pointer(("nodes", b, "exits", "next")),
        )

    # -- nodes ---------------------------------------------------------------------------

    def compare_node(self, node_id: str) -> None:
        a, b = self.old.nodes.get(node_id), self.new.nodes.get(node_id)
        if a is None and b is not None:
            self.node_presence("node.added", b)
            return
        if b is None and a is not None:
            self.node_presence("node.removed", a)
            return
        assert a is not None and b is not None
        same_type = a.type == b.type
        if not same_type:
            self.emit(
                "node.type_changed",
                node_id,
                lambda L: _w(
                    L,
                    f"{self.subject(node_id, L)}：节点类型由{a.title(L)}改为{b.title(L)}",
                    f"{self.subject(node_id, L)}: step type changed from {a.title(L)} "
                    f"to {b.title(L)}",
                ),
                old=a.type,
                new=b.type,
                path=_pointer(("nodes", node_id, "type")),
            )
        self.compare_exits(a, b, same_type)
        self.compare_node_prompts(a, b)
        if same_type:
            self.compare_config(a, b)

    def node_presence(self, kind: str, view: _NodeView) -> None:
        still = [] if kind == "node.added" else self.new.incoming.get(view.id, [])

        def message(lang: str) -> str:
            label = (_w(lang, "", " ") + _q(view.label)) if view.label else ""
            what = view.title(lang) + label
            what += _paren(lang, view.id)
            if kind == "node.added":
                return _w(lang, f"新增节点：{what}", f"New step: {what}")
            text = _w(lang, f"删除节点：{what}", f"Removed step: {what}")
            if still:
                names = _join(lang, [self.subject(n, lang) for n in still[:_MSG_USERS]])
                more = len(still) - _MSG_USERS
                if more > 0:
                    names += _w(lang, f"等 {len(still)} 个节点", f" and {more} more")
                text += _w(lang, f"；仍有节点转到它：{names}", f"; still led to by {names}")
            return text

        summary = {"type": view.type, "label": view.label}
        added = kind == "node.added"
        self.emit(
            kind,
            view.id,
            message,
            old=None if added else summary,
            new=summary if added else None,
            path=_pointer(("nodes", view.id)),
        )

    def compare_exits(self, a: _NodeView, b: _NodeView, same_type: bool) -> None:
        node_id = b.id
        handled: set[str] = set()
        if same_type and b.is_a(Menu):
            labels_a, labels_b = _option_labels(a.full), _option_labels(b.full)
            keys_a, keys_b = option_keys(a.full.get("options")), option_keys(b.full.get("options"))
            for key in keys_b:
                if key not in keys_a:
                    handled.add(key)
                    self.key_added(b, key, labels_b.get(key))
            for key in keys_a:
                if key not in keys_b:
                    handled.add(key)
                    self.key_removed(a, key, labels_a.get(key))
        entry = node_id == self.old.start == self.new.start
        for name in sorted(a.exits.keys() | b.exits.keys()):
            if name in handled or (entry and name == "next"):
                continue
            ta, tb = a.exits.get(name), b.exits.get(name)
            if ta == tb:
                continue
            self.route_changed(b, name, ta, tb)

    def route_changed(self, view: _NodeView, name: str, ta: str | None, tb: str | None) -> None:
        def message(lang: str) -> str:
            subj = self.subject(view.id, lang)
            exit_p = self.exit_phrase(view, name, lang)
            sp = " " if exit_p[-1].isascii() else ""
            old_t, new_t = self.target(ta, lang), self.target(tb, lang)
            if ta and tb:
                return _w(
                    lang,
                    f"{subj}：{exit_p}{sp}现在转到{new_t}，原来是{old_t}",
                    f"{subj}: {exit_p} now goes to {new_t} instead of {old_t}",
                )
            if tb:
                return _w(
                    lang,
                    f"{subj}：{exit_p}{sp}现在转到{new_t}（原来未连接）",
                    f"{subj}: {exit_p} now goes to {new_t} (it was not connected)",
                )
            return _w(
                lang,
                f"{subj}：{exit_p}{sp}不再连接（原来转到{old_t}）",
                f"{subj}: {exit_p} is no longer connected (it went to {old_t})",
            )

        self.emit(
            "route.changed",
            view.id,
            message,
            old=ta,
            new=tb,
            path=_pointer(("nodes", view.id, "exits", name)),
        )

    def key_added(self, view: _NodeView, key: str, label: str | None) -> None:
        target = view.exits.get(key)

        def message(lang: str) -> str:
            subj = self.subject(view.id, lang)
            what = _key_phrase(lang, key, label)
            if target is None:
                return _w(
                    lang, f"{subj}：新增{what}（未连接）", f"{subj}: new {what} (not connected)"
                )
            tgt = self.target(target, lang)
            return _w(lang, f"{subj}：新增{what}，转到{tgt}", f"{subj}: new {what} goes to {tgt}")

        self.emit(
            "menu.key_added",
            view.id,
            message,
            new={"key": key, "label": label, "target": target},
            path=_pointer(("nodes", view.id, "exits", key)),
        )

    def key_removed(self, view: _NodeView, key: str, label: str | None) -> None:
        target = view.exits.get(key)

        def message(lang: str) -> str:
            subj = self.subject(view.id, lang)
            what = _key_phrase(lang, key, label)
            if target is None:
                return _w(lang, f"{subj}：{what}已删除", f"{subj}: {what} removed")
            tgt = self.target(target, lang)
            return _w(
                lang,
                f"{subj}：{what}已删除，原来转到{tgt}",
                f"{subj}: {what} removed; it went to {tgt}",
            )

        self.emit(
            "menu.key_removed",
            view.id,
            message,
            old={"key": key, "label": label, "target": target},
            path=_pointer(("nodes", view.id, "exits", key)),
        )

    def compare_node_prompts(self, a: _NodeView, b: _NodeView) -> None:
        for pointer in sorted(a.prompts.keys() | b.prompts.keys()):
            ids_a, ids_b = a.prompts.get(pointer, []), b.prompts.get(pointer, [])
            if ids_a != ids_b:
                self.prompts_changed(a, b, tuple(pointer.split("/")[1:]), ids_a, ids_b)

    def prompts_changed(
        self,
        a: _NodeView,
        b: _NodeView,
        tokens: tuple[str, ...],
        ids_a: list[str],
        ids_b: list[str],
    ) -> None:
        def message(lang: str) -> str:
            subj = self.subject(b.id, lang)
            title = b.field_title(tokens, lang) or a.field_title(tokens, lang)
            what = title or ("config." + ".".join(tokens))
            new_p = self.prompt_list(self.new, ids_b, lang)
            old_p = self.prompt_list(self.old, ids_a, lang)
            return _w(
                lang,
                f"{subj}：{what}由{old_p}改为{new_p}",
                f"{subj}: {what} changed from {old_p} to {new_p}",
            )

        self.emit(
            "prompt.changed",
            b.id,
            message,
            old=ids_a,
            new=ids_b,
            path=_pointer(("nodes", b.id, "config", *tokens)),
        )

    # -- config --------------------------------------------------------------------------

    def compare_config(self, a: _NodeView, b: _NodeView) -> None:
        excluded: list[tuple[str, ...]] = [
            tuple(p.split("/")[1:]) for p in a.prompts.keys() | b.prompts.keys()
        ]
        if b.is_a(Menu):
            excluded.append(("options",))  # keys: compare_exits; labels: presentation
        if b.is_a(Branch):
            excluded.append(("rules",))
            self.compare_rules(a, b)
        if b.is_a(SetVariable):
            excluded.append(("assignments",))
            self.compare_assignments(a, b)
        clock_refs = [
            tokens
            for view in (a, b)
            for tokens, value in view.refs("expression")
            if _uses_clock(value)
        ]
        for tokens, va, vb in _leaf_diffs(a.full, b.full):
            if any(tokens[: len(ex)] == ex for ex in excluded):
                continue
            if (
                _time_related(b.type)
                or any(_time_related(t) for t in tokens)
                or any(ref[: len(tokens)] == tokens for ref in clock_refs)
                or (b.cls is None and (_uses_clock(va) or _uses_clock(vb)))
            ):
                kind = "hours.changed"
            elif b.is_a(TransferQueue) or b.annotation(tokens) == "queue":
                kind = "queue.changed"
            else:
                kind = "config.changed"
            self.config_changed(kind, b, tokens, va, vb)

    def config_changed(
        self, kind: str, view: _NodeView, tokens: tuple[str, ...], va: Any, vb: Any
    ) -> None:
        def message(lang: str) -> str:
            subj = self.subject(view.id, lang)
            path = "config." + ".".join(tokens)
            title = view.field_title(tokens, lang)
            what = _q(title) + _paren(lang, path) if title else path
            prefix = _w(lang, "工作时间已变更：", "open hours changed: ")
            prefix = prefix if kind == "hours.changed" else ""
            change = f"{_fmt(va, lang)} → {_fmt(vb, lang)}"
            return _w(
                lang, f"{subj}：{prefix}{what}：{change}", f"{subj}: {prefix}{what}: {change}"
            )

        self.emit(
            kind,
            view.id,
            message,
            old=None if va is _MISSING else va,
            new=None if vb is _MISSING else vb,
            path=_pointer(("nodes", view.id, "config", *tokens)),
        )

    def compare_rules(self, a: _NodeView, b: _NodeView) -> None:
        rules_a, rules_b = _rules(a.full), _rules(b.full)
        changed = False
        for name in _ordered([*(e for e, _ in rules_b), *(e for e, _ in rules_a)]):
            conds_a = [w for e, w in rules_a if e == name]
            conds_b = [w for e, w in rules_b if e == name]
            if conds_a != conds_b:
                changed = True
                self.rule_changed(a, b, name, conds_a, conds_b)
        order_a, order_b = [e for e, _ in rules_a], [e for e, _ in rules_b]
        if changed or order_a == order_b:
            return

        def message(lang: str) -> str:
            subj = self.subject(b.id, lang)
            new_o = _join(lang, [self.exit_phrase(b, e, lang) for e in order_b])
            old_o = _join(lang, [self.exit_phrase(a, e, lang) for e in order_a])
            return _w(
                lang,
                f"{subj}：条件的检查顺序改为 {new_o}，原来是 {old_o}",
                f"{subj}: conditions are now checked in the order {new_o} (was {old_o})",
            )

        self.emit(
            "condition.changed",
            b.id,
            message,
            old=order_a,
            new=order_b,
            path=_pointer(("nodes", b.id, "config", "rules")),
        )

    def rule_changed(
        self, a: _NodeView, b: _NodeView, name: str, ca: list[str], cb: list[str]
    ) -> None:
        hours = any(_uses_clock(c) for c in (*ca, *cb))
        view = b if cb else a

        def message(lang: str) -> str:
            subj = self.subject(b.id, lang)
            prefix = _w(lang, "工作时间已变更：", "open hours changed: ") if hours else ""
            exit_p = self.exit_phrase(view, name, lang)
            new_c, old_c = _conditions(cb, lang), _conditions(ca, lang)
            if ca and cb:
                return _w(
                    lang,
                    f"{subj}：{prefix}{exit_p}的条件改为{new_c}，原来是{old_c}",
                    f"{subj}: {prefix}{exit_p} is now taken when {new_c} instead of when {old_c}",
                )
            if cb:
                return _w(
                    lang,
                    f"{subj}：{prefix}新增条件：{new_c}时走{exit_p}",
                    f"{subj}: {prefix}new condition: {exit_p} when {new_c}",
                )
            return _w(
                lang,
                f"{subj}：{prefix}删除条件：{old_c}时走{exit_p}",
                f"{subj}: {prefix}condition removed: {exit_p} when {old_c}",
            )

        self.emit(
            "hours.changed" if hours else "condition.changed",
            b.id,
            message,
            old=ca or None,
            new=cb or None,
            path=_pointer(("nodes", b.id, "config", "rules")),
        )

    def compare_assignments(self, a: _NodeView, b: _NodeView) -> None:
        sets_a, sets_b = _assignments(a.full), _assignments(b.full)
        for name in _ordered([*(v for v, _, _ in sets_b), *(v for v, _, _ in sets_a)]):
            src_a = [(k, s) for v, k, s in sets_a if v == name]
            src_b = [(k, s) for v, k, s in sets_b if v == name]
            if src_a != src_b:
                self.assignment_changed(b, name, src_a, src_b)

    def assignment_changed(
        self, b: _NodeView, name: str, sa: list[tuple[str, str]], sb: list[tuple[str, str]]
    ) -> None:
        hours = any(k == "expression" and _uses_clock(s) for k, s in (*sa, *sb))

        def message(lang: str) -> str:
            subj = self.subject(b.id, lang)
            prefix = _w(lang, "工作时间已变更：", "open hours changed: ") if hours else ""
            new_s, old_s = _sources(sb, lang), _sources(sa, lang)
            if sa and sb:
                return _w(
                    lang,
                    f"{subj}：{prefix}{name} 现在设为{new_s}，原来是{old_s}",
                    f"{subj}: {prefix}{name} is now set to {new_s} instead of {old_s}",
                )
            if sb:
                return _w(
                    lang,
                    f"{subj}：{prefix}新增设置 {name} 为{new_s}",
                    f"{subj}: {prefix}now also sets {name} to {new_s}",
                )
            return _w(
                lang,
                f"{subj}：{prefix}不再设置 {name}（原来设为{old_s}）",
                f"{subj}: {prefix}no longer sets {name} (it was set to {old_s})",
            )

        self.emit(
            "hours.changed" if hours else "assignment.changed",
            b.id,
            message,
            old=[s for _, s in sa] or None,
            new=[s for _, s in sb] or None,
            path=_pointer(("nodes", b.id, "config", "assignments")),
        )

    # -- flow-wide -----------------------------------------------------------------------

    def compare_prompt_texts(self) -> None:
        old, new = self.old, self.new
        for prompt_id in sorted(old.prompts.keys() | new.prompts.keys()):
            if prompt_id not in new.prompts:
                if prompt_id in new.prompt_users:
                    self.prompt_removed(prompt_id)
                continue
            used = prompt_id in new.prompt_users or prompt_id in old.prompt_users
            if prompt_id not in old.prompts or not used:
                continue  # a new prompt: the nodes that play it say so (prompt.changed)
            texts_a, texts_b = old.prompts[prompt_id], new.prompts[prompt_id]
            for tag in sorted(texts_a.keys() | texts_b.keys()):
                ta, tb = texts_a.get(tag), texts_b.get(tag)
                if ta != tb:
                    self.prompt_text_changed(prompt_id, tag, ta, tb)

    def prompt_removed(self, prompt_id: str) -> None:
        self.emit(
            "prompt.removed",
            None,
            lambda L: _w(
                L,
                f"提示{_q(prompt_id)}已删除，但仍在以下节点播放：{self.users(prompt_id, L)}",
                f"Prompt {_q(prompt_id)} was deleted but is still played by "
                f"{self.users(prompt_id, L)}",
            ),
            old=self.old.prompts[prompt_id],
            path=_pointer(("prompts", prompt_id)),
        )

    def prompt_text_changed(self, prompt_id: str, tag: str, ta: str | None, tb: str | None) -> None:
        def message(lang: str) -> str:
            new_t = _q(_cut(tb, _MSG_TEXT)) if tb else _w(lang, "（无）", "(nothing)")
            old_t = _q(_cut(ta, _MSG_TEXT)) if ta else _w(lang, "（无）", "(nothing)")
            users = self.users(prompt_id, lang)
            return _w(
                lang,
                f"提示{_q(prompt_id)}（{tag}）现在说{new_t}，原来是{old_t}；播放于：{users}",
                f"Prompt {_q(prompt_id)} ({tag}) now says {new_t} instead of {old_t}; "
                f"played by {users}",
            )

        self.emit(
            "prompt.text_changed",
            None,
            message,
            old=ta,
            new=tb,
            path=_pointer(("prompts", prompt_id, "text", tag)),
        )

    def compare_variables(self) -> None:
        old, new = self.old.variables, self.new.variables
        for name in sorted(old.keys() | new.keys()):
            path = _pointer(("variables", name))
            if name not in old:
                spec = new[name]
                self.emit(
                    "variable.added",
                    None,
                    lambda L, n=name, s=spec: _w(
                        L,
                        f"新增变量 {n}，默认值：{_fmt(s.get('default'), L)}",
                        f"New variable {n}, default value: {_fmt(s.get('default'), L)}",
                    ),
                    new=spec,
                    path=path,
                )
                continue
            if name not in new:
                self.emit(
                    "variable.removed",
                    None,
                    lambda L, n=name: _w(L, f"删除变量 {n}", f"Variable {n} removed"),
                    old=old[name],
                    path=path,
                )
                continue
            da, db = old[name].get("default"), new[name].get("default")
            if not _json_equal(da, db):
                self.emit(
                    "variable.default_changed",
                    None,
                    lambda L, n=name, da=da, db=db: _w(
                        L,
                        f"变量 {n}：默认值 {_fmt(da, L)} → {_fmt(db, L)}",
                        f"Variable {n}: default value {_fmt(da, L)} → {_fmt(db, L)}",
                    ),
                    old=da,
                    new=db,
                    path=path + "/default",
                )
            for key, (zh, en, default) in _VARIABLE_FIELDS.items():
                va, vb = old[name].get(key, default), new[name].get(key, default)
                if _json_equal(va, vb):
                    continue
                self.emit(
                    "variable.changed",
                    None,
                    lambda L, n=name, zh=zh, en=en, va=va, vb=vb: _w(
                        L,
                        f"变量 {n}：{zh} {_fmt(va, L)} → {_fmt(vb, L)}",
                        f"Variable {n}: {en} {_fmt(va, L)} → {_fmt(vb, L)}",
                    ),
                    old=va,
                    new=vb,
                    path=f"{path}/{key}",
                )

    def compare_settings(self) -> None:
        old, new = self.old.settings, self.new.settings
        for key in sorted(old.keys() | new.keys()):
            default = _SETTINGS_DEFAULTS.get(key, _MISSING)
            va, vb = old.get(key, default), new.get(key, default)
            if not _json_equal(va, vb):
                self.setting_changed(key, va, vb)

    def setting_changed(self, key: str, va: Any, vb: Any) -> None:
        def message(lang: str) -> str:
            titles = _SETTING_TITLES.get(key)
            title = _w(lang, *titles) if titles else key
            if key == "fallback":
                old_v = self.target(va, lang) if isinstance(va, str) else _fmt(va, lang)
                new_v = self.target(vb, lang) if isinstance(vb, str) else _fmt(vb, lang)
            else:
                old_v, new_v = _fmt(va, lang), _fmt(vb, lang)
            return _w(
                lang,
                f"设置{_q(title)}（settings.{key}）：{old_v} → {new_v}",
                f"Setting {_q(title)} (settings.{key}): {old_v} → {new_v}",
            )

        self.emit(
            "settings.changed",
            None,
            message,
            old=None if va is _MISSING else va,
            new=None if vb is _MISSING else vb,
            path=_pointer(("settings", key)),
        )

    def compare_languages(self) -> None:
        old, new = self.old.languages, self.new.languages
        for tag in new:
            if tag not in old:
                self.emit(
                    "language.added",
                    None,
                    lambda L, t=tag: _w(L, f"新增语言：{t}", f"Language added: {t}"),
                    new=tag,
                    path="/languages",
                )
        for tag in old:
            if tag not in new:
                self.emit(
                    "language.removed",
                    None,
                    lambda L, t=tag: _w(L, f"删除语言：{t}", f"Language removed: {t}"),
                    old=tag,
                    path="/languages",
                )
        if old and new and old[0] != new[0]:
            self.emit(
                "language.default_changed",
                None,
                lambda L: _w(
                    L,
                    f"默认语言：{old[0]} → {new[0]}",
                    f"Default language: {old[0]} → {new[0]}",
                ),
                old=old[0],
                new=new[0],
                path="/languages/0",
            )


# -- config readers (tolerant of malformed configs) ------------------------------------------


def _ordered(items: Iterable[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def _option_labels(config: Mapping[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = {}
    options = config.get("options")
    for option in options if isinstance(options, list) else ():
        if not isinstance(option, Mapping):
            continue
        key, label = option.get("key"), option.get("label")
        if isinstance(key, str) and isinstance(label, str) and label.strip():
            labels.setdefault(key, label.strip())
    return labels


def _rules(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    rules = config.get("rules")
    out = []
    for rule in rules if isinstance(rules, list) else ():
        if isinstance(rule, Mapping) and isinstance(rule.get("exit"), str):
            when = rule.get("when")
            out.append((rule["exit"], when if isinstance(when, str) else _fmt(when, "en")))
    return out


def _assignments(config: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(variable, "expression" | "text", source) for each well-formed assignment."""
    items = config.get("assignments")
    out = []
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, Mapping) or not isinstance(item.get("variable"), str):
            continue
        for kind in ("expression", "text"):
            source = item.get(kind)
            if isinstance(source, str):
                out.append((item["variable"], kind, source))
                break
    return out


def _key_phrase(lang: str, key: str, label: str | None) -> str:
    """``按 6“贷款查询”`` / ``key 6 “Loans”``."""
    if not label:
        return _w(lang, f"按 {key}", f"key {key}")
    return _w(lang, f"按 {key}{_q(label)}", f"key {key} {_q(label)}")


def _conditions(conds: Sequence[str], lang: str) -> str:
    return _w(lang, "或", " or ").join(_q(_cut(c, _MSG_EXPR)) for c in conds)


def _sources(sources: Sequence[tuple[str, str]], lang: str) -> str:
    shown = []
    for kind, source in sources:
        text = _q(_cut(source, _MSG_EXPR))
        if kind == "text":
            text = _w(lang, f"文字{text}", f"the text {text}")
        shown.append(text)
    return _w(lang, "，然后", ", then ").join(shown)
