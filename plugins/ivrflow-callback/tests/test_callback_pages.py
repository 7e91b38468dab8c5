"""The callback list's page in the designer's "业务数据 / Business data" section: its URLs
answered by the plugin's own routes, the status filter, done (with the note form) and cancel
on pending requests only, for admins only."""

from __future__ import annotations

from designer.testing import form_errors, unresolved_page_urls
from nodes.plugins import fill_template


def test_the_page_lists_filters_and_finishes_requests(plugins, app, clients, store):
    [page] = plugins.pages
    assert page.id == "callback" and page.create is None
    first = store.register_sync("13912345678", call_id="c1", reason="queue_timeout").request
    second = store.register_sync("13800138000", call_id="c2").request
    admin = clients["admin"]
    [status_filter, phone_filter] = page.filters
    assert status_filter.schema["default"] == "pending"
    listed = admin.get(page.list_url, params={"status": status_filter.schema["default"]})
    assert listed.status_code == 200, listed.text
    rows = listed.json()[page.items_key]
    assert {r["id"] for r in rows} == {first.id, second.id}
    assert {c.key for c in page.columns} <= set(rows[0])
    row = next(r for r in rows if r["id"] == first.id)
    assert unresolved_page_urls(app, page, row) == []

    done, cancel = page.actions
    assert (done.id, cancel.id) == ("done", "cancel")
    assert done.when == cancel.when == {"status": ["pending"]}
    note = {"note": "已回电，客户问题已解决"}
    assert done.body_schema is not None and form_errors(done.body_schema, note) == []
    assert form_errors(done.body_schema, {"note": "x" * 501}) != []
    finished = admin.send(done.method, fill_template(done.url, row), note)
    assert finished.status_code == 200, finished.text
    assert (finished.json()["status"], finished.json()["result"]) == ("done", note["note"])
    other = next(r for r in rows if r["id"] == second.id)
    cancelled = admin.send(cancel.method, fill_template(cancel.url, other), {})
    assert cancelled.status_code == 200, cancelled.text

    def ids(status: str) -> list[int]:
        return [
            r["id"]
            for r in admin.get(page.list_url, params={"status": status}).json()[page.items_key]
        ]

    assert ids("pending") == []
    assert ids("done") == [first.id] and ids("cancelled") == [second.id]
    statuses = [o["const"] for o in status_filter.schema["oneOf"]]
    assert sorted(ids("all")) == sorted([first.id, second.id]) and "all" in statuses
    by_phone = admin.get(page.list_url, params={"status": "all", phone_filter.name: "5678"})
    assert [r["id"] for r in by_phone.json()[page.items_key]] == [first.id]
    again = admin.send(done.method, fill_template(done.url, row), {})
    assert again.status_code == 409 and again.json()["message_zh"].startswith("回拨登记")


def test_only_admins_may_use_the_buttons(clients):
    for name, allowed in (("viewer", False), ("ed", False), ("admin", True)):
        [page] = clients[name].get("/api/plugin-pages").json()["pages"]
        assert page["id"] == "callback"
        assert [a["allowed"] for a in page["actions"]] == [allowed, allowed]
