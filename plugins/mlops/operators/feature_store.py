"""Load a Parquet table of features from S3 into a SageMaker Feature Store group.

The provider has no Feature Store operator. This one reads the group's definition, sends the
columns the group defines (extra columns, such as model-scaled ones, stay in S3), stamps every
record with one event time, and checks that the table holds the record identifier. Records the
online store already holds unchanged are not put again (`FeatureStoreHook.put_records`), so a rerun
of the same table and event time adds nothing to the offline store.
"""

from __future__ import annotations

from collections.abc import Sequence

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import AirflowSkipException

from mlops.hooks.feature_store import FeatureStoreError, FeatureStoreHook


class FeatureStoreIngestOperator(AwsBaseOperator[FeatureStoreHook]):
    """
    :param feature_group_name: target group; empty skips the task (Feature Store disabled in the stack)
    :param source_uri: s3:// URI of a Parquet file whose columns are named like the group's features
    :param event_time: ISO-8601 UTC time (`...Z`) written as every record's event time
    """

    aws_hook_class = FeatureStoreHook
    template_fields: Sequence[str] = aws_template_fields("feature_group_name", "source_uri", "event_time")
    ui_color = "#e8f3e0"

    def __init__(
        self,
        *,
        feature_group_name: str,
        source_uri: str,
        event_time: str,
        max_workers: int = 8,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.feature_group_name = feature_group_name
        self.source_uri = source_uri
        self.event_time = event_time
        self.max_workers = max_workers

    def execute(self, context) -> dict:
        import io

        import pyarrow.parquet as pq

        if not self.feature_group_name:
            raise AirflowSkipException("no feature group configured (Feature Store disabled in the platform stack)")
        hook = self.hook
        group = hook.describe_feature_group(self.feature_group_name)
        identifier, event_feature = group["RecordIdentifierFeatureName"], group["EventTimeFeatureName"]
        defined = [d["FeatureName"] for d in group["FeatureDefinitions"]]

        bucket, key = S3Hook.parse_s3_url(self.source_uri)
        s3 = S3Hook(
            aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify, config=self.botocore_config
        )
        body = s3.get_key(key, bucket).get()["Body"]
        table = pq.read_table(io.BytesIO(body.read()))
        if identifier not in table.column_names:
            raise FeatureStoreError(
                f"{self.source_uri} has no column {identifier!r}, the record identifier of {self.feature_group_name}"
            )
        features = [name for name in defined if name in table.column_names and name != event_feature]
        missing = sorted(set(defined) - set(features) - {event_feature})
        if missing:
            self.log.warning("%s has no column for features %s: records leave them empty", self.source_uri, missing)
        self.log.info(
            "Loading %d records from %s into %s (features %s, event time %s)",
            table.num_rows,
            self.source_uri,
            self.feature_group_name,
            features,
            self.event_time,
        )
        records = (
            [*hook.to_record(row, features), {"FeatureName": event_feature, "ValueAsString": self.event_time}]
            for row in table.select(features).to_pylist()
        )
        done = hook.put_records(self.feature_group_name, records, identifier, max_workers=self.max_workers)
        self.log.info(
            "Put %d records into %s; %d were there already, unchanged",
            done.sent,
            self.feature_group_name,
            done.unchanged,
        )
        return {
            "feature_group": self.feature_group_name,
            "records": done.sent,
            "unchanged": done.unchanged,
            "event_time": self.event_time,
        }
