"""The plugin's designer API: admins manage the lists, everyone signed in reads and checks,
invalid entries are refused with located zh/en problems, every change is audited, and test
calls use the lists."""

from __future__ import annotations

from openapi_spec_validator import validate as validate_openapi


def _walk(client, start: dict) -> list[dict]:
    with client.http.websocket_connect("ws://designer.test/api/simulate") as ws:
        ws.send_json({"type": "start", **start})
        events = []
        while True:
            event = ws.receive_json()
            events.append(event)
            if event["type"] in ("end", "error"):
                return events


def test_admins_write_others_read(clients):
    admin, ed, viewer, anon = (clients[n] for n in ("admin", "ed", "viewer", "anon"))
    entry = {"kind": "exact", "value": "+86 139-1234-5678", "reason": "骚扰电话"}
    assert anon.get("/api/lists").status_code == 401
    assert ed.send("POST", "/api/lists/block", entry).status_code == 403
    created = admin.send("POST", "/api/lists/block", entry)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["value"], body["created_by"], body["expires_at"]) == ("13912345678", "admin", None)
    again = admin.send("POST", "/api/lists/block", {**entry, "value": "13912345678"})
    assert again.status_code == 409 and again.json()["code"] == "lists.duplicate"
    summary = viewer.get("/api/lists").json()["lists"]
    assert [(s["name"], s["entries"]) for s in summary] == [("block", 1), ("allow", 0), ("vip", 0)]
    listed = viewer.get("/api/lists/block").json()["entries"]
    assert [(e["id"], e["reason"], e["expired"]) for e in listed] == [
        (body["id"], "骚扰电话", False)
    ]
    assert viewer.get("/api/lists/grey").status_code == 404
    assert admin.send("POST", "/api/lists/grey", entry).json()["code"] == "lists.unknown"
    assert ed.send("DELETE", f"/api/lists/block/{body['id']}").status_code == 403
    assert admin.send("DELETE", f"/api/lists/allow/{body['id']}").status_code == 404
    assert admin.send("DELETE", f"/api/lists/block/{body['id']}").json() == {"ok": True}
    assert admin.send("DELETE", f"/api/lists/block/{body['id']}").status_code == 404


def test_invalid_entries_are_refused_with_located_problems(clients):
    admin = clients["admin"]
    response = admin.send("POST", "/api/lists/block", {"kind": "pattern", "value": "^139.*"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "lists.invalid"
    [problem] = body["problems"]
    assert (problem["code"], problem["pointer"]) == ("lists.pattern_char", "/value")
    assert "第 1 个字符" in problem["message_zh"] and "character 1" in problem["message_en"]
    cases = [
        {"kind": "exact", "value": ""},
        {"kind": "exact", "value": "139abc"},
        {"kind": "prefix", "value": "anonymous"},
        {"kind": "pattern", "value": "1*3"},
        {"kind": "pattern", "value": "??*"},
        {"kind": "exact", "value": "13912345678", "expires_at": "2001-01-01T00:00:00"},
    ]
    for case in cases:
        refused = admin.send("POST", "/api/lists/vip", case)
        assert refused.status_code == 422, (case, refused.text)
    assert admin.send("POST", "/api/lists/vip", {"kind": "regex", "value": "1"}).status_code == 422
    broken = admin.http.post(
        "/api/lists/vip",
        content=b'{"value": ',
        headers={"X-CSRF-Token": admin.csrf, "Content-Type": "application/json"},
    )
    assert broken.status_code == 400
    assert admin.get("/api/lists/vip").json()["entries"] == []


def test_operators_manage_the_lists_publishers_do_not(clients):
    """The lists are business data: the operator role (data.manage) keeps them, not only
    admins; publishing flows does not give that right."""
    ops, pub = clients["ops"], clients["pub"]
    body = {"kind": "exact", "value": "13500001111", "reason": "骚扰"}
    assert pub.send("POST", "/api/lists/block", body).status_code == 403
    made = ops.send("POST", "/api/lists/block", body)
    assert made.status_code == 201
    assert ops.send("DELETE", f"/api/lists/block/{made.json()['id']}").status_code == 200


def test_expiry_naive_is_beijing_time(clients):
    admin = clients["admin"]
    body = {"kind": "prefix", "value": "170", "expires_at": "2999-01-01T08:00:00"}
    made = admin.send("POST", "/api/lists/block", body).json()
    assert made["expires_at"] == "2999-01-01T00:00:00+00:00"


def test_check_a_number(clients):
    admin, viewer = clients["admin"], clients["viewer"]
    admin.send("POST", "/api/lists/block", {"kind": "prefix", "value": "170"})
    admin.send("POST", "/api/lists/allow", {"kind": "exact", "value": "17012345678"})
    admin.send("POST", "/api/lists/vip", {"kind": "pattern", "value": "139????5678"})
    assert viewer.get("/api/lists-check?number=17000000000").json()["result"] == "blocked"
    allowed = viewer.get("/api/lists-check?number=%2B8617012345678").json()
    assert allowed["result"] == "allowed" and set(allowed["matched"]) == {"block", "allow"}
    assert viewer.get("/api/lists-check?number=13900005678").json()["result"] == "vip"
    assert viewer.get("/api/lists-check?number=").json()["result"] == "anonymous"


def test_changes_are_in_the_audit_log(clients):
    admin = clients["admin"]
    made = admin.send("POST", "/api/lists/vip", {"kind": "exact", "value": "13912345678"}).json()
    admin.send("DELETE", f"/api/lists/vip/{made['id']}")
    events = admin.get("/api/audit").json()["events"]
    mine = [
        (e["action"], e["target"], e["action_zh"])
        for e in events
        if e["action"].startswith("lists.")
    ]
    assert mine == [
        ("lists.delete", "vip:13912345678", "删除名单号码"),
        ("lists.add", "vip:13912345678", "添加名单号码"),
    ]


def test_the_routes_are_in_the_openapi_document(clients):
    spec = clients["anon"].get("/api/openapi.json").json()
    validate_openapi(spec)
    assert spec["paths"]["/api/lists/{list}"]["post"]["x-permission"] == "data.manage"
    assert spec["paths"]["/api/lists-check"]["get"]["x-permission"] == "flows.read"
    assert "EntryBody" in spec["components"]["schemas"]


def test_test_calls_use_the_lists(clients, screening_flow):
    admin, ed = clients["admin"], clients["ed"]
    admin.send("POST", "/api/lists/block", {"kind": "exact", "value": "13800138000"})
    assert ed.send("POST", "/api/flows", screening_flow()).status_code == 201
    events = _walk(ed, {"flow": "screening", "caller": "13800138000"})
    nodes = [e["node"] for e in events if e["type"] == "node"]
    assert nodes == ["start", "check", "blocked_node", "bye"], events
