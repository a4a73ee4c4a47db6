"""The Avro schema of the interactions dataset, matching the preprocessing job's
`personalize_interactions.csv` (USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, EVENT_VALUE)."""

from __future__ import annotations

import json

INTERACTIONS_SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "EVENT_VALUE", "type": ["null", "float"]},
    ],
    "version": "1.0",
}
INTERACTIONS_COLUMNS = tuple(f["name"] for f in INTERACTIONS_SCHEMA["fields"])


def interactions_schema_json() -> str:
    return json.dumps(INTERACTIONS_SCHEMA)
