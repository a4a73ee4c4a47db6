"""The preprocessed months in the output bucket, as the preprocessing job publishes them.

A month is processed when `processed/month=YYYY-MM/_manifest.json` exists; its `files` name the
month's data sets. The job only writes a candidate (`_candidate.json`, ignored here); the DAG
promotes it to `_manifest.json` after the quality gate (`promote`). Training windows are the
processed months among the ones asked for: a gap is skipped, not an error.
"""

from __future__ import annotations

import json

from airflow.providers.amazon.aws.hooks.s3 import S3Hook


class ProcessedMonthsHook(S3Hook):
    def __init__(self, bucket: str, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.bucket = bucket

    @staticmethod
    def manifest_key(month: str) -> str:
        return f"processed/month={month}/_manifest.json"

    @staticmethod
    def month_prefix(month: str) -> str:
        return f"processed/month={month}/"

    def candidate(self, month: str) -> dict | None:
        """The job's last complete, not yet promoted output of the month (None when there is none)."""
        from include.preprocessing import outputs

        return outputs.read_json(self.get_conn(), self.bucket, self.month_prefix(month) + outputs.CANDIDATE)

    def promote(self, month: str, run_id: str) -> tuple[dict, list[str]]:
        """Make run `run_id`'s candidate the month's live manifest, then delete superseded runs."""
        from include.preprocessing import outputs

        return outputs.promote(self.get_conn(), self.bucket, self.month_prefix(month), run_id)

    def manifest(self, month: str) -> dict | None:
        key = self.manifest_key(month)
        if not self.check_for_key(key, self.bucket):
            return None
        return json.loads(self.read_key(key, self.bucket))

    def files(self, month: str) -> dict[str, str]:
        """The month's files; a clear error when the month is not processed."""
        found = self.manifest(month)
        if found is None:
            raise ValueError(f"month {month} is not processed: s3://{self.bucket}/processed/month={month}/")
        return found["files"]

    def window(self, months: list[str]) -> list[dict]:
        """`{"month", "files"}` of each processed month among `months`, in their order."""
        window = []
        for month in months:
            found = self.manifest(month)
            if found is not None:
                window.append({"month": month, "files": found["files"]})
        return window
