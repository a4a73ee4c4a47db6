"""SageMaker's domain and user profile operations, served from `models.Studio`."""

from __future__ import annotations

from typing import Any

from localaws.sagemaker.studio.models import studio
from localaws.wire import ApiCall, Operations

operations = Operations()
SERVICE = "sagemaker"


def _studio(call: ApiCall):
    return studio(call.account_id, call.region)


def _page(items: list[Any], params: dict[str, Any]) -> tuple[list[Any], str | None]:
    start = int(params.get("NextToken") or 0)
    size = int(params.get("MaxResults") or 100)
    token = str(start + size) if start + size < len(items) else None
    return items[start : start + size], token


@operations.handles(SERVICE, "CreateDomain")
def create_domain(call: ApiCall) -> dict[str, Any]:
    domain = _studio(call).create_domain(call.params)
    return {"DomainArn": domain.arn, "DomainId": domain.domain_id, "Url": domain.url}


@operations.handles(SERVICE, "DescribeDomain")
def describe_domain(call: ApiCall) -> dict[str, Any]:
    return _studio(call).domain(call.params.get("DomainId")).describe()


@operations.handles(SERVICE, "UpdateDomain")
def update_domain(call: ApiCall) -> dict[str, Any]:
    return {"DomainArn": _studio(call).update_domain(call.params).arn}


@operations.handles(SERVICE, "DeleteDomain")
def delete_domain(call: ApiCall) -> dict[str, Any]:
    _studio(call).delete_domain(call.params.get("DomainId"))
    return {}


@operations.handles(SERVICE, "ListDomains")
def list_domains(call: ApiCall) -> dict[str, Any]:
    domains = sorted(_studio(call).domains.values(), key=lambda d: d.life.created, reverse=True)
    page, token = _page(domains, call.params)
    return {"Domains": [d.summary() for d in page], **({"NextToken": token} if token else {})}


@operations.handles(SERVICE, "CreateUserProfile")
def create_user_profile(call: ApiCall) -> dict[str, Any]:
    return {"UserProfileArn": _studio(call).create_user_profile(call.params).arn}


@operations.handles(SERVICE, "DescribeUserProfile")
def describe_user_profile(call: ApiCall) -> dict[str, Any]:
    return _studio(call).user_profile(call.params.get("DomainId"), call.params.get("UserProfileName")).describe()


@operations.handles(SERVICE, "DeleteUserProfile")
def delete_user_profile(call: ApiCall) -> dict[str, Any]:
    _studio(call).delete_user_profile(call.params.get("DomainId"), call.params.get("UserProfileName"))
    return {}


@operations.handles(SERVICE, "ListUserProfiles")
def list_user_profiles(call: ApiCall) -> dict[str, Any]:
    p = call.params
    profiles = list(_studio(call).user_profiles.values())
    if p.get("DomainIdEquals"):
        profiles = [u for u in profiles if u.domain_id == p["DomainIdEquals"]]
    if p.get("UserProfileNameContains"):
        profiles = [u for u in profiles if p["UserProfileNameContains"] in u.name]
    key = (lambda u: u.life.modified) if p.get("SortBy") == "LastModifiedTime" else (lambda u: u.life.created)
    profiles.sort(key=key, reverse=p.get("SortOrder", "Descending") == "Descending")
    page, token = _page(profiles, p)
    return {"UserProfiles": [u.summary() for u in page], **({"NextToken": token} if token else {})}
