"""``GET /api/plugin-pages``: the pages plugins describe for the designer's "业务数据 /
Business data" section, each shown only to users with its permission, with whether they may
use its add form and each row action; in the OpenAPI document like every endpoint."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openapi_spec_validator import validate as validate_openapi
from support.designer import ApiClient, add_user, make_app

from nodes.plugins import PageAction, PageColumn, PageForm, PluginPage

_FORM = {"type": "object", "properties": {"value": {"type": "string", "title": "值 / Value"}}}


def _page(page_id: str, permission: str, **kw) -> PluginPage:
    return PluginPage(
        id=page_id,
        title={"zh": f"页面 {page_id}", "en": f"Page {page_id}"},
        description={"zh": "说明", "en": "About"},
        permission=permission,
        list_url=f"/api/{page_id}",
        items_key="items",
        columns=[PageColumn("value", {"zh": "值", "en": "Value"}, "code")],
        **kw,
    )


PAGES = [
    _page(
        "things",
        "flows.read",
        create=PageForm("/api/things", _FORM, "entries.manage"),
        actions=[
            PageAction(
                "delete", {"zh": "删除", "en": "Delete"}, "DELETE", "/api/x/{id}", "entries.manage"
            ),
            PageAction(
                "send", {"zh": "发送", "en": "Send"}, "POST", "/api/x/{id}/send", "flows.publish"
            ),
        ],
    ),
    _page("secrets", "users.manage"),
    _page("recordings", "prompts.write"),
]


@pytest.fixture
def clients(engine) -> Iterator[dict[str, ApiClient]]:
    app = make_app(engine, pages=PAGES)
    for name, roles in {
        "admin": ["admin"],
        "viewer": ["viewer"],
        "pub": ["editor", "publisher"],
        "rec": ["recorder"],
    }.items():
        add_user(app, name, *roles)
    made = {name: ApiClient(app, name) for name in ("admin", "viewer", "pub", "rec")}
    made["anon"] = ApiClient(app)
    yield made
    for client in made.values():
        client.close()


def _seen(client: ApiClient) -> dict[str, tuple]:
    reply = client.get("/api/plugin-pages")
    assert reply.status_code == 200, reply.text
    return {
        p["id"]: (
            p["create"] and p["create"]["allowed"],
            tuple((a["id"], a["allowed"]) for a in p["actions"]),
        )
        for p in reply.json()["pages"]
    }


def test_each_user_sees_the_pages_and_buttons_their_permissions_allow(clients):
    assert clients["anon"].get("/api/plugin-pages").status_code == 401
    assert _seen(clients["viewer"]) == {"things": (False, (("delete", False), ("send", False)))}
    assert _seen(clients["pub"]) == {"things": (False, (("delete", False), ("send", True)))}
    assert _seen(clients["rec"]) == {
        "things": (False, (("delete", False), ("send", False))),
        "recordings": (None, ()),
    }
    assert _seen(clients["admin"]) == {
        "things": (True, (("delete", True), ("send", True))),
        "secrets": (None, ()),
        "recordings": (None, ()),
    }


def test_a_page_is_described_as_the_plugin_declared_it(clients):
    [page, *_] = clients["admin"].get("/api/plugin-pages").json()["pages"]
    assert page["title"] == {"zh": "页面 things", "en": "Page things"}
    assert (page["list_url"], page["items_key"], page["row_key"]) == ("/api/things", "items", "id")
    assert page["columns"] == [
        {"key": "value", "title": {"zh": "值", "en": "Value"}, "kind": "code", "labels": {}}
    ]
    assert page["create"] == {
        "url": "/api/things",
        "method": "POST",
        "schema": _FORM,
        "permission": "entries.manage",
        "title": None,
        "allowed": True,
    }
    assert page["actions"][0]["url"] == "/api/x/{id}" and page["actions"][0]["confirm"] is None


def test_without_plugins_there_are_no_pages_and_the_endpoint_is_documented(engine):
    app = make_app(engine)
    add_user(app, "viewer", "viewer")
    client = ApiClient(app, "viewer")
    try:
        assert client.get("/api/plugin-pages").json() == {"pages": []}
        spec = client.get("/api/openapi.json").json()
        validate_openapi(spec)
        operation = spec["paths"]["/api/plugin-pages"]["get"]
        assert operation["x-permission"] == "flows.read"
        assert operation["summary"].startswith("The plugins' pages the signed-in user may see")
    finally:
        client.close()


def test_a_page_naming_an_unknown_permission_is_left_out_and_logged(engine, caplog):
    typo = _page(
        "typo",
        "flows.read",
        actions=[
            PageAction("go", {"zh": "执行", "en": "Go"}, "POST", "/api/x/{id}", "flow.publish")
        ],
    )
    with caplog.at_level("ERROR", logger="ivrflow.designer"):
        app = make_app(engine, pages=[*PAGES, typo])
    add_user(app, "admin", "admin")
    listed = ApiClient(app, "admin").get("/api/plugin-pages").json()["pages"]
    assert [p["id"] for p in listed] == ["things", "secrets", "recordings"]
    [record] = caplog.records
    assert "typo" in record.getMessage() and "flow.publish" in record.getMessage()
