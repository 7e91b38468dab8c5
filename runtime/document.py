"""Reading a flow document from bytes, safely.

Everything a user can get wrong before the flow is even JSON is caught here and turned into a
:class:`~runtime.problems.Problem` with a line and column: the file is too large, not UTF-8,
not JSON (with the exact position), nested absurdly deep, or has duplicate keys (which plain
``json.loads`` would silently collapse — a duplicated node id would lose a node).

Problems found later by the validator carry JSON pointers; :meth:`FlowText.locate` maps a
pointer back to a line and column of the original text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from json_source_map import calculate as _source_map

from runtime.problems import Problem, error

__all__ = [
    "MAX_DEPTH",
    "MAX_FLOW_BYTES",
    "FlowText",
    "UnusableFlow",
    "escape_pointer",
    "load_flow_bytes",
    "load_flow_file",
]

MAX_FLOW_BYTES = 1_048_576
"""Hard limit on a flow document's size (1 MiB)."""

MAX_DEPTH = 64
"""Deepest nesting of objects/arrays accepted in a flow document."""


class UnusableFlow(Exception):
    """The input cannot be read as a flow document at all (exit code 2 in the CLI)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message_en)
        self.problem = problem


def escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@dataclass
class FlowText:
    """A flow document parsed from text, with what is needed to point back into that text."""

    data: Any
    text: str
    name: str = "<flow>"
    problems: list[Problem] = field(default_factory=list)
    """Problems found while reading that do not stop validation (duplicate keys)."""

    @cached_property
    def _map(self) -> dict[str, Any]:
        try:
            return dict(_source_map(self.text))
        except Exception:  # the map is a convenience; never fail a report because of it
            return {}

    def locate(self, pointer: str) -> tuple[int | None, int | None]:
        """1-based (line, column) of the value at ``pointer``, or of its nearest ancestor."""
        entries = self._map
        while True:
            entry = entries.get(pointer)
            if entry is not None:
                loc = entry.key_start or entry.value_start
                return loc.line + 1, loc.column + 1
            if not pointer:
                return None, None
            pointer = pointer.rsplit("/", 1)[0]

    def with_locations(self, problems: list[Problem]) -> list[Problem]:
        out = []
        for problem in problems:
            if problem.line is None:
                problem = problem.at(*self.locate(problem.pointer))  # noqa: PLW2901
            out.append(problem)
        return out


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


def _check_depth(text: str) -> int | None:
    """Position where nesting first exceeds MAX_DEPTH (strings skipped), else None.

    Checked before ``json.loads`` so hostile input never reaches a recursive parser."""
    depth = 0
    in_string = False
    escaped = False
    for pos, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return pos
        elif ch in "]}":
            depth -= 1
    return None


_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)


def load_flow_bytes(raw: bytes, *, name: str = "<flow>") -> FlowText:
    """Decode and parse a flow document. Raises :class:`UnusableFlow` with a located problem."""
    if len(raw) > MAX_FLOW_BYTES:
        raise UnusableFlow(
            error(
                "flow.too_large",
                f"流程文件过大：{len(raw):,} 字节，上限为 {MAX_FLOW_BYTES:,} 字节（1 MB）。",
                f"Flow document too large: {len(raw):,} bytes; the limit is "
                f"{MAX_FLOW_BYTES:,} bytes (1 MB).",
            )
        )
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise UnusableFlow(
            error(
                "json.encoding",
                f"文件不是 UTF-8 编码：第 {line} 行第 {col} 列（字节偏移 {exc.start}）"
                f"有无效字节 0x{raw[exc.start]:02x}。请以 UTF-8 保存。",
                f"Not UTF-8: invalid byte 0x{raw[exc.start]:02x} at line {line}, column "
                f"{col} (byte offset {exc.start}). Save the file as UTF-8.",
            ).at(line, col)
        ) from None
    return load_flow_text(text, name=name)


def _shape(data: Any) -> tuple[int, int]:
    """(nesting depth, number of object keys) of parsed JSON, without recursion."""
    deepest = 0
    keys = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        obj, depth = pop()
        if type(obj) is dict:
            keys += len(obj)
            values: Any = obj.values()
        elif type(obj) is list:
            values = obj
        else:
            continue
        deepest = max(deepest, depth)
        for value in values:
            kind = type(value)
            if kind is dict or kind is list:
                push((value, depth + 1))
    return deepest, keys


def _key_tokens(text: str) -> int:
    """How many object keys the text writes: the colons outside strings."""
    return _STRINGS.sub("", text).count(":")


def _too_deep(text: str) -> UnusableFlow:
    pos = _check_depth(text)
    if pos is None:  # pragma: no cover - the parser and the scanner agree on valid JSON
        return UnusableFlow(error("json.too_deep", "嵌套层数过深。", "Nesting too deep."))
    line, col = _line_col(text, pos)
    return UnusableFlow(
        error(
            "json.too_deep",
            f"嵌套层数超过 {MAX_DEPTH} 层（第 {line} 行第 {col} 列）。",
            f"Nesting deeper than {MAX_DEPTH} levels (line {line}, column {col}).",
        ).at(line, col)
    )


def load_flow_text(text: str, *, name: str = "<flow>") -> FlowText:
    """Parse a flow document. The C parser does the work (its recursion guard stops hostile
    nesting); the parsed shape then gives the depth, and duplicate keys are looked for only
    when the text writes more keys than the parsed objects hold."""
    if not text.strip():
        raise UnusableFlow(error("json.empty", "流程文件是空的。", "The flow document is empty."))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnusableFlow(
            error(
                "json.syntax",
                f"JSON 语法错误：第 {exc.lineno} 行第 {exc.colno} 列：{_zh_json_msg(exc.msg)}。",
                f"JSON syntax error at line {exc.lineno}, column {exc.colno}: {exc.msg}.",
            ).at(exc.lineno, exc.colno)
        ) from None
    except RecursionError:
        raise _too_deep(text) from None
    depth, keys = _shape(data)
    if depth > MAX_DEPTH:
        raise _too_deep(text)
    flow = FlowText(data=data, text=text, name=name)
    if keys != _key_tokens(text):
        duplicates: list[str] = []

        def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            obj = dict(pairs)
            if len(obj) != len(pairs):
                seen: set[str] = set()
                for key, _ in pairs:
                    if key in seen:
                        duplicates.append(key)
                    seen.add(key)
            return obj

        json.loads(text, object_pairs_hook=pairs_hook)
        for key in dict.fromkeys(duplicates):
            flow.problems.extend(_duplicate_problems(text, key))
    return flow


def _duplicate_problems(text: str, key: str) -> list[Problem]:
    pattern = re.compile(r'"' + re.escape(json.dumps(key)[1:-1]) + r'"\s*:')
    positions = [m.start() for m in pattern.finditer(text)]
    lines = [_line_col(text, p)[0] for p in positions]
    where_zh = "、".join(f"第 {n} 行" for n in lines)
    where_en = ", ".join(str(n) for n in lines)
    problem = error(
        "json.duplicate_key",
        f"键 “{key}” 重复出现（{where_zh}）：只有最后一个会生效。"
        "若是节点 ID，请给每个节点唯一的 ID。",
        f"Key '{key}' appears more than once (lines {where_en}); only the last one would "
        "take effect. If it is a node id, give each node a unique id.",
    )
    if positions:
        line, col = _line_col(text, positions[-1])
        problem = problem.at(line, col)
    return [problem]


_JSON_MSGS = {
    "Expecting value": "此处需要一个值",
    "Expecting property name enclosed in double quotes": "需要用双引号括起的属性名",
    "Expecting ',' delimiter": "缺少逗号“,”",
    "Expecting ':' delimiter": "缺少冒号“:”",
    "Extra data": "JSON 结束后还有多余内容",
    "Unterminated string starting at": "字符串没有结束引号",
    "Invalid control character at": "字符串中有无效的控制字符",
    "Invalid \\escape": "无效的转义符",
}


def _zh_json_msg(msg: str) -> str:
    for en, zh in _JSON_MSGS.items():
        if msg.startswith(en):
            return zh
    return msg


def load_flow_file(path: str | Path) -> FlowText:
    """Read a flow file (refusing more than the size limit without reading it all)."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_FLOW_BYTES + 1)
    except OSError as exc:
        raise UnusableFlow(
            error(
                "file.unreadable",
                f"无法读取文件 {p}：{exc.strerror or exc}。",
                f"Cannot read {p}: {exc.strerror or exc}.",
            )
        ) from None
    if len(raw) > MAX_FLOW_BYTES:
        size = p.stat().st_size
        raise UnusableFlow(
            error(
                "flow.too_large",
                f"流程文件过大：{size:,} 字节，上限为 {MAX_FLOW_BYTES:,} 字节（1 MB）。",
                f"Flow document too large: {size:,} bytes; the limit is {MAX_FLOW_BYTES:,} "
                "bytes (1 MB).",
            )
        )
    return load_flow_bytes(raw, name=str(p))
