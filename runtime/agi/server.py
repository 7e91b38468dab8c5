"""The FastAGI server: our own accept loop, every read bounded, every socket closed.

``FastAgiServer(handler)`` listens (``agi://host:4573/ENTRY``), reads each connection's
environment block under ``header_timeout_s`` and runs ``handler(conn, env)`` with an
:class:`~runtime.agi.protocol.AgiConnection`. A connection that closes before its headers
(health checks, port scans), sends garbage or is too slow is closed quietly — panoramisk
spins at 100 % CPU on the first of these (``design/pitfalls.md``). A handler's exception is
logged and never reaches the server; the connection is always closed after the handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from runtime.agi.protocol import (
    DEFAULT_COMMAND_TIMEOUT_S,
    MAX_LINE,
    AgiConnection,
    AgiHangup,
    AgiProtocolError,
)
from runtime.call import CallerHangup

__all__ = ["FastAgiServer", "Handler"]

log = logging.getLogger("ivrflow.agi.server")

Handler = Callable[[AgiConnection, dict[str, str]], Awaitable[None]]


class FastAgiServer:
    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 4573,
        backlog: int = 512,
        header_timeout_s: float = 5.0,
        command_timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S,
        max_line: int = MAX_LINE,
    ) -> None:
        self.handler = handler
        self.host = host
        self._port = port
        self.backlog = backlog
        self.header_timeout_s = header_timeout_s
        self.command_timeout_s = command_timeout_s
        self.max_line = max_line
        self._server: asyncio.Server | None = None
        self._accepting = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._active = 0
        self.accepted = 0
        """Connections accepted so far."""
        self.rejected = 0
        """Connections closed before a handler ran (no headers, garbage, too slow)."""
        self.handler_errors = 0

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with ``port=0``)."""
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    @property
    def active(self) -> int:
        """Sessions whose handler is running."""
        return self._active

    @property
    def connections(self) -> int:
        """Open connections, including those still sending their headers."""
        return len(self._tasks)

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("FastAgiServer already started")
        self._server = await asyncio.start_server(
            self._on_connect,
            self.host,
            self._port,
            backlog=self.backlog,
            limit=self.max_line,
            reuse_address=True,
        )
        self._accepting = True
        self._port = self.port

    async def __aenter__(self) -> FastAgiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close(0)

    async def stop_accepting(self) -> None:
        """Close the listening socket; running sessions go on."""
        self._accepting = False
        if self._server is not None:
            self._server.close()

    async def close(self, drain_s: float = 0.0) -> None:
        """Stop accepting, let sessions finish for up to ``drain_s`` seconds, cancel the rest
        and wait until every connection is closed."""
        await self.stop_accepting()
        if self._tasks and drain_s > 0:
            await asyncio.wait(set(self._tasks), timeout=drain_s)
        if self._tasks:
            log.info("FastAGI: ending %d session(s) still running", len(self._tasks))
        for task in list(self._tasks):
            task.cancel()
        while self._tasks:
            await asyncio.wait(set(self._tasks))
        if self._server is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5.0):
                    await self._server.wait_closed()

    # -- connections -----------------------------------------------------------------------

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain callback, not a coroutine: the session task exists (and close() sees it)
        # from the moment the connection is accepted.
        if not self._accepting:
            writer.close()
            return
        self.accepted += 1
        task = asyncio.get_running_loop().create_task(
            self._session(reader, writer), name="agi-session"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        conn: AgiConnection | None = None
        try:
            # the connection parses the environment as it arrives, then the replies
            conn = AgiConnection(
                reader,
                writer,
                command_timeout_s=self.command_timeout_s,
                max_line=self.max_line,
                read_environment=True,
            )
            try:
                async with asyncio.timeout(self.header_timeout_s):
                    env = await conn.environment()
            except (TimeoutError, AgiProtocolError, OSError) as exc:
                self.rejected += 1
                log.debug("FastAGI %s: closed before a session: %s", peer, exc or "timeout")
                return
            self._active += 1
            try:
                await self.handler(conn, env)
            except (AgiHangup, CallerHangup) as exc:
                log.debug("FastAGI %s: handler ended by hang-up: %s", peer, exc)
            except Exception:
                self.handler_errors += 1
                log.exception("FastAGI %s: handler failed", peer)
            finally:
                self._active -= 1
        finally:
            if conn is not None:
                await conn.close()
            else:
                writer.close()
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2.0):
                        await writer.wait_closed()
