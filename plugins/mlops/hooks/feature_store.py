"""SageMaker Feature Store: put a table of features into a feature group.

The runtime's only bulk operation is a read: `BatchGetRecord` (100 identifiers a call); `PutRecord`
is its only write (botocore's service model: BatchGetRecord, DeleteRecord, GetRecord, PutRecord).
So the hook reads the online store in batches first and puts only records that differ from what it
holds: every PutRecord appends to the offline store, and a rerun of a month must not add the same
records to the training history again (nor pay for them). The puts go from a small thread pool
(boto3 clients are thread-safe) with botocore's adaptive retry mode (`mlops.hooks.retries`, under
the user's own botocore configuration), so throttling slows them down instead of failing them.
Values are sent as strings, as the API requires; nulls are left out (a feature may be absent from a
record, the identifier and event time may not).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from botocore.config import Config

from mlops.hooks.retries import with_retries

BATCH_GET_LIMIT = 100  # identifiers per BatchGetRecord (the API's maximum)
UNPROCESSED_ROUNDS = 5


class FeatureStoreError(ValueError):
    pass


@dataclass(frozen=True)
class PutSummary:
    sent: int  # records put
    unchanged: int  # records the online store already held, identical: not put again


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

    def put_records(
        self, group: str, records: Iterable[list[dict[str, str]]], identifier: str, max_workers: int = 8
    ) -> PutSummary:
        """Put every record the online store does not already hold as is. The first failure stops
        the load and names its record. `identifier`: the group's record identifier feature."""
        client = self.conn

        def put(record: list[dict[str, str]]) -> None:
            try:
                client.put_record(FeatureGroupName=group, Record=record)
            except client.exceptions.ClientError as err:
                raise FeatureStoreError(f"PutRecord into {group} failed for {_identify(record)}: {err}") from err

        sent = unchanged = 0
        with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="put-record") as pool:
            for chunk in _chunks(records, BATCH_GET_LIMIT):
                held = self.online_records(group, [_value(r, identifier) for r in chunk])
                changed = [r for r in chunk if held.get(_value(r, identifier)) != _as_dict(r)]
                list(pool.map(put, changed))
                sent += len(changed)
                unchanged += len(chunk) - len(changed)
        return PutSummary(sent, unchanged)

    def online_records(self, group: str, identifiers: list[str]) -> dict[str, dict[str, str]]:
        """identifier -> {feature: value} for the records the online store holds (BatchGetRecord,
        its unprocessed identifiers asked again). One not read after a few rounds is left out: it
        is put again, which costs an offline duplicate, never a lost update."""
        client, found = self.conn, {}
        pending = [{"FeatureGroupName": group, "RecordIdentifiersValueAsString": identifiers}]
        for _ in range(UNPROCESSED_ROUNDS):
            if not pending:
                break
            answer = client.batch_get_record(Identifiers=pending)
            for item in answer.get("Records", []):
                found[item["RecordIdentifierValueAsString"]] = _as_dict(item["Record"])
            pending = answer.get("UnprocessedIdentifiers") or []
        return found


def _as_string(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _value(record: list[dict[str, str]], feature: str) -> str:
    return next(e["ValueAsString"] for e in record if e["FeatureName"] == feature)


def _as_dict(record: list[dict[str, str]]) -> dict[str, str]:
    return {e["FeatureName"]: e["ValueAsString"] for e in record}


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
