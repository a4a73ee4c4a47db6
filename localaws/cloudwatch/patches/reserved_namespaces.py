"""PutMetricData refuses the namespaces AWS services publish in.

CloudWatch's API reference: "You cannot specify a namespace that begins with "AWS/". Namespaces that
begin with "AWS/" are reserved for use by Amazon Web Services products." moto accepts any namespace,
so a caller could forge `AWS/SageMaker` invocations or errors and move the A/B guardrails. Here a
client's PutMetricData into `AWS/...` answers `InvalidParameterValue`; the emulated services (the
endpoints, Lambda, API Gateway, EventBridge) publish their metrics through the backend, as AWS's own
services do, and are not affected.
"""

from __future__ import annotations

from moto.cloudwatch.exceptions import InvalidParameterValue
from moto.cloudwatch.responses import CloudWatchResponse

RESERVED_PREFIX = "AWS/"


def install() -> None:
    if getattr(CloudWatchResponse, "_localaws_reserved", False):
        return
    put_metric_data = CloudWatchResponse.put_metric_data

    def put_metric_data_checked(self):
        namespace = self._get_param("Namespace") or ""
        if namespace.startswith(RESERVED_PREFIX):
            raise InvalidParameterValue(f"The value {namespace} for parameter Namespace is invalid.")
        return put_metric_data(self)

    CloudWatchResponse.put_metric_data = put_metric_data_checked
    CloudWatchResponse._localaws_reserved = True
