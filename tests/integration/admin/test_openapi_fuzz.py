"""The admin API fuzzed from its own OpenAPI document (schemathesis) against a real gateway on
port 0, as its Owner: every operation, a bounded number of derandomised examples each; no
answer is a 5xx, and every answer (status code, content type, body) is one the document
declares.

The gateway runs in-process on an event loop of its own thread, because schemathesis calls
it synchronously (requests) from the test's thread; each operation gets a fresh Owner token,
so an operation that revokes the caller's token (``DELETE /api-tokens/{token_id}``) cannot
leave the following ones with a 401 only.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.app import Gateway, create_app
from gateway.logs import configure_logging
from gateway.members.service import Actor
from gateway.security.passwords import hash_password
from tests.conftest import gateway_settings

T = TypeVar("T")
EXAMPLES = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


class ThreadedGateway:
    """A real gateway on port 0, on an event loop run by a thread of its own."""

    def __init__(self, folder: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="gateway-under-fuzz")
        self.thread.start()
        self.gateway: Gateway = create_app(gateway_settings(folder))
        self.org_id = self.owner_id = 0

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    async def seed(self) -> None:
        """An organisation with an Owner, a station and a member with a badge."""
        gw, now = self.gateway, datetime.now(UTC)
        await gw.start()
        self.org_id, self.owner_id, _ = await gw.admin.members.create_organisation(
            "Fuzz", "owner@fuzz.test", first_name="Olivia"
        )
        await gw.stations.add("FUZZ-CP", hash_password("x" * 16, n=2**10), now,
                              organisation_id=self.org_id)  # fmt: skip
        member = await gw.members.add_member(self.org_id, now, first_name="Ann",
                                             email="ann@fuzz.test")  # fmt: skip
        await gw.members.add_token("ANN-1", member, now)
        await gw.refresh_cache(None)

    def owner_token(self) -> str:
        actor = Actor.command_line(self.org_id)
        _, secret = self.run(
            self.gateway.admin.members.create_api_token(actor, "fuzz", self.owner_id)
        )
        return secret

    def stop(self) -> None:
        try:
            self.run(self.gateway.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(30)
            self.loop.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedGateway]:
    configure_logging("json", "warning")
    live = ThreadedGateway(tmp_path_factory.mktemp("fuzz"))
    try:
        live.run(live.seed())
        yield live
    finally:
        live.stop()


def _fuzz(operation: Any, token: str) -> None:
    """``EXAMPLES`` derandomised cases of one operation, each checked by ``CHECKS``."""

    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    fuzz()


def test_every_operation_answers_within_its_schema_never_a_5xx(live: ThreadedGateway) -> None:
    base = f"http://127.0.0.1:{live.gateway.http_port}"
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    failures: list[str] = []
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        tested += 1
        try:
            _fuzz(operation, live.owner_token())
        except (Exception, FailureGroup) as exc:  # FailureGroup: a BaseExceptionGroup
            failures.append(f"{operation.label}:\n{exc}")
    methods = {"get", "put", "post", "delete", "patch"}
    assert tested == sum(len(methods & set(item)) for item in schema.raw_schema["paths"].values())
    assert not failures, f"{len(failures)} of {tested} operations:\n\n" + "\n\n".join(failures)
