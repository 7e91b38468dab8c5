"""The plugin host (``ivrflow.plugins``): resources and routes merged, failures reported by
name, plugins' own migrations — and the "write your own plugin node" guide
(``plugins/README.md``) followed to the letter: its files become a package, installed through
its entry points, whose node validates and runs in the simulator."""

from __future__ import annotations

import importlib
import re
import shutil
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from sqlalchemy import inspect
from starlette.routing import Route

from nodes.plugins import (
    PLUGIN_GROUP,
    PageAction,
    PageColumn,
    PageFilter,
    PageForm,
    PluginHost,
    PluginPage,
    PluginParts,
    fill_template,
    load_plugins,
)
from nodes.registry import ENTRY_POINT_GROUP, default_registry, load_registry
from runtime.simulator import simulate
from runtime.store.db import make_engine
from runtime.store.migrate import current_revision, head, migrate_plugin, plugin_revision
from runtime.validate import validate

GUIDE = Path(__file__).resolve().parents[2] / "plugins" / "README.md"


async def _hello(request):  # pragma: no cover - never called
    return None


def test_resources_and_routes_are_merged_and_duplicates_reported():
    route = Route("/api/one", _hello)
    seen = []

    def one(host):
        seen.append(host)
        return PluginParts(resources={"one": 1, "shared": "first"}, routes=[route])

    def two(host):
        return PluginParts(resources={"two": 2, "shared": "second"})

    host = PluginHost(engine=None, environ={"X": "y"})
    plugins = load_plugins(host, include_entry_points=False, extra={"one": one, "two": two})
    assert seen == [host]
    assert plugins.resources == {"one": 1, "shared": "first", "two": 2}
    assert plugins.routes == [route]
    [problem] = plugins.problems
    assert problem.code == "plugin_duplicate_resource"
    assert "'shared'" in problem.message_en and "two" in problem.provider


def _page(page_id: str, **kw) -> PluginPage:
    fields = {
        "title": {"zh": "名单", "en": "List"},
        "description": {"zh": "说明", "en": "About"},
        "permission": "flows.read",
        "list_url": "/api/things",
        "items_key": "things",
        "columns": [PageColumn("value", {"zh": "值", "en": "Value"})],
    }
    return PluginPage(id=page_id, **{**fields, **kw})


def test_pages_are_merged_and_a_page_id_used_twice_is_reported():
    one_a, one_b, two = _page("one.a"), _page("one.b"), _page("one.a", items_key="other")
    plugins = load_plugins(
        include_entry_points=False,
        extra={
            "one": lambda host: PluginParts(pages=[one_a, one_b]),
            "two": lambda host: PluginParts(resources={"two": 2}, pages=(two,)),
            "three": lambda host: PluginParts(pages=[{"id": "three"}]),
        },
    )
    assert plugins.pages == [one_a, one_b]  # the first plugin keeps its page
    assert plugins.resources == {"two": 2}  # the rest of "two" is used
    assert list(plugins.names) == ["one", "two"]
    [duplicate, wrong] = plugins.problems
    assert duplicate.code == "plugin_duplicate_page" and "(two)" in duplicate.provider
    assert "'one.a'" in duplicate.message_en and "页面 'one.a' 重复" in duplicate.message_zh
    assert wrong.code == "plugin_setup_failed" and "not a PluginPage" in wrong.message_en


def test_a_page_is_checked_when_it_is_made():
    form = PageForm("/api/things/{key}", {"type": "object", "properties": {}}, "entries.manage")
    action = PageAction(
        "delete",
        {"zh": "删除", "en": "Delete"},
        "DELETE",
        "/api/things/{id}",
        "entries.manage",
        confirm={"zh": "删除 {value}？", "en": "Delete {value}?"},
        when={"status": ["active"]},
    )
    status = PageFilter("status", {"type": "string", "enum": ["", "active"], "default": ""})
    page = _page("things", create=form, actions=[action], filters=[status])
    described = page.to_json()
    assert described["create"]["method"] == "POST" and described["row_key"] == "id"
    assert described["actions"][0]["when"] == {"status": ["active"]}
    assert described["filters"] == [{"name": "status", "schema": dict(status.schema)}]
    mistakes = [
        (lambda: _page("Things"), "PluginPage.id"),
        (lambda: _page("things", list_url="http://elsewhere/x"), "/api/"),
        (lambda: _page("things", list_url="/api/things/{id}"), "no placeholders"),
        (lambda: _page("things", permission="everyone"), "designer permission"),
        (lambda: _page("things", columns=[]), "at least one column"),
        (lambda: PageColumn("v", {"zh": "值"}), "'zh': '…', 'en': '…'"),
        (lambda: PageColumn("v", {"zh": "值", "en": "V"}, kind="money"), "kind 'money'"),
        (lambda: PageForm("/api/x", {"type": "object", "properties": 3}, "x.y"), "2020-12"),
        (lambda: PageForm("/api/x", {"type": "string"}, "x.y"), "object schema"),
        (lambda: PageForm("/api/x", {"type": "object", "properties": {}}, "x.y", "GET"), "POST"),
        (lambda: PageAction("go", {"zh": "去", "en": "Go"}, "GET", "/api/x", "x.y"), "method"),
        (
            lambda: PageAction("go", {"zh": "去", "en": "Go"}, "POST", "/api/x/{a-b}", "x.y"),
            "{field}",
        ),
        (lambda: PageFilter("n", {"type": "integer"}), "a string"),
        (lambda: _page("things", actions=[action, action]), "named alike"),
    ]
    for make, words in mistakes:
        with pytest.raises(ValueError, match=re.escape(words)):
            make()


def test_templates_are_filled_url_encoded():
    row = {"id": 7, "value": "a b/c", "none": None}
    assert fill_template("/api/x/{id}/{value}{none}", row) == "/api/x/7/a%20b%2Fc"
    assert fill_template("删除 {value}？", row, url=False) == "删除 a b/c？"


def test_failing_plugins_are_reported_by_name_and_the_rest_start():
    def boom(host):
        raise ConnectionError("fund system unreachable")

    plugins = load_plugins(
        include_entry_points=False,
        extra=[
            ("boom", boom),
            ("wrong", lambda host: {"resources": {}}),
            ("Bad-Name", lambda host: PluginParts()),
            ("fine", lambda host: PluginParts(resources={"fine": True})),
            ("fine", lambda host: PluginParts(resources={"fine2": True})),
            ("nothing", "not callable"),
        ],
    )
    assert plugins.resources == {"fine": True}
    assert list(plugins.names) == ["fine"]
    codes = [(p.code, p.provider.split(" ")[-1]) for p in plugins.problems]
    assert codes == [
        ("plugin_setup_failed", "(boom)"),
        ("plugin_setup_failed", "(wrong)"),
        ("plugin_bad_name", "(Bad-Name)"),
        ("plugin_duplicate", "(fine)"),
        ("plugin_not_setup", "(nothing)"),
    ]
    assert "fund system unreachable" in plugins.problems[0].message_en
    assert "ConnectionError" in plugins.problems[0].detail
    assert "PluginParts" in plugins.problems[1].message_en


def test_close_hooks_run_once_last_set_up_first_and_a_failure_does_not_stop_the_rest(caplog):
    closed = []

    def broken():
        closed.append("broken")
        raise RuntimeError("queue stuck")

    plugins = load_plugins(
        include_entry_points=False,
        extra=[
            ("first", lambda host: PluginParts(close=lambda: closed.append("first"))),
            ("broken", lambda host: PluginParts(close=broken)),
            ("plain", lambda host: PluginParts()),
            ("last", lambda host: PluginParts(close=lambda: closed.append("last"))),
        ],
    )
    assert plugins.problems == []
    with caplog.at_level("ERROR", logger="ivrflow.plugins"):
        plugins.close()
        plugins.close()  # a second call (e.g. atexit after an orderly stop) does nothing
    assert closed == ["last", "broken", "first"]
    [record] = caplog.records
    assert "broken" in record.getMessage() and "queue stuck" in record.exc_text


def test_test_calls_get_a_plugins_stand_ins_for_its_own_resources_only():
    plugins = load_plugins(
        include_entry_points=False,
        extra=[
            (
                "sms",
                lambda host: PluginParts(resources={"sms": "real"}, test_resources={"sms": "log"}),
            ),
            # a plugin may not replace another plugin's resource in test calls
            ("sneaky", lambda host: PluginParts(test_resources={"sms": "mine"})),
            ("fund", lambda host: PluginParts(resources={"fund": "demo"})),
        ],
    )
    assert plugins.resources == {"sms": "real", "fund": "demo"}
    assert plugins.for_test_calls() == {"sms": "log", "fund": "demo"}


def test_the_default_host_carries_the_environment(monkeypatch):
    monkeypatch.setenv("ACME_URL", "http://127.0.0.1:9/")
    host = PluginHost()
    assert host.engine is None and host.environ["ACME_URL"] == "http://127.0.0.1:9/"
    assert host.migrate("acme", "/nonexistent") is None  # nothing to migrate without a database


def test_a_plugin_migrates_its_own_tables_with_its_own_version_table(tmp_path):
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "acme_0001.py").write_text(
        textwrap.dedent(
            """
            import sqlalchemy as sa
            from alembic import op

            revision = "acme_0001"
            down_revision = None
            branch_labels = None
            depends_on = None


            def upgrade():
                op.create_table("acme_vip", sa.Column("number", sa.String(20), primary_key=True))


            def downgrade():
                op.drop_table("acme_vip")
            """
        )
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        assert plugin_revision(engine, "acme") is None
        assert migrate_plugin(engine, "acme", tmp_path / "migrations") == "acme_0001"
        assert migrate_plugin(engine, "acme", tmp_path / "migrations") == "acme_0001"  # no-op
        tables = set(inspect(engine).get_table_names())
        assert {"acme_vip", "alembic_version_acme", "alembic_version"} <= tables
        assert current_revision(engine) == head()  # ivrflow's own revision is untouched
        with pytest.raises(ValueError, match="plugin name"):
            migrate_plugin(engine, "Acme Corp", tmp_path / "migrations")
    finally:
        engine.dispose()


# -- the guide, followed to the letter ---------------------------------------------------------

_BLOCK = re.compile(r"^```\w+ file=(\S+)( append)?\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def _guide_files() -> dict[str, str]:
    files: dict[str, str] = {}
    for match in _BLOCK.finditer(GUIDE.read_text("utf-8")):
        name, append, body = match.group(1), match.group(2), match.group(3)
        files[name] = files.get(name, "") + body if append else body
    return files


def _install(project: Path, target: Path) -> str:
    """Install ``project`` into ``target`` as a wheel would (``pip install --target``): the
    package, and a ``.dist-info`` with the metadata and the entry points its ``pyproject.toml``
    declares. (pip itself would need network or a wheel build backend to build it; this keeps
    the test offline and fast while reading the very same pyproject.)"""
    meta = tomllib.loads((project / "pyproject.toml").read_text("utf-8"))["project"]
    name, version = meta["name"], meta["version"]
    info = target / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    requires = "".join(f"Requires-Dist: {d}\n" for d in meta.get("dependencies", ()))
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{requires}"
    )
    groups = meta.get("entry-points", {})
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()) + "\n"
            for group, points in groups.items()
        )
    )
    packages = [p for p in project.iterdir() if (p / "__init__.py").exists()]
    for package in packages:
        shutil.copytree(package, target / package.name)
    (info / "top_level.txt").write_text("".join(f"{p.name}\n" for p in packages))
    return name


@pytest.fixture
def guide_plugin(tmp_path, monkeypatch):
    """The guide's plugin, written from its code blocks and installed on sys.path."""
    project = tmp_path / "ivrflow-acme"
    for name, body in _guide_files().items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, "utf-8")
    site = tmp_path / "site"
    _install(project, site)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    default_registry.cache_clear()
    yield project
    default_registry.cache_clear()
    for module in [m for m in sys.modules if m == "ivrflow_acme" or m.startswith("ivrflow_acme.")]:
        del sys.modules[module]


def test_the_guide_has_every_file_it_promises():
    files = _guide_files()
    assert set(files) == {
        "pyproject.toml",
        "ivrflow_acme/__init__.py",
        "ivrflow_acme/vip.py",
        "ivrflow_acme/plugin.py",
        "tests/test_acme_vip.py",
        "flow.json",
    }
    meta = tomllib.loads(files["pyproject.toml"])["project"]
    assert set(meta["entry-points"]) == {ENTRY_POINT_GROUP, PLUGIN_GROUP}


async def test_a_third_party_plugin_installed_through_its_entry_points(guide_plugin, capsys):
    # the registry finds the node through the ivrflow.nodes entry point
    registry = load_registry()
    vip = registry.get("acme.vip")
    assert vip is not None and vip.__module__ == "ivrflow_acme.vip"
    assert registry.providers["acme.vip"] == "ivrflow-acme 0.1.0 (vip = ivrflow_acme.vip:VipCheck)"
    assert not [p for p in registry.problems if "acme" in p.provider]

    # `ivrflow nodes` shows it, with the schema its designer form is drawn from
    from runtime.cli import main

    assert main(["nodes", "--lang", "en"]) in (0, 1)
    out = capsys.readouterr().out
    assert re.search(r"acme\.vip\s+v1\s+VIP check\s+exits: vip, normal", out)
    described = next(n for n in registry.describe() if n["type"] == "acme.vip")
    assert described["config_schema"]["properties"]["numbers"]["title"] == "VIP 号码 / VIP numbers"

    # the plugin's setup (ivrflow.plugins) contributes its resource
    plugins = load_plugins(PluginHost(environ={"ACME_VIP_NUMBERS": "13700000000, 13600000000"}))
    assert "acme" in plugins.names
    assert plugins.resources["acme.vip_numbers"] == {"13700000000", "13600000000"}

    # the guide's flow validates and runs in the simulator
    import json

    flow_doc = json.loads((guide_plugin / "flow.json").read_text("utf-8"))
    result = validate(flow_doc, registry=registry)
    assert result.ok and result.problems == [], [p.message_en for p in result.problems]
    for caller, expected in (
        ("13912345678", "vip_welcome"),  # on the node's own list
        ("13700000000", "vip_welcome"),  # from the plugin's resource
        ("13800138000", "welcome"),
    ):
        trace, channel = await simulate(result.flow, caller=caller, resources=plugins.resources)
        assert [s.node for s in trace.steps] == ["start", "vip", expected, "bye"]
    assert channel.heard[0].text == "您好。"

    # and the guide's own tests pass
    spec = importlib.util.spec_from_file_location(
        "test_acme_vip_from_guide", guide_plugin / "tests" / "test_acme_vip.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tests = [getattr(module, n) for n in dir(module) if n.startswith("test_")]
    assert len(tests) == 3
    for test in tests:
        await test()
