"""PINs never leave the fund system's request: authentication runs through the simulator
(right and wrong PINs, the demo system and a failing HTTP one), then every log record, the
trace JSON and a dump of every table in the database are searched for the PIN digits."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ivrflow_fund.demo import credentials, hash_pin
from ivrflow_fund.http import HttpFundBackend
from ivrflow_fund.nodes import NODES
from sqlalchemy import MetaData, select, update

from nodes.registry import load_registry
from runtime.simulator import simulate
from runtime.validate import validate

# digits that appear nowhere in the demo data (balances, card numbers…)
RIGHT = "580317"
WRONG = ("864209", "975318")
PINS = (RIGHT, *WRONG)


def _dump(engine) -> str:
    """Every row of every table (ivrflow's and the plugin's), and the SQLite files' bytes."""
    meta = MetaData()
    meta.reflect(engine)
    out = []
    with engine.connect() as connection:
        for table in meta.sorted_tables:
            out.extend(repr(tuple(row)) for row in connection.execute(select(table)))
    if engine.dialect.name == "sqlite":
        base = Path(engine.url.database)
        for path in base.parent.glob(base.name + "*"):
            out.append(path.read_bytes().decode("latin-1"))
    return "\n".join(out)


def _logged(caplog) -> str:
    return "\n".join(
        f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    )


async def test_no_pin_in_logs_traces_or_the_database(engine, demo, auth_flow, fund_server, caplog):
    caplog.set_level(logging.DEBUG)
    with engine.begin() as connection:
        connection.execute(
            update(credentials)
            .where(credentials.c.subject_id == "P-0001")
            .values(pin_hash=hash_pin(RIGHT))
        )
    registry = load_registry(include_entry_points=False, extra=list(NODES))
    result = validate(auth_flow(), registry=registry)
    assert result.ok
    url, system = fund_server
    traces = []
    scripts = [
        (demo, f"1 20261234# {WRONG[0]} 1 20261234# {WRONG[1]} 1 20261234# {RIGHT}", "ok_node"),
        (demo, f"2 110101199001011237 {RIGHT}", "ok_node"),
        (demo, f"1 20261234# {WRONG[0]} 1 20261234# {WRONG[1]} 1 20261234# {WRONG[0]}", None),
        (HttpFundBackend(url), f"1 20261234# {RIGHT}", None),  # the fake's PIN differs: failed
    ]
    for backend, keys, reached in scripts:
        trace, channel = await simulate(result.flow, keys, resources={"fund": backend})
        traces.append(json.dumps(trace.to_json(), ensure_ascii=False, default=str))
        traces.append(repr(channel.heard))
        if reached:
            assert reached in trace.path
    system.fault = "5xx"
    trace, _ = await simulate(
        result.flow, f"1 20261234# {RIGHT}", resources={"fund": HttpFundBackend(url)}
    )
    assert "busy_node" in trace.path
    traces.append(json.dumps(trace.to_json(), ensure_ascii=False, default=str))

    # the PINs did reach the fund system (and only in the body of POST /auth)
    assert {body["pin"] for _, path, body in system.requests if path == "/api/auth"} == {RIGHT}
    logged, traced, stored = _logged(caplog), "\n".join(traces), _dump(engine)
    assert "fund_auth" in traced and "fund system" in logged
    assert "pbkdf2_sha256" in stored  # the dump does include the credentials
    for pin in PINS:
        assert pin not in logged, pin
        assert pin not in traced, pin
        assert pin not in stored, pin
