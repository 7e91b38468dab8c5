"""The validator: one implementation for the CLI, the designer, publishing and the runtime.

It reports *every* problem at once, each with a stable code, the node id, a JSON pointer (and
a line/column when the flow came from text) and a message in Chinese and English. Errors block
publishing; warnings do not. Checks, in order:

1. the document against the flow JSON Schema (limits: 2,000 nodes, names, types…);
2. each node: known type (named, with a suggestion), version, config against the node type's
   ``config_schema``, the node type's own semantic checks, exits it declares;
3. wiring: every exit wired (``error`` may fall back to the flow's fallback node), no exit to a
   node that does not exist, exactly one start node, the fallback node exists;
4. the graph (networkx): unreachable nodes, dead ends, nodes from which the call can never end,
   loops in which no node waits for the caller or counts retries;
5. references: expressions parse, variables read but never set, variables written but not
   declared, prompts that do not exist (through a :class:`~prompts.catalogue.PromptCatalogue`),
   sub-flows that do not exist or call each other in a circle.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from jsonschema.exceptions import ValidationError

from nodes.api import Node, Reference
from nodes.registry import Registry, default_registry
from prompts.catalogue import FlowPromptCatalogue, PromptCatalogue, PromptStatus
from runtime.clock import zone
from runtime.document import FlowText, escape_pointer
from runtime.expr import ExpressionSyntaxError, parse
from runtime.flow import (
    SYSTEM_VARIABLES,
    Flow,
    FlowLibrary,
    NodeSpec,
    Settings,
    VariableSpec,
    flow_schema,
)
from runtime.problems import Problem, Severity, error, has_errors, sort_problems, warning
from runtime.schemacheck import CompiledSchema
from runtime.template import variables_in

__all__ = ["MAX_PROBLEMS", "START_TYPE", "ValidationResult", "validate", "validate_text"]

START_TYPE = "core.start"
MAX_PROBLEMS = 500

_DOC_VALIDATOR = CompiledSchema(flow_schema())


@dataclass
class ValidationResult:
    problems: list[Problem] = field(default_factory=list)
    flow: Flow | None = None

    @property
    def ok(self) -> bool:
        return not has_errors(self.problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.WARNING]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [p.to_json() for p in self.problems],
        }


def validate_text(
    source: FlowText,
    *,
    registry: Registry | None = None,
    library: FlowLibrary | None = None,
    catalogue: PromptCatalogue | None = None,
) -> ValidationResult:
    """Validate a parsed flow text; problems get line and column numbers."""
    result = validate(source.data, registry=registry, library=library, catalogue=catalogue)
    problems = list(source.problems) + result.problems
    if source.problems:
        result.flow = None
    result.problems = sort_problems(source.with_locations(problems)) if problems else []
    return result


def validate(
    document: Any,
    *,
    registry: Registry | None = None,
    library: FlowLibrary | None = None,
    catalogue: PromptCatalogue | None = None,
) -> ValidationResult:
    """Validate a flow document (already parsed JSON). Never raises on bad input."""
    checker = _Checker(document, registry or default_registry(), library, catalogue)
    try:
        checker.run()
    except _TooMany:
        checker.problems.append(
            error(
                "flow.too_many_problems",
                f"问题超过 {MAX_PROBLEMS} 个，其余未列出。",
                f"More than {MAX_PROBLEMS} problems; the rest are not listed.",
            )
        )
    problems = sort_problems(checker.problems)
    flow = checker.build() if not has_errors(problems) else None
    return ValidationResult(problems, flow)


class _TooMany(Exception):
    pass


@dataclass
class _NodeInfo:
    id: str
    cls: type[Node]
    version: int
    config: dict[str, Any]
    config_ok: bool
    declared_exits: tuple[str, ...]
    wired: dict[str, str]
    label: str
    refs: list[Reference]


class _Checker:
    def __init__(
        self,
        doc: Any,
        registry: Registry,
        library: FlowLibrary | None,
        catalogue: PromptCatalogue | None,
    ) -> None:
        self.doc = doc
        self.registry = registry
        self.library = library
        self.catalogue = catalogue
        self.problems: list[Problem] = []
        self.nodes: dict[str, _NodeInfo] = {}
        self.schema_ok = False

    # -- reporting -----------------------------------------------------------------------

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)
        if len(self.problems) >= MAX_PROBLEMS:
            raise _TooMany

    def err(self, code: str, zh: str, en: str, pointer: str = "", node: str | None = None) -> None:
        self.add(error(code, zh, en, pointer=pointer, node=node))

    def warn(self, code: str, zh: str, en: str, pointer: str = "", node: str | None = None) -> None:
        self.add(warning(code, zh, en, pointer=pointer, node=node))

    # -- the checks ----------------------------------------------------------------------

    def run(self) -> None:
        doc = self.doc
        if not isinstance(doc, dict):
            self.err(
                "flow.not_object",
                f"流程文档必须是 JSON 对象，而不是{_zh_type(doc)}。",
                f"A flow document must be a JSON object, not {_en_type(doc)}.",
            )
            return
        self._check_schema()
        nodes = doc.get("nodes")
        if not isinstance(nodes, dict):
            return
        settings = doc.get("settings") if isinstance(doc.get("settings"), dict) else {}
        self.fallback = settings.get("fallback") if isinstance(settings, dict) else None
        for node_id, node in nodes.items():
            if isinstance(node, dict) and isinstance(node.get("type"), str):
                self._check_node(str(node_id), node)
        self._check_wiring(nodes)
        self._check_settings(settings)
        self._check_graph()
        self._check_references()

    def _check_schema(self) -> None:
        errors = sorted(
            _DOC_VALIDATOR.iter_errors(self.doc), key=lambda e: [str(p) for p in e.absolute_path]
        )
        for err in errors:
            pointer = _pointer(err.absolute_path)
            node = _node_of(pointer)
            zh, en = _schema_message(err, self.doc)
            self.err(f"schema.{err.validator}", zh, en, pointer, node)
        self.schema_ok = not errors

    def _check_node(self, node_id: str, node: dict[str, Any]) -> None:
        base = f"/nodes/{escape_pointer(node_id)}"
        type_name = node["type"]
        cls = self.registry.get(type_name)
        if cls is None:
            near = difflib.get_close_matches(type_name, [c.type for c in self.registry], n=1)
            hint_zh = f"（是否想用 {near[0]}？）" if near else ""
            hint_en = f" (did you mean {near[0]}?)" if near else ""
            self.err(
                "node.unknown_type",
                f"未知的节点类型 “{type_name}”{hint_zh}。请安装提供它的插件，或换成已安装的类型。",
                f"Unknown node type '{type_name}'{hint_en}. Install the plugin that provides "
                "it, or use an installed type.",
                f"{base}/type",
                node_id,
            )
            return
        version = node.get("version", 1)
        config = node.get("config", {})
        if not isinstance(version, int) or isinstance(version, bool):
            version = cls.version
        if not isinstance(config, dict):
            return  # the document schema already reported it
        if version > cls.version:
            self.err(
                "node.version_too_new",
                f"节点需要 {type_name} 第 {version} 版，但已安装的是第 {cls.version} 版。"
                "请升级插件。",
                f"The node needs {type_name} version {version}, but version {cls.version} is "
                "installed. Upgrade the plugin.",
                f"{base}/version",
                node_id,
            )
            return
        if version < cls.version:
            try:
                config = cls.migrate(dict(config), version)
            except Exception as exc:
                self.err(
                    "node.migration_failed",
                    f"无法把 {type_name} 的配置从第 {version} 版升级到第 {cls.version} 版：{exc}",
                    f"Cannot upgrade the {type_name} config from version {version} to "
                    f"{cls.version}: {exc}",
                    f"{base}/config",
                    node_id,
                )
                return
        config_ok = True
        for rel, message in cls.config_errors(config):
            config_ok = False
            self.err(
                "config.invalid",
                f"配置项 {rel or '/'} 无效：{_zh_config_message(message)}",
                f"Config {rel or '/'} is invalid: {message}",
                f"{base}/config{rel}",
                node_id,
            )
        exits_doc = node.get("exits", {})
        wired = (
            {str(k): v for k, v in exits_doc.items() if isinstance(v, str)}
            if isinstance(exits_doc, dict)
            else {}
        )
        declared: tuple[str, ...] = ()
        refs: list[Reference] = []
        if config_ok:
            config = cls.with_defaults(config)
            for issue in cls.check_config(config):
                add = self.err if issue.severity == "error" else self.warn
                add(
                    issue.code,
                    issue.message_zh,
                    issue.message_en,
                    f"{base}/config{issue.pointer}",
                    node_id,
                )
            try:
                declared = tuple(cls.exits_for(config))
                refs = cls.references(config)
            except Exception as exc:
                self.err(
                    "node.plugin_failed",
                    f"节点类型 {type_name} 无法根据配置计算出口：{type(exc).__name__}: {exc}",
                    f"Node type {type_name} failed to compute its exits from the config: "
                    f"{type(exc).__name__}: {exc}",
                    f"{base}/config",
                    node_id,
                )
                config_ok = False
        label = node.get("label", "") if isinstance(node.get("label"), str) else ""
        self.nodes[node_id] = _NodeInfo(
            node_id, cls, version, config, config_ok, declared, wired, label, refs
        )

    def _check_wiring(self, nodes: Mapping[str, Any]) -> None:
        starts = [n for n in self.nodes.values() if n.cls.type == START_TYPE]
        if not starts and not any(
            isinstance(v, dict) and v.get("type") == START_TYPE for v in nodes.values()
        ):
            self.err(
                "flow.no_start",
                f"流程没有开始节点：请添加一个 “{START_TYPE}” 节点。",
                f"The flow has no start node: add a '{START_TYPE}' node.",
                "/nodes",
            )
        for extra in starts[1:]:
            self.err(
                "flow.many_starts",
                f"流程只能有一个开始节点；{starts[0].id} 已是开始节点。",
                f"A flow has exactly one start node; {starts[0].id} is already the start.",
                f"/nodes/{escape_pointer(extra.id)}",
                extra.id,
            )
        has_fallback = isinstance(self.fallback, str) and self.fallback in nodes
        for info in self.nodes.values():
            base = f"/nodes/{escape_pointer(info.id)}/exits"
            for name, target in info.wired.items():
                ptr = f"{base}/{escape_pointer(name)}"
                if target not in nodes:
                    self.err(
                        "exit.unknown_target",
                        f"出口 “{name}” 指向不存在的节点 “{target}”。",
                        f"Exit '{name}' points to node '{target}', which does not exist.",
                        ptr,
                        info.id,
                    )
                if info.config_ok and name not in info.declared_exits:
                    self.warn(
                        "exit.undeclared",
                        f"“{name}” 不是此节点的出口（可能是删除的菜单按键），这条连线不会被使用。",
                        f"'{name}' is not an exit of this node (perhaps a removed menu key); "
                        "this connection is never used.",
                        ptr,
                        info.id,
                    )
            if not info.config_ok:
                continue
            if not info.declared_exits and not info.cls.terminal:
                self.err(
                    "node.dead_end",
                    "此节点没有任何出口，通话会停在这里。请检查配置（例如菜单至少要有一个按键）。",
                    "This node has no exits, so calls would stop here. Check its config (a menu "
                    "needs at least one key).",
                    f"/nodes/{escape_pointer(info.id)}",
                    info.id,
                )
            for name in info.declared_exits:
                if name in info.wired:
                    continue
                if name in info.cls.optional_exits:
                    if not has_fallback:
                        self.err(
                            "exit.unwired",
                            f"出口 “{_exit_zh(info, name)}” 没有连线，且流程没有设置兜底节点："
                            "请连线，或在流程设置中指定兜底节点。",
                            f"Exit '{name}' is not connected and the flow has no fallback node: "
                            "connect it, or set a fallback node in the flow settings.",
                            f"{base}/{escape_pointer(name)}",
                            info.id,
                        )
                    continue
                self.err(
                    "exit.unwired",
                    f"出口 “{_exit_zh(info, name)}” 没有连线。",
                    f"Exit '{name}' is not connected.",
                    f"{base}/{escape_pointer(name)}",
                    info.id,
                )

    def _check_settings(self, settings: Mapping[str, Any]) -> None:
        fallback = settings.get("fallback")
        nodes = self.doc.get("nodes", {})
        if isinstance(fallback, str) and fallback not in nodes:
            self.err(
                "settings.fallback_missing",
                f"兜底节点 “{fallback}” 不存在。",
                f"The fallback node '{fallback}' does not exist.",
                "/settings/fallback",
            )
        elif fallback is None and nodes:
            self.warn(
                "settings.no_fallback",
                "流程没有兜底节点：节点出错时通话将被礼貌地挂断。建议设置一个“系统繁忙，转人工”的兜底节点。",
                "The flow has no fallback node: when a node fails the call is ended. Consider "
                "a 'system busy, transferring you to an agent' fallback.",
                "/settings",
            )
        tz = settings.get("timezone")
        if isinstance(tz, str):
            try:
                zone(tz)
            except ValueError:
                self.err(
                    "settings.timezone",
                    f"未知的时区 “{tz}”（例如 Asia/Shanghai）。",
                    f"Unknown time zone '{tz}' (e.g. Asia/Shanghai).",
                    "/settings/timezone",
                )

    def _graph(self) -> nx.DiGraph:
        graph = nx.DiGraph()
        graph.add_nodes_from(self.nodes)
        for info in self.nodes.values():
            for name, target in info.wired.items():
                if target in self.nodes and (not info.config_ok or name in info.declared_exits):
                    graph.add_edge(info.id, target)
        return graph

    def _check_graph(self) -> None:
        if not self.nodes:
            return
        graph = self._graph()
        roots = [n.id for n in self.nodes.values() if n.cls.type == START_TYPE]
        if isinstance(self.fallback, str) and self.fallback in self.nodes:
            roots.append(self.fallback)
        reachable: set[str] = set()
        for root in roots:
            reachable |= {root} | nx.descendants(graph, root)
        if roots:
            for node_id in self.nodes:
                if node_id not in reachable:
                    self.warn(
                        "node.unreachable",
                        "没有任何路径能到达此节点（从开始节点或兜底节点出发）。",
                        "No path reaches this node (from the start or the fallback node).",
                        f"/nodes/{escape_pointer(node_id)}",
                        node_id,
                    )
        # Loops in which nothing waits for the caller or counts passes.
        free = [
            n.id for n in self.nodes.values() if not (n.cls.waits_for_input or n.cls.bounds_loops)
        ]
        sub = graph.subgraph(free)
        for component in nx.strongly_connected_components(sub):
            if len(component) == 1:
                only = next(iter(component))
                if not sub.has_edge(only, only):
                    continue
            cycle = [u for u, _ in nx.find_cycle(sub.subgraph(component))]
            first = min(cycle)
            k = cycle.index(first)
            cycle = cycle[k:] + cycle[:k]
            path = " → ".join([*cycle, cycle[0]])
            self.err(
                "flow.loop_without_input",
                f"死循环：{path}。环路中没有等待来电者按键的节点，也没有计数器。"
                "请加入菜单/收号节点，或用计数器（core.counter）限制次数。",
                f"Endless loop: {path}. No node in it waits for the caller or counts passes. "
                "Add a menu/collect node, or limit it with a counter (core.counter).",
                f"/nodes/{escape_pointer(first)}",
                first,
            )
        # Nodes from which the call can never end.
        ends = {n.id for n in self.nodes.values() if n.cls.terminal}
        can_end: set[str] = set(ends)
        for end in ends:
            can_end |= nx.ancestors(graph, end)
        for node_id in sorted(reachable - can_end):
            info = self.nodes.get(node_id)
            if info is None or not info.config_ok or not info.declared_exits:
                continue
            if all(t in self.nodes for t in info.wired.values()) and all(
                e in info.wired or e in info.cls.optional_exits for e in info.declared_exits
            ):
                self.warn(
                    "node.no_way_out",
                    "从此节点出发的任何路径都不会结束通话（挂机或返回）：来电者只能自己挂机。",
                    "No path from this node ever ends the call (hang up or return): the "
                    "caller can only leave by hanging up.",
                    f"/nodes/{escape_pointer(node_id)}",
                    node_id,
                )

    def _check_references(self) -> None:
        doc = self.doc
        variables = doc.get("variables") if isinstance(doc.get("variables"), dict) else {}
        prompts = doc.get("prompts") if isinstance(doc.get("prompts"), dict) else {}
        languages = [
            lang for lang in (doc.get("languages") or ["zh-CN"]) if isinstance(lang, str)
        ] or ["zh-CN"]
        catalogue = self.catalogue or FlowPromptCatalogue(prompts)
        written: dict[str, str] = {}
        reads: list[tuple[str, str, str]] = []  # (variable, node, pointer)
        for info in self.nodes.values():
            base = f"/nodes/{escape_pointer(info.id)}/config"
            for ref in info.refs:
                ptr = base + ref.pointer
                if ref.kind == "variable-out" and isinstance(ref.value, str):
                    if ref.value in SYSTEM_VARIABLES:
                        self.err(
                            "variable.read_only",
                            f"变量 “{ref.value}” 由系统设置，节点不能写入。",
                            f"Variable '{ref.value}' is set by the runtime; nodes cannot write it.",
                            ptr,
                            info.id,
                        )
                    written.setdefault(ref.value, info.id)
                    if ref.value not in variables and ref.value not in SYSTEM_VARIABLES:
                        self.warn(
                            "variable.undeclared",
                            f"变量 “{ref.value}” 未在流程变量中声明"
                            "（无法设置类型、默认值或保密）。",
                            f"Variable '{ref.value}' is not declared in the flow's variables "
                            "(so it has no type, default or secret flag).",
                            ptr,
                            info.id,
                        )
                elif ref.kind == "variable-in" and isinstance(ref.value, str):
                    reads.append((ref.value, info.id, ptr))
                elif ref.kind == "template" and isinstance(ref.value, str):
                    reads.extend((name, info.id, ptr) for name in variables_in(ref.value))
                elif ref.kind == "expression" and isinstance(ref.value, str):
                    try:
                        expr = parse(ref.value)
                    except ExpressionSyntaxError as exc:
                        self.err(
                            "expression.syntax",
                            f"表达式有误：{exc.message_zh}（第 {exc.column} 列）：{ref.value}",
                            f"Expression error: {exc.message_en} (column {exc.column}): "
                            f"{ref.value}",
                            ptr,
                            info.id,
                        )
                        continue
                    reads.extend((name, info.id, ptr) for name in expr.variables)
                elif ref.kind == "prompt" and isinstance(ref.value, str):
                    self._check_prompt(catalogue, languages, ref.value, ptr, info.id)
                elif ref.kind == "flow" and isinstance(ref.value, str):
                    self._check_subflow(ref.value, ptr, info)
        reported: set[str] = set()
        for name, node_id, ptr in reads:
            if name in SYSTEM_VARIABLES or name in written or name in reported:
                continue
            spec = variables.get(name)
            if isinstance(spec, dict) and spec.get("default") is not None:
                continue
            reported.add(name)
            what_zh = "已声明但没有默认值，" if isinstance(spec, dict) else "未声明，"
            what_en = (
                "is declared without a default and"
                if isinstance(spec, dict)
                else ("is not declared and")
            )
            self.warn(
                "variable.never_set",
                f"读取了变量 “{name}”，但它{what_zh}也没有任何节点给它赋值（值将为空）。",
                f"Variable '{name}' is read but {what_en} no node sets it (it will be empty).",
                ptr,
                node_id,
            )

    def _check_prompt(
        self,
        catalogue: PromptCatalogue,
        languages: list[str],
        prompt_id: str,
        ptr: str,
        node_id: str,
    ) -> None:
        for i, language in enumerate(languages):
            if catalogue.status(prompt_id, language) is not PromptStatus.MISSING:
                continue
            if i == 0:
                self.err(
                    "prompt.missing",
                    f"语音提示 “{prompt_id}” 不存在（{language}）：请在流程的提示列表中添加它"
                    "（附上文稿），或上传录音。",
                    f"Prompt '{prompt_id}' does not exist ({language}): add it to the flow's "
                    "prompts (with its script text) or upload a recording.",
                    ptr,
                    node_id,
                )
                return
            self.warn(
                "prompt.missing_language",
                f"语音提示 “{prompt_id}” 缺少 {language} 版本。",
                f"Prompt '{prompt_id}' has no {language} version.",
                ptr,
                node_id,
            )

    def _check_subflow(self, flow_id: str, ptr: str, info: _NodeInfo) -> None:
        node_id = info.id
        own_id = self.doc.get("id")
        if flow_id == own_id:
            self.err(
                "subflow.cycle",
                "子流程不能调用自身。",
                "A flow cannot call itself as a sub-flow.",
                ptr,
                node_id,
            )
            return
        if self.library is None:
            return
        if not self.library.exists(flow_id):
            self.err(
                "subflow.missing",
                f"子流程 “{flow_id}” 不存在。",
                f"Sub-flow '{flow_id}' does not exist.",
                ptr,
                node_id,
            )
            return
        chain = _subflow_chain(self.library, flow_id, own_id)
        if chain:
            path = " → ".join([str(own_id), *chain])
            self.err(
                "subflow.cycle",
                f"子流程互相调用形成循环：{path}。",
                f"Sub-flows call each other in a circle: {path}.",
                ptr,
                node_id,
            )
            return
        child = self.library.get(flow_id)
        if child is None:
            self.err(
                "subflow.invalid",
                f"子流程 “{flow_id}” 存在但有错误，无法运行：请先修正它。",
                f"Sub-flow '{flow_id}' exists but has errors and cannot run: fix it first.",
                ptr,
                node_id,
            )
            return
        returns = {spec.cls.outcome(spec.config) for spec in child.nodes.values()} - {None}
        handled = set(info.declared_exits) - {"error"}
        for outcome in sorted(returns - handled):
            self.warn(
                "subflow.unhandled_outcome",
                f"子流程 “{flow_id}” 可能返回 “{outcome}”，但此节点没有这个出口（将走“出错”出口）。"
                "请在“结果”中加上它。",
                f"Sub-flow '{flow_id}' can return '{outcome}', but this node has no such exit "
                "(the call would take 'error'). Add it to the outcomes.",
                ptr,
                node_id,
            )
        for outcome in sorted(handled - returns) if returns else ():
            self.warn(
                "subflow.outcome_never_returned",
                f"子流程 “{flow_id}” 从不返回 “{outcome}”：这个出口永远不会被使用。",
                f"Sub-flow '{flow_id}' never returns '{outcome}': this exit is never used.",
                ptr,
                node_id,
            )

    # -- result --------------------------------------------------------------------------

    def build(self) -> Flow | None:
        doc = self.doc
        if not isinstance(doc, dict) or not self.schema_ok:
            return None
        start = next((n.id for n in self.nodes.values() if n.cls.type == START_TYPE), None)
        if start is None:
            return None
        specs = {
            info.id: NodeSpec(
                id=info.id,
                type=info.cls.type,
                version=info.cls.version,
                cls=info.cls,
                config=info.config,
                exits={k: v for k, v in info.wired.items() if k in info.declared_exits},
                declared_exits=info.declared_exits,
                label=info.label,
            )
            for info in self.nodes.values()
        }
        variables = {
            name: VariableSpec(
                name,
                spec.get("type", "string"),
                spec.get("default"),
                bool(spec.get("secret", False)),
                spec.get("description", ""),
            )
            for name, spec in (doc.get("variables") or {}).items()
        }
        return Flow(
            id=doc["id"],
            name=doc["name"],
            nodes=specs,
            start=start,
            languages=tuple(doc.get("languages") or ("zh-CN",)),
            variables=variables,
            prompts=doc.get("prompts") or {},
            settings=Settings.from_json(doc.get("settings")),
            document=doc,
        )


def _subflow_chain(library: FlowLibrary, start: str, target: Any) -> list[str] | None:
    """A chain of sub-flow calls from ``start`` that leads back to ``target``, if any."""
    seen: set[str] = set()
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    while stack:
        flow_id, path = stack.pop()
        if flow_id in seen:
            continue
        seen.add(flow_id)
        children = getattr(library, "subflows_of", None)
        for child in children(flow_id) if children else ():
            if child == target:
                return [*path, child]
            stack.append((child, [*path, child]))
    return None


# -- messages ----------------------------------------------------------------------------


def _pointer(path: Iterable[Any]) -> str:
    return "".join("/" + escape_pointer(str(p)) for p in path)


def _node_of(pointer: str) -> str | None:
    if pointer.startswith("/nodes/"):
        token = pointer.split("/")[2]
        return token.replace("~1", "/").replace("~0", "~")
    return None


_ZH_TYPES = {
    "object": "对象",
    "array": "数组",
    "string": "字符串",
    "integer": "整数",
    "number": "数字",
    "boolean": "布尔值",
    "null": "空值",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _zh_type(value: Any) -> str:
    return _ZH_TYPES[_json_type(value)]


def _en_type(value: Any) -> str:
    return {"array": "an array", "integer": "an integer", "object": "an object"}.get(
        _json_type(value), "a " + _json_type(value)
    )


def _schema_message(err: ValidationError, doc: Any) -> tuple[str, str]:
    kw = err.validator
    where = _pointer(err.absolute_path) or "/"
    if kw == "maxProperties" and where == "/nodes":
        n = len(err.instance) if isinstance(err.instance, dict) else 0
        return (
            f"流程有 {n:,} 个节点，超过上限 {err.validator_value:,} 个。请拆分为子流程。",
            f"The flow has {n:,} nodes, more than the limit of {err.validator_value:,}. "
            "Split it into sub-flows.",
        )
    if kw == "required":
        missing = [p for p in err.validator_value if p not in (err.instance or {})]
        names = ", ".join(missing)
        return f"{where} 缺少必填字段：{names}。", f"{where} is missing required field(s): {names}."
    if kw == "type":
        want = (
            err.validator_value
            if isinstance(err.validator_value, str)
            else "/".join(err.validator_value)
        )
        want_zh = "或".join(_ZH_TYPES.get(w, w) for w in want.split("/"))
        return (
            f"{where} 应为{want_zh}，实际是{_zh_type(err.instance)}。",
            f"{where} must be of type {want}, not {_json_type(err.instance)}.",
        )
    if kw == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        names = ", ".join(extra)
        return f"{where} 有未知字段：{names}。", f"{where} has unknown field(s): {names}."
    if kw == "const":
        return (
            f"{where} 必须是 {err.validator_value!r}。",
            f"{where} must be {err.validator_value!r}.",
        )
    if kw == "pattern":
        if "propertyNames" in err.schema_path:
            return (
                f"{where} 中的名称 “{err.instance}” 不合法（格式：{err.validator_value}）。",
                f"{where}: the name '{err.instance}' is not allowed "
                f"(format: {err.validator_value}).",
            )
        return (
            f"{where} 的值 “{err.instance}” 格式不正确（格式：{err.validator_value}）。",
            f"{where}: the value '{err.instance}' has the wrong format "
            f"(format: {err.validator_value}).",
        )
    if kw == "anyOf":
        shown = (
            err.instance if not isinstance(err.instance, dict | list) else _json_type(err.instance)
        )
        return (
            f"{where} 的值 {shown!r} 无效。",
            f"{where}: {shown!r} is not a valid value.",
        )
    return f"{where}：{_zh_config_message(err.message)}", f"{where}: {err.message}"


def _zh_config_message(message: str) -> str:
    replacements = [
        (" is a required property", " 是必填项"),
        (" is not of type ", " 的类型应为 "),
        (" is not one of ", " 不是可选值之一："),
        (" is too long", " 太长"),
        (" is too short", " 太短"),
        (" is greater than the maximum of ", " 大于最大值 "),
        (" is less than the minimum of ", " 小于最小值 "),
        (" does not match ", " 格式不符合 "),
        ("Additional properties are not allowed", "不允许的额外字段"),
        (" should be non-empty", " 不能为空"),
        (" has non-unique elements", " 有重复项"),
    ]
    for en, zh in replacements:
        message = message.replace(en, zh)
    return message


def _exit_zh(info: _NodeInfo, name: str) -> str:
    title = info.cls.exit_title(name, info.config)
    return title["zh"] if title["zh"] == name else f"{name}（{title['zh']}）"
