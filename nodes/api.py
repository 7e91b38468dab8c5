"""The node API: one class per node type.

A node type is a subclass of :class:`Node` with class attributes that describe it and one
coroutine that runs it::

    class Blacklist(Node):
        type = "fund.blacklist"
        version = 1
        title = {"zh": "黑名单检查", "en": "Blacklist check"}
        description = {"zh": "…", "en": "…"}
        category = "integration"
        config_schema = {"type": "object", "properties": {...}}
        exits = ("allowed", "blocked", "error")

        async def run(self, call: Call, config: dict) -> str:
            ...
            return "blocked"

The class is checked when it is defined (:class:`NodeDefinitionError` lists every mistake at
once). The designer draws the node's form from ``config_schema``; schema ``default`` values
are filled in before ``run`` is called. ``run`` returns the name of the exit to follow.

Schema annotations understood by the validator and the designer (keyword ``x-ivrflow``):

* ``"prompt"`` — a prompt id (string) that must exist;
* ``"variable-out"`` — the name of a variable the node writes;
* ``"variable-in"`` — the name of a variable the node reads;
* ``"template"`` — a string with ``{{variable}}`` placeholders (reads those variables);
* ``"expression"`` — an expression in the flow expression language (reads its variables);
* ``"flow"`` — the id of another flow (sub-flow);
* ``"queue"`` — an Asterisk queue name;
* ``"language"`` — a language tag.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from runtime.call import Call
from runtime.schemacheck import CompiledSchema

__all__ = [
    "CATEGORIES",
    "EXIT_NAME_RE",
    "NODE_TYPE_RE",
    "STANDARD_EXIT_TITLES",
    "ConfigIssue",
    "Node",
    "NodeDefinitionError",
    "Reference",
    "apply_defaults",
]

NODE_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
EXIT_NAME_RE = re.compile(r"^[A-Za-z0-9_*#+-]{1,32}$")

CATEGORIES: dict[str, dict[str, str]] = {
    "basic": {"zh": "基础", "en": "Basic"},
    "input": {"zh": "按键输入", "en": "Caller input"},
    "logic": {"zh": "逻辑", "en": "Logic"},
    "integration": {"zh": "业务接口", "en": "Integration"},
    "transfer": {"zh": "转接", "en": "Transfer"},
    "flow": {"zh": "流程", "en": "Flow"},
}

STANDARD_EXIT_TITLES: dict[str, dict[str, str]] = {
    "next": {"zh": "下一步", "en": "Next"},
    "ok": {"zh": "成功", "en": "OK"},
    "error": {"zh": "出错", "en": "Error"},
    "timeout": {"zh": "超时", "en": "Timeout"},
    "invalid": {"zh": "无效输入", "en": "Invalid input"},
    "default": {"zh": "其他情况", "en": "Otherwise"},
    "completed": {"zh": "完成", "en": "Completed"},
    "unavailable": {"zh": "不可用", "en": "Unavailable"},
    "busy": {"zh": "忙", "en": "Busy"},
    "no_answer": {"zh": "无人接听", "en": "No answer"},
    "congestion": {"zh": "线路拥塞", "en": "Congestion"},
    "recorded": {"zh": "已录音", "en": "Recorded"},
    "no_audio": {"zh": "未录到声音", "en": "No audio"},
    "exceeded": {"zh": "超过次数", "en": "Limit reached"},
}

ANNOTATION = "x-ivrflow"
ANNOTATION_KINDS = frozenset(
    {"prompt", "variable-out", "variable-in", "template", "expression", "flow", "queue", "language"}
)


class NodeDefinitionError(TypeError):
    """A node class is not a valid node type. The message lists every problem."""


@dataclass(frozen=True, slots=True)
class Reference:
    """A value in a node's config that refers to something outside it (a prompt, a variable,
    another flow…), found through the schema's ``x-ivrflow`` annotations."""

    kind: str
    pointer: str  # JSON pointer relative to the node's config, e.g. "/options/0/prompt"
    value: Any


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """A semantic config problem found by :meth:`Node.check_config` (beyond the schema)."""

    pointer: str  # relative to the node's config
    code: str
    message_zh: str
    message_en: str
    severity: str = "error"


def apply_defaults(schema: Mapping[str, Any], value: Any) -> Any:
    """Return ``value`` with the schema's ``default``\\ s filled in (recursively through
    ``properties`` and ``items``). Never mutates its arguments."""
    if isinstance(value, dict) and schema.get("type", "object") == "object":
        props = schema.get("properties", {})
        out = dict(value)
        for key, sub in props.items():
            if key in out:
                out[key] = apply_defaults(sub, out[key])
            elif "default" in sub:
                out[key] = apply_defaults(sub, copy.deepcopy(sub["default"]))
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [apply_defaults(schema["items"], item) for item in value]
    return value


def _walk_refs(schema: Mapping[str, Any], value: Any, pointer: str) -> Iterator[Reference]:
    kind = schema.get(ANNOTATION)
    if kind is not None and value is not None:
        yield Reference(kind, pointer, value)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key)
            if sub is None and isinstance(extra, Mapping):
                sub = extra
            if sub is not None:
                token = key.replace("~", "~0").replace("/", "~1")
                yield from _walk_refs(sub, item, f"{pointer}/{token}")
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            yield from _walk_refs(schema["items"], item, f"{pointer}/{i}")
    for sub in schema.get("allOf", ()):
        yield from _walk_refs(sub, value, pointer)


def _check_annotations(schema: Any, where: str, problems: list[str]) -> None:
    if isinstance(schema, Mapping):
        kind = schema.get(ANNOTATION)
        if kind is not None and kind not in ANNOTATION_KINDS:
            problems.append(f"unknown {ANNOTATION} annotation {kind!r} at {where}")
        for key, sub in schema.items():
            _check_annotations(sub, f"{where}/{key}", problems)
    elif isinstance(schema, list):
        for i, sub in enumerate(schema):
            _check_annotations(sub, f"{where}/{i}", problems)


class Node:
    """Base class of every node type. See the module docstring."""

    abstract: ClassVar[bool] = True
    """Set on intermediate base classes that are not node types themselves."""

    type: ClassVar[str]
    version: ClassVar[int] = 1
    title: ClassVar[Mapping[str, str]]
    description: ClassVar[Mapping[str, str]]
    category: ClassVar[str] = "basic"
    config_schema: ClassVar[Mapping[str, Any]] = {"type": "object", "properties": {}}

    exits: ClassVar[tuple[str, ...]] = ()
    """Static exit names. Override :meth:`exits_for` when exits depend on the config."""
    exit_titles: ClassVar[Mapping[str, Mapping[str, str]]] = {}
    optional_exits: ClassVar[frozenset[str]] = frozenset({"error"})
    """Exits that may be left unwired: the call then goes to the flow's fallback node."""
    terminal: ClassVar[bool] = False
    """The call ends here (hang up, return from a sub-flow): the node has no exits."""
    waits_for_input: ClassVar[bool] = False
    """The node waits for the caller (a loop through it is bounded by the caller)."""
    bounds_loops: ClassVar[bool] = False
    """The node counts passes and leaves the loop after a limit (a retry counter)."""
    timeout_s: ClassVar[float | None] = None
    """Upper bound on one ``run``; past it the node takes its ``timeout`` exit (or ``error``,
    or the fallback)."""

    _validator: ClassVar[CompiledSchema]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("abstract", False):
            return
        cls.abstract = False
        problems = _definition_problems(cls)
        if problems:
            name = f"{cls.__module__}.{cls.__qualname__}"
            raise NodeDefinitionError(
                f"{name} is not a valid node type:\n" + "\n".join(f"  - {p}" for p in problems)
            )
        cls._validator = CompiledSchema(cls.config_schema)

    # -- description ---------------------------------------------------------------------

    @classmethod
    def exits_for(cls, config: Mapping[str, Any]) -> tuple[str, ...]:
        """The node's exits for this config (defaults applied). Static by default."""
        return cls.exits

    @classmethod
    def computed_exits(cls) -> bool:
        return cls.exits_for.__func__ is not Node.exits_for.__func__  # type: ignore[attr-defined]

    @classmethod
    def exit_title(cls, exit_name: str, config: Mapping[str, Any] | None = None) -> dict[str, str]:
        title = cls.exit_titles.get(exit_name) or STANDARD_EXIT_TITLES.get(exit_name)
        if title:
            return dict(title)
        if len(exit_name) == 1 and exit_name in "0123456789*#":
            return {"zh": f"按 {exit_name}", "en": f"Key {exit_name}"}
        return {"zh": exit_name, "en": exit_name}

    @classmethod
    def with_defaults(cls, config: Mapping[str, Any] | None) -> dict[str, Any]:
        return apply_defaults(cls.config_schema, dict(config or {}))

    @classmethod
    def config_errors(cls, config: Any) -> list[tuple[str, str]]:
        """Schema errors as (pointer relative to config, message)."""
        out = []
        for err in cls._validator.iter_errors(config):
            pointer = "".join(
                "/" + str(p).replace("~", "~0").replace("/", "~1") for p in err.absolute_path
            )
            out.append((pointer, err.message))
        return out

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> list[ConfigIssue]:
        """Semantic checks beyond the schema (e.g. duplicate menu keys). Called only on a
        config that passed the schema, with defaults applied."""
        return []

    @classmethod
    def references(cls, config: Mapping[str, Any]) -> list[Reference]:
        """Prompts, variables, flows… this config refers to (from ``x-ivrflow`` annotations).
        Override to add references the schema cannot express."""
        return list(_walk_refs(cls.config_schema, config, ""))

    @classmethod
    def outcome(cls, config: Mapping[str, Any]) -> str | None:
        """For a node that ends its (sub-)flow with a named outcome (``core.return``): that
        outcome. The validator checks callers handle every outcome a sub-flow can return."""
        return None

    @classmethod
    def migrate(cls, config: dict[str, Any], from_version: int) -> dict[str, Any]:
        """Upgrade a config written for an older version of this node type. The default
        accepts it unchanged (additive changes); override when a version breaks configs."""
        return config

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """What the designer and ``ivrflow nodes --json`` show."""
        return {
            "type": cls.type,
            "version": cls.version,
            "title": dict(cls.title),
            "description": dict(cls.description),
            "category": cls.category,
            "config_schema": cls.config_schema,
            "exits": list(cls.exits),
            "exits_from_config": cls.computed_exits(),
            "exit_titles": {e: cls.exit_title(e) for e in cls.exits},
            "optional_exits": sorted(cls.optional_exits),
            "terminal": cls.terminal,
            "waits_for_input": cls.waits_for_input,
            "bounds_loops": cls.bounds_loops,
            "timeout_s": cls.timeout_s,
        }

    # -- behaviour -----------------------------------------------------------------------

    async def run(self, call: Call, config: dict[str, Any]) -> str | None:
        """Do the node's work and return the exit to follow (``None`` for terminal nodes)."""
        raise NotImplementedError  # pragma: no cover - abstract; checked at class definition


def _bilingual(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(value.get(k), str) and value.get(k).strip() for k in ("zh", "en")
    )


def _definition_problems(cls: type[Node]) -> list[str]:
    problems: list[str] = []
    node_type = cls.__dict__.get("type", getattr(cls, "type", None))
    if not isinstance(node_type, str) or not NODE_TYPE_RE.match(node_type):
        problems.append(
            "type must be a namespaced lower-case name like 'fund.account_query', "
            f"got {node_type!r}"
        )
    if not isinstance(cls.version, int) or isinstance(cls.version, bool) or cls.version < 1:
        problems.append(f"version must be an integer >= 1, got {cls.version!r}")
    for attr in ("title", "description"):
        if not _bilingual(getattr(cls, attr, None)):
            problems.append(f"{attr} must be a dict with non-empty 'zh' and 'en' strings")
    if cls.category not in CATEGORIES:
        problems.append(f"category must be one of {sorted(CATEGORIES)}, got {cls.category!r}")
    schema = cls.config_schema
    if not isinstance(schema, Mapping):
        problems.append("config_schema must be a JSON Schema object (a dict)")
    else:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            problems.append(f"config_schema is not valid JSON Schema 2020-12: {exc.message}")
        if schema.get("type") != "object":
            problems.append('config_schema must have "type": "object"')
        _check_annotations(schema, "config_schema", problems)
        if not problems:
            defaults = apply_defaults(schema, {})
            bad = [e.message for e in Draft202012Validator(schema).iter_errors(defaults)]
            if bad and not schema.get("required"):
                problems.append(f"config_schema defaults do not validate: {bad[0]}")
    if not isinstance(cls.exits, tuple) or not all(isinstance(e, str) for e in cls.exits):
        problems.append("exits must be a tuple of exit names")
    else:
        for name in cls.exits:
            if not EXIT_NAME_RE.match(name):
                problems.append(f"exit name {name!r} must match {EXIT_NAME_RE.pattern}")
        if len(set(cls.exits)) != len(cls.exits):
            problems.append("exit names must be unique")
        if cls.terminal and cls.exits:
            problems.append("a terminal node has no exits")
        if not cls.terminal and not cls.exits and not cls.computed_exits():
            problems.append("a non-terminal node needs exits (or an exits_for() override)")
        if not cls.computed_exits() and not set(cls.optional_exits) <= set(cls.exits) | {
            "error",
            "timeout",
        }:
            problems.append("optional_exits must be among the node's exits")
    if cls.timeout_s is not None and not (0 < cls.timeout_s <= 600):
        problems.append("timeout_s must be None or between 0 and 600 seconds")
    run = cls.__dict__.get("run") or getattr(cls, "run", None)
    if run is None or run is Node.run:
        problems.append("the class must define `async def run(self, call, config)`")
    elif not inspect.iscoroutinefunction(run):
        problems.append("run must be `async def run(self, call, config)`")
    else:
        params = list(inspect.signature(run).parameters)
        if len(params) != 3:
            problems.append(f"run must take (self, call, config), takes {tuple(params)}")
    return problems
