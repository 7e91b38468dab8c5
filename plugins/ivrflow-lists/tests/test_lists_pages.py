"""The lists' pages in the designer's "业务数据 / Business data" section: one per list, every
URL answered by the plugin's own routes, the add form's schema accepting what the API accepts
(and the API's located zh/en error for what only it can judge), delete on a row."""

from __future__ import annotations

from designer.testing import form_errors, unresolved_page_urls

EXAMPLE = {
    "kind": "prefix",
    "value": "+86 170",
    "reason": "虚拟号段",
    "expires_at": "2099-07-01T00:30:00.000Z",  # what the form's date-time widget sends
}


def test_one_page_per_list_resolving_against_the_plugins_routes(plugins, app, clients):
    assert [p.id for p in plugins.pages] == ["lists.block", "lists.allow", "lists.vip"]
    admin = clients["admin"]
    for page in plugins.pages:
        assert page.create is not None
        assert form_errors(page.create.schema, EXAMPLE) == []
        listed = admin.get(page.list_url, params={"expired": "0"})
        assert listed.status_code == 200, listed.text
        assert listed.json()[page.items_key] == []
        created = admin.send(page.create.method, page.create.url, EXAMPLE)
        assert created.status_code == 201, created.text
        [row] = admin.get(page.list_url).json()[page.items_key]
        assert row["value"] == "170" and row["expires_at"] == "2099-07-01T00:30:00+00:00"
        assert {c.key for c in page.columns} <= set(row)
        assert unresolved_page_urls(app, page, row, EXAMPLE) == []
        [delete] = page.actions
        gone = admin.send(delete.method, delete.url.format(**row))
        assert gone.status_code == 200, gone.text
        assert admin.get(page.list_url).json()[page.items_key] == []


def test_what_only_the_api_can_judge_comes_back_located(plugins, clients):
    page = plugins.pages[0]
    assert page.create is not None
    bad = {"kind": "pattern", "value": "abc"}
    assert form_errors(page.create.schema, bad) == []  # the form lets it through…
    refused = clients["admin"].send("POST", page.create.url, bad)
    assert refused.status_code == 422
    body = refused.json()
    assert body["message_zh"].startswith("名单号码有误：号码规则第 1 个字符 “a” 无效")
    assert [p["pointer"] for p in body["problems"]] == ["/value"]
    assert form_errors(page.create.schema, {"kind": "regex", "value": ""}) != []


def test_viewers_see_the_pages_without_add_or_delete(clients):
    viewer = clients["viewer"].get("/api/plugin-pages").json()["pages"]
    admin = clients["admin"].get("/api/plugin-pages").json()["pages"]
    assert (
        [p["id"] for p in viewer]
        == [p["id"] for p in admin]
        == [
            "lists.block",
            "lists.allow",
            "lists.vip",
        ]
    )
    assert {(p["create"]["allowed"], p["actions"][0]["allowed"]) for p in viewer} == {
        (False, False)
    }
    assert {(p["create"]["allowed"], p["actions"][0]["allowed"]) for p in admin} == {(True, True)}
