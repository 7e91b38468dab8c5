"""The ``ivrflow`` command line.

ivrflow validate FILE...            check flows (exit 0 valid, 1 invalid, 2 unusable input)
ivrflow schema                      print the flow document's JSON Schema
ivrflow nodes [--json]              list the installed node types
ivrflow simulate FLOW --keys "1 #"  walk a flow with a scripted caller and print the trace
ivrflow serve                       the designer (web) and the runtime (FastAGI) together
ivrflow runtime                     the runtime alone
ivrflow users add NAME --role admin user accounts of the designer
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from nodes.api import CATEGORIES
from nodes.plugins import PluginHost, Plugins, load_plugins
from nodes.registry import Registry, default_registry
from runtime.call import DialStatus, QueueStatus, RecordStatus, VoicemailStatus
from runtime.clock import parse_at
from runtime.document import UnusableFlow, load_flow_file
from runtime.flow import flow_schema
from runtime.library import DirectoryLibrary
from runtime.problems import Problem
from runtime.render import format_trace, pad
from runtime.simulator import InteractiveChannel, ScriptError, SimulatedChannel, simulate
from runtime.validate import ValidationResult, validate_text

__all__ = ["main"]

EXIT_OK, EXIT_INVALID, EXIT_UNUSABLE = 0, 1, 2


def _lang(args: argparse.Namespace) -> str:
    """Message language: ``--lang``, else ``IVRFLOW_LANG``, else Chinese."""
    chosen = getattr(args, "lang", None) or os.environ.get("IVRFLOW_LANG", "zh")
    return "en" if chosen.startswith("en") else "zh"


def _print_problems(problems: Sequence[Problem], source: str, lang: str, out: TextIO) -> None:
    for problem in problems:
        out.write(problem.render(source, lang) + "\n")


def _load_and_validate(
    path: str, registry: Registry
) -> tuple[ValidationResult | None, Problem | None]:
    try:
        text = load_flow_file(path)
    except UnusableFlow as exc:
        return None, exc.problem
    library = DirectoryLibrary(Path(path).resolve().parent, registry)
    return validate_text(text, registry=registry, library=library), None


# -- validate ----------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    registry = default_registry()
    lang = _lang(args)
    worst = EXIT_OK
    report: list[dict[str, Any]] = []
    for path in args.files:
        result, unusable = _load_and_validate(path, registry)
        if unusable is not None:
            worst = max(worst, EXIT_UNUSABLE)
            report.append(
                {"file": path, "ok": False, "unusable": True, "problems": [unusable.to_json()]}
            )
            if not args.json:
                _print_problems([unusable], path, lang, sys.stdout)
            continue
        assert result is not None
        if not result.ok:
            worst = max(worst, EXIT_INVALID)
        report.append({"file": path, "unusable": False, **result.to_json()})
        if not args.json:
            _print_problems(result.problems, path, lang, sys.stdout)
            if lang == "en":
                verdict = "valid" if result.ok else "INVALID"
                print(
                    f"{path}: {verdict} ({len(result.errors)} errors, "
                    f"{len(result.warnings)} warnings)"
                )
            else:
                verdict = "通过" if result.ok else "未通过"
                print(
                    f"{path}: {verdict}（{len(result.errors)} 个错误，"
                    f"{len(result.warnings)} 个警告）"
                )
    if args.json:
        json.dump({"files": report, "exit_code": worst}, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    _report_registry(registry, lang, args.json)
    return worst


def _report_registry(registry: Registry, lang: str, quiet: bool) -> None:
    for problem in registry.problems:
        msg = problem.message_en if lang == "en" else problem.message_zh
        sys.stderr.write(f"ivrflow: {msg}\n")


def _logging(level: str) -> None:
    """The services' log format; alembic's step-by-step migration messages (every revision's
    docstring) only at DEBUG."""
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if level.upper() != "DEBUG":
        logging.getLogger("alembic").setLevel(logging.WARNING)


def _plugins(engine: Any, lang: str = "zh") -> Plugins:
    """Set up the installed plugins (``ivrflow.plugins``) on ``engine`` (None: no database),
    reporting the ones that fail on stderr."""
    plugins = load_plugins(PluginHost(engine=engine))
    for problem in plugins.problems:
        msg = problem.message_en if lang == "en" else problem.message_zh
        sys.stderr.write(f"ivrflow: {msg}\n")
    return plugins


# -- schema / nodes ----------------------------------------------------------------------


def cmd_schema(args: argparse.Namespace) -> int:
    json.dump(flow_schema(), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def cmd_nodes(args: argparse.Namespace) -> int:
    registry = default_registry()
    lang = _lang(args)
    if args.json:
        json.dump(
            {
                "categories": CATEGORIES,
                "nodes": registry.describe(),
                "problems": [p.to_json() for p in registry.problems],
            },
            sys.stdout,
            ensure_ascii=False,
            indent=2,
        )
        sys.stdout.write("\n")
        return EXIT_OK
    key = "en" if lang == "en" else "zh"
    current = None
    for cls in registry:
        if cls.category != current:
            current = cls.category
            print(f"\n[{CATEGORIES[current][key]}]")
        exits = ", ".join(cls.exits) if cls.exits else ("—" if cls.terminal else "")
        if cls.computed_exits():
            exits = (exits + ", " if exits else "") + ("…from config" if key == "en" else "…按配置")
        print(f"  {pad(cls.type, 24)} v{cls.version}  {pad(cls.title[key], 18)}  exits: {exits}")
    _report_registry(registry, lang, False)
    return EXIT_INVALID if registry.problems else EXIT_OK


# -- simulate ----------------------------------------------------------------------------


def _parse_vars(items: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--var expects NAME=VALUE, got {item!r}")
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out


def cmd_simulate(args: argparse.Namespace) -> int:
    # node failures are shown in the trace; do not repeat them as log lines
    logging.getLogger("ivrflow.interpreter").setLevel(logging.ERROR)
    registry = default_registry()
    lang = _lang(args)
    result, unusable = _load_and_validate(args.flow, registry)
    if unusable is not None:
        _print_problems([unusable], args.flow, lang, sys.stderr)
        return EXIT_UNUSABLE
    assert result is not None
    if result.flow is None:
        _print_problems(result.problems, args.flow, lang, sys.stderr)
        return EXIT_INVALID
    flow = result.flow
    try:
        at = parse_at(args.at, flow.settings.timezone) if args.at else None
        variables = _parse_vars(args.var)
    except ValueError as exc:
        sys.stderr.write(f"ivrflow simulate: {exc}\n")
        return EXIT_UNUSABLE
    library = DirectoryLibrary(Path(args.flow).resolve().parent, registry)
    engine = None
    if args.database:
        from runtime.store.db import make_engine

        engine = make_engine(args.database)
    plugins = _plugins(engine, lang)
    interactive = args.interactive or (args.keys is None and not args.json and sys.stdin.isatty())
    options: dict[str, Any] = {
        "caller": args.caller,
        "called": args.called,
        "when_done": "silence" if args.silence else "hangup",
        "queue_status": args.queue,
        "dial_status": args.dial,
        "record_status": args.record,
        "voicemail_status": args.voicemail,
    }
    channel: SimulatedChannel | None = None
    if interactive:
        channel = _interactive_channel(flow.name, lang, options)
    try:
        trace, channel = asyncio.run(
            simulate(
                flow,
                args.keys or "",
                at=at,
                library=library,
                variables=variables,
                resources=plugins.for_test_calls(),
                channel=channel,
                **({} if channel else options),
            )
        )
    except ScriptError as exc:
        sys.stderr.write(
            f"ivrflow simulate: {exc.message_en if lang == 'en' else exc.message_zh}\n"
        )
        return EXIT_UNUSABLE
    finally:
        plugins.close()
        if engine is not None:
            engine.dispose()
    if args.json:
        data = trace.to_json()
        data["unused_keys"] = [trace.scrub(k) for k in channel.unused_keys]
        json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    keys = trace.scrub(" ".join(channel.script))  # secrets typed (PINs) stay masked
    if lang == "en":
        header = (
            f"{flow.name} ({flow.id}) — caller {args.caller}, at {trace.started_at}, keys {keys!r}"
        )
    else:
        header = (
            f"{flow.name}（{flow.id}）— 主叫 {args.caller}，时间 {trace.started_at}，按键 “{keys}”"
        )
    if interactive:
        print()
    print(format_trace(trace, language=lang, header=header))
    if channel.unused_keys:
        unused = trace.scrub(" ".join(channel.unused_keys))
        print(f"(unused keys: {unused})" if lang == "en" else f"（未用到的按键：{unused}）")
    return EXIT_OK


def _interactive_channel(name: str, lang: str, options: dict[str, Any]) -> SimulatedChannel:
    async def ask(prompt: str) -> str:
        try:
            return await asyncio.to_thread(input, prompt)
        except EOFError:
            return "h"

    def show(text: str) -> None:
        print(text, flush=True)

    if lang == "en":
        show(
            f"Test call to {name}. At each prompt type keys (e.g. 1 or 123456#), "
            "Enter alone = silence, h = hang up."
        )
    else:
        show(
            f"测试呼叫：{name}。每次提示后输入按键（如 1 或 123456#），"
            "直接回车表示不按键，h 表示挂机。"
        )
    return InteractiveChannel(ask, show, **options)


# -- runtime / publish / calls -------------------------------------------------------------


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host or "127.0.0.1", int(port)


def cmd_runtime(args: argparse.Namespace) -> int:
    from runtime.service import RuntimeService, tune_process
    from runtime.store.db import database_url, make_engine

    _logging(args.log_level)
    host, port = args.listen
    ami = None
    if args.ami:
        from runtime.ami import AmiClient

        secret = os.environ.get("IVRFLOW_AMI_SECRET", "")
        if not secret:
            sys.stderr.write("ivrflow runtime: --ami needs the secret in $IVRFLOW_AMI_SECRET\n")
            return EXIT_UNUSABLE
        ami_host, ami_port = args.ami
        ami = AmiClient(ami_host, ami_port, args.ami_user, secret)
    engine = make_engine(args.database)
    sounds = speech = None
    if args.sounds:
        from prompts.delivery import SoundsDir
        from prompts.engines import runtime_speech

        sounds = SoundsDir(args.sounds, engine)
        speech = runtime_speech(args.sounds)
    plugins = _plugins(engine)
    service = RuntimeService(
        engine,
        resources=plugins.resources,
        host=host,
        port=port,
        drain_s=args.drain,
        dial_template=args.dial_template,
        ami=ami,
        sounds=sounds,
        speech=speech,
    )
    logging.getLogger("ivrflow.runtime").info(
        "database %s", database_url(args.database).split("@")[-1]
    )
    tune_process()
    try:
        asyncio.run(service.serve_until_signalled())
    except OSError as exc:
        sys.stderr.write(f"ivrflow runtime: cannot listen on {host}:{port}: {exc}\n")
        return EXIT_UNUSABLE
    finally:
        plugins.close()
        engine.dispose()
    return EXIT_OK


def cmd_publish(args: argparse.Namespace) -> int:
    from runtime.store.db import make_engine
    from runtime.store.publishing import PublishRejected, publish

    registry = default_registry()
    lang = _lang(args)
    try:
        text = load_flow_file(args.flow)
    except UnusableFlow as exc:
        _print_problems([exc.problem], args.flow, lang, sys.stderr)
        return EXIT_UNUSABLE
    if text.problems:
        _print_problems(text.problems, args.flow, lang, sys.stderr)
        return EXIT_INVALID
    library = DirectoryLibrary(Path(args.flow).resolve().parent, registry)
    engine = make_engine(args.database)
    try:
        result = publish(
            engine,
            text.data,
            entry=args.entry,
            message=args.message,
            author=args.author or os.environ.get("USER", ""),
            library=library,
            registry=registry,
        )
    except PublishRejected as exc:
        source = args.flow if exc.flow_id == text.data.get("id") else exc.flow_id
        _print_problems(
            text.with_locations(exc.problems) if source == args.flow else exc.problems,
            source,
            lang,
            sys.stderr,
        )
        return EXIT_INVALID
    finally:
        engine.dispose()
    _print_problems(text.with_locations(result.warnings), args.flow, lang, sys.stdout)
    stored = ", ".join(f"{f} v{v}" for f, v in result.new_versions) or "-"
    if lang == "en":
        was = f"was v{result.previous_version}" if result.previous_version else "new entry"
        print(
            f"published {result.flow_id} v{result.version} on entry {result.entry!r} "
            f"({was}); new versions stored: {stored}"
        )
    else:
        was = f"原为第 {result.previous_version} 版" if result.previous_version else "新建入口"
        print(
            f"已发布 {result.flow_id} 第 {result.version} 版到入口 “{result.entry}”"
            f"（{was}）；新存版本：{stored}"
        )
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    from runtime.store.db import make_engine
    from runtime.store.publishing import rollback

    engine = make_engine(args.database)
    try:
        result = rollback(
            engine,
            entry=args.entry,
            version=args.version,
            message=args.message,
            author=args.author or os.environ.get("USER", ""),
        )
    except LookupError as exc:
        sys.stderr.write(f"ivrflow rollback: {exc}\n")
        return EXIT_INVALID
    finally:
        engine.dispose()
    print(
        f"entry {result.entry!r}: {result.flow_id} v{result.previous_version} -> v{result.version}"
    )
    return EXIT_OK


def cmd_calls(args: argparse.Namespace) -> int:
    from runtime.clock import parse_at
    from runtime.store.db import make_engine
    from runtime.store.records import list_calls

    try:
        since = parse_at(args.since) if args.since else None
    except ValueError as exc:
        sys.stderr.write(f"ivrflow calls: --since: {exc}\n")
        return EXIT_UNUSABLE
    engine = make_engine(args.database)
    try:
        rows = list_calls(engine, since=since, limit=args.limit)
    finally:
        engine.dispose()
    if args.json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2, default=str)
        sys.stdout.write("\n")
        return EXIT_OK
    for row in rows:
        started = row["started_at"].strftime("%Y-%m-%d %H:%M:%S")
        where = f" @{row['outcome_node']}" if row["outcome_node"] else ""
        print(
            f"{started}Z  {pad(row['caller'] or '-', 14)} {pad(row['entry'], 10)} "
            f"{row['flow_id']} v{row['flow_version']}  {row['outcome']}{where}  "
            f"{row['steps']} steps  {row['call_id']}"
        )
    if not rows:
        print("(no calls)" if _lang(args) == "en" else "（没有通话记录）")
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    from runtime.clock import parse_at
    from runtime.store.db import make_engine
    from runtime.store.stats import hotline_stats

    try:
        since = parse_at(args.since) if args.since else None
        until = parse_at(args.until) if args.until else None
    except ValueError as exc:
        sys.stderr.write(f"ivrflow stats: {exc}\n")
        return EXIT_UNUSABLE
    engine = make_engine(args.database)
    try:
        rows = hotline_stats(engine, by=args.by, since=since, until=until)
    finally:
        engine.dispose()
    if args.json:
        json.dump([r.to_json() for r in rows], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value * 100:.1f}%"

    def sec(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}s"

    en = _lang(args) == "en"
    head = (
        [
            "period",
            "calls",
            "queued",
            "answered",
            "answer%",
            "abandon%(seed)",
            "abandon%(queued)",
            "wait",
            "talk",
            "wrap-up",
        ]
        if en
        else [
            "时段",
            "呼入",
            "排队",
            "人工接通",
            "接通率",
            "呼损率(需求定义)",
            "放弃率(行业)",
            "平均等待",
            "平均通话",
            "平均话后",
        ]
    )
    print("  ".join(head))
    for r in rows:
        print(
            "  ".join(
                [
                    r.period,
                    str(r.calls),
                    str(r.queued),
                    str(r.answered),
                    pct(r.answer_rate),
                    pct(r.abandon_rate_seed),
                    pct(r.abandon_rate_queued),
                    sec(r.avg_wait_s),
                    sec(r.avg_talk_s),
                    sec(r.avg_wrapup_s),
                ]
            )
        )
    return EXIT_OK


# -- serve / users ---------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from designer.app import create_app
    from designer.auth import Users
    from designer.bootstrap import default_auth, ensure_admin, load_example
    from designer.flows import Flows
    from prompts.delivery import SoundsDir
    from prompts.engines import default_converter, default_speaker, runtime_speech
    from runtime.service import RuntimeService
    from runtime.store.db import database_url, make_engine

    _logging(args.log_level)
    if args.workers > 1 and not args.no_runtime:
        sys.stderr.write(
            "ivrflow serve: --workers needs --no-runtime (run `ivrflow runtime` beside it)\n"
        )
        return EXIT_UNUSABLE
    url = database_url(args.database)
    engine = make_engine(url)
    registry = default_registry()
    auth = default_auth()
    media = Path(args.media)
    first = ensure_admin(Users(engine, auth))
    plugins = _plugins(engine)
    published = None
    if not args.no_example:
        if not Flows(engine, registry).list():
            sys.stdout.write(
                "new database: loading the 12329 example and speaking TTS "
                "placeholders for its prompts (a few seconds)…\n"
            )
            sys.stdout.flush()
        published = asyncio.run(load_example(engine, registry, media=media))
    runtime = None
    if not args.no_runtime:
        agi_host, agi_port = args.agi
        runtime = RuntimeService(
            engine,
            registry=registry,
            resources=plugins.resources,
            host=agi_host,
            port=agi_port,
            sounds=SoundsDir(args.sounds, engine),
            speech=runtime_speech(args.sounds),
        )
    host, port = args.listen
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    out = sys.stdout
    out.write(f"ivrflow designer: http://{shown}:{port}/   (API: /api/openapi.json)\n")
    out.write(f"database: {url.split('@')[-1]}\n")
    if runtime is not None:
        out.write(f"runtime (FastAGI): agi://{args.agi[0]}:{args.agi[1]}/ENTRY\n")
        out.write(f"prompts for Asterisk: {Path(args.sounds).resolve()}/ivrflow/\n")
    if published is not None:
        out.write(f"12329 example published on entry 12329 (version {published})\n")
    if first is not None:
        if first.password:
            out.write(
                f"first admin: {first.username} / {first.password}\n"
                "  (generated now and shown only once; change it after signing in)\n"
            )
        else:
            out.write(f"first admin: {first.username} (password from $IVRFLOW_ADMIN_PASSWORD)\n")
    out.flush()

    def stopped(_signum: int, _frame: object) -> None:
        # uvicorn shuts down gracefully (the runtime drains its calls), then re-raises the
        # signal it caught; a requested stop is a clean exit
        raise SystemExit(EXIT_OK)

    signal.signal(signal.SIGTERM, stopped)
    common = {"host": host, "port": port, "log_level": args.log_level, "access_log": False}
    try:
        if args.workers > 1:
            engine.dispose()
            os.environ["IVRFLOW_DATABASE_URL"] = url
            os.environ["IVRFLOW_MEDIA_DIR"] = str(media)
            uvicorn.run("designer.asgi:app_from_env", factory=True, workers=args.workers, **common)
        else:
            app = create_app(
                engine,
                registry=registry,
                auth=auth,
                runtime=runtime,
                media_dir=media,
                converter=default_converter(media / "work"),
                speaker=default_speaker(media / "tts-cache"),
                extra_routes=plugins.routes,
                resources=plugins.for_test_calls(),
                pages=plugins.pages,
            )
            uvicorn.Server(uvicorn.Config(app, lifespan="on", **common)).run()
    finally:
        plugins.close()
        engine.dispose()
        out.write("ivrflow stopped\n")
    return EXIT_OK


def _read_password(args: argparse.Namespace) -> str:
    password = os.environ.get("IVRFLOW_PASSWORD", "")
    if password:
        return password
    import getpass

    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the passwords differ")
    return first


def cmd_users(args: argparse.Namespace) -> int:
    from designer.auth import Users
    from designer.bootstrap import default_auth
    from designer.problems import ApiError
    from runtime.store.db import make_engine

    engine = make_engine(args.database)
    users = Users(engine, default_auth())
    lang = _lang(args)
    try:
        if args.action == "list":
            for user in users.list():
                state = "" if user["active"] else " (disabled)"
                print(f"{user['username']:24} {','.join(user['roles'])}{state}")
        elif args.action == "add":
            users.create(args.name, _read_password(args), args.role or ["viewer"], actor="cli")
            print(f"user {args.name} created")
        elif args.action == "passwd":
            users.set_password(args.name, _read_password(args), actor="cli")
            print(f"password of {args.name} changed; their sessions ended")
        elif args.action == "roles":
            users.update(args.name, roles=args.role or [], actor="cli")
            print(f"roles of {args.name}: {', '.join(args.role or [])}")
    except ApiError as exc:
        sys.stderr.write((exc.message_en if lang == "en" else exc.message_zh) + "\n")
        return EXIT_INVALID
    except ValueError as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_INVALID
    finally:
        engine.dispose()
    return EXIT_OK


# -- prompts -----------------------------------------------------------------------------

LANGUAGE_DIR = re.compile(r"[a-z]{2,3}(-[A-Z]{2})?")


def _prompt_files(root: Path, language: str | None) -> list[tuple[str, str, Path]]:
    """(prompt id, language, file) for every file under ``root``: the id is the path without
    its extension; a first folder named like a language (``zh-CN/welcome.wav``) gives the
    language, else ``--language``."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        lang = language
        if len(parts) > 1 and LANGUAGE_DIR.fullmatch(parts[0]):
            lang = parts.pop(0)
        found.append(("/".join(parts), lang or "zh-CN", path))
    return found


async def _import_prompts(
    args: argparse.Namespace, engine: Any, files: list[tuple[str, str, Path]]
) -> int:
    from prompts.audio import safe_display_name
    from prompts.engines import default_converter
    from prompts.library import LibraryError, PromptLibrary

    media = Path(args.media)
    library = PromptLibrary(engine, media, converter=default_converter(media / "work"))
    failures = 0
    for prompt_id, language, path in files:
        try:
            data = await asyncio.to_thread(path.read_bytes)
            item = await library.upload(
                prompt_id,
                language,
                data,
                display_name=safe_display_name(path.name),
                actor=args.author or "cli",
            )
            if args.approve:
                item = library.approve(prompt_id, language, actor=args.author or "cli")
            print(f"ok    {language:6} {prompt_id:40} {item['duration_ms'] / 1000:6.1f} s")
        except LibraryError as exc:
            failures += 1
            print(f"error {language:6} {prompt_id:40} {exc.message_en}")
        except Exception as exc:
            failures += 1
            message = getattr(exc, "message_en", None) or f"{type(exc).__name__}: {exc}"
            print(f"error {language:6} {prompt_id:40} {path.name}: {message}")
    print(f"{len(files) - failures} imported, {failures} failed")
    return EXIT_INVALID if failures else EXIT_OK


def _deliver_live(engine: Any, sounds: Any) -> int:
    from sqlmodel import Session, select

    from runtime.store.models import Entry

    with Session(engine) as session:
        live = {(e.flow_id, e.version) for e in session.exec(select(Entry)).all()}
    return sum(sounds.deliver(flow_id, version) for flow_id, version in sorted(live))


def cmd_prompts(args: argparse.Namespace) -> int:
    from runtime.store.db import make_engine

    engine = make_engine(args.database)
    try:
        if args.action == "import":
            root = Path(args.dir)
            if not root.is_dir():
                sys.stderr.write(f"not a directory: {root}\n")
                return EXIT_UNUSABLE
            files = _prompt_files(root, args.language)
            return asyncio.run(_import_prompts(args, engine, files))
        if args.action == "sync":
            import time

            from prompts.delivery import SoundsDir

            sounds = SoundsDir(args.sounds, engine)
            while True:
                written = _deliver_live(engine, sounds)
                if written:
                    print(f"delivered {written} prompt files to {Path(args.sounds).resolve()}")
                if not args.watch:
                    return EXIT_OK
                time.sleep(args.watch)
        if args.action == "worklist":
            from designer.flows import Flows
            from prompts.library import PromptLibrary, prompt_uses

            documents = Flows(engine).closure(args.flow).values()
            items = PromptLibrary(engine, Path(args.media)).worklist(prompt_uses(documents))
            for item in items:
                if item["number_set"] and not args.numbers:
                    continue
                flag = " (script changed)" if item["outdated"] else ""
                print(
                    f"{item['status']:11} {item['language']:6} {item['prompt_id']:32} "
                    f"{item['text'] or ''}{flag}"
                )
            return EXIT_OK
    finally:
        engine.dispose()
    return EXIT_UNUSABLE


# -- main --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ivrflow",
        description="ivrflow — visual IVR flows for Asterisk (12329 hotlines).",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--lang", choices=["zh", "en"], help="message language (default zh, or $IVRFLOW_LANG)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="validate flow files", parents=[common])
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="print the flow JSON Schema", parents=[common])
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("nodes", help="list installed node types", parents=[common])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_nodes)

    p = sub.add_parser("simulate", help="walk a flow with scripted key presses", parents=[common])
    p.add_argument("flow", metavar="FLOW")
    p.add_argument(
        "--keys", default=None, help='caller input, one token per prompt: "1 123456# - h"'
    )
    p.add_argument(
        "-i",
        "--interactive",
        action="store_true",
        help="type the caller's keys at each prompt (default in a terminal without --keys)",
    )
    p.add_argument("--caller", default="13800138000", help="caller number")
    p.add_argument(
        "--database",
        help="give plugins this database (e.g. named schedules); default: none",
    )
    p.add_argument("--called", default="12329", help="dialled number")
    p.add_argument("--at", help='frozen date/time, e.g. "2026-10-01 10:00" (flow time zone)')
    p.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a variable (JSON value or text); repeatable",
    )
    p.add_argument(
        "--queue",
        default="completed",
        choices=[s.value for s in QueueStatus],
        help="what a queue transfer returns",
    )
    p.add_argument(
        "--dial",
        default="completed",
        choices=[s.value for s in DialStatus],
        help="what dialling an outside number returns",
    )
    p.add_argument(
        "--record",
        default="recorded",
        choices=[s.value for s in RecordStatus],
        help="what recording the caller returns",
    )
    p.add_argument(
        "--voicemail",
        default="completed",
        choices=[s.value for s in VoicemailStatus],
        help="what leaving a voicemail returns",
    )
    p.add_argument(
        "--silence",
        action="store_true",
        help="after the keys run out the caller stays silent instead of hanging up",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser(
        "runtime", help="serve published flows to Asterisk over FastAGI", parents=[common]
    )
    p.add_argument("--listen", type=_listen, default=("127.0.0.1", 4573), metavar="HOST:PORT")
    p.add_argument("--database", help="database URL (default $IVRFLOW_DATABASE_URL or SQLite)")
    p.add_argument("--drain", type=float, default=30.0, help="seconds to let calls finish on stop")
    p.add_argument(
        "--dial-template",
        default="PJSIP/{number}",
        help="Asterisk dial string for outside numbers, {number} is replaced",
    )
    p.add_argument(
        "--ami",
        type=_listen,
        metavar="HOST:PORT",
        help="Asterisk AMI for queue events (secret in $IVRFLOW_AMI_SECRET)",
    )
    p.add_argument("--ami-user", default="ivrflow")
    p.add_argument(
        "--sounds",
        help="Asterisk's sounds directory: deliver each version's prompts there and play "
        "them from its own folder (else prompts play as ivrflow/LANG/ID)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_runtime)

    p = sub.add_parser(
        "serve", help="the designer (web, API) and the runtime together", parents=[common]
    )
    p.add_argument("--listen", type=_listen, default=("127.0.0.1", 8000), metavar="HOST:PORT")
    p.add_argument("--agi", type=_listen, default=("127.0.0.1", 4573), metavar="HOST:PORT")
    p.add_argument("--no-runtime", action="store_true", help="the designer only")
    p.add_argument(
        "--workers", type=int, default=1, help="designer worker processes (with --no-runtime)"
    )
    p.add_argument("--media", default="var/media", help="uploaded originals and the TTS cache")
    p.add_argument(
        "--sounds",
        default="var/sounds",
        help="Asterisk's sounds directory: the runtime delivers each version's prompts there",
    )
    p.add_argument(
        "--no-example", action="store_true", help="do not load the 12329 example into a new db"
    )
    p.add_argument("--database", help="database URL (default $IVRFLOW_DATABASE_URL or SQLite)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("prompts", help="the prompt library", parents=[common])
    prompt_actions = p.add_subparsers(dest="action", required=True)
    q = prompt_actions.add_parser("import", help="upload a folder of recordings")
    q.add_argument("dir", metavar="DIR")
    q.add_argument("--language", help="language of files not in a language folder (zh-CN)")
    q.add_argument("--approve", action="store_true", help="approve them as well")
    q.add_argument("--author", default="")
    q = prompt_actions.add_parser("sync", help="deliver live versions' prompts to Asterisk")
    q.add_argument("--sounds", required=True, help="Asterisk's sounds directory")
    q.add_argument("--watch", type=float, default=0, metavar="SECONDS", help="keep syncing")
    q = prompt_actions.add_parser("worklist", help="prompts still to record or approve")
    q.add_argument("flow", metavar="FLOW_ID")
    q.add_argument("--numbers", action="store_true", help="include the number prompt set")
    for q in prompt_actions.choices.values():
        q.add_argument("--database")
        q.add_argument("--media", default="var/media")
    p.set_defaults(func=cmd_prompts)

    p = sub.add_parser("users", help="designer user accounts", parents=[common])
    p.add_argument("action", choices=["list", "add", "passwd", "roles"])
    p.add_argument("name", nargs="?", default="")
    p.add_argument(
        "--role",
        action="append",
        choices=["viewer", "editor", "recorder", "publisher", "operator", "admin"],
        help="repeat for several (password from $IVRFLOW_PASSWORD or asked)",
    )
    p.add_argument("--database")
    p.set_defaults(func=cmd_users)

    p = sub.add_parser("publish", help="validate and publish a flow on an entry", parents=[common])
    p.add_argument("flow", metavar="FLOW")
    p.add_argument("--entry", required=True, help="entry name: the AGI path, e.g. 12329")
    p.add_argument("--message", default="", help="what changed")
    p.add_argument("--author", default="")
    p.add_argument("--database")
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser(
        "rollback", help="point an entry back at an earlier version", parents=[common]
    )
    p.add_argument("--entry", required=True)
    p.add_argument("--version", type=int, required=True)
    p.add_argument("--message", default="")
    p.add_argument("--author", default="")
    p.add_argument("--database")
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("stats", help="hotline statistics by period", parents=[common])
    p.add_argument("--by", choices=["day", "week", "month", "year"], default="day")
    p.add_argument("--since")
    p.add_argument("--until")
    p.add_argument("--json", action="store_true")
    p.add_argument("--database")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("calls", help="list call records", parents=[common])
    p.add_argument("--since", help='e.g. "2026-10-01 00:00" (Asia/Shanghai)')
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.add_argument("--database")
    p.set_defaults(func=cmd_calls)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
