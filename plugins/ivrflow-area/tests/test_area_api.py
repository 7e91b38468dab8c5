"""The table's API and storage: the migration and seed, editing with permissions and audit,
bad input, the lookup."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from ivrflow_area.plugin import MIGRATIONS
from ivrflow_area.store import metadata
from sqlalchemy import inspect

from nodes.plugins import PluginHost
from runtime.store.migrate import plugin_revision


def _plugin_objects(obj, name, type_, reflected, compare_to) -> bool:
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return table is not None and table.name.startswith("area_")


def test_the_plugin_owns_its_table_and_seeds_it(engine, plugins, store):
    assert {"area_prefix", "alembic_version_area"} <= set(inspect(engine).get_table_names())
    assert plugin_revision(engine, "area") == "area_0001"
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": _plugin_objects}
        )
        assert compare_metadata(context, metadata) == []
    assert store.table()["0755"] == "shenzhen" and store.table()["1380013"] == "beijing"
    store.delete("0755")
    assert PluginHost(engine=engine).migrate("area", MIGRATIONS) == "area_0001"
    assert "0755" not in store.table()  # setting up again does not re-seed


def test_list_edit_delete_and_lookup(clients):
    admin, viewer = clients["admin"], clients["viewer"]
    listed = viewer.get("/api/area-prefixes?region=shenzhen").json()["prefixes"]
    assert {p["prefix"] for p in listed} == {"0755", "1380075", "1392370"}
    made = admin.send("PUT", "/api/area-prefixes/0710", {"region": "xiangyang", "note": "襄阳"})
    assert made.status_code == 201, made.text
    assert made.json()["region"] == "xiangyang" and made.json()["updated_by"] == "admin"
    again = admin.send("PUT", "/api/area-prefixes/027", {"region": "hubei"})  # seeded: wuhan
    assert again.status_code == 200 and again.json()["region"] == "hubei"
    found = viewer.get("/api/area-lookup", params={"number": "+86 27 8765 4321"}).json()
    assert found == {
        "number": "+86 27 8765 4321",
        "normalised": "02787654321",
        "kind": "landline",
        "prefix": "027",
        "region": "hubei",
    }
    assert admin.send("DELETE", "/api/area-prefixes/027").json() == {"ok": True}
    assert viewer.get("/api/area-lookup?number=02787654321").json()["region"] is None
    assert viewer.get("/api/area-lookup?number=07103456789").json()["region"] == "xiangyang"
    assert viewer.get("/api/area-lookup?number=anonymous").json()["kind"] is None


def test_permissions_and_bad_input(clients):
    admin = clients["admin"]
    assert clients["anon"].get("/api/area-prefixes").status_code == 401
    assert (
        clients["viewer"].send("PUT", "/api/area-prefixes/027", {"region": "wuhan"}).status_code
        == 403
    )
    bad_prefix = admin.send("PUT", "/api/area-prefixes/12", {"region": "wuhan"})
    assert bad_prefix.status_code == 422 and bad_prefix.json()["code"] == "area.prefix"
    assert admin.send("PUT", "/api/area-prefixes/027", {"region": "Wu Han"}).status_code == 422
    missing = admin.send("DELETE", "/api/area-prefixes/0999")
    assert missing.status_code == 404 and missing.json()["code"] == "area.unknown"


def test_changes_are_in_the_audit_log(clients):
    admin = clients["admin"]
    admin.send("PUT", "/api/area-prefixes/027", {"region": "wuhan"})
    admin.send("DELETE", "/api/area-prefixes/027")
    events = admin.get("/api/audit").json()["events"]
    mine = [
        (e["action"], e["target"], e["action_zh"])
        for e in events
        if e["action"].startswith("area.")
    ]
    assert mine == [("area.delete", "027", "删除号段"), ("area.save", "027", "保存号段")]
