"""Routes: stations, sites, tokens, groups, organisation settings, policies and explain.

Thin adapters over :mod:`gateway.members.network` and
:mod:`gateway.members.network_policies`: they read the request, call the
service, shape the answer. Documentation with examples: ``docs/admin/network.md``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status

from gateway.admin_api.deps import CurrentActor, MemberId, Services
from gateway.admin_api.schemas import errors
from gateway.admin_api.schemas_network import (
    ExplainOut,
    GroupIn,
    GroupOut,
    OrganisationOut,
    OrganisationUpdate,
    PasswordIn,
    PasswordOut,
    PolicyOut,
    SiteOut,
    StationCreate,
    StationCreated,
    StationOut,
    StationUpdate,
    TariffIn,
    TokenCreate,
    TokenOut,
    TokenStatusName,
    TokenUpdate,
)
from gateway.members.bounds import Id, Instant
from gateway.members.errors import Invalid
from gateway.members.network import (
    UNSET,
    NetworkService,
    NewPassword,
    StationChange,
    TariffChange,
)
from gateway.members.network_explain import ExplainService
from gateway.members.network_policies import OrganisationChange, PolicyService
from gateway.members.policy_spec import PolicySpec

router = APIRouter(tags=["network"], responses=errors(401, 403, 404, 409, 422))
NO_CONTENT: dict[str, Any] = {"status_code": status.HTTP_204_NO_CONTENT}


def _network(services: Services) -> NetworkService:
    return NetworkService(services.ctx)


def _policies(services: Services) -> PolicyService:
    return PolicyService(services.ctx)


def _explainer(services: Services) -> ExplainService:
    return ExplainService(services.ctx)


Network = Annotated[NetworkService, Depends(_network)]
Policies = Annotated[PolicyService, Depends(_policies)]
Explainer = Annotated[ExplainService, Depends(_explainer)]


def _tariff(tariff: TariffIn | None) -> TariffChange | None:
    return None if tariff is None else TariffChange(tariff.price_per_kwh, tariff.session_fee)


def _credentials(new: NewPassword) -> dict[str, Any]:
    return {
        "charge_point_id": new.charge_point_id,
        "username": new.username,
        "password": new.password,
        "generated": new.generated,
    }


# -- stations and sites ---------------------------------------------------------------------


@router.get("/stations", response_model=list[StationOut], summary="The organisation's stations")
async def list_stations(
    network: Network, actor: CurrentActor, site: str | None = None
) -> list[dict[str, Any]]:
    return await network.list_stations(actor, site)


@router.post(
    "/stations",
    response_model=StationCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Register a station; its password is shown once",
)
async def register_station(
    body: StationCreate, network: Network, actor: CurrentActor
) -> dict[str, Any]:
    station, new = await network.register_station(
        actor,
        body.charge_point_id,
        site=body.site,
        timezone=body.timezone,
        tariff=_tariff(body.tariff),
        password=body.password,
    )
    return {"station": station, "credentials": _credentials(new)}


@router.get("/stations/{charge_point_id}", response_model=StationOut)
async def get_station(charge_point_id: str, network: Network, actor: CurrentActor) -> Any:
    return await network.get_station(actor, charge_point_id)


@router.patch(
    "/stations/{charge_point_id}",
    response_model=StationOut,
    summary="Change site, time zone or tariff override (null clears one)",
)
async def update_station(
    charge_point_id: str, body: StationUpdate, network: Network, actor: CurrentActor
) -> Any:
    given = body.model_fields_set
    change = StationChange(
        site=body.site if "site" in given else UNSET,
        timezone=body.timezone if "timezone" in given else UNSET,
        tariff=_tariff(body.tariff) if "tariff" in given else UNSET,
    )
    return await network.update_station(actor, charge_point_id, change)


@router.post(
    "/stations/{charge_point_id}/password",
    response_model=PasswordOut,
    summary="Set or rotate the station's password (shown once; used from its next connection)",
)
async def set_station_password(
    charge_point_id: str,
    network: Network,
    actor: CurrentActor,
    body: PasswordIn | None = None,
) -> Any:
    new = await network.set_password(actor, charge_point_id, body.password if body else None)
    return _credentials(new)


@router.delete("/stations/{charge_point_id}", **NO_CONTENT, summary="Remove a station")
async def remove_station(charge_point_id: str, network: Network, actor: CurrentActor) -> None:
    await network.remove_station(actor, charge_point_id)


@router.get("/sites", response_model=list[SiteOut], summary="Sites and their station counts")
async def list_sites(network: Network, actor: CurrentActor) -> Any:
    return await network.list_sites(actor)


# -- tokens ---------------------------------------------------------------------------------


@router.get("/tokens", response_model=list[TokenOut], summary="Badges and app tokens")
async def list_tokens(
    network: Network,
    actor: CurrentActor,
    member_id: Id | None = None,
    status: TokenStatusName | None = None,
) -> Any:
    return await network.list_tokens(actor, member_id=member_id, status=status)


@router.post("/tokens", response_model=TokenOut, status_code=status.HTTP_201_CREATED)
async def add_token(body: TokenCreate, network: Network, actor: CurrentActor) -> Any:
    return await network.add_token(
        actor, body.value, body.member_id, token_type=body.type, expires_at=body.expires_at
    )


@router.get("/tokens/{value}", response_model=TokenOut)
async def get_token(value: str, network: Network, actor: CurrentActor) -> Any:
    return await network.get_token(actor, value)


@router.patch("/tokens/{value}", response_model=TokenOut, summary="Change status or expiry")
async def update_token(value: str, body: TokenUpdate, network: Network, actor: CurrentActor) -> Any:
    given = body.model_fields_set
    if "status" in given and body.status is None:
        raise Invalid("status is Active, Blocked or Lost", field="status")
    extra = {"expires_at": body.expires_at} if "expires_at" in given else {}
    return await network.update_token(actor, value, status=body.status, **extra)


@router.post("/tokens/{value}/block", response_model=TokenOut, summary="Refused at once")
async def block_token(value: str, network: Network, actor: CurrentActor) -> Any:
    return await network.update_token(actor, value, status="Blocked")


@router.post("/tokens/{value}/unblock", response_model=TokenOut)
async def unblock_token(value: str, network: Network, actor: CurrentActor) -> Any:
    return await network.update_token(actor, value, status="Active")


@router.post("/tokens/{value}/lost", response_model=TokenOut, summary="Mark Lost: refused")
async def lose_token(value: str, network: Network, actor: CurrentActor) -> Any:
    return await network.update_token(actor, value, status="Lost")


@router.delete("/tokens/{value}", **NO_CONTENT, summary="Remove a token")
async def remove_token(value: str, network: Network, actor: CurrentActor) -> None:
    await network.remove_token(actor, value)


# -- groups ---------------------------------------------------------------------------------


@router.get("/groups", response_model=list[GroupOut], summary="Member groups")
async def list_groups(policies: Policies, actor: CurrentActor) -> Any:
    return await policies.list_groups(actor)


@router.post("/groups", response_model=GroupOut, status_code=status.HTTP_201_CREATED)
async def create_group(body: GroupIn, policies: Policies, actor: CurrentActor) -> Any:
    return await policies.create_group(actor, body.name)


@router.patch("/groups/{group}", response_model=GroupOut, summary="Rename a group")
async def rename_group(group: str, body: GroupIn, policies: Policies, actor: CurrentActor) -> Any:
    return await policies.rename_group(actor, group, body.name)


@router.delete(
    "/groups/{group}", **NO_CONTENT, summary="Delete a group and its policy (members stay)"
)
async def delete_group(group: str, policies: Policies, actor: CurrentActor) -> None:
    await policies.delete_group(actor, group)


# -- organisation ---------------------------------------------------------------------------


@router.get("/organisation", response_model=OrganisationOut, summary="Your organisation")
async def get_organisation(policies: Policies, actor: CurrentActor) -> Any:
    return await policies.get_organisation(actor)


@router.patch(
    "/organisation",
    response_model=OrganisationOut,
    summary="Time zone, currency, tariff, enforcement mode, group token, idToken type matching",
)
async def update_organisation(
    body: OrganisationUpdate, policies: Policies, actor: CurrentActor
) -> Any:
    given = {name: getattr(body, name) for name in body.model_fields_set}
    for name, value in given.items():
        if value is None and name != "group_token":
            raise Invalid(f"{name} cannot be cleared", field=name)
    return await policies.update_organisation(actor, OrganisationChange(**given))


# -- policies -------------------------------------------------------------------------------


@router.get("/policies", response_model=list[PolicyOut], summary="Every policy, most general first")
async def list_policies(policies: Policies, actor: CurrentActor) -> Any:
    return await policies.list_policies(actor)


@router.get("/policies/organisation", response_model=PolicyOut)
async def get_org_policy(policies: Policies, actor: CurrentActor) -> Any:
    return await policies.get_policy(actor, "organisation", None)


@router.put("/policies/organisation", response_model=PolicyOut, summary="The default policy")
async def set_org_policy(body: PolicySpec, policies: Policies, actor: CurrentActor) -> Any:
    return await policies.set_policy(actor, "organisation", None, body)


@router.delete("/policies/organisation", **NO_CONTENT)
async def clear_org_policy(policies: Policies, actor: CurrentActor) -> None:
    await policies.delete_policy(actor, "organisation", None)


@router.get("/policies/groups/{group}", response_model=PolicyOut)
async def get_group_policy(group: str, policies: Policies, actor: CurrentActor) -> Any:
    return await policies.get_policy(actor, "group", group)


@router.put("/policies/groups/{group}", response_model=PolicyOut)
async def set_group_policy(
    group: str, body: PolicySpec, policies: Policies, actor: CurrentActor
) -> Any:
    return await policies.set_policy(actor, "group", group, body)


@router.delete("/policies/groups/{group}", **NO_CONTENT)
async def clear_group_policy(group: str, policies: Policies, actor: CurrentActor) -> None:
    await policies.delete_policy(actor, "group", group)


@router.get("/policies/members/{member_id}", response_model=PolicyOut)
async def get_member_policy(member_id: MemberId, policies: Policies, actor: CurrentActor) -> Any:
    return await policies.get_policy(actor, "member", member_id)


@router.put(
    "/policies/members/{member_id}",
    response_model=PolicyOut,
    summary="A member's own policy (an exception to their groups' and the default)",
)
async def set_member_policy(
    member_id: MemberId, body: PolicySpec, policies: Policies, actor: CurrentActor
) -> Any:
    return await policies.set_policy(actor, "member", member_id, body)


@router.delete("/policies/members/{member_id}", **NO_CONTENT)
async def clear_member_policy(member_id: MemberId, policies: Policies, actor: CurrentActor) -> None:
    await policies.delete_policy(actor, "member", member_id)


# -- explain --------------------------------------------------------------------------------


@router.get(
    "/explain",
    response_model=ExplainOut,
    summary="The decision for a token at a station, rule by rule (as `ocpp-gateway explain`)",
)
async def explain(
    explainer: Explainer,
    actor: CurrentActor,
    token: Annotated[str, Query(min_length=1, max_length=36)],
    station: Annotated[str, Query(min_length=1, max_length=48)],
    at: Annotated[Instant | None, Query(description="ISO 8601 with offset; default now")] = None,
    token_type: Annotated[str | None, Query(description="2.0.1 idToken type")] = None,
) -> Any:
    return await explainer.explain(actor, token, station, at, token_type)
