"""Test helpers for flows that use the fund plugin (and its benchmark).

:class:`BlackHole` is a fund system that is "up" but hung: it accepts TCP connections and
never answers — the worst case for a caller, which the connector's timeout must bound::

    async with BlackHole() as url:
        backend = HttpFundBackend(url)
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["BlackHole"]


class BlackHole:
    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._release = asyncio.Event()
        self._writers: list[asyncio.StreamWriter] = []
        self.connections = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        await self._release.wait()
        writer.close()

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/api"

    async def __aexit__(self, *exc: Any) -> None:
        self._release.set()
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()
        for _ in range(3):
            await asyncio.sleep(0)
