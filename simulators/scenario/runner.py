"""Playing a scenario against a central system with the library's simulators.

Each station of the scenario is one :class:`~simulators.ChargePoint16` or
:class:`~simulators.ChargePoint201`, connected at its first step (or by a
``Connect`` step) and booted before its first other message unless the
station says ``"boot": false``. Transactions are remembered per station and
connector, so ``StopTransaction`` knows the 1.6 ``transactionId`` the
gateway gave, or the 2.0.1 ``transactionId`` and next ``seqNo``.

Every step ends in a :class:`StepResult`; a step that cannot even be tried
(the station could not connect) fails with the reason, and the run goes on
unless ``fail_fast``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidStatus

from simulators.answers import main_status
from simulators.base import ChargePointSimulator
from simulators.errors import CallError, ProtocolError
from simulators.frames import Payload
from simulators.scenario.match import mismatches
from simulators.scenario.model import Scenario, Station, Step
from simulators.v16 import ChargePoint16
from simulators.v201 import ChargePoint201


@dataclass
class StepResult:
    step: Step
    ok: bool
    detail: str
    """What was received (passed) or why it did not match (failed)."""
    answer: Payload | None = None
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step.number,
            "name": self.step.label(),
            "station": self.step.station,
            "action": self.step.action,
            "ok": self.ok,
            "detail": self.detail,
            "problems": self.problems,
            "answer": self.answer,
            "seconds": round(self.seconds, 4),
        }


class StepFailed(Exception):
    """The step could not be played (connection refused, no open transaction...)."""


@dataclass
class _Transaction:
    reference: Any
    """1.6: the gateway's transactionId; 2.0.1: our transactionId."""
    meter_wh: float


@dataclass
class _StationState:
    station: Station
    cp: ChargePointSimulator | None = None
    booted: bool = False
    transactions: dict[int, _Transaction] = field(default_factory=dict)
    meter_wh: dict[int, float] = field(default_factory=dict)


class ScenarioRunner:
    def __init__(
        self,
        scenario: Scenario,
        url: str,
        *,
        call_timeout: float = 10.0,
        fail_fast: bool = False,
        on_result: Callable[[StepResult], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.url = url
        self.call_timeout = call_timeout
        self.fail_fast = fail_fast
        self.on_result = on_result
        self._states = {cpid: _StationState(st) for cpid, st in scenario.stations.items()}

    async def run(self) -> list[StepResult]:
        results: list[StepResult] = []
        try:
            for step in self.scenario.steps:
                result = await self.play(step)
                results.append(result)
                if self.on_result is not None:
                    self.on_result(result)
                if not result.ok and self.fail_fast:
                    break
        finally:
            await self.close()
        return results

    async def close(self) -> None:
        for state in self._states.values():
            if state.cp is not None:
                await state.cp.close()
                state.cp = None

    async def play(self, step: Step) -> StepResult:
        started = time.monotonic()
        try:
            result = await self._play(step)
        except StepFailed as exc:
            result = StepResult(step, False, str(exc), problems=[str(exc)])
        except (ConnectionClosed, OSError) as exc:
            problem = f"connection lost: {exc}"
            result = StepResult(step, False, problem, problems=[problem])
        except TimeoutError:
            problem = "no answer in time"
            result = StepResult(step, False, problem, problems=[problem])
        except ProtocolError as exc:
            result = StepResult(step, False, str(exc), problems=[str(exc)])
        result.seconds = time.monotonic() - started
        return result

    # Steps

    async def _play(self, step: Step) -> StepResult:
        state = self._state(step.station)
        if step.action == "Connect":
            return await self._connect_step(step, state)
        if step.action == "Disconnect":
            await self._disconnect(state)
            return StepResult(step, True, "disconnected")
        if step.action == "Sleep":
            await asyncio.sleep(float(step.params["seconds"]))
            return StepResult(step, True, f"slept {step.params['seconds']} s")
        cp = await self._ready(state, booting=step.action == "BootNotification")
        timeout = float(step.params.get("timeout", self.call_timeout))
        if step.action == "AwaitCall":
            payload = await cp.wait_for_call(str(step.params["call"]), timeout=timeout)
            return self._judge(step, payload, None)
        try:
            async with asyncio.timeout(timeout):
                answer = await self._send(step, state, cp)
        except CallError as exc:
            return self._judge(step, None, exc)
        if step.action == "BootNotification" and answer.get("status") == "Accepted":
            state.booted = True
        return self._judge(step, answer, None)

    def _judge(self, step: Step, answer: Payload | None, error: CallError | None) -> StepResult:
        expect = step.expect
        problems: list[str] = []
        if error is not None:
            detail = f"CALLERROR {error.code}"
            if error.description:
                detail += f": {error.description}"
            if expect.callerror is None:
                problems.append(f"expected a result, got {detail}")
            elif expect.callerror != error.code:
                problems.append(f"expected CALLERROR {expect.callerror}, got {detail}")
            return StepResult(step, not problems, "; ".join(problems) or detail, None, 0, problems)
        assert answer is not None
        status = main_status(answer)
        if expect.callerror is not None:
            problems.append(f"expected CALLERROR {expect.callerror}, got a result")
        if expect.status is not None and status != expect.status:
            problems.append(f"expected status {expect.status}, got {status}")
        if expect.fields is not None:
            problems.extend(mismatches(dict(expect.fields), answer))
        detail = status if status is not None else "ok"
        return StepResult(step, not problems, "; ".join(problems) or detail, answer, 0, problems)

    async def _connect_step(self, step: Step, state: _StationState) -> StepResult:
        assert step.connect_as is not None
        await self._disconnect(state)
        cp = self._simulator(step.connect_as)
        want = step.expect.http
        try:
            await cp.connect()
        except InvalidStatus as exc:
            got = exc.response.status_code
            if want == got:
                return StepResult(step, True, f"refused with HTTP {got}")
            expected = f"HTTP {want}" if want is not None else "the upgrade"
            problem = f"expected {expected}, got HTTP {got}"
            return StepResult(step, False, problem, problems=[problem])
        if want is not None:
            await cp.close()
            problem = f"expected HTTP {want}, got the upgrade (subprotocol {cp.subprotocol})"
            return StepResult(step, False, problem, problems=[problem])
        state.station, state.cp, state.booted = step.connect_as, cp, False
        return StepResult(step, True, f"connected ({cp.subprotocol})")

    async def _disconnect(self, state: _StationState) -> None:
        if state.cp is not None:
            await state.cp.close()
        state.cp, state.booted = None, False

    async def _ready(self, state: _StationState, *, booting: bool) -> ChargePointSimulator:
        """The station's open connection, booted first unless the station says otherwise."""
        cp = state.cp
        if cp is None or cp.close_code is not None:
            cp = self._simulator(state.station)
            try:
                await cp.connect()
            except InvalidStatus as exc:
                raise StepFailed(f"could not connect: HTTP {exc.response.status_code}") from None
            except OSError as exc:
                raise StepFailed(f"could not connect: {exc}") from None
            state.cp, state.booted = cp, False
        if not booting and not state.booted and state.station.boot:
            try:
                answer = await cp.call(
                    "BootNotification", self._boot_payload(state.station.version)
                )
            except CallError as exc:
                raise StepFailed(f"BootNotification refused: {exc}") from None
            if answer.get("status") != "Accepted":
                raise StepFailed(f"BootNotification not accepted: {answer.get('status')}")
            state.booted = True
        return cp

    def _simulator(self, station: Station) -> ChargePointSimulator:
        cls = ChargePoint16 if station.version == "1.6" else ChargePoint201
        return cls(
            station.charge_point_id,
            url=self.url,
            password=station.password,
            username=station.username,
            subprotocols=None if station.subprotocols is None else list(station.subprotocols),
            call_timeout=self.call_timeout,
        )

    @staticmethod
    def _boot_payload(version: str) -> Payload:
        if version == "1.6":
            return {"chargePointVendor": "SimVendor", "chargePointModel": "ScenarioSim"}
        station = {"model": "ScenarioSim", "vendorName": "SimVendor"}
        return {"reason": "PowerUp", "chargingStation": station}

    def _state(self, station_id: str) -> _StationState:
        state = self._states.get(station_id)
        if state is None:
            state = self._states[station_id] = _StationState(self.scenario.stations[station_id])
        return state

    # Helpers: the same words for both versions

    async def _send(self, step: Step, state: _StationState, cp: ChargePointSimulator) -> Payload:
        if step.payload is not None:
            return await cp.call(step.action, dict(step.payload))
        p = step.params
        connector = int(p.get("connector", 1))
        if isinstance(cp, ChargePoint16):
            return await self._send_16(step.action, p, connector, state, cp)
        assert isinstance(cp, ChargePoint201)
        return await self._send_201(step.action, p, connector, state, cp)

    async def _send_16(
        self,
        action: str,
        p: Any,
        connector: int,
        state: _StationState,
        cp: ChargePoint16,
    ) -> Payload:
        if action == "BootNotification":
            return await cp.boot(model="ScenarioSim")
        if action == "Heartbeat":
            return await cp.heartbeat()
        if action == "Authorize":
            return await cp.authorize(p["token"])
        if action == "StatusNotification":
            return await cp.status_notification(connector, p.get("connector_status", "Available"))
        if action == "StartTransaction":
            meter = float(p.get("meter_wh", state.meter_wh.get(connector, 0)))
            answer = await cp.start_transaction(connector, p["token"], int(meter))
            state.transactions[connector] = _Transaction(answer.get("transactionId"), meter)
            state.meter_wh[connector] = meter
            return answer
        transaction = state.transactions.get(connector)
        if action == "MeterValues":
            meter = self._next_meter(p, state, connector)
            if transaction is None:
                return await cp.meter_values(connector, energy_wh=meter)
            return await cp.meter_values(
                connector, transaction_id=transaction.reference, energy_wh=meter
            )
        if transaction is None:
            raise StepFailed(f"no transaction started by this scenario on connector {connector}")
        meter = self._next_meter(p, state, connector)
        del state.transactions[connector]
        return await cp.stop_transaction(
            transaction.reference, int(meter), id_tag=p.get("token"), reason=p.get("reason")
        )

    async def _send_201(
        self,
        action: str,
        p: Any,
        connector: int,
        state: _StationState,
        cp: ChargePoint201,
    ) -> Payload:
        if action == "BootNotification":
            return await cp.boot(model="ScenarioSim")
        if action == "Heartbeat":
            return await cp.heartbeat()
        if action == "Authorize":
            return await cp.authorize(p["token"], p.get("token_type", "ISO14443"))
        if action == "StatusNotification":
            status = p.get("connector_status", "Available")
            return await cp.status_notification(connector, 1, status)
        if action == "StartTransaction":
            meter = float(p.get("meter_wh", state.meter_wh.get(connector, 0)))
            transaction_id, answer = await cp.start_transaction(
                p["token"],
                evse_id=connector,
                meter_wh=meter,
                token_type=p.get("token_type", "ISO14443"),
            )
            state.transactions[connector] = _Transaction(transaction_id, meter)
            state.meter_wh[connector] = meter
            return answer
        transaction = state.transactions.get(connector)
        if action == "MeterValues":
            meter = self._next_meter(p, state, connector)
            if transaction is None:
                return await cp.meter_values(connector, meter)
            return await cp.update_transaction(transaction.reference, meter)
        if transaction is None:
            raise StepFailed(f"no transaction started by this scenario on EVSE {connector}")
        meter = self._next_meter(p, state, connector)
        del state.transactions[connector]
        token = p.get("token")
        return await cp.end_transaction(
            transaction.reference,
            meter,
            stopped_reason=p.get("reason", "Local"),
            id_token=token,
        )

    @staticmethod
    def _next_meter(p: Any, state: _StationState, connector: int) -> float:
        """The given ``meter_wh``, else 1 kWh more than the connector's last reading."""
        meter = float(p["meter_wh"]) if "meter_wh" in p else state.meter_wh.get(connector, 0) + 1000
        state.meter_wh[connector] = meter
        return meter
