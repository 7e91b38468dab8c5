"""The registry: built-ins listed explicitly, plugins through the ``ivrflow.nodes`` entry-point
group, nothing dropped silently."""

from __future__ import annotations

import sys
import textwrap

import pytest

from nodes.core import BUILTIN_NODES
from nodes.registry import BUILTIN, Registry, load_registry


def test_every_builtin_is_registered_once():
    registry = load_registry(include_entry_points=False)
    assert len(registry) == len(BUILTIN_NODES) == 17
    assert registry.problems == []
    assert {cls.type for cls in registry} >= {"core.start", "core.menu", "core.http"}
    for cls in registry:
        assert registry.providers[cls.type] == BUILTIN
        assert cls.type.startswith("core.")


def test_duplicate_type_names_both_providers():
    registry = Registry()
    first, *_ = BUILTIN_NODES

    class Impostor(first):  # same type, different class
        pass

    assert registry.register(first)
    assert not registry.register(Impostor, "evil-plugin 1.0")
    [problem] = registry.problems
    assert problem.code == "duplicate_type"
    assert BUILTIN in problem.message_en and "evil-plugin 1.0" in problem.message_en
    assert registry.get(first.type) is first


def test_not_a_node_is_reported():
    registry = Registry()
    assert not registry.register(object, "odd-plugin")
    assert registry.problems[0].code == "plugin_not_a_node"


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch):
    """Install two tiny plugin distributions on sys.path (as pip would: a module plus a
    .dist-info with entry_points.txt): one good, one that fails to import."""
    (tmp_path / "acme_nodes.py").write_text(
        textwrap.dedent(
            """
            from nodes.api import Node

            class Greet(Node):
                type = "acme.greet"
                title = {"zh": "问候", "en": "Greet"}
                description = {"zh": "问候", "en": "Greet"}
                exits = ("next",)

                async def run(self, call, config):
                    return "next"

            class Bye(Node):
                type = "acme.bye"
                title = {"zh": "再见", "en": "Bye"}
                description = {"zh": "再见", "en": "Bye"}
                terminal = True

                async def run(self, call, config):
                    await call.hangup()

            NODES = [Greet, Bye]
            """
        )
    )
    (tmp_path / "broken_nodes.py").write_text("import does_not_exist_anywhere\n")
    for name, module, value in (
        ("acme-nodes", "acme_nodes", "acme_nodes:NODES"),
        ("broken-nodes", "broken_nodes", "broken_nodes:Thing"),
    ):
        info = tmp_path / f"{name.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[ivrflow.nodes]\n{module} = {value}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for mod in ("acme_nodes", "broken_nodes"):
        sys.modules.pop(mod, None)


def test_entry_point_plugins_load_and_failures_are_reported(plugin_dist):
    registry = load_registry()
    assert registry.get("acme.greet") is not None
    assert registry.get("acme.bye") is not None
    assert "acme-nodes 1.0" in registry.providers["acme.greet"]
    failed = [p for p in registry.problems if p.code == "plugin_import_failed"]
    assert len(failed) == 1
    assert "broken-nodes 1.0" in failed[0].provider
    assert "does_not_exist_anywhere" in failed[0].message_en
    assert "ModuleNotFoundError" in failed[0].detail
    # the built-ins are all still there
    assert all(registry.get(cls.type) is cls for cls in BUILTIN_NODES)


def test_cli_nodes_lists_plugins_and_reports_broken_ones(plugin_dist, capsys):
    from nodes.registry import default_registry
    from runtime.cli import main

    default_registry.cache_clear()
    try:
        code = main(["nodes", "--lang", "en"])
    finally:
        default_registry.cache_clear()
    out, err = capsys.readouterr()
    assert "acme.greet" in out and "core.menu" in out
    assert "broken-nodes 1.0" in err and "failed to load" in err
    assert code == 1
