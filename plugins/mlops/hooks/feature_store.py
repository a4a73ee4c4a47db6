"""SageMaker Feature Store: put a table of features into a feature group, record by record.

`PutRecord` is the only write API; the hook sends records from a small thread pool (boto3 clients
are thread-safe) with botocore's adaptive retry mode (`mlops.hooks.retries`, under the user's own
botocore configuration), so throttling slows it down instead of failing it. Values are sent as
strings, as the API requires; nulls are left out (a feature may be absent from a record, the
identifier and event time may not).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from botocore.config import Config

from mlops.hooks.retries import with_retries


class FeatureStoreError(ValueError):
    pass


class FeatureStoreHook(AwsBaseHook):
    def __init__(self, *args, max_attempts: int = 10, **kwargs) -> None:
        super().__init__(*args, client_type="sagemaker-featurestore-runtime", **kwargs)
        self.max_attempts = max_attempts

    @property
    def config(self) -> Config:
        return with_retries(super().config, "adaptive", self.max_attempts)

    def describe_feature_group(self, name: str) -> dict[str, Any]:
        sagemaker = AwsBaseHook(
            aws_conn_id=self.aws_conn_id,
            client_type="sagemaker",
            region_name=self.region_name,
            verify=self.verify,
            config=self.config,
        )
        return sagemaker.conn.describe_feature_group(FeatureGroupName=name)

    @staticmethod
    def to_record(row: dict[str, Any], features: Iterable[str]) -> list[dict[str, str]]:
        return [
            {"FeatureName": name, "ValueAsString": _as_string(row[name])}
            for name in features
            if row.get(name) is not None
        ]

    def put_records(self, group: str, records: Iterable[list[dict[str, str]]], max_workers: int = 8) -> int:
        """Send every record; returns how many. The first failure stops the load and names its record."""
        client = self.conn

        def put(record: list[dict[str, str]]) -> None:
            try:
                client.put_record(FeatureGroupName=group, Record=record)
            except client.exceptions.ClientError as err:
                raise FeatureStoreError(f"PutRecord into {group} failed for {_identify(record)}: {err}") from err

        sent = 0
        with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="put-record") as pool:
            for chunk in _chunks(records, 500):
                list(pool.map(put, chunk))
                sent += len(chunk)
        return sent


def _as_string(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _identify(record: list[dict[str, str]]) -> str:
    return ", ".join(f"{e['FeatureName']}={e['ValueAsString']}" for e in record[:2])


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
