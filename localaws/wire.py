"""Which AWS operation a raw HTTP request is, its parameters, and how to answer it.

The protocol work is moto's own (router, request parsers, response serializers), so a handler of
ours answers in exactly the protocol botocore used for the call (JSON, query, REST, CBOR) and
errors carry the status code and shape that the service model declares.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from botocore.model import OperationModel
from moto.core.exceptions import ServiceException
from moto.core.parse import PROTOCOL_PARSERS
from moto.core.request import Request, determine_request_protocol
from moto.core.routing import get_service_router
from moto.core.serialize import get_serializer_class
from moto.core.utils import get_service_model

# Services that sign with another service's name: the signing name alone does not say which.
SERVICES_BY_SIGNING_NAME: dict[str, tuple[str, ...]] = {
    "monitoring": ("cloudwatch",),
    "sagemaker": ("sagemaker", "sagemaker-runtime", "sagemaker-featurestore-runtime"),
    "personalize": ("personalize", "personalize-runtime", "personalize-events"),
    "execute-api": ("apigateway",),
    "events": ("events",),
    "bedrock": ("bedrock-runtime", "bedrock"),
}
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_PRESIGNED = re.compile(r"([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
DEFAULT_ACCOUNT_ID = "123456789012"


class AwsError(ServiceException):
    """An AWS error response: `code` is the error code botocore raises as ClientError."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        if status is not None:
            self.http_status_code = status


@dataclass(frozen=True)
class Signature:
    """What the SigV4 Authorization header tells before the body is read."""

    access_key: str
    region: str
    signing_name: str

    @classmethod
    def from_environ(cls, environ: dict[str, Any]) -> Signature | None:
        match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        if match is None and "X-Amz-Credential=" in environ.get("QUERY_STRING", ""):  # a presigned URL
            query = parse_qs(environ["QUERY_STRING"])
            match = _PRESIGNED.fullmatch(query.get("X-Amz-Credential", [""])[0])
        if match is None:
            return None
        return cls(*match.groups())

    @property
    def services(self) -> tuple[str, ...]:
        return SERVICES_BY_SIGNING_NAME.get(self.signing_name, (self.signing_name,))


@dataclass
class ApiCall:
    """One identified AWS API request."""

    service: str
    operation: str
    region: str
    account_id: str
    request: Request
    operation_model: OperationModel
    protocol: str
    uri_params: dict[str, Any]
    stack: Any = None  # the LocalAwsStack serving the call, set by the dispatcher

    @functools.cached_property
    def params(self) -> dict[str, Any]:
        parser = PROTOCOL_PARSERS[self.protocol](self.operation_model)
        return parser.parse(
            {
                "method": self.request.method,
                "values": self.request.values,
                "headers": self.request.headers,
                "body": self.request.data,
                "url_path": self.request.path,
                "url_params": self.uri_params,
            }
        )

    def respond(self, result: dict[str, Any] | Exception) -> tuple[int, dict[str, str], bytes]:
        serializer = get_serializer_class(self.service, self.protocol)(self.operation_model)
        response = serializer.serialize(result)
        body = response["body"]
        if isinstance(body, str):
            body = body.encode("utf-8")
        headers = {k: str(v) for k, v in response["headers"].items()}
        return int(response["status_code"]), headers, body


def identify(environ: dict[str, Any], signature: Signature) -> ApiCall | None:
    """Resolve the service and operation of a signed request; None when no model matches."""
    request = Request(environ)
    for service in signature.services:
        try:
            service_model = get_service_model(service)
            target = request.headers.get("X-Amz-Target", "")
            prefix = service_model.metadata.get("targetPrefix")
            if target and prefix and not target.startswith(prefix + "."):
                continue
            protocol = determine_request_protocol(service_model, request.content_type)
            operation_model, uri_params = get_service_router(service).match(request)
        except Exception:  # noqa: S112 - not this service's operation: the next candidate may match
            continue
        return ApiCall(
            service=service,
            operation=operation_model.name,
            region=signature.region,
            account_id=account_id_for(signature.access_key),
            request=request,
            operation_model=operation_model,
            protocol=protocol,
            uri_params=uri_params,
        )
    return None


def account_id_for(access_key: str) -> str:
    """moto's rule: an access key that is a 12-digit number is the account, else the default."""
    return access_key if re.fullmatch(r"\d{12}", access_key) else DEFAULT_ACCOUNT_ID


Handler = Callable[[ApiCall], dict[str, Any]]


class Operations(dict[tuple[str, str], Handler]):
    """One service's handlers, keyed by (service, operation): each `responses` module fills one with
    `@operations.handles(...)` and the registry merges them."""

    def handles(self, service: str, operation: str) -> Callable[[Handler], Handler]:
        def register(func: Handler) -> Handler:
            self[(service, operation)] = func
            return func

        return register
