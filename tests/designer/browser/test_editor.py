"""The browser designer, end to end in Chromium: a person who never sees JSON signs in, builds
a main menu with three branches by dragging, connecting and filling in forms, fixes a
problem from the problems panel, saves, publishes, takes test calls through two branches,
rolls back; and a second person's stale save gets the conflict dialog.

Screenshots: ``test-artifacts/screenshots/editor-*.png``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from support.browser import screenshot as shot
from support.browser import skip_reason

if TYPE_CHECKING:
    from playwright.sync_api import Page
    from support.browser import Session

_reason = skip_reason()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402  (after the skip: may be missing)

NODE_WIDTH = 220


# -- helpers -----------------------------------------------------------------------------------
def _viewport(page: Page) -> tuple[float, float, float, dict[str, float]]:
    """The canvas transform (translate x, y and zoom) and the canvas box on the screen."""
    style = page.eval_on_selector(".react-flow__viewport", "e => e.style.transform")
    match = re.search(r"translate\(([-\d.]+)px, ([-\d.]+)px\) scale\(([-\d.]+)\)", style)
    assert match, style
    box = page.locator(".react-flow").bounding_box()
    assert box is not None
    return float(match[1]), float(match[2]), float(match[3]), box


def drop(page: Page, node_type: str, x: float, y: float) -> str:
    """Drag a node type from the palette so that its top-left lands at flow point (x, y);
    returns the new node's id (the new node is selected and shown in the inspector)."""
    tx, ty, zoom, box = _viewport(page)
    canvas = page.locator("[data-testid=canvas]").bounding_box()
    assert canvas is not None
    before = set(page.eval_on_selector_all(".react-flow__node", "ns => ns.map(n => n.dataset.id)"))
    point = {
        "x": box["x"] + tx + (x + NODE_WIDTH / 2) * zoom - canvas["x"],
        "y": box["y"] + ty + (y + 20) * zoom - canvas["y"],
    }
    page.drag_and_drop(
        f"[data-testid='palette-{node_type}']", "[data-testid=canvas]", target_position=point
    )
    page.wait_for_function(
        "n => document.querySelectorAll('.react-flow__node').length > n", arg=len(before)
    )
    after = set(page.eval_on_selector_all(".react-flow__node", "ns => ns.map(n => n.dataset.id)"))
    (node_id,) = after - before
    expect(page.get_by_test_id("node-id")).to_have_value(node_id)
    return node_id


def wire(page: Page, source: str, exit_name: str, target: str) -> None:
    """Drag from a node's exit port to another node's input."""
    handle = page.locator(f"[data-testid='port-{source}-{exit_name}'] .react-flow__handle")
    target_in = page.locator(f".react-flow__node[data-id='{target}'] .react-flow__handle.target")
    handle.drag_to(target_in)
    expect(page.get_by_test_id(f"rf__edge-{source}::{exit_name}")).to_have_count(1)


def select_node(page: Page, node_id: str) -> None:
    page.get_by_test_id("tab-props").click()
    page.locator(f".react-flow__node[data-id='{node_id}'] .ivr-node-label").click()
    expect(page.get_by_test_id("node-id")).to_have_value(node_id)


def new_prompt(page: Page, field_id: str, prompt_id: str, text: str) -> None:
    """In a prompt field of the form: '+ New prompt…', its id and script text."""
    page.select_option(f"#{field_id}", "__new__")
    page.get_by_test_id("prompt-new-id").fill(prompt_id)
    page.get_by_test_id("prompt-new-text").fill(text)
    page.get_by_test_id("prompt-new-ok").click()
    expect(page.locator(f"#{field_id}")).to_have_value(prompt_id)


def exit_to(page: Page, exit_name: str, target: str) -> None:
    """Connect an exit of the selected node from the inspector's exit list."""
    page.get_by_test_id(f"exit-target-{exit_name}").select_option(target)
    expect(
        page.get_by_test_id(f"rf__edge-{page.get_by_test_id('node-id').input_value()}::{exit_name}")
    ).to_have_count(1)


def save(page: Page) -> None:
    page.keyboard.press("Control+s")
    expect(page.get_by_test_id("save-state")).to_have_attribute("data-dirty", "0")


def new_flow(page: Page, flow_id: str, name: str) -> None:
    page.get_by_test_id("new-flow").click()
    page.get_by_test_id("new-flow-id").fill(flow_id)
    page.get_by_test_id("new-flow-name").fill(name)
    page.get_by_test_id("new-flow-create").click()
    expect(page.get_by_test_id("flow-title")).to_have_text(name)
    expect(page.locator(".react-flow__node[data-id='start']")).to_be_visible()


def call(page: Page, key: str, expect_heard: str) -> None:
    """A test call on the saved draft: hear the menu, press ``key``, hear ``expect_heard``."""
    page.get_by_test_id("sim-start").click()
    log = page.get_by_test_id("sim-log")
    expect(log).to_contain_text("查询账户请按1")
    page.get_by_test_id(f"key-{key}").click()
    expect(log).to_contain_text(expect_heard)
    expect(log.locator("[data-kind=end]")).to_have_count(1)
    expect(page.get_by_test_id("sim-status")).to_have_attribute("data-status", "ended")


# -- the journey ---------------------------------------------------------------------------------
def test_build_fix_publish_test_call_and_roll_back(session: Session) -> None:
    page = session.page()
    session.login(page, "admin")
    expect(page.get_by_text("还没有流程")).to_be_visible()  # Chinese by default
    shot(page, "editor-01-flow-list-empty")
    new_flow(page, "hotline", "12329 测试热线")

    page.locator(".react-flow__controls-zoomout").click()
    page.locator(".react-flow__controls-zoomout").click()

    # the main menu: three keys, each its own exit port
    menu = drop(page, "core.menu", 300, 0)
    page.get_by_test_id("node-label").fill("主菜单")
    greeting = "您好，查询账户请按1，贷款请按2，人工服务请按0。"
    new_prompt(page, "cfg_menu_prompts_0", "main_menu", greeting)
    for i, (key, label) in enumerate([("1", "账户查询"), ("2", "贷款查询"), ("0", "人工服务")]):
        if i:
            page.click("#cfg_menu_options__add")
        page.select_option(f"#cfg_menu_options_{i}_key", label=key)
        page.fill(f"#cfg_menu_options_{i}_label", label)
        expect(page.get_by_test_id(f"port-{menu}-{key}")).to_contain_text(label)
    page.fill("#cfg_menu_timeout_ms", "30000")

    account = drop(page, "core.play", 600, -200)
    page.get_by_test_id("node-label").fill("账户余额")
    new_prompt(page, f"cfg_{account}_prompts_0", "account", "您的公积金账户余额为一万二千元。")
    loan = drop(page, "core.play", 600, 0)
    page.get_by_test_id("node-label").fill("贷款信息")
    new_prompt(page, f"cfg_{loan}_prompts_0", "loan", "您的贷款余额为三十万元。")
    agent = drop(page, "core.transfer_queue", 600, 200)
    page.get_by_test_id("node-label").fill("人工服务")
    page.fill(f"#cfg_{agent}_queue", "12329")
    bye = drop(page, "core.hangup", 900, 0)
    page.get_by_test_id("node-label").fill("再见")

    # connect by dragging exit ports onto inputs …
    wire(page, "start", "next", menu)
    wire(page, menu, "1", account)
    wire(page, menu, "2", loan)
    wire(page, menu, "0", agent)
    wire(page, account, "next", bye)
    wire(page, loan, "next", bye)
    # … and from the inspector's exit list
    select_node(page, agent)
    for exit_name in ("completed", "timeout", "unavailable", "error"):
        exit_to(page, exit_name, bye)
    select_node(page, menu)
    exit_to(page, "timeout", bye)
    page.locator(".react-flow__pane").click(position={"x": 20, "y": 20})  # nothing selected
    page.get_by_role("button", name="适应画布").click()

    # one exit is left unwired: the problems panel says so; clicking it selects the menu
    problem = page.locator("[data-testid=problem-item][data-code='exit.unwired']")
    expect(problem).to_have_count(1)
    expect(problem).to_contain_text("无效输入")
    badge = page.locator(f"[data-testid=node-{menu}] [data-testid=node-error-badge]")
    expect(badge).to_be_visible()
    shot(page, "editor-02-problem")
    problem.click()
    expect(page.get_by_test_id("node-id")).to_have_value(menu)
    expect(page.locator(f".react-flow__node[data-id='{menu}']")).to_have_class(
        re.compile("selected")
    )
    exit_to(page, "invalid", bye)
    expect(page.get_by_test_id("problems-summary")).to_have_text(re.compile("^0 个错误"))
    expect(page.locator("[data-testid=node-error-badge]")).to_have_count(0)
    shot(page, "editor-03-menu-three-branches")

    save(page)
    expect(page.get_by_test_id("save-state")).to_contain_text("已保存")

    # publish: the dialog shows what changes and asks for a release note
    page.get_by_test_id("publish").click()
    page.get_by_test_id("publish-entry").fill("12345")
    expect(page.get_by_test_id("publish-diff")).to_contain_text("第一次发布")
    page.get_by_test_id("publish-message").fill("第一版：账户、贷款、人工")
    page.get_by_test_id("publish-submit").click()
    expect(page.get_by_test_id("publish-done")).to_contain_text("第 1 版", timeout=60_000)
    page.get_by_test_id("publish-close").click()

    # test calls through two branches; the canvas shows the path taken
    page.get_by_test_id("tab-test").click()
    call(page, "1", "您的公积金账户余额为一万二千元。")
    expect(page.locator(f"[data-testid=node-{account}]")).to_have_class(re.compile("visited"))
    expect(page.get_by_test_id(f"rf__edge-{menu}::1")).to_have_class(re.compile("taken"))
    shot(page, "editor-04-test-call-key-1")
    call(page, "2", "您的贷款余额为三十万元。")
    expect(page.locator(f"[data-testid=node-{loan}]")).to_have_class(re.compile("visited"))
    expect(page.locator(f"[data-testid=node-{account}]")).not_to_have_class(re.compile("visited"))
    shot(page, "editor-05-test-call-key-2")

    # a second release: the diff names the change; then roll the entry back to version 1
    select_node(page, loan)
    page.get_by_test_id("tab-prompts").click()
    page.get_by_test_id("prompt-text-loan-zh-CN").fill("您的贷款余额为二十九万元。")
    save(page)
    page.get_by_test_id("publish").click()
    expect(page.get_by_test_id("publish-entry")).to_have_value("12345")
    expect(page.get_by_test_id("diff-change").first).to_be_visible()
    expect(page.get_by_test_id("publish-diff")).to_contain_text("loan")
    shot(page, "editor-06-publish-diff")
    page.get_by_test_id("publish-message").fill("贷款提示更新")
    page.get_by_test_id("publish-submit").click()
    expect(page.get_by_test_id("publish-done")).to_contain_text("第 2 版", timeout=60_000)
    page.get_by_test_id("publish-close").click()
    page.get_by_test_id("tab-history").click()
    expect(page.get_by_test_id("version-2")).to_contain_text("12345")
    page.get_by_test_id("rollback-12345-1").click()
    page.get_by_test_id("rollback-ok").click()
    expect(page.get_by_test_id("history-notice")).to_contain_text("第 1 版")
    expect(page.get_by_test_id("version-1")).to_contain_text("线上 12345")
    shot(page, "editor-07-rolled-back")

    # the English switch
    page.get_by_test_id("lang-switch").click()
    expect(page.get_by_test_id("tab-history")).to_have_text("History")
    page.get_by_test_id("lang-switch").click()


def test_a_stale_save_shows_who_changed_it(session: Session) -> None:
    mine = session.page()
    session.login(mine, "admin")
    new_flow(mine, "conflict-demo", "冲突演示")
    drop(mine, "core.hangup", 300, 0)
    mine.get_by_test_id("node-label").fill("结束")
    save(mine)

    theirs = session.page()
    session.login(theirs, "ed")
    theirs.get_by_test_id("open-conflict-demo").click()
    select_node(theirs, "hangup")
    theirs.get_by_test_id("node-label").fill("对方改的结束语")
    save(theirs)

    select_node(mine, "hangup")
    mine.get_by_test_id("node-label").fill("我改的结束语")
    mine.keyboard.press("Control+s")
    dialog = mine.get_by_test_id("conflict-dialog")
    expect(dialog).to_be_visible()
    expect(mine.get_by_test_id("conflict-text")).to_contain_text("ed")
    expect(mine.get_by_test_id("conflict-text")).to_contain_text("副本")
    shot(mine, "editor-08-conflict")
    mine.get_by_test_id("conflict-reload").click()
    expect(dialog).to_have_count(0)
    expect(mine.locator("[data-testid=node-hangup] .ivr-node-label")).to_have_text("对方改的结束语")
    expect(mine.get_by_test_id("save-state")).to_have_attribute("data-dirty", "0")


def test_ports_follow_the_form_and_the_keyboard_edits(session: Session) -> None:
    page = session.page()
    session.login(page, "admin")
    new_flow(page, "keys-demo", "快捷键")
    menu = drop(page, "core.menu", 300, 0)
    page.select_option("#cfg_menu_options_0_key", label="1")
    page.click("#cfg_menu_options__add")
    page.select_option("#cfg_menu_options_1_key", label="2")
    expect(page.get_by_test_id(f"port-{menu}-2")).to_be_visible()
    page.click("#cfg_menu_options_1__remove")  # the key goes, and its port with it
    expect(page.get_by_test_id(f"port-{menu}-2")).to_have_count(0)
    expect(page.get_by_test_id(f"port-{menu}-1")).to_be_visible()

    nodes = page.locator(".react-flow__node")
    select_node(page, menu)
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    expect(nodes).to_have_count(3)
    expect(page.get_by_test_id("node-id")).to_have_value("menu_2")
    expect(page.get_by_test_id("port-menu_2-1")).to_be_visible()  # the copy has the key too
    page.keyboard.press("Delete")
    expect(nodes).to_have_count(2)
    page.keyboard.press("Control+z")
    expect(nodes).to_have_count(3)
    page.keyboard.press("Control+Shift+z")
    expect(nodes).to_have_count(2)
    page.get_by_test_id("palette-search").fill("排队")
    expect(page.get_by_test_id("palette-core.transfer_queue")).to_be_visible()
    expect(page.get_by_test_id("palette-core.menu")).to_have_count(0)
    page.get_by_test_id("palette-search").fill("")

    page.get_by_test_id("lang-switch").click()
    expect(page.locator(f"[data-testid=node-{menu}] .ivr-node-type")).to_have_text("Menu")
    expect(page.get_by_test_id(f"port-{menu}-1")).to_contain_text("Key 1")
    page.get_by_test_id("lang-switch").click()
    expect(page.get_by_test_id(f"port-{menu}-1")).to_contain_text("按 1")
