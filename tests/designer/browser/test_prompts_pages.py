"""Phase 2 of the browser designer, end to end in Chromium: a recorder works through a flow's
worklist (a wrong file gets the server's message, a WAV becomes "recorded", approve, ▶, a
script changed after recording comes back marked); the
inspector and the prompts tab show each prompt's state; an admin sets an entry's publishing
policy, rolls it back and deletes an entry from the entries page.

Screenshots: ``test-artifacts/screenshots/prompts-*.png`` and ``entries-*.png``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx2
import pytest
from support.browser import screenshot as shot
from support.browser import skip_reason
from support.designer import PASSWORD, tiny_flow
from support.prompts import tone_wav

if TYPE_CHECKING:
    from support.browser import Designer, Session

_reason = skip_reason()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402  (after the skip: may be missing)


# -- helpers -----------------------------------------------------------------------------------
def _client(designer: Designer, username: str) -> httpx2.Client:
    """The API as ``username`` (cookie and CSRF token), for setting the scene."""
    client = httpx2.Client(base_url=designer.url, timeout=15)
    reply = client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    client.headers["X-CSRF-Token"] = reply.json()["csrf_token"]
    return client


@pytest.fixture
def admin_api(designer: Designer) -> Iterator[httpx2.Client]:
    client = _client(designer, "admin")
    try:
        yield client
    finally:
        client.close()


def _publish(client: httpx2.Client, flow_id: str, entry: str, message: str) -> int:
    reply = client.post(f"/api/flows/{flow_id}/publish", json={"entry": entry, "message": message})
    assert reply.status_code == 200, reply.text
    return reply.json()["version"]


def _save(client: httpx2.Client, document: dict) -> None:
    current = client.get(f"/api/flows/{document['id']}")
    reply = client.put(
        f"/api/flows/{document['id']}", json=document, headers={"If-Match": current.headers["etag"]}
    )
    assert reply.status_code == 200, reply.text


# -- the recorder -----------------------------------------------------------------------------
def test_a_recorder_works_through_the_worklist(session: Session, admin_api: httpx2.Client) -> None:
    flow = tiny_flow("studio")
    flow["name"] = "录音演示"
    assert admin_api.post("/api/flows", json=flow).status_code == 201
    assert admin_api.post("/api/flows/studio/placeholders").status_code == 200

    page = session.page()
    session.login(page, "rec")
    expect(page.get_by_test_id("nav-entries")).to_have_count(0)  # admins only
    page.get_by_test_id("nav-worklist").click()
    page.get_by_test_id("worklist-flow").select_option("studio")
    expect(page).to_have_url(f"{session.designer.url}/worklist/studio")
    row = page.get_by_test_id("work-menu-zh-CN")
    expect(row).to_contain_text("请按1或2。")  # the script
    expect(row).to_contain_text("menu")  # where it is played
    expect(row.get_by_test_id("prompt-status")).to_have_attribute("data-status", "placeholder")
    expect(page.get_by_test_id("worklist-summary")).to_contain_text("还有 4 条待处理")
    shot(page, "prompts-worklist")
    page.get_by_test_id("worklist-numbers").check()  # the number sets (say/…) on demand
    expect(page.locator("[data-testid^='work-say/']").first).to_be_visible()
    page.get_by_test_id("worklist-numbers").uncheck()
    expect(page.locator("[data-testid^='work-say/']")).to_have_count(0)

    # not audio: the server's message, nothing changes
    page.get_by_test_id("file-menu-zh-CN").set_input_files(
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}]
    )
    expect(page.get_by_test_id("prompt-error-menu-zh-CN")).to_have_text("不是音频文件")
    expect(row.get_by_test_id("prompt-status")).to_have_attribute("data-status", "placeholder")

    # a WAV made here: recorded
    page.get_by_test_id("file-menu-zh-CN").set_input_files(
        files=[{"name": "菜单-第1条.wav", "mimeType": "audio/wav", "buffer": tone_wav(400)}]
    )
    expect(row.get_by_test_id("prompt-status")).to_have_attribute("data-status", "recorded")
    expect(page.get_by_test_id("prompt-error-menu-zh-CN")).to_have_count(0)
    shot(page, "prompts-worklist-recorded")

    page.get_by_test_id("approve-menu-zh-CN").click()
    expect(row.get_by_test_id("prompt-status")).to_have_attribute("data-status", "approved")
    expect(page.get_by_test_id("worklist-summary")).to_contain_text("还有 3 条待处理")
    expect(page.get_by_test_id("unapprove-menu-zh-CN")).to_be_visible()

    page.get_by_test_id("play-menu-zh-CN").click()
    audio = page.get_by_test_id("audio-menu-zh-CN")
    expect(audio).to_have_attribute("src", "/api/prompts/zh-CN/menu/audio?v=" + _sha(admin_api))
    expect(audio).to_be_visible()
    # the browser fetched and decoded it: the 400 ms WAV's length
    page.wait_for_function(
        "el => el.readyState >= 1 && el.duration > 0.3", arg=audio.element_handle()
    )
    shot(page, "prompts-worklist-approved")

    listed = admin_api.get("/api/prompts?flow=studio").json()["prompts"]
    menu = next(i for i in listed if i["prompt_id"] == "menu")
    assert menu["status"] == "approved" and menu["approved_by"] == "rec"
    assert menu["original_name"] == "菜单-第1条.wav"  # the name survived the header

    # refreshing drops what is done
    page.get_by_test_id("worklist-refresh").click()
    expect(page.get_by_test_id("work-thanks-zh-CN")).to_be_visible()
    expect(page.get_by_test_id("work-menu-zh-CN")).to_have_count(0)

    # the script changes after the recording: back on the list, marked
    changed = tiny_flow("studio") | {"name": "录音演示"}
    changed["prompts"]["menu"] = {"text": {"zh-CN": "查询请按1，其他请按2。"}}
    _save(admin_api, changed)
    page.get_by_test_id("worklist-refresh").click()
    expect(row).to_contain_text("查询请按1，其他请按2。")
    expect(row.get_by_test_id("prompt-outdated")).to_have_text("文本已改")
    expect(row.get_by_test_id("prompt-status")).to_have_attribute("data-status", "approved")
    shot(page, "prompts-worklist-outdated")


def _sha(client: httpx2.Client) -> str:
    listed = client.get("/api/prompts?flow=studio").json()["prompts"]
    return next(i for i in listed if i["prompt_id"] == "menu")["audio_sha"]


def test_the_inspector_and_prompts_tab_show_each_prompts_state(
    session: Session, admin_api: httpx2.Client
) -> None:
    flow = tiny_flow("insp")
    flow["prompts"]["insp_menu"] = {"text": {"zh-CN": "检查器菜单。"}}
    flow["nodes"]["menu"]["config"]["prompts"] = ["insp_menu"]
    assert admin_api.post("/api/flows", json=flow).status_code == 201
    assert admin_api.post("/api/flows/insp/placeholders").status_code == 200

    page = session.page()
    session.login(page, "admin")
    page.get_by_test_id("open-insp").click()
    page.locator(".react-flow__node[data-id='menu'] .ivr-node-label").click()
    langs = page.get_by_test_id("prompt-langs-insp_menu")
    expect(langs.get_by_test_id("prompt-status")).to_have_attribute("data-status", "placeholder")
    langs.get_by_test_id("file-insp_menu-zh-CN").set_input_files(
        files=[{"name": "take.wav", "mimeType": "audio/wav", "buffer": tone_wav(200)}]
    )
    expect(langs.get_by_test_id("prompt-status")).to_have_attribute("data-status", "recorded")
    shot(page, "prompts-inspector")

    page.get_by_test_id("tab-prompts").click()
    panel = page.get_by_test_id("prompts-panel")
    menu_row = panel.get_by_test_id("prompt-row-insp_menu")
    expect(menu_row.get_by_test_id("prompt-status")).to_have_attribute("data-status", "recorded")
    menu_row.get_by_test_id("approve-insp_menu-zh-CN").click()
    expect(menu_row.get_by_test_id("prompt-status")).to_have_attribute("data-status", "approved")
    thanks = panel.get_by_test_id("prompt-row-thanks")
    expect(thanks.get_by_test_id("prompt-status")).to_have_attribute("data-status", "placeholder")
    shot(page, "prompts-tab")


# -- the admin --------------------------------------------------------------------------------
def test_an_admin_sets_the_policy_rolls_back_and_deletes_an_entry(
    session: Session, admin_api: httpx2.Client
) -> None:
    flow = tiny_flow("hotline")
    flow["name"] = "热线"
    assert admin_api.post("/api/flows", json=flow).status_code == 201
    assert _publish(admin_api, "hotline", "12329", "第一版") == 1
    _save(admin_api, tiny_flow("hotline", key2="other") | {"name": "热线"})
    assert _publish(admin_api, "hotline", "12329", "按2改为另一个分支") == 2
    _publish(admin_api, "hotline", "88880000", "测试号码")

    page = session.page()
    session.login(page, "admin")
    page.get_by_test_id("nav-entries").click()
    card = page.get_by_test_id("entry-12329")
    expect(card.get_by_test_id("entry-version-12329")).to_have_text("运行 hotline 第 2 版")
    expect(card.get_by_test_id("entry-history-12329")).to_contain_text("发布 v1 → v2")
    expect(card.get_by_test_id("policy-12329")).not_to_be_checked()
    expect(card.get_by_test_id("policy-12329")).to_be_enabled()
    shot(page, "entries-page")

    card.get_by_test_id("policy-12329").check()
    expect(page.get_by_test_id("entries-notice")).to_have_text("入口 12329：发布须录音已审核。")
    expect(card.get_by_test_id("policy-12329")).to_be_checked()
    assert admin_api.get("/api/entries/12329/policy").json()["require_approved"] is True

    card.get_by_test_id("rollback-version-12329").select_option("1")
    card.get_by_test_id("rollback-12329").click()
    expect(card.get_by_test_id("confirm-12329")).to_contain_text("回滚到第 1 版")
    card.get_by_test_id("confirm-ok-12329").click()
    expect(page.get_by_test_id("entries-notice")).to_have_text("入口 12329 已回滚到第 1 版。")
    expect(card.get_by_test_id("entry-version-12329")).to_have_text("运行 hotline 第 1 版")
    expect(card.get_by_test_id("entry-history-12329")).to_contain_text("回滚 v2 → v1")
    expect(card.get_by_test_id("policy-12329")).to_be_checked()
    shot(page, "entries-rolled-back")
    entries = {e["entry"]: e for e in admin_api.get("/api/entries").json()["entries"]}
    assert entries["12329"]["version"] == 1

    page.get_by_test_id("delete-88880000").click()
    expect(page.get_by_test_id("confirm-88880000")).to_contain_text("删除入口 88880000？")
    page.get_by_test_id("confirm-ok-88880000").click()
    expect(page.get_by_test_id("entries-notice")).to_have_text("入口 88880000 已删除。")
    expect(page.get_by_test_id("entry-88880000")).to_have_count(0)
    assert "88880000" not in {e["entry"] for e in admin_api.get("/api/entries").json()["entries"]}

    page.get_by_test_id("lang-switch").click()
    expect(card.get_by_test_id("entry-version-12329")).to_have_text("runs hotline version 1")
    expect(page.get_by_test_id("entries-notice")).to_have_text("Entry 88880000 deleted.")
    shot(page, "entries-en")
