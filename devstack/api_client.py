"""The recommendation API called as its clients call it: over HTTP at the stage URL, with the key.

The personalize stack publishes `ApiUrl` (the AWS invoke URL) and `ApiKeyId` to SSM; the key's value
is read with `apigateway get-api-key --include-value`, never from an output. On the local stack the
URL is the path form of `localaws.apigateway.addressing` (derived from the stack's endpoint alone).
"""

from __future__ import annotations

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
