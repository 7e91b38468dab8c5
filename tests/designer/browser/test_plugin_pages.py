"""The plugins' business data pages, end to end in Chromium with the lists plugin's routes
and pages: an admin opens 业务数据 → the block list, adds an entry (with an expiry, shown in
local time), a pattern only the API can judge gets its Chinese message next to the form with
what was typed kept (and its English one after switching language), deletes the entry; a
viewer sees the page without the add and delete buttons.

Screenshots: ``test-artifacts/screenshots/data-*.png``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx2
import pytest
from ivrflow_lists.plugin import setup as lists_setup
from support.browser import screenshot as shot
from support.browser import serve_designer, skip_reason
from support.designer import PASSWORD, add_user

if TYPE_CHECKING:
    from support.browser import Designer, Session

_reason = skip_reason()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402  (after the skip: may be missing)


@pytest.fixture(scope="module")
def designer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Designer]:
    """This module's designer: with the lists plugin, and a viewer."""
    with serve_designer(tmp_path_factory.mktemp("designer"), {"lists": lists_setup}) as served:
        add_user(served.app, "viewer", "viewer")
        yield served


@pytest.fixture
def admin_api(designer: Designer) -> Iterator[httpx2.Client]:
    client = httpx2.Client(base_url=designer.url, timeout=15)
    reply = client.post("/api/login", json={"username": "admin", "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    client.headers["X-CSRF-Token"] = reply.json()["csrf_token"]
    try:
        yield client
    finally:
        client.close()


def test_an_admin_adds_a_wrong_and_a_right_entry_then_deletes_it(
    session: Session, admin_api: httpx2.Client
) -> None:
    page = session.page()
    session.login(page, "admin")
    page.get_by_test_id("nav-data").click()
    expect(page).to_have_url(f"{session.designer.url}/data")
    nav = page.get_by_test_id("data-nav")
    expect(nav).to_contain_text("黑名单")
    expect(nav).to_contain_text("VIP 名单")
    page.get_by_test_id("data-link-lists.block").click()
    expect(page).to_have_url(f"{session.designer.url}/data/lists.block")
    view = page.get_by_test_id("data-page-lists.block")
    expect(view.get_by_test_id("data-empty")).to_be_visible()

    # a pattern only the API can judge: its message next to the form, what was typed kept
    view.get_by_test_id("data-add").click()
    form = view.get_by_test_id("data-create-form")
    form.locator("#add_lists_block_kind").select_option(label="号码规则")
    form.locator("#add_lists_block_value").fill("abc")
    form.locator("#add_lists_block_reason").fill("骚扰电话")
    form.get_by_test_id("data-create-submit").click()
    error = form.get_by_test_id("data-create-form-error")
    expect(error).to_contain_text("名单号码有误：号码规则第 1 个字符 “a” 无效")
    expect(form).to_contain_text("只能用数字、?（一位数字）和末尾的 *")  # under the field too
    expect(form.locator("#add_lists_block_value")).to_have_value("abc")
    shot(page, "data-block-list-error")
    page.get_by_test_id("lang-switch").click()
    expect(error).to_contain_text("The entry is invalid: Pattern character 1 'a'")
    expect(form.locator("#add_lists_block_value")).to_have_value("abc")
    expect(form.locator("#add_lists_block_reason")).to_have_value("骚扰电话")
    page.get_by_test_id("lang-switch").click()

    # corrected: an exact number with an expiry
    form.locator("#add_lists_block_kind").select_option(label="完整号码")
    form.locator("#add_lists_block_value").fill("139-1234-5678")
    form.locator("#add_lists_block_expires_at").fill("2099-07-01T08:30")
    form.get_by_test_id("data-create-submit").click()
    expect(view.get_by_test_id("data-notice")).to_have_text("已保存。")
    expect(form).to_have_count(0)
    [entry] = admin_api.get("/api/lists/block").json()["entries"]
    assert (entry["value"], entry["reason"], entry["created_by"]) == (
        "13912345678",
        "骚扰电话",
        "admin",
    )
    assert entry["expires_at"].startswith("2099-07-01")
    row = view.get_by_test_id(f"data-row-{entry['id']}")
    expect(row.locator("[data-column=value]")).to_have_text("13912345678")
    expect(row.locator("[data-column=kind]")).to_have_text("完整号码")
    expect(row.locator("[data-column=expires_at]")).to_contain_text(re.compile(r"2099\D+0?7\D+0?1"))
    expect(row.locator("[data-column=created_by]")).to_have_text("admin")
    shot(page, "data-block-list")

    # delete, after confirming
    row.get_by_test_id(f"action-delete-{entry['id']}").click()
    panel = view.get_by_test_id(f"action-panel-delete-{entry['id']}")
    expect(panel).to_contain_text("从黑名单删除 13912345678？")
    panel.get_by_test_id(f"action-ok-delete-{entry['id']}").click()
    expect(view.get_by_test_id("data-notice")).to_have_text("已完成：删除")
    expect(view.get_by_test_id("data-empty")).to_be_visible()
    assert admin_api.get("/api/lists/block").json()["entries"] == []


def test_a_viewer_sees_the_list_without_add_or_delete(
    session: Session, admin_api: httpx2.Client
) -> None:
    added = admin_api.post("/api/lists/block", json={"value": "13800138000", "reason": "测试"})
    assert added.status_code == 201, added.text
    try:
        page = session.page()
        session.login(page, "viewer")
        page.get_by_test_id("nav-data").click()
        view = page.get_by_test_id("data-page-lists.block")  # the first page
        row = view.get_by_test_id(f"data-row-{added.json()['id']}")
        expect(row).to_contain_text("13800138000")
        expect(row).to_contain_text("测试")
        expect(view.get_by_test_id("data-read-only")).to_be_visible()
        expect(view.get_by_test_id("data-add")).to_have_count(0)
        expect(view.locator("[data-testid^=action-]")).to_have_count(0)
        expect(view.locator("th")).not_to_contain_text(["操作"])
        shot(page, "data-block-list-viewer")
    finally:
        assert admin_api.delete(f"/api/lists/block/{added.json()['id']}").status_code == 200
