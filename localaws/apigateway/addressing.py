"""Where a REST API's stage is reached on the local stack, derived from the stack's endpoint alone.

On AWS a stage is invoked at `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}/{path}`.
The local stack answers the same request in either of two forms (LocalStack's, so clients written
for it work unchanged):

- **Path form** (what the project's clients use): `{endpoint}/restapis/{api-id}/{stage}/_user_request_/{path}`.
  Nothing but the stack's endpoint URL is needed; `local_invoke_url` turns a template's `ApiUrl`
  output (the AWS URL) into it, so the output stays the real address on AWS.
- **Host form**: any request whose Host is `{api-id}.execute-api.<anything>` (for example
  `abc123.execute-api.localhost:4566`, or the AWS host itself when a client resolves it to the
  stack), path `/{stage}/{path}` as on AWS.

Neither form collides with the API Gateway control plane, whose `/restapis/...` paths have no
`_user_request_` segment and whose requests are signed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

USER_REQUEST = "_user_request_"
_PATH_FORM = re.compile(r"^/restapis/(?P<api>[A-Za-z0-9]+)/(?P<stage>[^/]+)/_user_request_(?P<path>/.*)?$")
_HOST_FORM = re.compile(r"^(?P<api>[A-Za-z0-9]+)\.execute-api\.", re.IGNORECASE)
_AWS_URL = re.compile(r"^https://(?P<api>[A-Za-z0-9]+)\.execute-api\.[^/]+/(?P<stage>[^/]+)(?P<path>/.*)?$")


@dataclass(frozen=True)
class StageRequest:
    api_id: str
    stage: str
    path: str  # the resource path requested, always starting with "/"


def stage_request(host: str, path: str) -> StageRequest | None:
    """The API, stage and path a raw request addresses, or None when it is not an invoke request."""
    match = _PATH_FORM.match(path)
    if match is not None:
        return StageRequest(match["api"], match["stage"], match["path"] or "/")
    match = _HOST_FORM.match(host or "")
    if match is not None:
        stage, _, rest = path.lstrip("/").partition("/")
        if stage:
            return StageRequest(match["api"], stage, "/" + rest)
    return None


def local_invoke_url(endpoint_url: str, api_url: str) -> str:
    """`https://{api}.execute-api.{region}.amazonaws.com/{stage}/{path}` -> the path form on `endpoint_url`."""
    match = _AWS_URL.match(api_url)
    if match is None:
        raise ValueError(f"{api_url!r} is not an API Gateway invoke URL (https://{{api-id}}.execute-api...)")
    base = urlsplit(endpoint_url)
    return f"{base.scheme}://{base.netloc}/restapis/{match['api']}/{match['stage']}/{USER_REQUEST}{match['path'] or ''}"
