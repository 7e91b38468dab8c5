"""The summary API: sign-in, the date range and grouping, bad queries."""

from __future__ import annotations

from datetime import UTC, datetime


def _seed(store, answer):
    store.submit(
        [
            answer(5, day="2026-03-02", agent="8001", queue="loans", call_id="a"),
            answer(2, day="2026-03-02", agent="8002", queue="loans", call_id="b"),
            answer(4, day="2026-03-05", agent="8001", queue="withdrawals", call_id="c"),
        ]
    )
    assert store.flush()


def test_summary_by_day_agent_and_queue(clients, store, answer):
    _seed(store, answer)
    viewer = clients["viewer"]
    got = viewer.get("/api/surveys/summary?since=2026-03-01&until=2026-03-31")
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["by"] == "day" and body["since"] == "2026-03-01"
    assert [(r["day"], r["count"], r["average"]) for r in body["rows"]] == [
        ("2026-03-02", 2, 3.5),
        ("2026-03-05", 1, 4.0),
    ]
    agents = viewer.get("/api/surveys/summary?by=agent&since=2026-03-01&until=2026-03-31")
    assert [(r["agent"], r["count"], r["average"]) for r in agents.json()["rows"]] == [
        ("8001", 2, 4.5),
        ("8002", 1, 2.0),
    ]
    queues = viewer.get("/api/surveys/summary?by=queue&since=2026-03-03&until=2026-03-31")
    assert queues.json()["rows"] == [
        {"queue": "withdrawals", "count": 1, "calls": 1, "average": 4.0}
    ]


def test_default_range_is_the_last_30_days(clients):
    body = clients["viewer"].get("/api/surveys/summary").json()
    today = datetime.now(UTC).date()
    assert body["until"] == today.isoformat()
    assert (today - datetime.fromisoformat(body["since"]).date()).days == 29
    assert body["total"]["count"] == 0


def test_the_answers_of_one_call(clients, store, answer):
    _seed(store, answer)
    body = clients["viewer"].get("/api/surveys/calls/a").json()
    [row] = body["answers"]
    assert (row["score"], row["agent"], row["day"]) == (5, "8001", "2026-03-02")
    assert row["answered_at"].startswith("2026-03-02T02:00:00")  # 10:00 Beijing, stored UTC


def test_sign_in_and_bad_queries(clients):
    assert clients["anon"].get("/api/surveys/summary").status_code == 401
    viewer = clients["viewer"]
    for query in (
        "by=caller",
        "since=yesterday",
        "since=2026-03-05&until=2026-03-01",
        "since=2024-01-01&until=2026-01-01",
    ):
        got = viewer.get(f"/api/surveys/summary?{query}")
        assert got.status_code == 400, query
        assert got.json()["code"] == "request.query"
