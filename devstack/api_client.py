"""The recommendation API called as its clients call it: over HTTP at the stage URL, with the key.

`get_recommendations` is one call (a new connection); `ApiSession` is the shop's application: one
keep-alive HTTPS connection for many calls (the A/B endpoint's recommendations and conversions).

The personalize stack publishes `ApiUrl` (the AWS invoke URL) and `ApiKeyId` to SSM; the key's value
is read with `apigateway get-api-key --include-value`, never from an output. On the local stack the
URL is the path form of `localaws.apigateway.addressing` (derived from the stack's endpoint alone).
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from localaws.apigateway import local_invoke_url

OUTPUTS = "/mlops/dev/stacks/personalize/"  # the dev environment's (mlops.deployment); pass another's


def api_endpoint(client, endpoint_url: str, outputs: str = OUTPUTS) -> tuple[str, str]:
    """(URL of `/recommendations` on the local stack, the API key's value) from the stack's outputs
    published under `outputs`; `client(service)` gives boto3 clients on the stack."""
    ssm = client("ssm")
    api_url = ssm.get_parameter(Name=f"{outputs}ApiUrl")["Parameter"]["Value"]
    key_id = ssm.get_parameter(Name=f"{outputs}ApiKeyId")["Parameter"]["Value"]
    key = client("apigateway").get_api_key(apiKey=key_id, includeValue=True)["value"]
    return local_invoke_url(endpoint_url, api_url), key


def get_recommendations(
    url: str,
    key: str | None,
    user_id: str,
    num_results: int | str | None = None,
    timeout: float = 35.0,
    cafile: str | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """GET {url}/{userId}?numResults=N with `x-api-key`: (status, JSON body, headers). `cafile`: the
    local stack's CA (`stack.ca_bundle`), which signs its HTTPS certificate; None trusts the system's."""
    query = f"?{urllib.parse.urlencode({'numResults': num_results})}" if num_results is not None else ""
    request = urllib.request.Request(
        f"{url}/{urllib.parse.quote(user_id, safe='')}{query}", headers={"x-api-key": key} if key else {}
    )
    context = ssl.create_default_context(cafile=cafile)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status, json.loads(response.read() or b"{}"), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}"), dict(err.headers)


class ApiSession:
    """Calls to one API stage over one keep-alive HTTPS connection (reopened when the server closes
    it), as an application server would: no TLS handshake per request. Not thread-safe: one per thread.

    `root` is the stage's base URL (`api_endpoint`'s URL without `/recommendations`)."""

    def __init__(self, root: str, key: str | None, cafile: str | None = None, timeout: float = 35.0) -> None:
        parts = urllib.parse.urlsplit(root)
        self.host, self.base, self.key, self.timeout = parts.netloc, parts.path.rstrip("/"), key, timeout
        self.https = parts.scheme == "https"
        self.context = ssl.create_default_context(cafile=cafile) if self.https else None
        self.connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self.connection is None:
            if self.https:
                self.connection = http.client.HTTPSConnection(self.host, timeout=self.timeout, context=self.context)
            else:
                self.connection = http.client.HTTPConnection(self.host, timeout=self.timeout)
        return self.connection

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict[str, Any]]:
        """(status, JSON body); one reconnect when the kept-alive connection was closed under us."""
        headers = {"x-api-key": self.key} if self.key else {}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            connection = self._connect()
            try:
                connection.request(method, f"{self.base}{path}", body=payload, headers=headers)
                response = connection.getresponse()
                data = response.read()
                if response.will_close:
                    self.close()
                return response.status, json.loads(data or b"{}")
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def model_recommendations(
        self, user_id: str, num_results: int | None = None, country: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        """GET /model/recommendations/{userId}: the A/B endpoint's items, `variant`, `recommendationId`."""
        query = {k: v for k, v in (("numResults", num_results), ("country", country)) if v is not None}
        suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
        return self.request("GET", f"/model/recommendations/{urllib.parse.quote(user_id, safe='')}{suffix}")

    def conversion(self, recommendation_id: str, item_id: str) -> tuple[int, dict[str, Any]]:
        """POST /conversions: the customer bought `item_id` of that recommendation."""
        return self.request("POST", "/conversions", {"recommendationId": recommendation_id, "itemId": item_id})


def stage_root(recommendations_url: str) -> str:
    """The stage's base URL from the `/recommendations` URL `api_endpoint` gives."""
    if not recommendations_url.endswith("/recommendations"):
        raise ValueError(f"{recommendations_url!r} is not the API's /recommendations URL")
    return recommendations_url.removesuffix("/recommendations")
