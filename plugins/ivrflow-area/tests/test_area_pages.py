"""The prefix table's page in the designer's "业务数据 / Business data" section: its URLs
answered by the plugin's own routes, the add form (PUT to the prefix it names), edit and
delete on a row, the region filter."""

from __future__ import annotations

from designer.testing import form_errors, unresolved_page_urls
from nodes.plugins import fill_template

EXAMPLE = {"prefix": "1390755", "region": "shenzhen", "note": "样例号段"}


def test_the_page_adds_edits_and_deletes_prefixes(plugins, app, clients):
    [page] = plugins.pages
    assert page.id == "area" and page.row_key == "prefix" and page.create is not None
    admin = clients["admin"]
    listed = admin.get(page.list_url)
    assert listed.status_code == 200, listed.text
    seeded = listed.json()[page.items_key]
    assert seeded and {c.key for c in page.columns} <= set(seeded[0])

    assert form_errors(page.create.schema, EXAMPLE) == []
    assert form_errors(page.create.schema, {**EXAMPLE, "prefix": "2345"}) != []
    url = fill_template(page.create.url, EXAMPLE)
    assert url == "/api/area-prefixes/1390755"
    created = admin.send(page.create.method, url, EXAMPLE)  # the whole form, prefix and all
    assert created.status_code == 201, created.text
    [region_filter] = page.filters
    mine = admin.get(page.list_url, params={region_filter.name: "shenzhen"}).json()
    row = next(r for r in mine[page.items_key] if r["prefix"] == "1390755")
    assert (row["note"], row["updated_by"]) == ("样例号段", "admin")
    assert unresolved_page_urls(app, page, row, EXAMPLE) == []

    edit, delete = page.actions
    assert edit.body_schema is not None
    change = {"region": "dongguan", "note": row["note"]}  # pre-filled from the row
    assert form_errors(edit.body_schema, change) == []
    edited = admin.send(edit.method, fill_template(edit.url, row), change)
    assert edited.status_code == 200 and edited.json()["region"] == "dongguan"
    assert admin.send(delete.method, fill_template(delete.url, row)).status_code == 200
    left = admin.get(page.list_url).json()[page.items_key]
    assert "1390755" not in {r["prefix"] for r in left}


def test_viewers_read_without_the_forms(clients):
    [page] = clients["viewer"].get("/api/plugin-pages").json()["pages"]
    assert page["create"]["allowed"] is False
    assert [(a["id"], a["allowed"]) for a in page["actions"]] == [
        ("edit", False),
        ("delete", False),
    ]
