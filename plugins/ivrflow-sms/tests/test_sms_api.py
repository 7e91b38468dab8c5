"""The designer API: listing and filtering messages, sending a failed one again (operators
and administrators only, audited), sign-in and bad queries; and the plugin found through its
entry points."""

from __future__ import annotations

from importlib.metadata import entry_points

from ivrflow_sms.plugin import setup

from nodes.plugins import PluginHost, load_plugins


def _seed(outbox, gateway, message):
    """Three messages: a (sent), b (failed: the gateway refused it), c (sent)."""
    outbox.gateway = gateway
    gateway.script = ["ok", gateway.errors["4xx"], "ok"]
    for to, call in (("13800138000", "a"), ("13900139000", "b"), ("13800138000", "c")):
        assert outbox.submit(message(to=to, call_id=call))
        assert outbox.flush(5)
    return {m["call_id"]: m for m in outbox.messages()}


def test_list_and_filter(clients, outbox, gateway, message):
    _seed(outbox, gateway, message)
    viewer = clients["viewer"]
    got = viewer.get("/api/sms/messages")
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["gateway"] == {"name": "fake", "delivers": True}
    assert [m["call_id"] for m in body["messages"]] == ["c", "b", "a"]
    assert body["next_before"] is None
    first = body["messages"][0]
    assert (first["status"], first["phone"], first["attempts"]) == ("sent", "13800138000", 1)
    assert first["created_at"].endswith("+00:00") and "owner" not in first

    def calls(query: str) -> list[str]:
        response = viewer.get(f"/api/sms/messages?{query}")
        assert response.status_code == 200, response.text
        return [m["call_id"] for m in response.json()["messages"]]

    assert calls("status=failed") == ["b"]
    assert calls("phone=%2B86%20139%200013%209000") == ["b"]  # +86 139 0013 9000
    assert calls("call_id=a") == ["a"]
    page = viewer.get("/api/sms/messages?limit=2").json()
    assert [m["call_id"] for m in page["messages"]] == ["c", "b"]
    assert calls(f"before={page['next_before']}") == ["a"]

    one = viewer.get(f"/api/sms/messages/{first['id']}")
    assert one.status_code == 200 and one.json()["call_id"] == "c"
    assert viewer.get("/api/sms/messages/99999").json()["code"] == "sms.unknown"


def test_bad_queries(clients):
    viewer = clients["viewer"]
    for query in ("status=lost", "limit=0", "limit=501", "limit=ten", "before=0"):
        got = viewer.get(f"/api/sms/messages?{query}")
        assert got.status_code == 400, query
        assert got.json()["code"] == "request.query"


def test_sign_in_and_permissions(clients, outbox, gateway, message):
    seeded = _seed(outbox, gateway, message)
    failed = seeded["b"]["id"]
    anon = clients["anon"]
    assert anon.get("/api/sms/messages").status_code == 401
    assert anon.get(f"/api/sms/messages/{failed}").status_code == 401
    assert anon.send("POST", f"/api/sms/messages/{failed}/retry").status_code == 401
    for name in ("viewer", "ed"):
        got = clients[name].send("POST", f"/api/sms/messages/{failed}/retry")
        assert got.status_code == 403, name
        assert got.json()["code"] == "auth.forbidden"
    assert outbox.get(failed)["status"] == "failed"  # untouched


def test_retry_a_failed_message(clients, outbox, gateway, message):
    seeded = _seed(outbox, gateway, message)
    failed, sent = seeded["b"]["id"], seeded["a"]["id"]
    publisher = clients["ops"]  # an operator (data.manage)
    got = publisher.send("POST", f"/api/sms/messages/{failed}/retry")
    assert got.status_code == 200, got.text
    assert (got.json()["status"], got.json()["attempts"]) == ("queued", 0)
    assert outbox.flush(5)
    assert outbox.get(failed)["status"] == "sent"
    assert [m.to for m in gateway.sent].count("13900139000") == 2

    again = publisher.send("POST", f"/api/sms/messages/{sent}/retry")
    assert again.status_code == 409
    assert again.json()["code"] == "sms.not_failed" and again.json()["message_status"] == "sent"
    assert publisher.send("POST", "/api/sms/messages/99999/retry").status_code == 404

    events = clients["admin"].get("/api/audit").json()["events"]
    mine = [(e["action"], e["target"], e["actor"]) for e in events if e["action"] == "sms.retry"]
    assert mine == [("sms.retry", f"sms:{failed}", "ops")]
    [event] = [e for e in events if e["action"] == "sms.retry"]
    assert event["action_zh"] == "重发短信"
    assert "13900139000" not in str(event)  # the number is masked in the audit log


def test_an_administrator_may_retry(clients, outbox, gateway, message):
    failed = _seed(outbox, gateway, message)["b"]["id"]
    assert clients["admin"].send("POST", f"/api/sms/messages/{failed}/retry").status_code == 200


def test_the_routes_are_in_the_openapi_document(clients):
    spec = clients["anon"].get("/api/openapi.json").json()
    assert spec["paths"]["/api/sms/messages"]["get"]["x-permission"] == "flows.read"
    retry = spec["paths"]["/api/sms/messages/{message_id}/retry"]["post"]
    assert retry["x-permission"] == "data.manage"


def test_the_plugin_is_installed_and_loads(engine):
    [ep] = [ep for ep in entry_points(group="ivrflow.plugins") if ep.name == "sms"]
    assert ep.load() is setup
    loaded = load_plugins(
        PluginHost(engine=engine, environ={}), include_entry_points=False, extra={"sms": ep.load()}
    )
    try:
        assert loaded.problems == []
        assert loaded.resource_providers["sms"].startswith("ivrflow_sms.plugin")
        assert {r.path for r in loaded.routes} >= {"/api/sms/messages"}
    finally:
        loaded.resources["sms"].close(2.0)
