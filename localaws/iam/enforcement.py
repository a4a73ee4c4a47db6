"""Authorizing one request as AWS does, and refusing it in the service's own wire format.

The dispatcher calls `Enforcer.authorize` for every signed request whose key is not the account
root's: the principal is resolved (`principals`), the operation turned into actions and resource
ARNs (`actions`), each evaluated against the caller's identity policies and the resource's policy
(`policy`, `resource_policies`), every decision recorded (`exercised`). A refusal is AccessDenied
with AWS's message naming principal, action and resource.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any

from moto.core import errors as moto_errors

from localaws.iam import actions, policy, principals, resource_policies
from localaws.iam.exercised import Exercised
from localaws.wire import ApiCall, AwsError

# moto warns when an error code has no shape in the service's model; these are AWS's own, common to
# every service, and most models do not declare them: listed with moto's other common codes.
_COMMON_CODES = (
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "InvalidToken",
    "InternalFailure",
)
moto_errors.COMMON_ERROR_CODES.extend(c for c in _COMMON_CODES if c not in moto_errors.COMMON_ERROR_CODES)


class Enforcer:
    def __init__(self) -> None:
        self.exercised = Exercised()

    def authorize(
        self, call: ApiCall, access_key: str, session_token: str | None, environ: dict[str, Any]
    ) -> AwsError | None:
        """None when the request may go on; else the error to answer it with."""
        try:
            principal = principals.resolve(access_key, session_token)
        except principals.UnknownCredentials as err:
            return unknown_credentials(call, err.reason)
        if principal.is_root:
            return None
        if (call.service, call.operation) == ("sts", "GetCallerIdentity"):
            return None  # AWS answers it for every valid credential, whatever the policies say
        try:
            checks = actions.checks_for(call)
        except actions.Unmapped as err:
            action = f"{actions.IAM_PREFIX.get(call.service, call.service)}:{call.operation}"
            self.exercised.record(principal.identity_arn, action, "?", "Unmapped")
            return access_denied(call, f"User: {principal.arn} is not authorized to perform: {action}: {err}")
        secure = environ.get("wsgi.url_scheme") == "https"
        base = request_context(principal, call.region, secure, environ.get("REMOTE_ADDR"))
        for check in checks:
            decision = self.decide(principal, check, base, call.account_id, call.region)
            if not decision.allowed:
                return access_denied(call, denied_message(principal, check, decision, call.service))
        missing = _missing_object(call)
        if missing is not None:
            # S3 tells a missing key (404) only to callers allowed s3:ListBucket; others get 403.
            check = actions.Check("s3:ListBucket", f"arn:aws:s3:::{missing}")
            decision = self.decide(principal, check, base, call.account_id, call.region)
            if not decision.allowed:
                return access_denied(call, denied_message(principal, check, decision, call.service))
        return None

    def authorize_role(
        self,
        role_arn: str,
        action: str,
        resource: str,
        *,
        region: str = "us-east-1",
        session_name: str = "localaws",
        context: dict[str, list[str]] | None = None,
    ) -> AwsError | None:
        """What a service does with a role it holds, checked like a request of that role's session:
        None when allowed, else the AccessDenied error naming action and resource (recorded too)."""
        principal = principals.role_session(role_arn, session_name)
        check = actions.Check(action, resource, context or {})
        base = request_context(principal, region, secure=True)
        decision = self.decide(principal, check, base, principal.account_id, region)
        if decision.allowed:
            return None
        return AwsError("AccessDenied", denied_message(principal, check, decision, action.split(":")[0]), 403)

    def decide(
        self,
        principal: principals.Principal,
        check: actions.Check,
        base: dict[str, list[str]],
        account_id: str,
        region: str,
    ) -> policy.Decision:
        document, must_allow = resource_policies.policy_for(check.action, check.resource, account_id, region)
        request = policy.Request(principal, check.action, check.resource, {**base, **check.context})
        decision = policy.evaluate(
            request,
            principal.policies,
            document,
            resource_policy_must_allow=must_allow,
            session_policies=principal.session_policies,
        )
        self.exercised.record(principal.identity_arn, check.action, check.resource, decision.effect)
        return decision


def service_decision(
    service: str, action: str, resource: str, account_id: str, region: str, context: dict[str, list[str]]
) -> policy.Decision:
    """What a service principal acting for the account may do to a resource - CloudWatch publishing
    an alarm's notification, with the KMS key that encrypts the topic - decided by the resource's
    policy alone (a service has no identity policy). Allowed when enforcement is off."""
    if os.environ.get("LOCALAWS_IAM", "on").lower() in ("off", "0", "false"):
        return policy.Decision(policy.ALLOW)
    principal = principals.service_principal(service, account_id)
    document, must_allow = resource_policies.policy_for(action, resource, account_id, region)
    request = policy.Request(
        principal, action, resource, {**request_context(principal, region, secure=True), **context}
    )
    return policy.evaluate(request, [], document, resource_policy_must_allow=must_allow)


def _missing_object(call: ApiCall) -> str | None:
    """The bucket of a GetObject/HeadObject whose key does not exist (None otherwise)."""
    if call.service != "s3" or call.operation not in ("GetObject", "HeadObject"):
        return None
    from moto.s3.models import s3_backends

    bucket, key = call.params.get("Bucket"), call.params.get("Key")
    found = s3_backends[call.account_id][principals.PARTITION].buckets.get(bucket)
    if found is None or key in found.keys:
        return None
    return bucket


def request_context(
    principal: principals.Principal, region: str, secure: bool, source_ip: str | None = None
) -> dict[str, list[str]]:
    """The global condition keys of a request (those the principal and transport decide)."""
    now = time.time()
    context = {
        "aws:SecureTransport": ["true" if secure else "false"],
        "aws:PrincipalAccount": [principal.account_id],
        "aws:RequestedRegion": [region],
        "aws:CurrentTime": [datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")],
        "aws:EpochTime": [str(int(now))],
    }
    if principal.kind == "service":
        context["aws:PrincipalServiceName"] = [principal.service or ""]
        return context
    context["aws:PrincipalArn"] = [principal.role_arn or principal.arn]
    context["aws:PrincipalType"] = ["AssumedRole" if principal.kind == "assumed-role" else "User"]
    if principal.kind == "user":
        context["aws:username"] = [principal.name]
    if source_ip:
        context["aws:SourceIp"] = [source_ip]
    return context


def denied_message(
    principal: principals.Principal, check: actions.Check, decision: policy.Decision, service: str
) -> str:
    resource = f'"{check.resource}"' if service == "s3" else check.resource
    return (
        f"User: {principal.arn} is not authorized to perform: {check.action} on resource: {resource} {decision.reason}"
    )


# Error codes: S3 and the query protocols say AccessDenied (SNS: AuthorizationError), the JSON
# protocols AccessDeniedException (HTTP 400 for JSON 1.x services, 403 for REST-JSON ones).
_QUERY_DENIED = {"sns": "AuthorizationError", "ec2": "UnauthorizedOperation"}


def access_denied(call: ApiCall, message: str) -> AwsError:
    if call.service == "s3" or call.protocol in ("query", "ec2", "rest-xml") or call.service in ("sqs", "cloudwatch"):
        return AwsError(_QUERY_DENIED.get(call.service, "AccessDenied"), message, 403)
    if call.protocol == "json":
        return AwsError("AccessDeniedException", message, 400)
    return AwsError("AccessDeniedException", message, 403)


def unknown_credentials(call: ApiCall, reason: str) -> AwsError:
    """What AWS answers a key it does not know, or a session token that is not the key's."""
    if call.service == "s3":
        if reason == "InvalidToken":
            return AwsError("InvalidToken", "The provided token is malformed or otherwise invalid.", 400)
        return AwsError("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403)
    message = "The security token included in the request is invalid."
    if call.protocol in ("query", "ec2") or call.service in ("sqs", "cloudwatch"):
        return AwsError("InvalidClientTokenId", message, 403)
    return AwsError("UnrecognizedClientException", message, 400 if call.protocol == "json" else 403)
