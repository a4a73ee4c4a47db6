"""Custom CloudWatch metrics from DAGs (the provider has no hook that puts metric data)."""

from __future__ import annotations

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook


class CloudWatchMetricsHook(AwsBaseHook):
    def __init__(self, *args, **kwargs) -> None:
        kwargs["client_type"] = "cloudwatch"
        super().__init__(*args, **kwargs)

    def put(self, namespace: str, values: dict[str, float], dimensions: dict[str, str] | None = None) -> None:
        """One data point per metric name, all with the same dimensions."""
        dims = [{"Name": k, "Value": v} for k, v in (dimensions or {}).items()]
        data = [{"MetricName": n, "Dimensions": dims, "Value": float(v), "Unit": "None"} for n, v in values.items()]
        for start in range(0, len(data), 1000):  # PutMetricData takes at most 1,000 points
            self.conn.put_metric_data(Namespace=namespace, MetricData=data[start : start + 1000])
