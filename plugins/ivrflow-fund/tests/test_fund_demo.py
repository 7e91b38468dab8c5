"""The demo fund system: its own tables and revisions, seeded demo data, PINs only as
hashes, and the lock-out kept across calls."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from ivrflow_fund.backend import FundBackend, FundNotFound, id_card_valid, mask_id
from ivrflow_fund.demo import DemoFundBackend, credentials, metadata
from ivrflow_fund.plugin import MIGRATIONS, setup
from sqlalchemy import inspect, select

from nodes.plugins import PluginHost
from runtime.store.migrate import plugin_revision


def _plugin_objects(obj, name, type_, reflected, compare_to) -> bool:
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return table is not None and table.name.startswith("fund_")


def test_the_plugin_owns_its_tables(engine, plugins):
    tables = set(inspect(engine).get_table_names())
    assert {"fund_person", "fund_credential", "alembic_version_fund"} <= tables
    assert plugin_revision(engine, "fund") == "fund_0002"
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": _plugin_objects}
        )
        assert compare_metadata(context, metadata) == []


def test_setting_up_again_keeps_the_data(engine, demo, clock):
    asyncio.run(_fail(demo, "20261234", 2))
    again = setup(PluginHost(engine=engine, environ={})).resources["fund"]
    assert again.demo is True and again.name == "demo"
    with engine.connect() as connection:
        assert (
            connection.execute(
                select(credentials.c.failures).where(credentials.c.subject_id == "P-0001")
            ).scalar_one()
            == 2
        )
    assert PluginHost(engine=engine).migrate("fund", MIGRATIONS) == "fund_0002"


async def _fail(demo, login, n, pin="000000"):
    for _ in range(n):
        result = await demo.authenticate("personal", "account", login, pin)
    return result


async def test_demo_data(demo, clock):
    assert isinstance(demo, FundBackend) and demo.demo
    account = await demo.personal_account("P-0001")
    assert account.balance == Decimal("12345.67") and account.name == "张演示"
    assert account.last_deposit_date == date(2026, 10, 15)
    loan = await demo.loan("P-0001")
    assert loan.monthly_repayment == Decimal("2680.05") and loan.remaining_months == 212
    with pytest.raises(FundNotFound):
        await demo.loan("P-0002")
    with pytest.raises(FundNotFound):
        await demo.personal_account("P-9999")
    unit = await demo.employer_account("U-880012")
    assert unit.headcount == 128 and "演示" in unit.name
    assert [b.branch_id for b in await demo.branches()] == ["B01", "B02"]
    assert "演示" in (await demo.policy("loan")).title
    assert len(await demo.appointment_slots("B01", date(2026, 11, 3), "withdrawal")) == 4
    assert await demo.appointment_slots("B01", date(2026, 11, 1), "withdrawal") == []  # Sunday


@pytest.mark.parametrize(
    ("login", "subject"),
    [
        (("personal", "account", "20261234", "123456"), "P-0001"),
        (("personal", "id_card", "110101199001011237", "123456"), "P-0001"),
        (("personal", "card", "6217000010001234567", "123456"), "P-0001"),
        (("personal", "id_card", "32010219780315456*", "123456"), "P-0002"),
        (("employer", "unit", "880012", "654321"), "U-880012"),
    ],
)
async def test_demo_logins(demo, login, subject):
    result = await demo.authenticate(*login)
    assert (result.status, result.subject_id) == ("ok", subject)


async def test_unknown_and_wrong_scope_fail_like_a_wrong_pin(demo):
    assert (await demo.authenticate("personal", "account", "11112222", "123456")).status == "failed"
    assert (await demo.authenticate("employer", "account", "20261234", "123456")).status == "failed"


async def test_ten_wrong_pins_lock_for_thirty_minutes_across_calls(demo, clock):
    result = await _fail(demo, "20261234", 9)
    assert result.status == "failed" and result.remaining == 1
    result = await _fail(demo, "20261234", 1)
    assert result.status == "locked"
    assert result.locked_until == clock.now + timedelta(minutes=30)
    # the right PIN does not help while locked, by any login of the same person
    assert (await demo.authenticate("personal", "account", "20261234", "123456")).status == "locked"
    assert (
        await demo.authenticate("personal", "id_card", "110101199001011237", "123456")
    ).status == "locked"
    clock.now += timedelta(minutes=29)
    assert (
        await demo.authenticate("personal", "card", "6217000010001234567", "123456")
    ).status == ("locked")
    clock.now += timedelta(minutes=1, seconds=1)
    assert (await demo.authenticate("personal", "account", "20261234", "123456")).status == "ok"


async def test_concurrent_wrong_pins_lock_exactly_at_ten(demo, clock):
    results = await asyncio.gather(
        *(demo.authenticate("personal", "account", "20261234", "000000") for _ in range(12))
    )
    statuses = sorted(r.status for r in results)
    assert statuses.count("failed") == 9 and statuses.count("locked") == 3
    assert (await demo.authenticate("personal", "account", "20261234", "123456")).status == "locked"


async def test_a_right_pin_resets_the_count(demo, clock):
    await _fail(demo, "20261234", 9)
    assert (await demo.authenticate("personal", "account", "20261234", "123456")).status == "ok"
    assert (await _fail(demo, "20261234", 9)).status == "failed"


async def test_pins_are_stored_only_as_hashes(engine, demo):
    with engine.connect() as connection:
        hashes = connection.execute(select(credentials.c.pin_hash)).scalars().all()
    assert hashes and all(h.startswith("pbkdf2_sha256$") for h in hashes)
    assert not any("123456" in h or "654321" in h for h in hashes)


def test_without_a_database_the_demo_is_in_memory():
    backend = setup(PluginHost(engine=None, environ={})).resources["fund"]
    assert isinstance(backend, DemoFundBackend)
    assert asyncio.run(backend.personal_account("P-0001")).status == "normal"
    backend.engine.dispose()


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("110101199001011237", True),
        ("32010219780315456X", True),
        ("32010219780315456*", True),
        ("32010219780315456x", True),
        ("110101199001011238", False),  # check digit
        ("110101199002301237", False),  # 30 February
        ("11010119900101123", False),
        ("01010119900101123X", False),
        ("1101011990010112*7", False),
    ],
)
def test_id_card_check_digit(number, valid):
    assert id_card_valid(number) is valid


def test_mask_id():
    assert mask_id("110101199001011237") == "**************1237"
    assert mask_id("12") == "12"
