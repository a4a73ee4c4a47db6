"""The Feature Store runtime's state: records per feature group, validated as AWS validates them.

Definitions come from the feature groups in the local SageMaker (created by the platform stack).
The online store keeps, per record identifier, the record with the newest event time (an older
write is ignored, as on AWS); the offline store keeps every accepted write, in order. Both are
in memory: the local stack has no Athena to query an offline store in S3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from localaws.backends import AccountBackend
from localaws.sagemaker.patches import find_feature_group
from localaws.wire import AwsError

_NUMERIC = {"Integral": int, "Fractional": float}


def _event_time(value: str, feature: str) -> float:
    """Seconds since the epoch from an ISO-8601 UTC time (`yyyy-MM-dd'T'HH:mm:ss[.SSS]Z`) or a number."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        if not value.endswith("Z"):
            raise ValueError
        return datetime.fromisoformat(value[:-1] + "+00:00").timestamp()
    except ValueError:
        raise AwsError(
            "ValidationError",
            f"Invalid value {value!r} for event time feature {feature}: use ISO-8601 "
            "yyyy-MM-dd'T'HH:mm:ssZ (UTC) or Unix epoch seconds",
            400,
        ) from None


@dataclass
class GroupStore:
    online: dict[str, tuple[float, list[dict[str, Any]]]] = field(default_factory=dict)
    offline: list[list[dict[str, Any]]] = field(default_factory=list)


class FeatureStoreBackend(AccountBackend):
    def __init__(self, stack, account_id: str, region: str) -> None:
        super().__init__(stack, account_id, region)
        self.stores: dict[str, GroupStore] = {}

    def _group(self, name: str):
        group = find_feature_group(self.account_id, self.region, name)
        if group is None:
            raise AwsError(
                "ResourceNotFound", f"Resource Not Found: Amazon SageMaker can't find FeatureGroup {name}", 404
            )
        return group

    def put_record(self, name: str, record: list[dict[str, Any]], target_stores: list[str] | None) -> None:
        group = self._group(name)
        definitions = {d["FeatureName"]: d["FeatureType"] for d in group.feature_definitions}
        values: dict[str, Any] = {}
        for entry in record:
            feature = entry["FeatureName"]
            if feature not in definitions:
                raise AwsError("ValidationError", f"Feature {feature} is not defined in feature group {name}", 400)
            if feature in values:
                raise AwsError("ValidationError", f"Feature {feature} appears more than once in the record", 400)
            value = entry.get("ValueAsString")
            if value is None:
                raise AwsError("ValidationError", f"Feature {feature} needs ValueAsString", 400)
            cast = _NUMERIC.get(definitions[feature])
            if cast is not None:
                try:
                    cast(value)
                except ValueError:
                    raise AwsError(
                        "ValidationError",
                        f"Invalid value {value!r} for feature {feature} of type {definitions[feature]}",
                        400,
                    ) from None
            values[feature] = value
        for required in (group.record_identifier_feature_name, group.event_time_feature_name):
            if not values.get(required):
                raise AwsError("ValidationError", f"The record is missing the required feature {required}", 400)
        online_enabled = bool(getattr(group, "online_store_config", {}).get("EnableOnlineStore"))
        offline_enabled = bool(group.offline_store_config.get("S3StorageConfig", {}).get("S3Uri"))
        stores = set(
            target_stores or [s for s, on in (("OnlineStore", online_enabled), ("OfflineStore", offline_enabled)) if on]
        )
        if "OnlineStore" in stores and not online_enabled:
            raise AwsError("ValidationError", f"Feature group {name} has no online store", 400)
        if "OfflineStore" in stores and not offline_enabled:
            raise AwsError("ValidationError", f"Feature group {name} has no offline store", 400)
        when = _event_time(values[group.event_time_feature_name], group.event_time_feature_name)
        identifier = values[group.record_identifier_feature_name]
        with self._lock:
            store = self.stores.setdefault(group.feature_group_name, GroupStore())
            if "OnlineStore" in stores:
                current = store.online.get(identifier)
                if current is None or when >= current[0]:
                    store.online[identifier] = (when, list(record))
            if "OfflineStore" in stores:
                store.offline.append(list(record))

    def get_record(self, name: str, identifier: str, feature_names: list[str] | None) -> list[dict[str, Any]] | None:
        group = self._group(name)
        if not getattr(group, "online_store_config", {}).get("EnableOnlineStore"):
            raise AwsError("ValidationError", f"Feature group {name} has no online store", 400)
        with self._lock:
            found = self.stores.get(group.feature_group_name, GroupStore()).online.get(identifier)
        if found is None:
            return None
        record = found[1]
        if feature_names:
            record = [e for e in record if e["FeatureName"] in feature_names]
        return record

    def delete_record(self, name: str, identifier: str) -> None:
        group = self._group(name)
        with self._lock:
            self.stores.get(group.feature_group_name, GroupStore()).online.pop(identifier, None)

    def offline_records(self, name: str) -> list[list[dict[str, Any]]]:
        group = self._group(name)
        with self._lock:
            return list(self.stores.get(group.feature_group_name, GroupStore()).offline)
