"""The composition root: :func:`create_app` wires a gateway from its settings.

Nothing here runs at import time. :class:`Gateway` owns every background task
it starts (the database writer through :class:`Database`, the cache reloader,
the HTTP server, connection replacement, the database's health probe) and
stops them in order: stop accepting, finish the messages being handled, close
chargers with 1001, commit, close the database.

While the database cannot take durable writes (``gateway.store.health``),
``/readyz`` answers 503 with the reason, new WebSocket handshakes get 503
with ``Retry-After``, and a charger whose CALL needs a durable write is
disconnected (1013) without an answer, so it keeps the message and sends it
again later; answers from memory (Authorize, Heartbeat) go on.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Collection
from datetime import timedelta

import structlog
import uvicorn
from websockets.asyncio.server import Server, ServerConnection, serve

from gateway.admin_api import AdminServices
from gateway.bulk_work import ProcessWorker
from gateway.config import Settings
from gateway.enforcement import Enforcer
from gateway.heap import HeapSteward
from gateway.http_api import Readiness, create_http_app
from gateway.members.service import AdminContext
from gateway.metrics import Metrics
from gateway.ocpp_handlers import v16, v201
from gateway.ocpp_handlers.context import Handlers, Services
from gateway.policy_cache.cache import PolicyCache
from gateway.policy_cache.updates import CacheUpdater
from gateway.rpc.replay import ReplayCache
from gateway.rpc.validation import validator
from gateway.security.passwords import PasswordVerifier, VerifiedCache
from gateway.security.throttle import FailureThrottle
from gateway.store.database import Database
from gateway.store.members import MemberStore
from gateway.store.policies import PolicyStore
from gateway.store.stations import StationStore
from gateway.store.transactions import TransactionStore
from gateway.tasks import TaskSet
from gateway.timeutil import Clock, system_clock
from gateway.transport.connection import ChargerConnection, OcppServerConnection
from gateway.transport.handshake import SUBPROTOCOLS, Handshake, select_subprotocol

log = structlog.get_logger("gateway")

HANDLERS: dict[str, Handlers] = {"1.6": v16.HANDLERS, "2.0.1": v201.HANDLERS}
CACHE_POLL_SECONDS = 1.0


class Gateway:
    def __init__(self, settings: Settings, *, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.db = Database(
            settings.database.path,
            metrics=self.metrics,
            batch_max=settings.database.commit_batch_max,
            max_bytes=settings.database.max_bytes,
            min_free_bytes=settings.database.min_free_bytes,
        )
        self.stations = StationStore(self.db)
        self.members = MemberStore(self.db)
        self.transactions = TransactionStore(self.db)
        self.policies = PolicyStore(self.db)
        ocpp = settings.ocpp
        self.clock = clock
        self.cache = PolicyCache(timedelta(seconds=ocpp.max_cache_lifetime))
        self.connections: dict[str, ChargerConnection] = {}
        self.enforcer = Enforcer(self.transactions, self.metrics, self.connections.get)
        self.services = Services(
            clock=clock,
            metrics=self.metrics,
            stations=self.stations,
            members=self.members,
            transactions=self.transactions,
            cache=self.cache,
            enforcer=self.enforcer,
            heartbeat_interval=ocpp.heartbeat_interval,
        )
        self.replay = ReplayCache(ocpp.replay_window, ocpp.replay_ttl, time.monotonic)
        self.passwords = PasswordVerifier()
        self.handshake = Handshake(
            self.stations.get,
            FailureThrottle(ocpp.auth_failure_limit, ocpp.auth_failure_window, time.monotonic),
            VerifiedCache(),
            self.metrics,
            self.passwords.verify,
            self.storage_fault,
        )
        self.bulk_worker = ProcessWorker()  # imports and exports, off the event loop
        self.admin = AdminServices.create(
            AdminContext(
                self.db,
                clock,
                settings.admin,
                refresh=self.refresh_cache,
                connected=self.connections.__contains__,
                worker=self.bulk_worker,
            )
        )
        self._tasks = TaskSet("gateway")
        self.heap = HeapSteward(self.metrics)
        self._ws_server: Server | None = None
        self._http: uvicorn.Server | None = None
        self._http_task: asyncio.Task[None] | None = None
        self.cache_updater = CacheUpdater(
            self.cache,
            self.policies,
            self.members.cache_generation,
            clock,
            self.enforcer.apply,
            self.metrics,
        )
        self.ocpp_port = 0
        self.http_port = 0

    # -- start ----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.db.open()
        await self.reload_cache(with_usage=True)
        self.metrics.open_transactions.set(await self.transactions.count_open())
        for version, handlers in HANDLERS.items():
            for action in handlers.actions():
                validator(version, action)
                validator(version, action, True)
        self._tasks.spawn(self._watch_cache(), "cache-reloader")
        self._tasks.spawn(self.heap.run(), "heap-steward")
        self._tasks.spawn(self._watch_storage(), "storage-probe")
        ocpp = self.settings.ocpp
        self._ws_server = await serve(
            self._on_connection,
            ocpp.host,
            ocpp.port,
            process_request=self.handshake,
            select_subprotocol=select_subprotocol,
            create_connection=OcppServerConnection,
            max_size=ocpp.max_frame_bytes,
            ping_interval=ocpp.ping_interval,
            ping_timeout=ocpp.ping_timeout,
            open_timeout=ocpp.open_timeout,
            close_timeout=ocpp.close_timeout,
            compression=None,
            backlog=ocpp.backlog,
            ssl=self._tls_context(),
            server_header="ocpp-gateway",
            logger=logging.getLogger("gateway.websockets"),
        )
        self.ocpp_port = self._ws_server.sockets[0].getsockname()[1]
        await self._start_http()
        log.info(
            "gateway started",
            ocpp_port=self.ocpp_port,
            http_port=self.http_port,
            database=str(self.settings.database.path),
            tls=self.settings.ocpp.tls_cert is not None,
        )

    def _tls_context(self) -> ssl.SSLContext | None:
        """Security Profile 2: TLS 1.2 or newer with the configured certificate."""
        ocpp = self.settings.ocpp
        if ocpp.tls_cert is None or ocpp.tls_key is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(ocpp.tls_cert, ocpp.tls_key)
        return context

    async def _start_http(self) -> None:
        http = self.settings.http
        config = uvicorn.Config(
            create_http_app(self.metrics, self.readiness, self.admin),
            host=http.host,
            port=http.port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        await server.startup()
        if server.should_exit:
            raise RuntimeError(f"cannot listen on {http.host}:{http.port}")
        self._http = server
        self.http_port = server.servers[0].sockets[0].getsockname()[1]
        self._http_task = asyncio.create_task(server.main_loop(), name="http")

    async def readiness(self) -> Readiness:
        fault = self.storage_fault()
        reachable = await self.db.ping()
        checks = {
            "database": fault is None and reachable,
            "cache": self.cache.loaded,
            "listening": self._ws_server is not None and self._ws_server.is_serving(),
        }
        reasons = {name: "not ready" for name, ok in checks.items() if not ok}
        if fault is not None or not reachable:
            reasons["database"] = fault or "not reachable"
        return Readiness(checks, reasons)

    def storage_fault(self) -> str | None:
        """Why the database cannot take durable writes now; None while it can."""
        fault = self.db.health.fault
        return None if fault is None else fault.reason

    # -- background work ------------------------------------------------------------------

    async def reload_cache(self, *, with_usage: bool = False) -> None:
        """Rebuild the snapshot from the whole database now; re-check every running session.

        Usage counters are rebuilt from the transactions only at start
        (``with_usage``): after that the cache itself keeps them current.
        """
        await self.cache_updater.rebuild(with_usage=with_usage)

    async def refresh_cache(self, member_ids: Collection[int] | None = None) -> None:
        """Make the cache reflect a change this process has just committed.

        The admin API awaits this before it answers, so the next decision on
        any connection sees the change. ``member_ids`` names the members whose
        status, validity, tokens, groups or own policy changed: just those are
        re-read and patched in, and their running sessions re-checked. None:
        anything may have changed (organisations, stations, sites, group
        policies): the snapshot is rebuilt. Every in-process change to what
        the cache reads must be followed by this call (or ``reload_cache``):
        the poller leaves this process's changes to it (see
        ``gateway.policy_cache.updates``).
        """
        await self.cache_updater.refresh(member_ids)

    async def _watch_cache(self) -> None:
        """Pick up changes made by other processes (the CLI) within a second."""
        try:
            while True:
                await asyncio.sleep(CACHE_POLL_SECONDS)
                if self.db.health.fault is not None:
                    continue  # the poll reads through the writer, refused meanwhile
                try:
                    await self.cache_updater.poll()
                except Exception as exc:
                    log.error("cache reload failed", error=repr(exc))
        finally:
            self.cache_updater.close()

    async def _watch_storage(self) -> None:
        """The one owner of the database's health probe: every ``health_interval`` seconds
        (in the writer's turn, between two batches). A database reopened because a file was
        put back at its path may hold other members and sessions: the cache is rebuilt."""
        interval = self.settings.database.health_interval
        last_error = ""
        while True:
            await asyncio.sleep(interval)
            try:
                if await self.db.check_health():
                    self.policies.close_readers()  # its connection is to the file gone
                    await self.reload_cache(with_usage=True)
                    self.metrics.open_transactions.set(await self.transactions.count_open())
                last_error = ""
            except Exception as exc:
                if repr(exc) != last_error:
                    log.error("database health probe failed", error=repr(exc))
                last_error = repr(exc)

    # -- connections ----------------------------------------------------------------------

    async def _on_connection(self, server_connection: ServerConnection) -> None:
        ws = server_connection
        assert isinstance(ws, OcppServerConnection)
        cpid = ws.station.charge_point_id
        version = SUBPROTOCOLS.get(ws.subprotocol or "")
        with structlog.contextvars.bound_contextvars(charge_point_id=cpid, ocpp_version=version):
            if version is None:
                self.metrics.connections_refused.labels("no_subprotocol").inc()
                log.warning(
                    "no common OCPP subprotocol; closing with 1002",
                    offered=ws.request.headers.get("Sec-WebSocket-Protocol")
                    if ws.request
                    else None,
                )
                await ws.close(1002, "no supported OCPP subprotocol")
                return
            connection = ChargerConnection(
                ws,
                version,
                self.services,
                HANDLERS[version],
                self.replay,
                self.settings.ocpp.outbound_call_timeout,
            )
            previous = self.connections.get(cpid)
            self.connections[cpid] = connection
            if previous is not None:
                self.metrics.security_events.labels("duplicate_connection").inc()
                log.warning(
                    "charger connected again; the older connection is closed",
                    remote=str(ws.remote_address),
                )
                self._tasks.spawn(previous.close(1008, "replaced by a newer connection"), "replace")
            self.metrics.connected_chargers.labels(version).inc()
            epoch = self.heap.arrived()
            log.info("charger connected", remote=str(ws.remote_address))
            try:
                await connection.serve()
            finally:
                self.heap.left(epoch)
                self.metrics.connected_chargers.labels(version).dec()
                if self.connections.get(cpid) is connection:
                    del self.connections[cpid]
                log.info("charger disconnected", code=ws.close_code)

    # -- stop -----------------------------------------------------------------------------

    async def stop(self) -> None:
        """Graceful shutdown: no new connections, answer what is in flight, close 1001."""
        log.info("gateway stopping", connected=len(self.connections))
        if self._ws_server is not None:
            self._ws_server.close(close_connections=False)
            await asyncio.gather(
                *(c.close(1001, "gateway shutting down") for c in list(self.connections.values())),
                return_exceptions=True,
            )
            self._ws_server.close()
            await self._ws_server.wait_closed()
        await self._tasks.cancel_all()
        self.passwords.close()
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            await self._http_task
            await self._http.shutdown()
        self.bulk_worker.close()
        await self.db.close()
        log.info("gateway stopped")


def create_app(settings: Settings, *, clock: Clock = system_clock) -> Gateway:
    return Gateway(settings, clock=clock)
