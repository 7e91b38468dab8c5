"""Browser test calls over the /api/simulate WebSocket: signed-in users with the simulate
permission run a draft, a published version or what an entry runs; others are refused."""

from __future__ import annotations

import pytest
from starlette.websockets import WebSocketDisconnect
from support.designer import ApiClient, add_user, make_app, tiny_flow


@pytest.fixture
def app(engine):
    app = make_app(engine, test_call_scale=0.01)
    add_user(app, "ed", "editor")
    add_user(app, "pub", "publisher")
    add_user(app, "viewer", "viewer")
    return app


def _events_until_end(ws) -> list[dict]:
    events = []
    while True:
        event = ws.receive_json()
        events.append(event)
        if event["type"] in ("end", "error"):
            return events


def _walk(client: ApiClient, start: dict, keys: str) -> list[dict]:
    with client.http.websocket_connect("ws://designer.test/api/simulate") as ws:
        ws.send_json({"type": "start", **start})
        ws.send_json({"type": "keys", "digits": keys})
        return _events_until_end(ws)


def _nodes(events: list[dict]) -> list[str]:
    return [e["node"] for e in events if e["type"] == "node"]


def test_a_draft_then_a_version_then_the_live_entry(app):
    ed, pub = ApiClient(app, "ed"), ApiClient(app, "pub")
    try:
        ed.post("/api/flows", tiny_flow())
        pub.post("/api/flows/tiny/publish", {"entry": "12329"})
        ed.put("/api/flows/tiny", tiny_flow(key2="other"), headers={"If-Match": "1"})

        draft = _walk(ed, {"flow": "tiny", "caller": "13912345678"}, "2")
        assert _nodes(draft) == ["start", "menu", "other", "bye"]
        prompts = [e for e in draft if e["type"] == "prompt"]
        assert prompts[0]["prompts"][0]["text"] == "请按1或2。"
        end = draft[-1]
        assert end["type"] == "end" and end["trace"]["caller"] == "13912345678"

        published = _walk(pub, {"flow": "tiny", "source": 1}, "2")
        assert _nodes(published) == ["start", "menu", "bye"]  # version 1: key 2 hangs up
        live = _walk(pub, {"flow": "tiny", "source": "live:12329"}, "1")
        assert _nodes(live) == ["start", "menu", "thanks", "bye"]
    finally:
        ed.close()
        pub.close()


def test_refusals_say_why(app):
    ed = ApiClient(app, "ed")
    try:
        flow = tiny_flow()
        flow["nodes"]["menu"]["exits"]["1"] = "nowhere"
        ed.post("/api/flows", flow)
        for start, code in [
            ({"flow": "missing"}, "flow.unknown"),
            ({"flow": "tiny", "source": 7}, "version.unknown"),
            ({"flow": "tiny", "source": "live:nope"}, "entry.unknown"),
            ({"flow": "tiny", "source": "yesterday"}, "bad_options"),
            ({}, "bad_options"),
        ]:
            [error] = _walk(ed, start, "1")
            assert error["type"] == "error" and error["code"] == code, error
            assert error["message_zh"] and error["message_en"]
        [invalid] = _walk(ed, {"flow": "tiny"}, "1")
        assert invalid["type"] == "error"
        assert any(p["node"] == "menu" for p in invalid["problems"])
    finally:
        ed.close()


def test_only_signed_in_users_with_the_permission_from_this_site(app):
    for client in (ApiClient(app), ApiClient(app, "viewer")):
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.http.websocket_connect("ws://designer.test/api/simulate") as ws,
        ):
            ws.receive_json()
        assert refused.value.code == 1008
        client.close()
    ed = ApiClient(app, "ed")
    with (
        pytest.raises(WebSocketDisconnect) as cross_site,
        ed.http.websocket_connect(
            "/api/simulate", headers={"Origin": "https://evil.example"}
        ) as ws,
    ):
        ws.receive_json()
    assert cross_site.value.code == 1008
    ed.close()
