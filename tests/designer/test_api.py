"""The designer REST API through HTTP (Starlette's test client on create_app), on SQLite and
PostgreSQL: sessions, CSRF, roles, drafts with revisions, validation, publishing, rollback,
versions, diff, import/export, users and the audit log — and the bad input of each."""

from __future__ import annotations

import copy
import json
import threading

from openapi_spec_validator import validate as validate_openapi
from support.designer import PASSWORD, ApiClient, example, tiny_flow


def _problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    assert body["message_zh"] and body["message_en"]
    return body


def _create(client: ApiClient, document: dict) -> dict:
    response = client.post("/api/flows", document)
    assert response.status_code == 201, response.text
    return response.json()


# -- meta ------------------------------------------------------------------------------------------
def test_health_and_a_valid_openapi_document(clients):
    anon = clients["anon"]
    assert anon.get("/api/health").json() == {
        "ok": True,
        "database": anon.http.app.state.services.engine.dialect.name,
    }
    spec = anon.get("/api/openapi.json").json()
    validate_openapi(spec)
    paths = spec["paths"]
    assert paths["/api/flows/{flow_id}"]["put"]["x-permission"] == "flows.write"
    assert {"get", "put", "delete"} <= set(paths["/api/flows/{flow_id}"])
    publish_body = paths["/api/flows/{flow_id}/publish"]["post"]["requestBody"]
    assert publish_body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PublishBody"
    }
    assert "entry" in spec["components"]["schemas"]["PublishBody"]["properties"]


def test_node_types_are_the_registry(clients):
    body = clients["viewer"].get("/api/node-types").json()
    types = {n["type"] for n in body["nodes"]}
    assert {"core.menu", "core.play", "core.transfer_queue"} <= types
    menu = next(n for n in body["nodes"] if n["type"] == "core.menu")
    assert menu["title"]["zh"] and menu["config_schema"]["type"] == "object"
    assert body["categories"]


def test_unknown_paths_and_methods_are_problems(clients):
    _problem(clients["viewer"].get("/api/nope"), 404, "not_found")
    _problem(clients["viewer"].http.patch("/api/flows"), 405, "request.method")


# -- sessions, CSRF, throttling --------------------------------------------------------------------
def test_login_sets_a_strict_httponly_cookie_and_returns_csrf(app):
    client = ApiClient(app)
    response = client.login("ed")
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    body = response.json()
    assert body["user"]["roles"] == ["editor"] and len(body["csrf_token"]) >= 24
    assert "flows.write" in body["user"]["permissions"]
    assert client.get("/api/session").json()["csrf_token"] == body["csrf_token"]
    assert client.post("/api/logout").json() == {"ok": True}
    _problem(client.get("/api/session"), 401, "auth.required")
    client.close()


def test_signed_out_and_forged_sessions_get_401(clients, app):
    _problem(clients["anon"].get("/api/flows"), 401, "auth.required")
    forged = ApiClient(app)
    forged.http.cookies.set("ivrflow_session", "x" * 43)
    _problem(forged.get("/api/flows"), 401, "auth.required")
    forged.http.cookies.set("ivrflow_session", "%" * 500)
    _problem(forged.get("/api/flows"), 401, "auth.required")
    forged.close()


def test_an_expired_session_is_refused(app, engine):
    from sqlalchemy import text

    client = ApiClient(app, "ed")
    with engine.begin() as connection:
        connection.execute(text("UPDATE web_session SET expires_at = created_at"))
    _problem(client.get("/api/flows"), 401, "auth.required")
    client.close()


def test_writes_need_the_csrf_token(clients):
    ed = clients["ed"]
    no_token = ed.http.post("/api/flows", content=json.dumps(tiny_flow()))
    _problem(no_token, 403, "auth.csrf")
    wrong = ed.http.post(
        "/api/flows", content=json.dumps(tiny_flow()), headers={"X-CSRF-Token": "guess"}
    )
    _problem(wrong, 403, "auth.csrf")
    assert ed.get("/api/flows").json() == {"flows": []}  # nothing was created


def test_writes_from_another_origin_are_refused(clients):
    ed = clients["ed"]
    response = ed.post("/api/flows", tiny_flow(), headers={"Origin": "https://evil.example"})
    _problem(response, 403, "request.origin")
    ok = ed.post("/api/flows", tiny_flow(), headers={"Origin": "http://designer.test"})
    assert ok.status_code == 201


def test_login_must_be_json(app):
    client = ApiClient(app)
    response = client.http.post("/api/login", data={"username": "ed", "password": PASSWORD})
    _problem(response, 415, "request.content_type")
    client.close()


def test_failed_logins_are_throttled_and_audited(app, clients):
    client = ApiClient(app)
    for _ in range(5):
        _problem(client.login("ed", "wrong password"), 401, "auth.failed")
    throttled = _problem(client.login("ed", PASSWORD), 429, "auth.throttled")
    assert "15" in throttled["message_en"]
    assert client.login("ed", PASSWORD).headers["retry-after"] == "900"
    # other users are not locked out by ed's failures
    assert client.login("pub").status_code == 200
    unknown = _problem(client.login("nobody", "whatever1"), 401, "auth.failed")
    assert unknown["message_en"] == "wrong username or password"  # no hint that it is unknown
    events = clients["admin"].get("/api/audit?action=login.failed").json()["events"]
    assert [e["target"] for e in events].count("ed") == 5
    assert events[0]["action_zh"] == "登录失败"
    client.close()


def test_a_disabled_user_is_signed_out_at_once(clients):
    ed = clients["ed"]
    assert ed.get("/api/flows").status_code == 200
    response = clients["admin"].patch("/api/users/ed", {"active": False})
    assert response.json()["active"] is False
    _problem(ed.get("/api/flows"), 401, "auth.required")
    _problem(ed.login("ed"), 401, "auth.failed")


# -- roles -----------------------------------------------------------------------------------------
def test_each_role_can_do_only_its_part(clients):
    flow = tiny_flow()
    _problem(clients["viewer"].post("/api/flows", flow), 403, "auth.forbidden")
    _problem(clients["rec"].post("/api/flows", flow), 403, "auth.forbidden")
    _create(clients["ed"], flow)
    assert clients["viewer"].get("/api/flows/tiny").status_code == 200
    body = {"entry": "12329", "message": "first"}
    denied = _problem(clients["ed"].post("/api/flows/tiny/publish", body), 403, "auth.forbidden")
    assert denied["permission"] == "flows.publish"
    assert clients["pub"].post("/api/flows/tiny/publish", body).status_code == 200
    _problem(clients["pub"].get("/api/users"), 403, "auth.forbidden")
    _problem(clients["pub"].get("/api/audit"), 403, "auth.forbidden")
    _problem(clients["pub"].delete("/api/entries/12329"), 403, "auth.forbidden")
    assert clients["admin"].delete("/api/entries/12329").json() == {"ok": True}


# -- drafts ----------------------------------------------------------------------------------------
def test_create_read_save_with_revisions(clients):
    ed = clients["ed"]
    created = _create(ed, tiny_flow())
    assert created["revision"] == 1 and created["created_by"] == "ed"
    response = ed.get("/api/flows/tiny")
    assert response.headers["etag"] == '"1"'
    document = response.json()["document"]
    document["name"] = "改过的菜单"
    saved = ed.put("/api/flows/tiny", document, headers={"If-Match": '"1"'})
    assert saved.status_code == 200 and saved.headers["etag"] == '"2"'
    assert "document" not in saved.json() and saved.json()["revision"] == 2
    assert ed.get("/api/flows/tiny").json()["document"]["name"] == "改过的菜单"
    listed = ed.get("/api/flows").json()["flows"]
    assert listed == [
        {
            "id": "tiny",
            "name": "改过的菜单",
            "revision": 2,
            "updated_at": listed[0]["updated_at"],
            "updated_by": "ed",
            "latest_version": None,
            "live": [],
            "status": "unpublished",
        }
    ]


def test_a_stale_save_is_refused_and_both_sides_are_kept(clients):
    ed, pub = clients["ed"], clients["pub"]
    _create(ed, tiny_flow())
    mine = ed.get("/api/flows/tiny").json()["document"]
    theirs = copy.deepcopy(mine)
    theirs["name"] = "同事的修改"
    assert pub.put("/api/flows/tiny", theirs, headers={"If-Match": '"1"'}).status_code == 200
    mine["name"] = "我的修改"
    conflict = _problem(
        ed.put("/api/flows/tiny", mine, headers={"If-Match": "1"}), 409, "draft.stale"
    )
    assert conflict["current"]["document"]["name"] == "同事的修改"
    assert conflict["current"]["updated_by"] == "pub" and conflict["current"]["revision"] == 2
    assert "pub" in conflict["message_zh"] and "revision 2" in conflict["message_en"]
    kept = ed.get(f"/api/flows/tiny/conflicts/{conflict['conflict_id']}").json()
    assert kept["document"]["name"] == "我的修改" and kept["author"] == "ed"
    assert ed.get("/api/flows/tiny").json()["document"]["name"] == "同事的修改"  # not overwritten


def test_saving_without_a_revision_is_refused(clients):
    ed = clients["ed"]
    _create(ed, tiny_flow())
    _problem(ed.put("/api/flows/tiny", tiny_flow()), 428, "draft.revision_required")
    _problem(
        ed.put("/api/flows/tiny", tiny_flow(), headers={"If-Match": "*"}),
        428,
        "draft.revision_required",
    )


def test_concurrent_saves_of_one_revision_exactly_one_wins(clients, app):
    _create(clients["ed"], tiny_flow())
    editors = [ApiClient(app, "ed") for _ in range(6)]
    results: list[int] = []

    def save(i: int, client: ApiClient) -> None:
        document = tiny_flow()
        document["name"] = f"editor {i}"
        results.append(
            client.put("/api/flows/tiny", document, headers={"If-Match": '"1"'}).status_code
        )

    threads = [threading.Thread(target=save, args=(i, c)) for i, c in enumerate(editors)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for client in editors:
        client.close()
    assert sorted(results) == [200, 409, 409, 409, 409, 409]
    assert clients["ed"].get("/api/flows/tiny").json()["revision"] == 2


def test_bad_documents_say_what_and_where(clients):
    ed = clients["ed"]
    broken = b'{\n  "schema_version": 1,\n  "id": "x",\n  "name": oops\n}'
    body = _problem(ed.post("/api/flows", content=broken), 400, "json.syntax")
    assert body["problems"][0]["line"] == 4
    _problem(ed.post("/api/flows", content=b"[1, 2]"), 400, "flow.not_object")
    _problem(ed.post("/api/flows", content=b"\xff\xfe{}"), 400, "json.encoding")
    _problem(ed.post("/api/flows", content=b""), 400, "request.empty")
    _problem(ed.post("/api/flows", {"id": "Bad Id!", "name": "x"}), 422, "flow.id")
    big = b'{"id": "big", "pad": "' + b"x" * 1_100_000 + b'"}'
    _problem(ed.post("/api/flows", content=big), 413, "flow.too_large")
    huge = b"x" * (5 * 1024 * 1024)
    _problem(ed.post("/api/flows", content=huge), 413, "request.too_large")
    _create(ed, tiny_flow())
    _problem(ed.post("/api/flows", tiny_flow()), 409, "flow.exists")
    other = tiny_flow("other")
    _problem(ed.put("/api/flows/tiny", other, headers={"If-Match": '"1"'}), 422, "flow.id_mismatch")
    _problem(ed.get("/api/flows/missing"), 404, "flow.unknown")
    assert ed.get("/api/flows/tiny").json()["revision"] == 1  # nothing changed


def test_hostile_names_are_kept_as_data(clients):
    ed = clients["ed"]
    flow = tiny_flow()
    flow["name"] = '<script>alert("x")</script>\'; DROP TABLE flow_draft; --'
    _create(ed, flow)
    response = ed.get("/api/flows/tiny")
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.json()["name"] == flow["name"]
    assert ed.get("/api/flows").json()["flows"][0]["name"] == flow["name"]


# -- validation ------------------------------------------------------------------------------------
def test_validate_the_draft_or_unsaved_edits(clients):
    ed = clients["ed"]
    flow = tiny_flow()
    flow["nodes"]["menu"]["exits"].pop("2")
    _create(ed, flow)
    result = ed.post("/api/flows/tiny/validate").json()
    assert result["ok"] is False and result["errors"] >= 1
    unwired = [p for p in result["problems"] if p["code"] == "exit.unwired"]
    assert unwired[0]["node"] == "menu"
    text = json.dumps(tiny_flow(), indent=2, ensure_ascii=False).replace('"key": "2"', '"key": 2')
    edited = ed.post("/api/flows/tiny/validate", content=text.encode()).json()
    located = [p for p in edited["problems"] if p["node"] == "menu"]
    assert located and located[0]["line"] is not None
    fixed = ed.post("/api/flows/tiny/validate", tiny_flow()).json()
    assert fixed["ok"] is True


# -- publishing ------------------------------------------------------------------------------------
def test_publish_rollback_versions_and_diff(clients):
    ed, pub = clients["ed"], clients["pub"]
    _create(ed, tiny_flow())
    first = pub.post("/api/flows/tiny/publish", {"entry": "12329", "message": "上线"}).json()
    assert first["version"] == 1 and first["previous_version"] is None
    assert [w["code"] for w in first["warnings"]] == ["node.unreachable"]
    changed = tiny_flow(key2="other")
    ed.put("/api/flows/tiny", changed, headers={"If-Match": '"1"'})
    assert ed.get("/api/flows").json()["flows"][0]["status"] == "modified"
    diff = ed.get("/api/flows/tiny/diff?from=live:12329&to=draft").json()
    assert any(c["node"] == "menu" and "2" in c["message_en"] for c in diff["changes"])
    second = pub.post(
        "/api/flows/tiny/publish", {"entry": "12329", "message": "按2", "base_revision": 2}
    ).json()
    assert second["version"] == 2 and second["previous_version"] == 1
    assert ed.get("/api/flows").json()["flows"][0]["status"] == "published"
    versions = ed.get("/api/flows/tiny/versions").json()["versions"]
    assert [(v["version"], v["live_on"], v["author"]) for v in versions] == [
        (2, ["12329"], "pub"),
        (1, [], "pub"),
    ]
    assert ed.get("/api/flows/tiny/versions/1").json()["nodes"]["menu"]["exits"]["2"] == "bye"
    back = pub.post("/api/entries/12329/rollback", {"version": 1, "message": "退回"}).json()
    assert back == {"entry": "12329", "flow_id": "tiny", "version": 1, "previous_version": 2}
    entries = ed.get("/api/entries").json()["entries"]
    assert entries[0]["version"] == 1
    assert [h["action"] for h in entries[0]["history"]] == ["rollback", "publish", "publish"]
    _problem(pub.post("/api/entries/12329/rollback", {"version": 9}), 404, "rollback.unknown")
    _problem(pub.post("/api/entries/nope/rollback", {"version": 1}), 404, "rollback.unknown")
    _problem(ed.get("/api/flows/tiny/versions/9"), 404, "version.unknown")
    _problem(ed.get("/api/flows/tiny/diff?from=banana"), 400, "diff.side")


def test_publishing_is_blocked_by_errors_and_stale_reviews(clients):
    ed, pub = clients["ed"], clients["pub"]
    flow = tiny_flow()
    flow["nodes"]["menu"]["exits"]["1"] = "nowhere"
    _create(ed, flow)
    rejected = _problem(
        pub.post("/api/flows/tiny/publish", {"entry": "12329"}), 422, "publish.invalid"
    )
    assert any(p["node"] == "menu" for p in rejected["problems"])
    assert ed.get("/api/entries").json() == {"entries": []}
    ed.put("/api/flows/tiny", tiny_flow(), headers={"If-Match": '"1"'})
    stale = pub.post("/api/flows/tiny/publish", {"entry": "12329", "base_revision": 1})
    _problem(stale, 409, "draft.stale")
    bad_entry = pub.post("/api/flows/tiny/publish", {"entry": "../etc"})
    _problem(bad_entry, 422, "entry.name")
    missing_field = _problem(pub.post("/api/flows/tiny/publish", {}), 422, "request.invalid")
    assert missing_field["problems"][0]["pointer"] == "/entry"
    _problem(pub.post("/api/flows/nope/publish", {"entry": "x"}), 404, "flow.unknown")


def test_concurrent_publishes_of_one_entry_all_land_in_order(clients, app):
    _create(clients["ed"], tiny_flow())
    publishers = [ApiClient(app, "pub") for _ in range(5)]
    results: list[int] = []

    def go(client: ApiClient) -> None:
        response = client.post("/api/flows/tiny/publish", {"entry": "12329"})
        results.append(response.status_code)

    threads = [threading.Thread(target=go, args=(c,)) for c in publishers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for client in publishers:
        client.close()
    assert results == [200] * 5
    entries = clients["ed"].get("/api/entries").json()["entries"]
    assert entries[0]["version"] == 1  # the same document: one version, published five times
    assert len(entries[0]["history"]) == 5


def test_the_12329_flows_publish_with_their_subflows(clients):
    ed, pub = clients["ed"], clients["pub"]
    for name in ("agent.json", "appointment.json", "main.json"):
        _create(ed, example(name))
    result = pub.post("/api/flows/12329-main/publish", {"entry": "12329"})
    body = result.json()
    assert result.status_code == 200, body
    assert set(body["dependencies"]) == {"12329-agent", "12329-appointment"}


# -- import / export -------------------------------------------------------------------------------
def test_export_then_import_round_trip(clients, app):
    ed = clients["ed"]
    for name in ("agent.json", "appointment.json", "main.json"):
        _create(ed, example(name))
    bundle = ed.get("/api/flows/12329-main/export").json()
    assert bundle["format"] == "ivrflow-export/1"
    assert bundle["flows"][0]["id"] == "12329-main"
    assert {f["id"] for f in bundle["flows"]} == {"12329-main", "12329-agent", "12329-appointment"}
    some_prompt = next(iter(bundle["prompts"].values()))
    assert some_prompt["used_by"] and "zh-CN" in some_prompt["text"]
    _problem(ed.post("/api/flows/import", bundle), 409, "import.exists")
    replaced = ed.post("/api/flows/import", {**bundle, "on_conflict": "replace"}).json()
    assert {i["revision"] for i in replaced["imported"]} == {2}
    _problem(ed.post("/api/flows/import", {**bundle, "format": "x"}), 422, "import.format")
    # all or nothing: one bad flow in a bundle and none of it is imported
    half_bad = {"format": "ivrflow-export/1", "flows": [tiny_flow("fresh"), {"id": "Bad!"}]}
    _problem(ed.post("/api/flows/import", half_bad), 422, "flow.id")
    twice = {"format": "ivrflow-export/1", "flows": [tiny_flow("fresh"), tiny_flow("fresh")]}
    _problem(ed.post("/api/flows/import", twice), 422, "import.duplicate")
    _problem(ed.get("/api/flows/fresh"), 404, "flow.unknown")
    fresh = ed.post(
        "/api/flows/import", {"format": "ivrflow-export/1", "flows": [tiny_flow("fresh")]}
    )
    assert fresh.json() == {"imported": [{"id": "fresh", "revision": 1}]}
    events = clients["admin"].get("/api/audit?action=flow.import").json()["events"]
    assert events[0]["target"] == "fresh" and events[1]["detail"]["replace"] is True
    _problem(
        ed.post("/api/flows/import", {"format": "ivrflow-export/1", "flows": []}),
        422,
        "request.invalid",
    )


# -- deleting --------------------------------------------------------------------------------------
def test_a_live_flow_cannot_be_deleted(clients):
    ed, pub = clients["ed"], clients["pub"]
    _create(ed, tiny_flow())
    pub.post("/api/flows/tiny/publish", {"entry": "12329"})
    live = _problem(ed.delete("/api/flows/tiny"), 409, "flow.live")
    assert live["entries"] == ["12329"]
    clients["admin"].delete("/api/entries/12329")
    assert ed.delete("/api/flows/tiny").json() == {"ok": True}
    _problem(ed.get("/api/flows/tiny"), 404, "flow.unknown")
    assert ed.get("/api/flows/tiny/versions").json()["versions"][0]["version"] == 1  # history stays


# -- users and audit -------------------------------------------------------------------------------
def test_admin_manages_users_and_roles(clients, app):
    admin = clients["admin"]
    created = admin.post(
        "/api/users", {"username": "li.na", "password": "long enough 1", "roles": ["recorder"]}
    )
    assert created.status_code == 201 and created.json()["roles"] == ["recorder"]
    _problem(
        admin.post(
            "/api/users", {"username": "li.na", "password": "long enough 1", "roles": ["viewer"]}
        ),
        409,
        "user.exists",
    )
    _problem(
        admin.post("/api/users", {"username": "x", "password": "short", "roles": ["viewer"]}),
        422,
        "request.invalid",
    )
    _problem(
        admin.post(
            "/api/users", {"username": "<b>", "password": "long enough 1", "roles": ["viewer"]}
        ),
        422,
        "user.username",
    )
    _problem(
        admin.post("/api/users", {"username": "zz", "password": "long enough 1", "roles": ["god"]}),
        422,
        "user.roles",
    )
    assert admin.patch("/api/users/li.na", {"roles": ["editor", "publisher"]}).json()["roles"] == [
        "editor",
        "publisher",
    ]
    _problem(admin.patch("/api/users/admin", {"roles": ["viewer"]}), 409, "user.last_admin")
    _problem(admin.patch("/api/users/ghost", {"active": False}), 404, "user.unknown")
    li = ApiClient(app, "li.na", "long enough 1")
    assert li.post(
        "/api/session/password", {"old_password": "long enough 1", "new_password": "even longer 2"}
    ).json() == {"ok": True}
    _problem(
        li.post(
            "/api/session/password", {"old_password": "wrong one!", "new_password": "even longer 3"}
        ),
        403,
        "user.password_wrong",
    )
    li.close()
    events = admin.get("/api/audit?target=li.na").json()["events"]
    assert [e["action"] for e in events] == ["user.password", "login", "user.roles", "user.create"]
    assert events[2]["detail"] == {"from": ["recorder"], "to": ["editor", "publisher"]}


def test_the_audit_log_records_every_change(clients):
    ed, pub = clients["ed"], clients["pub"]
    _create(ed, tiny_flow())
    ed.put("/api/flows/tiny", tiny_flow(), headers={"If-Match": '"1"'})
    ed.put("/api/flows/tiny", tiny_flow(), headers={"If-Match": '"1"'})  # stale
    pub.post("/api/flows/tiny/publish", {"entry": "12329", "message": "m"})
    pub.post("/api/entries/12329/rollback", {"version": 1})
    events = clients["admin"].get("/api/audit?target=tiny").json()["events"]
    assert [e["action"] for e in events] == [
        "flow.publish",
        "flow.conflict",
        "flow.save",
        "flow.create",
    ]
    assert events[0]["detail"]["entry"] == "12329" and events[0]["actor"] == "pub"
    rollback = clients["admin"].get("/api/audit?action=entry.rollback").json()["events"]
    assert rollback[0]["target"] == "12329"
    page = clients["admin"].get("/api/audit?limit=2").json()["events"]
    older = clients["admin"].get(f"/api/audit?limit=2&before={page[-1]['id']}").json()["events"]
    assert len(page) == 2 and older[0]["id"] < page[-1]["id"]
    _problem(clients["admin"].get("/api/audit?limit=-4"), 400, "request.query")
