"""Flow libraries: where sub-flows are found.

:class:`DirectoryLibrary` serves the CLI: every ``*.json`` flow in a folder, indexed by its
``id``. Flows are validated on first use and cached; one that has errors is reported as not
runnable (``get`` returns None) while ``exists`` still says it is there.
"""

from __future__ import annotations

from pathlib import Path

from nodes.registry import Registry, default_registry
from runtime.document import UnusableFlow, load_flow_file
from runtime.flow import Flow

__all__ = ["DirectoryLibrary", "MemoryLibrary"]


def _subflow_ids(document: object, registry: Registry) -> list[str]:
    """Ids of the flows a document calls (``x-ivrflow: flow`` references)."""
    out: list[str] = []
    if not isinstance(document, dict) or not isinstance(document.get("nodes"), dict):
        return out
    for node in document["nodes"].values():
        if not isinstance(node, dict):
            continue
        cls = registry.get(str(node.get("type")))
        config = node.get("config")
        if cls is None or not isinstance(config, dict):
            continue
        try:
            refs = cls.references(cls.with_defaults(config))
        except Exception:
            continue
        out.extend(r.value for r in refs if r.kind == "flow" and isinstance(r.value, str))
    return out


class MemoryLibrary:
    """Flows held in memory, by id (tests, the designer's drafts)."""

    def __init__(self, documents: dict[str, dict] | None = None, registry: Registry | None = None):
        self.documents: dict[str, dict] = dict(documents or {})
        self.registry = registry
        self._cache: dict[str, Flow | None] = {}
        self._loading: set[str] = set()

    def add(self, document: dict) -> None:
        self.documents[document["id"]] = document
        self._cache.clear()

    def exists(self, flow_id: str) -> bool:
        return flow_id in self.documents

    def subflows_of(self, flow_id: str) -> list[str]:
        return _subflow_ids(self.documents.get(flow_id), self.registry or default_registry())

    def get(self, flow_id: str) -> Flow | None:
        if flow_id in self._cache:
            return self._cache[flow_id]
        document = self.documents.get(flow_id)
        if document is None or flow_id in self._loading:
            return None
        from runtime.validate import validate

        self._loading.add(flow_id)
        try:
            flow = validate(document, registry=self.registry, library=self).flow
        finally:
            self._loading.discard(flow_id)
        self._cache[flow_id] = flow
        return flow


class DirectoryLibrary(MemoryLibrary):
    """Every readable ``*.json`` flow document in a folder, by its ``id``."""

    def __init__(self, folder: str | Path, registry: Registry | None = None) -> None:
        super().__init__({}, registry)
        self.folder = Path(folder)
        self.paths: dict[str, Path] = {}
        for path in sorted(self.folder.glob("*.json")):
            try:
                data = load_flow_file(path).data
            except UnusableFlow:
                continue
            if isinstance(data, dict) and isinstance(data.get("id"), str):
                self.documents.setdefault(data["id"], data)
                self.paths.setdefault(data["id"], path)
