"""POST /api/node-types/{type}/exits: a node's exits for a config, as the browser designer
draws them (menu keys, branch rules, sub-flow outcomes appear as the config changes)."""

from __future__ import annotations


def _exits(client, node_type: str, config: dict) -> dict:
    response = client.post(f"/api/node-types/{node_type}/exits", {"config": config})
    assert response.status_code == 200, response.text
    return response.json()


def test_menu_keys_are_exits_with_their_labels(clients):
    body = _exits(
        clients["viewer"],
        "core.menu",
        {"prompts": ["menu"], "options": [{"key": "1", "label": "个人账户"}, {"key": "0"}]},
    )
    assert body["exits"] == ["1", "0", "timeout", "invalid"]
    assert body["exit_titles"]["1"] == {"zh": "按 1：个人账户", "en": "Key 1: 个人账户"}
    assert body["exit_titles"]["0"] == {"zh": "按 0", "en": "Key 0"}
    assert body["exit_titles"]["timeout"]["zh"] == "超时"
    assert body["computed"] is True
    assert body["config_valid"] is True


def test_exits_follow_the_config_as_it_is_edited(clients):
    client = clients["ed"]
    half = _exits(client, "core.menu", {"options": [{}]})  # a key not chosen yet
    assert half["exits"] == ["timeout", "invalid"]
    assert half["config_valid"] is False
    more = _exits(client, "core.menu", {"options": [{"key": "1"}, {"key": "2"}, {"key": "3"}]})
    assert more["exits"][:3] == ["1", "2", "3"]
    fewer = _exits(client, "core.menu", {"options": [{"key": "3"}]})
    assert fewer["exits"] == ["3", "timeout", "invalid"]


def test_branch_rules_and_subflow_outcomes(clients):
    client = clients["viewer"]
    branch = _exits(
        client,
        "core.branch",
        {"rules": [{"exit": "open", "when": "hour() < 17", "label": "工作时间"}]},
    )
    assert branch["exits"] == ["open", "default", "error"]
    assert branch["exit_titles"]["open"] == {"zh": "工作时间", "en": "工作时间"}
    subflow = _exits(client, "core.subflow", {"flow": "auth", "outcomes": ["ok", "failed"]})
    assert subflow["exits"] == ["ok", "failed", "error"]


def test_a_config_the_type_cannot_compute_exits_from_gives_the_static_exits(clients):
    body = _exits(clients["viewer"], "core.branch", {"rules": [{"when": "true"}]})
    assert body["computed"] is False
    assert body["exits"] == ["default", "error"]
    assert body["config_valid"] is False


def test_static_types_and_unknown_types(clients):
    assert _exits(clients["viewer"], "core.play", {})["exits"] == ["next"]
    response = clients["viewer"].post("/api/node-types/fund.nope/exits", {"config": {}})
    assert response.status_code == 404
    assert response.json()["code"] == "node_type.unknown"


def test_it_needs_a_session_and_the_csrf_token(clients):
    url = "/api/node-types/core.menu/exits"
    assert clients["anon"].post(url, {"config": {}}).status_code == 401
    bare = clients["viewer"].http.post(url, json={"config": {}})
    assert bare.status_code == 403
    assert bare.json()["code"] == "auth.csrf"
    bad = clients["viewer"].post(url, {"config": []})
    assert bad.status_code == 422
