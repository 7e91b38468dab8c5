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

As with node types, nothing is dropped silently: a plugin that fails to import or to set up is
reported by name (``Plugins.problems``) while the rest load.
"""

from __future__ import annotations

import logging
import os
import re
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nodes.registry import RegistryProblem

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from starlette.routing import BaseRoute

__all__ = [
    "PLUGIN_GROUP",
    "PLUGIN_NAME_RE",
    "PluginHost",
    "PluginParts",
    "Plugins",
    "SetupFunction",
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


@dataclass(frozen=True)
class PluginParts:
    """What a plugin's setup function returns."""

    resources: Mapping[str, Any] = field(default_factory=dict)
    routes: Sequence[BaseRoute] = ()
    test_resources: Mapping[str, Any] = field(default_factory=dict)
    """Replacements for ``resources`` in test calls (designer, ``ivrflow simulate``)."""
    close: Callable[[], object] | None = None
    """Called once when the process stops (flush queues, stop threads, close sessions)."""


SetupFunction = Callable[[PluginHost], PluginParts]


@dataclass
class Plugins:
    """The plugins set up in this process: merged resources and routes, and problems."""

    names: dict[str, str] = field(default_factory=dict)
    """Plugin name → provider (distribution, version, entry point)."""
    resources: dict[str, Any] = field(default_factory=dict)
    routes: list[BaseRoute] = field(default_factory=list)
    problems: list[RegistryProblem] = field(default_factory=list)
    resource_providers: dict[str, str] = field(default_factory=dict)
    test_resources: dict[str, Any] = field(default_factory=dict)
    closers: list[tuple[str, Callable[[], object]]] = field(default_factory=list)

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
