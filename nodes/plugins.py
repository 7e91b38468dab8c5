"""The plugin host: what an installed plugin contributes besides node types.

Node types arrive through the entry-point group ``ivrflow.nodes`` (:mod:`nodes.registry`).
A plugin that needs something at run time — a database table, a back-end client, its own
designer API — also declares one entry point in the group ``ivrflow.plugins``, naming a
*setup function*; the entry point's name is the plugin's name::

    [project.entry-points."ivrflow.plugins"]
    schedule = "ivrflow_schedule.plugin:setup"

At start-up (``ivrflow serve``, ``ivrflow runtime``, ``ivrflow simulate``, the designer's
workers) ivrflow calls each setup function once with a :class:`PluginHost` and gets back a
:class:`PluginParts`::

    def setup(host: PluginHost) -> PluginParts:
        if host.engine is not None:
            host.migrate("schedule", MIGRATIONS)      # the plugin's own tables
        store = ScheduleStore(host.engine)
        return PluginParts(resources={"schedule": store}, routes=make_routes(store))

* ``resources`` are merged into the mapping nodes see as ``call.resources`` (in calls on
  Asterisk, in the simulator and in the designer's test calls). Keys are the plugin's to
  choose — use the plugin's name (``"schedule"``) or ``"name.something"``; a key two plugins
  both provide is reported and the first one keeps it.
* ``routes`` are Starlette routes added to the designer's API (after ivrflow's own; write
  them with :func:`designer.web.api` so they get sign-in, CSRF, permissions and the OpenAPI
  document like every other endpoint). A process that serves no designer ignores them.
* ``test_resources`` (optional) replace resources in *test calls* — the designer's test-call
  panel and ``ivrflow simulate`` — where a real side effect would surprise someone: e.g. an
  SMS outbox that logs instead of texting a real phone. Calls on Asterisk never see them.
* ``pages`` (optional) are *plugin pages*: described here, drawn by the designer's
  "业务数据 / Business data" section with no frontend code of the plugin's own — a table of
  what a GET of the plugin's API returns, a "新增 / Add" form generated from a JSON Schema,
  buttons for actions on a row (with a confirmation and an optional small form) and query
  filters. See :class:`PluginPage` below; the designer lists to each user only the pages
  (and the forms and buttons) their permissions allow (``GET /api/plugin-pages``). A page id
  two plugins both use is reported and the first one keeps it.
* ``close`` (optional) is called once when the process stops (``Plugins.close``: after the
  runtime has drained its calls): flush background queues, stop worker threads, close HTTP
  sessions. It must return within a few seconds and should be safe to call twice.

The host gives a plugin the database engine (``None`` where there is none: ``ivrflow
simulate`` without ``--database``, unit tests) and the configuration (``environ``: secrets
such as back-end credentials stay out of flow files). Nothing else is shared: a plugin never
imports the runtime's internals, and ivrflow never imports a plugin except through its
entry points.

A plugin's tables are its own: it names them with its prefix and migrates them with its own
alembic revisions and version table (:meth:`PluginHost.migrate`), so it can be installed,
upgraded or removed without touching ivrflow's schema.

A plugin page, e.g. one of the caller lists (the API's own permissions still decide; the
page's only decide what is shown)::

    PluginPage(
        id="lists.block",
        title={"zh": "黑名单", "en": "Block list"},
        description={"zh": "…", "en": "…"},
        permission="flows.read",                      # who sees the page
        list_url="/api/lists/block",                  # GET → JSON
        items_key="entries",                          # the array of rows in it
        columns=[PageColumn("value", {"zh": "号码", "en": "Number"}, kind="code"),
                 PageColumn("expires_at", {"zh": "到期", "en": "Expires"}, kind="datetime")],
        create=PageForm(url="/api/lists/block", permission="entries.manage", schema={
            "type": "object", "required": ["value"],
            "properties": {"value": {"type": "string", "title": "号码 / Number"}}}),
        actions=[PageAction("delete", {"zh": "删除", "en": "Delete"}, method="DELETE",
                            url="/api/lists/block/{id}", permission="entries.manage",
                            confirm={"zh": "删除 {value}？", "en": "Delete {value}?"})],
    )

URLs and confirmations are templates: ``{field}`` is filled from the row (an action) or from
the form's data (a create form whose URL names the record, e.g. ``PUT /api/x/{prefix}``);
in URLs the values are URL-encoded (:func:`fill_template`). Schemas are JSON Schema 2020-12
with ``"中文 / English"`` titles like node config schemas, checked when the page is made.

As with node types, nothing is dropped silently: a plugin that fails to import or to set up is
reported by name (``Plugins.problems``) while the rest load.
"""

from __future__ import annotations

import logging
import os
import re
import traceback
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from nodes.registry import RegistryProblem

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from starlette.routing import BaseRoute

__all__ = [
    "COLUMN_KINDS",
    "PAGE_ID_RE",
    "PLUGIN_GROUP",
    "PLUGIN_NAME_RE",
    "PageAction",
    "PageColumn",
    "PageFilter",
    "PageForm",
    "PluginHost",
    "PluginPage",
    "PluginParts",
    "Plugins",
    "SetupFunction",
    "fill_template",
    "load_plugins",
]

log = logging.getLogger("ivrflow.plugins")

PLUGIN_GROUP = "ivrflow.plugins"
PLUGIN_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True)
class PluginHost:
    """What ivrflow hands a plugin's setup function."""

    engine: Engine | None = None
    """ivrflow's database, already migrated; None when the process has none."""
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    """Configuration, e.g. ``environ.get("IVRFLOW_FUND_URL")``."""

    def migrate(self, plugin: str, script_location: Path | str) -> str | None:
        """Bring the plugin's own tables up to date: run the alembic revisions in
        ``script_location/versions`` with the version table ``alembic_version_<plugin>``.
        Returns the plugin's revision (None without a database)."""
        if self.engine is None:
            return None
        from runtime.store.migrate import migrate_plugin

        return migrate_plugin(self.engine, plugin, script_location)


# -- plugin pages -------------------------------------------------------------------------------
PAGE_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}(\.[a-z0-9_-]{1,32})?$")
"""A page id: the plugin's name, optionally a dot and a name (``lists.block``)."""
COLUMN_KINDS = ("text", "code", "number", "datetime", "status", "boolean")
"""How a column shows its value: as text, as code (monospace), a number, a date and time
(ISO 8601 → the browser's local time), a status pill (``labels`` give its zh/en words) or
yes/no."""
_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")
_METHODS = ("POST", "PUT", "PATCH", "DELETE")

Text = Mapping[str, str]
"""``{"zh": "…", "en": "…"}``."""


def _text(value: Any, what: str, *, required: bool = True) -> None:
    if value is None and not required:
        return
    if (
        not isinstance(value, Mapping)
        or set(value) - {"zh", "en"}
        or not all(isinstance(value.get(k), str) and value.get(k) for k in ("zh", "en"))
    ):
        raise ValueError(f"{what} must be {{'zh': '…', 'en': '…'}}, both non-empty")


def _key(value: Any, what: str) -> None:
    if not isinstance(value, str) or not _KEY_RE.match(value):
        raise ValueError(f"{what} {value!r} must be a name (letters, digits, _; at most 64)")


def _url(value: Any, what: str) -> None:
    if (
        not isinstance(value, str)
        or not value.startswith("/api/")
        or any(c in value for c in " #\\")
    ):
        raise ValueError(f"{what} {value!r} must be a path of the designer API (/api/…)")
    rest = _PLACEHOLDER_RE.sub("", value)
    if "{" in rest or "}" in rest:
        raise ValueError(f"{what} {value!r}: placeholders are {{field}} (a name)")


def _schema(value: Any, what: str, *, object_: bool = True) -> None:
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be a JSON Schema (a mapping)")
    try:
        Draft202012Validator.check_schema(dict(value))
    except SchemaError as exc:
        raise ValueError(f"{what} is not valid JSON Schema 2020-12: {exc.message}") from None
    if object_ and (
        value.get("type") != "object" or not isinstance(value.get("properties"), Mapping)
    ):
        raise ValueError(f"{what} must be an object schema with properties")


def _permission(value: Any, what: str) -> None:
    if not isinstance(value, str) or not re.match(r"^[a-z][a-z_]*\.[a-z_]+$|^simulate$", value):
        raise ValueError(f"{what} {value!r} must be a designer permission, e.g. flows.read")


def fill_template(template: str, values: Mapping[str, Any], *, url: bool = True) -> str:
    """``template`` with each ``{field}`` replaced by ``values[field]`` (URL-encoded when
    ``url``; a missing or None value is empty). The designer's browser does the same."""

    def one(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        text = "" if value is None else str(value)
        return urllib.parse.quote(text, safe="") if url else text

    return _PLACEHOLDER_RE.sub(one, template)


@dataclass(frozen=True)
class PageColumn:
    """One column of a plugin page's table: the row's ``key``, shown as ``kind``."""

    key: str
    title: Text
    kind: str = "text"
    """One of :data:`COLUMN_KINDS`."""
    labels: Mapping[str, Text] = field(default_factory=dict)
    """For ``status`` (or any kind): value → zh/en words shown instead of the value."""

    def __post_init__(self) -> None:
        _key(self.key, "PageColumn.key")
        _text(self.title, f"PageColumn {self.key}: title")
        if self.kind not in COLUMN_KINDS:
            raise ValueError(
                f"PageColumn {self.key}: kind {self.kind!r} is not one of {COLUMN_KINDS}"
            )
        for value, words in self.labels.items():
            _text(words, f"PageColumn {self.key}: label of {value!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": dict(self.title),
            "kind": self.kind,
            "labels": {k: dict(v) for k, v in self.labels.items()},
        }


@dataclass(frozen=True)
class PageForm:
    """The page's "新增 / Add" form: rjsf draws ``schema`` (an object schema, JSON Schema
    2020-12, titles ``"中文 / English"``); its data is sent as the JSON body of ``method
    url`` (``{field}`` in ``url`` filled from the data). Shown to users with ``permission``."""

    url: str
    schema: Mapping[str, Any]
    permission: str
    method: str = "POST"
    title: Text | None = None
    """The button and the form's heading (default 新增 / Add)."""

    def __post_init__(self) -> None:
        _url(self.url, "PageForm.url")
        _schema(self.schema, "PageForm.schema")
        _permission(self.permission, "PageForm.permission")
        if self.method not in ("POST", "PUT", "PATCH"):
            raise ValueError(f"PageForm.method {self.method!r} must be POST, PUT or PATCH")
        _text(self.title, "PageForm.title", required=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "method": self.method,
            "schema": dict(self.schema),
            "permission": self.permission,
            "title": dict(self.title) if self.title else None,
        }


@dataclass(frozen=True)
class PageAction:
    """A button on each row: ``method url`` with ``{field}`` filled (URL-encoded) from the
    row. With ``confirm`` (``{field}`` filled from the row) the user confirms first; with
    ``body_schema`` a small form is sent as the JSON body (``prefill``: starting from the
    row's fields of the same names — an edit form). ``when``: shown only on rows whose field
    has one of the values (e.g. ``{"status": ["failed"]}``). Shown to users with
    ``permission``."""

    id: str
    title: Text
    method: str
    url: str
    permission: str
    confirm: Text | None = None
    body_schema: Mapping[str, Any] | None = None
    when: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    danger: bool = False
    """Drawn as a destructive button (delete, cancel)."""
    prefill: bool = False
    """``body_schema``'s form starts from the row's values (otherwise empty: defaults)."""

    def __post_init__(self) -> None:
        _key(self.id, "PageAction.id")
        _text(self.title, f"PageAction {self.id}: title")
        if self.method not in _METHODS:
            raise ValueError(
                f"PageAction {self.id}: method {self.method!r} is not one of {_METHODS}"
            )
        _url(self.url, f"PageAction {self.id}: url")
        _permission(self.permission, f"PageAction {self.id}: permission")
        _text(self.confirm, f"PageAction {self.id}: confirm", required=False)
        if self.body_schema is not None:
            _schema(self.body_schema, f"PageAction {self.id}: body_schema")
        for key, values in self.when.items():
            _key(key, f"PageAction {self.id}: when")
            if isinstance(values, str) or not isinstance(values, Sequence):
                raise ValueError(f"PageAction {self.id}: when[{key!r}] must be a list of values")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": dict(self.title),
            "method": self.method,
            "url": self.url,
            "permission": self.permission,
            "confirm": dict(self.confirm) if self.confirm else None,
            "body_schema": dict(self.body_schema) if self.body_schema is not None else None,
            "when": {k: list(v) for k, v in self.when.items()},
            "danger": self.danger,
            "prefill": self.prefill,
        }


@dataclass(frozen=True)
class PageFilter:
    """A query parameter of ``list_url`` the user can set above the table. ``schema`` is a
    string schema: ``oneOf`` of ``{"const": v, "title": "中文 / English"}`` (or ``enum``)
    makes a choice, otherwise a text box; its ``default`` is the first value sent. An empty
    value is left out of the query."""

    name: str
    schema: Mapping[str, Any]

    def __post_init__(self) -> None:
        _key(self.name, "PageFilter.name")
        _schema(self.schema, f"PageFilter {self.name}: schema", object_=False)
        if self.schema.get("type", "string") != "string":
            raise ValueError(f"PageFilter {self.name}: a query parameter is a string")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "schema": dict(self.schema)}


@dataclass(frozen=True)
class PluginPage:
    """A page of the designer's "业务数据 / Business data" section, described by a plugin:
    the rows of ``GET list_url`` (``response[items_key]``) in a table of ``columns``, an
    optional ``create`` form, ``actions`` on each row and ``filters`` (query parameters).
    Users without ``permission`` do not see the page; forms and buttons have their own
    permissions. The plugin's API still checks every request itself."""

    id: str
    title: Text
    description: Text
    permission: str
    list_url: str
    items_key: str
    columns: Sequence[PageColumn]
    create: PageForm | None = None
    actions: Sequence[PageAction] = ()
    filters: Sequence[PageFilter] = ()
    row_key: str = "id"
    """The field that identifies a row (React's key; ``prefix`` for the area table)."""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not PAGE_ID_RE.match(self.id):
            raise ValueError(
                f"PluginPage.id {self.id!r} must be the plugin's name, optionally .name "
                "(lower-case, digits, _ and -)"
            )
        _text(self.title, f"PluginPage {self.id}: title")
        _text(self.description, f"PluginPage {self.id}: description")
        _permission(self.permission, f"PluginPage {self.id}: permission")
        _url(self.list_url, f"PluginPage {self.id}: list_url")
        if _PLACEHOLDER_RE.search(self.list_url):
            raise ValueError(f"PluginPage {self.id}: list_url has no placeholders")
        _key(self.items_key, f"PluginPage {self.id}: items_key")
        _key(self.row_key, f"PluginPage {self.id}: row_key")
        if not self.columns:
            raise ValueError(f"PluginPage {self.id}: at least one column")
        for kind, items, attr in (
            (PageColumn, self.columns, "key"),
            (PageAction, self.actions, "id"),
            (PageFilter, self.filters, "name"),
        ):
            names = []
            for item in items:
                if not isinstance(item, kind):
                    raise ValueError(f"PluginPage {self.id}: {item!r} is not a {kind.__name__}")
                names.append(getattr(item, attr))
            if len(names) != len(set(names)):
                raise ValueError(f"PluginPage {self.id}: two {kind.__name__}s named alike: {names}")
        if self.create is not None and not isinstance(self.create, PageForm):
            raise ValueError(f"PluginPage {self.id}: create must be a PageForm")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": dict(self.title),
            "description": dict(self.description),
            "permission": self.permission,
            "list_url": self.list_url,
            "items_key": self.items_key,
            "row_key": self.row_key,
            "columns": [c.to_json() for c in self.columns],
            "create": self.create.to_json() if self.create else None,
            "actions": [a.to_json() for a in self.actions],
            "filters": [f.to_json() for f in self.filters],
        }


@dataclass(frozen=True)
class PluginParts:
    """What a plugin's setup function returns."""

    resources: Mapping[str, Any] = field(default_factory=dict)
    routes: Sequence[BaseRoute] = ()
    test_resources: Mapping[str, Any] = field(default_factory=dict)
    """Replacements for ``resources`` in test calls (designer, ``ivrflow simulate``)."""
    close: Callable[[], object] | None = None
    """Called once when the process stops (flush queues, stop threads, close sessions)."""
    pages: Sequence[PluginPage] = ()
    """Pages of the designer's "业务数据 / Business data" section (:class:`PluginPage`)."""


SetupFunction = Callable[[PluginHost], PluginParts]


@dataclass
class Plugins:
    """The plugins set up in this process: merged resources, routes and pages, and problems."""

    names: dict[str, str] = field(default_factory=dict)
    """Plugin name → provider (distribution, version, entry point)."""
    resources: dict[str, Any] = field(default_factory=dict)
    routes: list[BaseRoute] = field(default_factory=list)
    problems: list[RegistryProblem] = field(default_factory=list)
    resource_providers: dict[str, str] = field(default_factory=dict)
    test_resources: dict[str, Any] = field(default_factory=dict)
    closers: list[tuple[str, Callable[[], object]]] = field(default_factory=list)
    pages: list[PluginPage] = field(default_factory=list)
    """Every plugin's pages, in the order the plugins were set up."""
    page_providers: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, provider: str, setup: Any, host: PluginHost) -> bool:
        """Set one plugin up; a failure is recorded, never raised."""
        if not PLUGIN_NAME_RE.match(name):
            return self._problem(
                "plugin_bad_name",
                provider,
                f"插件名 {name!r} 无效：须为小写字母开头的字母、数字或下划线（最多 32 个）。",
                f"Plugin name {name!r} is invalid: lower-case letters, digits and underscores, "
                "starting with a letter (at most 32).",
            )
        if name in self.names:
            return self._problem(
                "plugin_duplicate",
                provider,
                f"插件 {name} 重复：{self.names[name]} 与 {provider} 都提供了它；"
                f"使用 {self.names[name]}。",
                f"Plugin {name} is provided twice: by {self.names[name]} and by {provider}; "
                f"the one from {self.names[name]} is used.",
            )
        if not callable(setup):
            return self._problem(
                "plugin_not_setup",
                provider,
                f"插件 {provider} 提供的 {setup!r} 不是 setup(host) 函数。",
                f"Plugin {provider} provides {setup!r}, which is not a setup(host) function.",
            )
        try:
            parts = setup(host)
            if not isinstance(parts, PluginParts):
                raise TypeError(f"setup returned {type(parts).__name__}, not PluginParts")
            if not isinstance(parts.resources, Mapping):
                raise TypeError("PluginParts.resources must be a mapping (name → resource)")
            routes = list(parts.routes)
            pages = list(parts.pages)
            for page in pages:
                if not isinstance(page, PluginPage):
                    raise TypeError(f"PluginParts.pages holds {page!r}, not a PluginPage")
        except Exception as exc:  # one plugin's failure must not stop the others
            return self._problem(
                "plugin_setup_failed",
                provider,
                f"插件 {provider} 启动失败：{type(exc).__name__}: {exc}",
                f"Plugin {provider} failed to set up: {type(exc).__name__}: {exc}",
                "".join(traceback.format_exception(exc)),
            )
        self.names[name] = provider
        for key, value in parts.resources.items():
            owner = self.resource_providers.get(key)
            if owner is not None:
                self._problem(
                    "plugin_duplicate_resource",
                    provider,
                    f"资源 {key!r} 重复：{owner} 与 {provider} 都提供了它；使用 {owner} 的。",
                    f"Resource {key!r} is provided twice: by {owner} and by {provider}; the one "
                    f"from {owner} is used.",
                )
                continue
            self.resources[key] = value
            self.resource_providers[key] = provider
        for key, value in parts.test_resources.items():
            if self.resource_providers.get(key) == provider:  # only its own resources
                self.test_resources[key] = value
        self.routes.extend(routes)
        for page in pages:
            owner = self.page_providers.get(page.id)
            if owner is not None:
                self._problem(
                    "plugin_duplicate_page",
                    provider,
                    f"页面 {page.id!r} 重复：{owner} 与 {provider} 都提供了它；使用 {owner} 的。",
                    f"Page {page.id!r} is provided twice: by {owner} and by {provider}; the one "
                    f"from {owner} is used.",
                )
                continue
            self.pages.append(page)
            self.page_providers[page.id] = provider
        if parts.close is not None:
            self.closers.append((name, parts.close))
        return True

    def for_test_calls(self) -> dict[str, Any]:
        """The resources of test calls: ``resources`` with the plugins' ``test_resources``."""
        return {**self.resources, **self.test_resources}

    def close(self) -> None:
        """Stop every plugin (their ``close`` hooks, last set up first); a failing hook is
        logged and the others still run. Calling it again does nothing."""
        closers, self.closers = self.closers, []
        for name, close in reversed(closers):
            try:
                close()
            except Exception:
                log.exception("plugin %s failed to close", name)

    def _problem(self, code: str, provider: str, zh: str, en: str, detail: str = "") -> bool:
        self.problems.append(RegistryProblem(code, provider, zh, en, detail))
        return False


def _provider_name(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    origin = f"{dist.name} {dist.version}" if dist is not None else "?"
    return f"{origin} ({ep.name} = {ep.value})"


def load_plugins(
    host: PluginHost | None = None,
    *,
    include_entry_points: bool = True,
    extra: Mapping[str, SetupFunction] | Iterable[tuple[str, SetupFunction]] = (),
) -> Plugins:
    """Set up the installed plugins (entry-point group ``ivrflow.plugins``, in name order)
    and ``extra`` ones (name → setup function; tests) with ``host``."""
    host = host or PluginHost()
    plugins = Plugins()
    items = extra.items() if isinstance(extra, Mapping) else extra
    for name, setup in items:
        plugins.add(name, f"{getattr(setup, '__module__', '?')} ({name})", setup, host)
    if include_entry_points:
        for ep in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
            provider = _provider_name(ep)
            try:
                setup = ep.load()
            except Exception as exc:
                plugins._problem(
                    "plugin_import_failed",
                    provider,
                    f"插件 {provider} 加载失败：{type(exc).__name__}: {exc}",
                    f"Plugin {provider} failed to load: {type(exc).__name__}: {exc}",
                    "".join(traceback.format_exception(exc)),
                )
                continue
            plugins.add(ep.name, provider, setup, host)
    return plugins
