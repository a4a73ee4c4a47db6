"""Studio domains and user profiles with SageMaker's validation, kept beside moto's SageMaker
backend (so a reset forgets them with the rest).

What is checked, from the API model (`sagemaker` service-2.json) and the API reference:
names and ids against the model's patterns and enums; `VpcId` and `SubnetIds` (1-16) present,
existing, subnets in that VPC; `AppNetworkAccessType: VpcOnly` needs
`DefaultUserSettings.SecurityGroups` (`UserSettings.SecurityGroups`: "Required when ...
AppNetworkAccessType is set to VpcOnly, unless specified as part of the DefaultUserSettings"),
at most 5, existing, in the VPC; `DomainSettings.SecurityGroupIds` at most 3; the execution roles
exist and trust SageMaker; the KMS key exists and is enabled; domain names unique
(`ResourceInUse`); a user profile's domain exists, its name is unique in the domain regardless of
case, SSO fields only (and always) for SSO domains; a domain with user profiles cannot be
deleted (`ResourceInUse`). A domain or profile is `Pending` (`Updating`) for
`LOCALAWS_SAGEMAKER_STUDIO_DELAY_S` seconds (default 1) before `InService`; CloudFormation,
which waits for that, creates them ready.
"""

from __future__ import annotations

import copy
import hashlib
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.sagemaker.models import sagemaker_backends

from localaws.sagemaker import references as refs
from localaws.wire import AwsError

NAME = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
DOMAIN_ID = r"d-(-*[a-z0-9]){1,61}"
APP_NETWORK_ACCESS = ("PublicInternetOnly", "VpcOnly")


def _delay() -> float:
    return float(os.environ.get("LOCALAWS_SAGEMAKER_STUDIO_DELAY_S", "1"))


def _now() -> datetime:
    return datetime.now(UTC)


def not_found(message: str) -> AwsError:
    return AwsError("ResourceNotFound", message, 400)


def in_use(message: str) -> AwsError:
    return AwsError("ResourceInUse", message, 400)


@dataclass
class _Lifecycle:
    """`Pending` (or `Updating`) until `ready_at`, then `InService`."""

    ready_at: float = 0.0
    changing: str = "Pending"
    created: datetime = field(default_factory=_now)
    modified: datetime = field(default_factory=_now)

    @property
    def status(self) -> str:
        return self.changing if time.monotonic() < self.ready_at else "InService"

    def start(self, changing: str, ready: bool) -> None:
        self.changing = changing
        self.ready_at = 0.0 if ready else time.monotonic() + _delay()
        self.modified = _now()


@dataclass
class Domain:
    domain_id: str
    arn: str
    name: str
    request: dict[str, Any]
    url: str
    home_efs_file_system_id: str
    life: _Lifecycle

    def describe(self) -> dict[str, Any]:
        r = self.request
        out = {
            "DomainArn": self.arn,
            "DomainId": self.domain_id,
            "DomainName": self.name,
            "HomeEfsFileSystemId": self.home_efs_file_system_id,
            "Status": self.life.status,
            "CreationTime": self.life.created,
            "LastModifiedTime": self.life.modified,
            "AuthMode": r["AuthMode"],
            "DefaultUserSettings": r["DefaultUserSettings"],
            "AppNetworkAccessType": r.get("AppNetworkAccessType", "PublicInternetOnly"),
            "SubnetIds": r.get("SubnetIds", []),
            "Url": self.url,
            "VpcId": r.get("VpcId"),
            "HomeEfsFileSystemCreation": r.get("HomeEfsFileSystemCreation", "Enabled"),
            "TagPropagation": r.get("TagPropagation", "DISABLED"),
        }
        for key in ("DomainSettings", "KmsKeyId", "AppSecurityGroupManagement", "DefaultSpaceSettings"):
            if r.get(key) is not None:
                out[key] = r[key]
        if r.get("KmsKeyId"):
            out["HomeEfsFileSystemKmsKeyId"] = r["KmsKeyId"]
        return out

    def summary(self) -> dict[str, Any]:
        d = self.describe()
        return {
            k: d[k]
            for k in ("DomainArn", "DomainId", "DomainName", "Status", "CreationTime", "LastModifiedTime", "Url")
        }


@dataclass
class UserProfile:
    domain_id: str
    name: str
    arn: str
    request: dict[str, Any]
    home_efs_uid: str
    life: _Lifecycle

    def describe(self) -> dict[str, Any]:
        out = {
            "DomainId": self.domain_id,
            "UserProfileArn": self.arn,
            "UserProfileName": self.name,
            "HomeEfsFileSystemUid": self.home_efs_uid,
            "Status": self.life.status,
            "CreationTime": self.life.created,
            "LastModifiedTime": self.life.modified,
        }
        for key in ("SingleSignOnUserIdentifier", "SingleSignOnUserValue", "UserSettings"):
            if self.request.get(key) is not None:
                out[key] = self.request[key]
        return out

    def summary(self) -> dict[str, Any]:
        d = self.describe()
        return {k: d[k] for k in ("DomainId", "UserProfileName", "Status", "CreationTime", "LastModifiedTime")}


class Studio:
    """The domains and user profiles of one account and region."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self.domains: dict[str, Domain] = {}
        self.user_profiles: dict[tuple[str, str], UserProfile] = {}
        self._lock = threading.RLock()

    # --- domains --------------------------------------------------------------------------
    def _check_network(self, r: dict[str, Any], where: str = "") -> None:
        access = refs.one_of(
            r.get("AppNetworkAccessType", "PublicInternetOnly"), APP_NETWORK_ACCESS, "appNetworkAccessType"
        )
        if not r.get("VpcId") or not r.get("SubnetIds"):
            if access == "VpcOnly" and where == "update":
                raise refs.invalid("VpcId and Subnet IDs are required for updating domains to VpcOnly mode.")
            raise refs.invalid("VpcId and SubnetIds are required to create a domain.")
        vpc_id = refs.vpc(self.account_id, self.region, r["VpcId"]).id
        refs.subnets(self.account_id, self.region, r["SubnetIds"], vpc_id)
        defaults = r.get("DefaultUserSettings") or {}
        groups = refs.security_groups(
            self.account_id,
            self.region,
            defaults.get("SecurityGroups", []),
            vpc_id,
            "DefaultUserSettings.SecurityGroups",
            5,
        )
        if access == "VpcOnly" and not groups:
            raise refs.invalid(
                "DefaultUserSettings.SecurityGroups: security groups are required when AppNetworkAccessType is "
                "VpcOnly (they must allow NFS over TCP 2049 inbound and outbound for Studio's EFS volume)."
            )
        settings = r.get("DomainSettings") or {}
        refs.security_groups(
            self.account_id,
            self.region,
            settings.get("SecurityGroupIds", []),
            vpc_id,
            "DomainSettings.SecurityGroupIds",
            3,
        )
        space = (r.get("DefaultSpaceSettings") or {}).get("SecurityGroups", [])
        refs.security_groups(self.account_id, self.region, space, vpc_id, "DefaultSpaceSettings.SecurityGroups", 5)
        rstudio = settings.get("RStudioServerProDomainSettings") or {}
        if access == "VpcOnly" and rstudio.get("DomainExecutionRoleArn") and not r.get("AppSecurityGroupManagement"):
            raise refs.invalid(
                "AppSecurityGroupManagement is required when AppNetworkAccessType is VpcOnly and "
                "DomainSettings.RStudioServerProDomainSettings.DomainExecutionRoleArn is provided."
            )
        if r.get("AppSecurityGroupManagement") is not None:
            refs.one_of(r["AppSecurityGroupManagement"], ("Service", "Customer"), "appSecurityGroupManagement")

    def _check_user_settings(self, settings: Any, field: str) -> None:
        if not isinstance(settings, dict):
            raise refs.invalid(f"{field} is required.")
        if settings.get("ExecutionRole") is not None:
            refs.role(self.account_id, settings["ExecutionRole"], f"{field}.ExecutionRole")

    def create_domain(self, r: dict[str, Any], ready: bool = False) -> Domain:
        r = copy.deepcopy(r)
        for required in ("DomainName", "AuthMode", "DefaultUserSettings"):
            if r.get(required) is None:
                raise refs.missing(required)
        name = refs.matches(r["DomainName"], NAME, "domainName", 63)
        refs.one_of(r["AuthMode"], ("SSO", "IAM"), "authMode")
        self._check_user_settings(r["DefaultUserSettings"], "DefaultUserSettings")
        if (r.get("DefaultSpaceSettings") or {}).get("ExecutionRole"):
            refs.role(self.account_id, r["DefaultSpaceSettings"]["ExecutionRole"], "DefaultSpaceSettings.ExecutionRole")
        self._check_network(r)
        key = r.get("KmsKeyId") or r.get("HomeEfsFileSystemKmsKeyId")
        if key:
            refs.kms_key(self.account_id, self.region, key, "KmsKeyId")
            r["KmsKeyId"] = key
        with self._lock:
            if any(d.name == name for d in self.domains.values()):
                raise in_use(
                    f"Resource Already Exists: Domain with name {name} already exists. Choose a different name."
                )
            digest = hashlib.sha256(f"{self.account_id}/{self.region}/{name}/{time.time_ns()}".encode()).hexdigest()
            domain_id = "d-" + "".join(c for c in digest if c.isalnum())[:12]
            life = _Lifecycle()
            life.start("Pending", ready)
            domain = Domain(
                domain_id=domain_id,
                arn=f"arn:aws:sagemaker:{self.region}:{self.account_id}:domain/{domain_id}",
                name=name,
                request=r,
                url=f"https://{domain_id}.studio.{self.region}.sagemaker.aws",
                home_efs_file_system_id="fs-" + digest[12:29],
                life=life,
            )
            self.domains[domain_id] = domain
            return domain

    def domain(self, domain_id: Any) -> Domain:
        refs.matches(domain_id, DOMAIN_ID, "domainId", 63)
        with self._lock:
            found = self.domains.get(domain_id)
        if found is None:
            raise not_found(f"Domain {domain_id} does not exist.")
        return found

    def update_domain(self, r: dict[str, Any], ready: bool = False) -> Domain:
        domain = self.domain(r.get("DomainId"))
        if domain.life.status != "InService":
            raise in_use(f"Domain {domain.domain_id} is {domain.life.status}: it can be updated once InService.")
        merged = copy.deepcopy(domain.request)
        for key in ("DefaultUserSettings", "DefaultSpaceSettings"):
            if r.get(key) is not None:
                merged[key] = {**merged.get(key, {}), **r[key]}
        if r.get("DomainSettingsForUpdate") is not None:
            merged["DomainSettings"] = {**merged.get("DomainSettings", {}), **r["DomainSettingsForUpdate"]}
        for key in (
            "AppSecurityGroupManagement",
            "SubnetIds",
            "AppNetworkAccessType",
            "TagPropagation",
            "HomeEfsFileSystemCreation",
            "VpcId",
        ):
            if r.get(key) is not None:
                merged[key] = r[key]
        if (
            r.get("AppNetworkAccessType") == "VpcOnly"
            and not (r.get("VpcId") and r.get("SubnetIds"))
            and merged.get("AppNetworkAccessType") != domain.request.get("AppNetworkAccessType")
        ):
            raise refs.invalid("VpcId and Subnet IDs are required for updating domains to VpcOnly mode.")
        self._check_user_settings(merged["DefaultUserSettings"], "DefaultUserSettings")
        self._check_network(merged, "update")
        with self._lock:
            domain.request = merged
            domain.life.start("Updating", ready)
        return domain

    def delete_domain(self, domain_id: Any) -> None:
        domain = self.domain(domain_id)
        with self._lock:
            if any(d == domain.domain_id for d, _ in self.user_profiles):
                raise in_use(f"Cannot delete domain {domain.domain_id}: it still has user profiles; delete them first.")
            del self.domains[domain.domain_id]

    # --- user profiles --------------------------------------------------------------------
    def create_user_profile(self, r: dict[str, Any], ready: bool = False) -> UserProfile:
        r = copy.deepcopy(r)
        for required in ("DomainId", "UserProfileName"):
            if r.get(required) is None:
                raise refs.missing(required)
        refs.matches(r["DomainId"], DOMAIN_ID, "domainId", 63)
        name = refs.matches(r["UserProfileName"], NAME, "userProfileName", 63)
        with self._lock:
            domain = self.domains.get(r["DomainId"])
        if domain is None:
            raise refs.invalid(f"Domain {r['DomainId']} does not exist.")
        sso = domain.request["AuthMode"] == "SSO"
        given = [k for k in ("SingleSignOnUserIdentifier", "SingleSignOnUserValue") if r.get(k) is not None]
        if sso and len(given) < 2:
            raise refs.invalid(
                "SingleSignOnUserIdentifier and SingleSignOnUserValue are required in an IAM Identity Center "
                "(SSO) domain."
            )
        if not sso and given:
            raise refs.invalid(
                f"{', '.join(given)} cannot be specified: domain {domain.domain_id} uses IAM authentication."
            )
        if sso and r["SingleSignOnUserIdentifier"] != "UserName":
            raise refs.invalid("SingleSignOnUserIdentifier: the only supported value is UserName.")
        settings = r.get("UserSettings") or {}
        self._check_user_settings(settings, "UserSettings")
        vpc_id = domain.request.get("VpcId")
        groups = refs.security_groups(
            self.account_id, self.region, settings.get("SecurityGroups", []), vpc_id, "UserSettings.SecurityGroups", 5
        )
        defaults = domain.request["DefaultUserSettings"].get("SecurityGroups", [])
        if domain.request.get("AppNetworkAccessType") == "VpcOnly" and not (groups or defaults):
            raise refs.invalid(
                "UserSettings.SecurityGroups: required when the domain's AppNetworkAccessType is VpcOnly "
                "and its DefaultUserSettings has none."
            )
        with self._lock:
            if any(d == domain.domain_id and n.lower() == name.lower() for d, n in self.user_profiles):
                raise in_use(
                    f"Resource Already Exists: UserProfile with name {name} already exists "
                    f"in domain {domain.domain_id}."
                )
            life = _Lifecycle()
            life.start("Pending", ready)
            profile = UserProfile(
                domain_id=domain.domain_id,
                name=name,
                arn=f"arn:aws:sagemaker:{self.region}:{self.account_id}:user-profile/{domain.domain_id}/{name}",
                request=r,
                home_efs_uid=str(200000 + len(self.user_profiles) + 1),
                life=life,
            )
            self.user_profiles[(domain.domain_id, name)] = profile
            return profile

    def user_profile(self, domain_id: Any, name: Any) -> UserProfile:
        refs.matches(domain_id, DOMAIN_ID, "domainId", 63)
        refs.matches(name, NAME, "userProfileName", 63)
        with self._lock:
            found = next(
                (p for (d, n), p in self.user_profiles.items() if d == domain_id and n.lower() == name.lower()), None
            )
        if found is None:
            raise not_found(f"User profile {name} does not exist in domain {domain_id}.")
        return found

    def delete_user_profile(self, domain_id: Any, name: Any) -> None:
        profile = self.user_profile(domain_id, name)
        with self._lock:
            del self.user_profiles[(profile.domain_id, profile.name)]


def studio(account_id: str, region: str) -> Studio:
    """This account and region's studio state, kept on moto's SageMaker backend."""
    backend = sagemaker_backends[account_id][region]
    state = getattr(backend, "localaws_studio", None)
    if state is None:
        state = backend.localaws_studio = Studio(account_id, region)
    return state
