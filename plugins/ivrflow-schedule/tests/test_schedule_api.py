"""The plugin's designer API: admins manage schedules and overrides, everyone signed in reads
and previews, every change is audited, and test calls use the named schedules."""

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


def test_admins_write_others_read(clients, hours):
    admin, ed, viewer, anon = (clients[n] for n in ("admin", "ed", "viewer", "anon"))
    assert anon.get("/api/schedules").status_code == 401
    assert ed.send("PUT", "/api/schedules/main", hours).status_code == 403
    created = admin.send("PUT", "/api/schedules/main", {**hours, "title": "主时间表"})
    assert created.status_code == 201, created.text
    assert created.json()["revision"] == 1
    replaced = admin.send("PUT", "/api/schedules/main", hours)
    assert replaced.status_code == 200 and replaced.json()["revision"] == 2
    listed = viewer.get("/api/schedules").json()
    assert [s["name"] for s in listed["schedules"]] == ["main"]
    assert (
        listed["calendar"]["years"][0] == 2004
        and "chinese-calendar" in listed["calendar"]["source"]
    )
    assert viewer.get("/api/schedules/main").json()["schedule"]["weekly"]["mon"] == [
        "08:30-12:00",
        "13:30-17:30",
    ]
    assert viewer.get("/api/schedules/nope").json()["code"] == "schedule.unknown"
    assert ed.send("DELETE", "/api/schedules/main").status_code == 403
    assert admin.send("DELETE", "/api/schedules/main").json() == {"ok": True}
    assert admin.send("DELETE", "/api/schedules/main").status_code == 404


def test_bad_schedules_are_422_with_every_problem(clients, hours):
    admin = clients["admin"]
    hours["weekly"]["mon"] = ["17:00-08:00"]
    hours["timezone"] = "Asia/Beijing"
    response = admin.send("PUT", "/api/schedules/main", hours)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "schedule.invalid"
    assert {(p["code"], p["pointer"]) for p in body["problems"]} == {
        ("schedule.range_order", "/weekly/mon/0"),
        ("schedule.timezone", "/timezone"),
    }
    assert admin.send("PUT", "/api/schedules/Bad%20Name", {"weekly": {}}).status_code == 422
    broken = admin.http.put(
        "/api/schedules/main",
        content=b'{"weekly": ',
        headers={"X-CSRF-Token": admin.csrf, "Content-Type": "application/json"},
    )
    assert broken.status_code == 400 and broken.json()["code"] == "json.syntax"


def test_overlapping_ranges_are_saved_merged_with_a_warning(clients, hours):
    hours["weekly"]["sat"] = ["09:00-11:00", "10:00-12:00"]
    body = clients["admin"].send("PUT", "/api/schedules/main", hours).json()
    assert body["schedule"]["weekly"]["sat"] == ["09:00-12:00"]
    [warning] = body["warnings"]
    assert warning["code"] == "schedule.range_overlap" and warning["severity"] == "warning"


def test_preview_what_happens_at_date_x(clients, hours):
    clients["admin"].send("PUT", "/api/schedules/main", hours)
    viewer = clients["viewer"]
    result = viewer.get("/api/schedules/main/preview?at=2026-02-16T10:00&days=2").json()
    assert result["at"]["exit"] == "holiday" and result["at"]["day"]["holiday_zh"] == "春节"
    assert [d["date"] for d in result["days"]] == ["2026-02-16", "2026-02-17"]
    week = viewer.get("/api/schedules/main/preview?date=2026-02-13&days=7").json()
    assert [d["calendar"]["kind"] for d in week["days"]] == [
        "workday",
        "makeup_workday",
        *["holiday"] * 5,
    ]
    assert week["days"][1]["open"] == ["08:30-12:00", "13:30-17:30"]
    assert viewer.get("/api/schedules/main/preview?at=noon").status_code == 400
    assert viewer.get("/api/schedules/main/preview?days=999").status_code == 400
    assert viewer.get("/api/schedules/nope/preview").status_code == 404


def test_preview_of_unsaved_hours_and_of_an_unknown_year(clients, hours):
    ed = clients["ed"]
    years = ed.get("/api/schedules").json()["calendar"]["years"]
    unknown = years[1] + 1
    body = {"schedule": hours, "at": f"{unknown}-01-01T10:00:00", "days": 1}
    result = ed.send("POST", "/api/schedule-preview", body).json()
    assert result["at"]["calendar_known"] is False and result["at"]["reason"] == "calendar_unknown"
    [issue] = result["issues"]
    assert issue["code"] == "schedule.calendar_unknown" and str(unknown) in issue["message_en"]
    bad = ed.send("POST", "/api/schedule-preview", {"schedule": {"weekly": {"x": []}}})
    assert bad.status_code == 422 and bad.json()["problems"][0]["pointer"] == "/weekly/x"


def test_overrides_emergency_closure_and_special_days(clients, hours):
    admin, ed = clients["admin"], clients["ed"]
    admin.send("PUT", "/api/schedules/main", hours)
    typhoon = {
        "kind": "closure",
        "starts_at": "2026-07-01T14:00:00",
        "ends_at": "2026-07-01T18:00:00",
        "note": "台风停止服务",
    }
    assert ed.send("POST", "/api/schedule-overrides", typhoon).status_code == 403
    created = admin.send("POST", "/api/schedule-overrides", typhoon)
    assert created.status_code == 201, created.text
    closure = created.json()
    assert closure["schedule"] is None and closure["starts_at"] == "2026-07-01T06:00:00+00:00"
    special = admin.send(
        "POST",
        "/api/schedule-overrides",
        {"schedule": "main", "kind": "hours", "date": "2026-12-31", "hours": ["08:30-15:00"]},
    ).json()
    preview = ed.get("/api/schedules/main/preview?at=2026-07-01T15:00").json()
    assert preview["at"]["exit"] == "closed" and preview["at"]["note"] == "台风停止服务"
    segments = preview["days"][0]["segments"]
    assert ("14:00", "18:00", "closure") in [(s["start"], s["end"], s["reason"]) for s in segments]
    late = ed.get("/api/schedules/main/preview?at=2026-12-31T16:00").json()
    assert (late["at"]["exit"], late["at"]["reason"]) == ("closed", "special_day")
    listed = ed.get("/api/schedule-overrides?schedule=main").json()["overrides"]
    assert [o["id"] for o in listed] == [closure["id"], special["id"]]
    assert admin.send("DELETE", f"/api/schedule-overrides/{closure['id']}").json() == {"ok": True}
    assert admin.send("DELETE", f"/api/schedule-overrides/{closure['id']}").status_code == 404
    lifted = ed.get("/api/schedules/main/preview?at=2026-07-01T15:00").json()
    assert lifted["at"]["exit"] == "open"


def test_bad_overrides(clients, hours):
    admin = clients["admin"]
    admin.send("PUT", "/api/schedules/main", hours)
    cases = [
        ({"kind": "closure", "starts_at": "2026-07-01T18:00", "ends_at": "2026-07-01T14:00"}, 422),
        ({"kind": "closure", "date": "2026-07-01"}, 422),
        ({"kind": "hours", "date": "2026-07-01"}, 422),  # hours missing
        ({"kind": "closed", "date": "2026-07-01", "hours": ["09:00-10:00"]}, 422),
        ({"kind": "hours", "date": "2026-07-01", "hours": ["10:00-09:00"]}, 422),
        ({"kind": "holiday"}, 422),  # no date
        ({"kind": "vacation", "date": "2026-07-01"}, 422),
        ({"kind": "closed", "date": "2026-07-01", "schedule": "nope"}, 404),
    ]
    for body, status in cases:
        response = admin.send("POST", "/api/schedule-overrides", body)
        assert response.status_code == status, (body, response.text)
    assert admin.get("/api/schedule-overrides").json()["overrides"] == []


def test_changes_are_in_the_audit_log(clients, hours):
    admin = clients["admin"]
    admin.send("PUT", "/api/schedules/main", hours)
    made = admin.send("POST", "/api/schedule-overrides", {"kind": "closure"}).json()
    admin.send("DELETE", f"/api/schedule-overrides/{made['id']}")
    admin.send("DELETE", "/api/schedules/main")
    events = admin.get("/api/audit").json()["events"]
    mine = [
        (e["action"], e["target"], e["action_zh"])
        for e in events
        if e["action"].startswith("schedule.")
    ]
    assert mine == [
        ("schedule.delete", "main", "删除时间表"),
        ("schedule.override_delete", "*", "删除时间表例外"),
        ("schedule.override_add", "*", "添加时间表例外"),
        ("schedule.save", "main", "保存时间表"),
    ]


def test_the_routes_are_in_the_openapi_document(clients):
    spec = clients["anon"].get("/api/openapi.json").json()
    validate_openapi(spec)
    assert spec["paths"]["/api/schedules/{name}"]["put"]["x-permission"] == "entries.manage"
    assert spec["paths"]["/api/schedule-preview"]["post"]["x-permission"] == "flows.read"
    assert "ScheduleBody" in spec["components"]["schemas"]


def test_test_calls_use_the_named_schedules(clients, hours, routing_flow):
    admin, ed = clients["admin"], clients["ed"]
    admin.send("PUT", "/api/schedules/main", hours)
    assert ed.send("POST", "/api/flows", routing_flow("main")).status_code == 201
    events = _walk(ed, {"flow": "hours", "at": "2026-02-16T10:00:00+08:00"})
    assert [e["node"] for e in events if e["type"] == "node"] == [
        "start",
        "route",
        "holiday_node",
        "bye",
    ]
