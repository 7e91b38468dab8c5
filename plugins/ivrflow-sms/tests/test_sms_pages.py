"""The messages' page in the designer's "业务数据 / Business data" section: its URLs answered
by the plugin's own routes, the status filter, and "send again" on failed messages only, for
operators and admins."""

from __future__ import annotations

from designer.testing import unresolved_page_urls
from nodes.plugins import fill_template


def test_the_page_lists_filters_and_retries_failed_messages(app, clients, outbox, gateway, message):
    [page] = app.state.services.pages
    assert page.id == "sms" and page.create is None
    outbox.gateway = gateway
    gateway.script = ["ok", gateway.errors["4xx"]]
    for to, call in (("13800138000", "a"), ("13900139000", "b")):
        assert outbox.submit(message(to=to, call_id=call))
        assert outbox.flush(5)
    pub = clients["ops"]
    listed = pub.get(page.list_url)
    assert listed.status_code == 200, listed.text
    rows = listed.json()[page.items_key]
    assert [r["status"] for r in rows] == ["failed", "sent"]
    assert {c.key for c in page.columns} <= set(rows[0])
    [status_filter, _phone] = page.filters
    failed = pub.get(page.list_url, params={"status": "failed"}).json()[page.items_key]
    assert [r["call_id"] for r in failed] == ["b"]
    assert "failed" in [o["const"] for o in status_filter.schema["oneOf"]]
    assert unresolved_page_urls(app, page, rows[0]) == []

    [retry] = page.actions
    assert retry.when == {"status": ["failed"]} and retry.body_schema is None
    sent = pub.send(retry.method, fill_template(retry.url, rows[0]), {})
    assert sent.status_code == 200, sent.text
    refused = pub.send(retry.method, fill_template(retry.url, rows[1]), {})
    assert refused.status_code == 409 and "只有发送失败的短信" in refused.json()["message_zh"]


def test_retry_is_for_operators_and_admins(clients):
    for name, allowed in (
        ("viewer", False),
        ("ed", False),
        ("pub", False),
        ("ops", True),
        ("admin", True),
    ):
        [page] = clients[name].get("/api/plugin-pages").json()["pages"]
        assert [a["allowed"] for a in page["actions"]] == [allowed]
