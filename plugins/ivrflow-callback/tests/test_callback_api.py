"""The plugin's designer API: everyone signed in reads and filters the callback list, admins
mark requests done or cancelled (recorded with who and when, audited, 409 when no longer
pending), bad input is refused with zh/en messages naming the field, and test calls in the
designer register callbacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from openapi_spec_validator import validate as validate_openapi

T0 = datetime(2026, 7, 1, 0, 30, tzinfo=UTC)  # 08:30 Beijing time


@pytest.fixture
def requests(store):
    """Four requests, an hour apart from 08:30 Beijing time on 1 July 2026; ids in order."""
    made = [
        store.register_sync("13912345678", reason="queue_timeout", queue="fund", at=T0),
        store.register_sync("01088881234", reason="after_hours", at=T0 + timedelta(hours=1)),
        store.register_sync("13800005678", reason="caller_request", at=T0 + timedelta(days=1)),
        store.register_sync("13700001111", reason="after_hours", at=T0 + timedelta(days=2)),
    ]
    return [r.request.id for r in made]


def _walk(client, start: dict) -> list[dict]:
    with client.http.websocket_connect("ws://designer.test/api/simulate") as ws:
        ws.send_json({"type": "start", **start})
        events = []
        while True:
            event = ws.receive_json()
            events.append(event)
            if event["type"] in ("end", "error"):
                return events


def test_the_pending_list_newest_first_with_the_total(clients, requests):
    body = clients["viewer"].get("/api/callbacks").json()
    assert (body["total"], body["limit"], body["offset"]) == (4, 50, 0)
    assert [c["id"] for c in body["callbacks"]] == requests[::-1]
    first = body["callbacks"][-1]
    assert first["phone"] == "13912345678"  # staff need the whole number to call back
    assert (first["status"], first["reason"], first["queue"], first["attempts"]) == (
        "pending",
        "queue_timeout",
        "fund",
        1,
    )
    assert first["requested_at"] == "2026-07-01T00:30:00+00:00"
    assert first["handled_at"] is None and first["handled_by"] is None
    page = clients["ed"].get("/api/callbacks?limit=2&offset=1").json()
    assert page["total"] == 4 and [c["id"] for c in page["callbacks"]] == requests[2:0:-1]
    assert clients["viewer"].get(f"/api/callbacks/{requests[0]}").json()["id"] == requests[0]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("phone=5678", [2, 0]),
        ("phone=%2B86%20139-1234-5678", [0]),
        ("phone=010", [1]),
        ("reason=after_hours", [3, 1]),
        ("queue=fund", [0]),
        ("from=2026-07-02", [3, 2]),
        ("to=2026-07-01", [1, 0]),  # the whole Beijing day
        ("from=2026-07-01T09:00&to=2026-07-02T08:30", [1]),  # naive = Beijing; to excluded
        ("from=2026-07-01T01:00:00%2B00:00&to=2026-07-02", [2, 1]),
        ("status=done", []),
        ("status=all&reason=after_hours&from=2026-07-03", [3]),
    ],
)
def test_filters(clients, requests, query, expected):
    body = clients["viewer"].get(f"/api/callbacks?{query}").json()
    assert [c["id"] for c in body["callbacks"]] == [requests[i] for i in expected]
    assert body["total"] == len(expected)


def test_done_records_who_and_when_and_then_409(clients, requests):
    admin = clients["admin"]
    before = datetime.now(UTC)
    response = admin.send("POST", f"/api/callbacks/{requests[0]}/done", {"note": "已回电，已解答"})
    assert response.status_code == 200, response.text
    done = response.json()
    assert (done["status"], done["handled_by"]) == ("done", "admin")
    assert done["result"] == "已回电，已解答"
    assert datetime.fromisoformat(done["handled_at"]) >= before - timedelta(seconds=1)
    again = admin.send("POST", f"/api/callbacks/{requests[0]}/done", {"note": "x"})
    assert again.status_code == 409
    problem = again.json()
    assert problem["code"] == "callback.not_pending"
    assert "已回拨" in problem["message_zh"] and "already done" in problem["message_en"]
    cancel_done = admin.send("POST", f"/api/callbacks/{requests[0]}/cancel")
    assert cancel_done.status_code == 409
    viewer = clients["viewer"]
    assert [c["id"] for c in viewer.get("/api/callbacks").json()["callbacks"]] == requests[:0:-1]
    handled = viewer.get("/api/callbacks?status=done&handled_by=admin").json()["callbacks"]
    assert [c["id"] for c in handled] == [requests[0]]


def test_cancel_without_a_body(clients, requests):
    admin = clients["admin"]
    response = admin.send("POST", f"/api/callbacks/{requests[1]}/cancel")
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["result"]) == ("cancelled", "")
    assert admin.get("/api/callbacks?status=cancelled").json()["total"] == 1
    assert admin.send("POST", f"/api/callbacks/{requests[1]}/done").status_code == 409


def test_permissions(clients, requests):
    anon, viewer, ed = clients["anon"], clients["viewer"], clients["ed"]
    assert anon.get("/api/callbacks").status_code == 401
    assert anon.get(f"/api/callbacks/{requests[0]}").status_code == 401
    assert anon.send("POST", f"/api/callbacks/{requests[0]}/done").status_code == 401
    for reader in (viewer, ed):
        assert reader.get("/api/callbacks").status_code == 200
        refused = reader.send("POST", f"/api/callbacks/{requests[0]}/done", {"note": ""})
        assert refused.status_code == 403 and refused.json()["code"] == "auth.forbidden"
        assert reader.send("POST", f"/api/callbacks/{requests[0]}/cancel").status_code == 403
    no_csrf = clients["admin"].http.post(f"/api/callbacks/{requests[0]}/done")
    assert no_csrf.status_code == 403 and no_csrf.json()["code"] == "auth.csrf"
    assert clients["admin"].get("/api/callbacks").json()["total"] == 4  # nothing changed


def test_unknown_ids_are_404(clients, requests):
    admin = clients["admin"]
    for response in (
        admin.get("/api/callbacks/99999"),
        admin.send("POST", "/api/callbacks/99999/done", {"note": ""}),
        admin.send("POST", "/api/callbacks/99999/cancel"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "callback.unknown"
        assert "99999" in response.json()["message_zh"]
    assert admin.get("/api/callbacks/abc").status_code == 404  # not an id: no such route


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
        ("from=2026-07-01T25:00", "from"),
        ("from=2026-07-02&to=2026-07-01", "from"),
        ("status=open", "status"),
        ("phone=139abc", "phone"),
        ("reason=Queue%20Timeout", "reason"),
        ("queue=a%20b", "queue"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("offset=-1", "offset"),
    ],
)
def test_bad_queries_name_the_field(clients, query, field):
    response = clients["viewer"].get(f"/api/callbacks?{query}")
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "request.query"
    assert f"查询参数 {field}" in problem["message_zh"]
    assert f"query parameter {field}" in problem["message_en"]


def test_bad_bodies(clients, requests):
    admin = clients["admin"]
    url = f"/api/callbacks/{requests[0]}/done"
    too_long = admin.send("POST", url, {"note": "回" * 501})
    assert too_long.status_code == 422
    problem = too_long.json()
    assert problem["code"] == "request.invalid"
    assert problem["problems"][0]["pointer"] == "/note"
    assert "note" in problem["message_zh"] and "note" in problem["message_en"]
    assert admin.send("POST", url, {"note": 5}).status_code == 422
    assert admin.send("POST", url, {"notes": "typo"}).status_code == 422
    broken = admin.http.post(
        url,
        content=b'{"note": ',
        headers={"X-CSRF-Token": admin.csrf, "Content-Type": "application/json"},
    )
    assert broken.status_code == 400
    assert admin.get(f"/api/callbacks/{requests[0]}").json()["status"] == "pending"
    assert admin.send("POST", url, {"note": "回" * 500}).status_code == 200


def test_changes_are_in_the_audit_log(clients, requests):
    admin = clients["admin"]
    admin.send("POST", f"/api/callbacks/{requests[0]}/done", {"note": "已解答"})
    admin.send("POST", f"/api/callbacks/{requests[1]}/cancel", {"note": "重复来电"})
    admin.send("POST", f"/api/callbacks/{requests[1]}/cancel")  # 409: not audited
    events = admin.get("/api/audit").json()["events"]
    mine = [
        (e["action"], e["target"], e["action_zh"], e["actor"])
        for e in events
        if e["action"].startswith("callback.")
    ]
    assert mine == [
        ("callback.cancel", f"callback:{requests[1]}", "取消回拨", "admin"),
        ("callback.done", f"callback:{requests[0]}", "完成回拨", "admin"),
    ]
    details = [e["detail"] for e in events if e["action"].startswith("callback.")]
    assert details[1]["phone"] == "*******5678" and details[1]["note"] == "已解答"
    assert "13912345678" not in str(details)


def test_the_routes_are_in_the_openapi_document(clients):
    spec = clients["anon"].get("/api/openapi.json").json()
    validate_openapi(spec)
    assert spec["paths"]["/api/callbacks"]["get"]["x-permission"] == "flows.read"
    done = spec["paths"]["/api/callbacks/{request_id}/done"]["post"]
    assert done["x-permission"] == "data.manage"
    assert "HandleBody" in spec["components"]["schemas"]


def test_test_calls_register_callbacks(clients, callback_flow):
    ed, viewer = clients["ed"], clients["viewer"]
    assert ed.send("POST", "/api/flows", callback_flow(reason="after_hours")).status_code == 201
    for expected in ("registered_node", "already_node"):
        events = _walk(ed, {"flow": "callback-demo", "caller": "13912345678"})
        nodes = [e["node"] for e in events if e["type"] == "node"]
        assert nodes == ["start", "register", expected, "bye"], events
    [request] = viewer.get("/api/callbacks").json()["callbacks"]
    assert (request["phone"], request["reason"], request["flow"], request["attempts"]) == (
        "13912345678",
        "after_hours",
        "callback-demo",
        2,
    )
