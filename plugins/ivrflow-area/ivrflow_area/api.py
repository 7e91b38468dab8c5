"""The plugin's designer API: the prefix table and a lookup.

=====================================  ==============  =====================================
``GET    /api/area-prefixes``          flows.read      the table (``?region=…``)
``PUT    /api/area-prefixes/{prefix}`` data.manage  create or replace: ``{region, note}``
``DELETE /api/area-prefixes/{prefix}`` data.manage  remove
``GET    /api/area-lookup``            flows.read      ``?number=…``: what the table says
=====================================  ==============  =====================================

Every change is written to ivrflow's audit log in the same transaction.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlmodel import Session
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from designer import audit
from designer.problems import ApiError
from designer.web import Context, api
from ivrflow_area.numbers import PREFIX_RE, REGION_RE, longest_prefix, normalise
from ivrflow_area.store import AreaStore

__all__ = ["AUDIT_ACTIONS", "make_routes"]

AUDIT_ACTIONS = {
    "area.save": ("保存号段", "saved an area prefix"),
    "area.delete": ("删除号段", "deleted an area prefix"),
}


class PrefixBody(BaseModel):
    region: str = Field(pattern=REGION_RE.pattern, description="e.g. shenzhen")
    note: str = Field(default="", max_length=200)


def _bad_prefix(prefix: str) -> ApiError:
    return ApiError(
        422,
        "area.prefix",
        f"“{prefix}” 不是号段或区号：手机号段为 1 开头 3–7 位，区号为 0 开头 3–4 位。",
        f"{prefix!r} is not a prefix: mobile prefixes are 3–7 digits starting with 1, area "
        "codes 3–4 digits starting with 0.",
    )


def make_routes(store: AreaStore) -> list[BaseRoute]:
    """The plugin's routes, bound to ``store``."""
    audit.register_actions(AUDIT_ACTIONS)

    @api("flows.read", tag="area")
    def area_list(ctx: Context) -> dict[str, Any]:
        """The prefix table, by prefix."""
        return {"prefixes": store.list(ctx.query("region") or None)}

    @api(
        "data.manage",
        body=PrefixBody,
        tag="area",
        responses={422: "not a prefix or region"},
    )
    def area_put(ctx: Context) -> JSONResponse:
        """Create or replace a prefix → region."""
        prefix = ctx.path("prefix")
        if not PREFIX_RE.match(prefix):
            raise _bad_prefix(prefix)
        body = ctx.body(PrefixBody)
        with Session(ctx.services.engine) as session:
            created = store.put(
                prefix,
                body.region,
                body.note,
                actor=ctx.actor.username,
                connection=session.connection(),
            )
            audit.record(
                session,
                "area.save",
                actor=ctx.actor.username,
                target=prefix,
                ip=ctx.actor.ip,
                detail={"region": body.region, "created": created},
            )
            session.commit()
        store.invalidate()
        return JSONResponse(store.get(prefix), status_code=201 if created else 200)

    @api("data.manage", tag="area", responses={404: "no such prefix"})
    def area_delete(ctx: Context) -> dict[str, Any]:
        """Remove a prefix (its numbers then take the node's other exit)."""
        prefix = ctx.path("prefix")
        with Session(ctx.services.engine) as session:
            if not store.delete(prefix, connection=session.connection()):
                raise ApiError(
                    404, "area.unknown", f"号段表中没有 {prefix}", f"no prefix {prefix!r}"
                )
            audit.record(
                session, "area.delete", actor=ctx.actor.username, target=prefix, ip=ctx.actor.ip
            )
            session.commit()
        store.invalidate()
        return {"ok": True}

    @api("flows.read", tag="area")
    def area_lookup(ctx: Context) -> dict[str, Any]:
        """What the table says about a number (?number=13800138000)."""
        number = ctx.query("number") or ""
        store.invalidate()
        match = longest_prefix(number, store.table())
        found = normalise(number)
        return {
            "number": number,
            "normalised": found[1] if found else None,
            "kind": match.kind,
            "prefix": match.prefix or None,
            "region": match.region or None,
        }

    return [
        Route("/api/area-prefixes", area_list, methods=["GET"]),
        Route("/api/area-prefixes/{prefix}", area_put, methods=["PUT"]),
        Route("/api/area-prefixes/{prefix}", area_delete, methods=["DELETE"]),
        Route("/api/area-lookup", area_lookup, methods=["GET"]),
    ]
