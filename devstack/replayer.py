"""Real customers of a held-out month, replayed against the endpoint as the shop's application would.

Each session is one real invoice of the month, in time order: the customer asks for recommendations
(InvokeEndpoint with their id and country), the response names the variant that served them, and
the session converts when one of the recommended items is in that invoice - what the customer
really bought next. Every session is reported as the application must (contract in
`mlops.hooks.ab_tests`): `Impressions` and `Conversions` per `EndpointName`/`VariantName` in the
serving stack's conversion namespace. So the A/B test decides on real behaviour, not invented rates.

When the month runs out before the test decides, the replay starts over (`loop`): the same
customers again, in the same order - stated in the summary, since repeated sessions are not new
independent customers.

    PYTHONPATH=. python -m devstack.replayer --endpoint mlops-recommender-dev --month 2011-10
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

IMPRESSIONS, CONVERSIONS = "Impressions", "Conversions"  # mlops.hooks.ab_tests' contract


@dataclass(frozen=True)
class Session:
    user_id: str
    country: str
    bought: frozenset[str]


def sessions_from(interactions) -> list[Session]:
    """One session per invoice of known customers, oldest first."""
    frame = interactions[interactions.user_id.astype(str).str.len() > 0]
    sessions = []
    for _, invoice in frame.sort_values("timestamp").groupby("invoice_no", sort=False):
        first = invoice.iloc[0]
        sessions.append(Session(str(first.user_id), str(first.country), frozenset(map(str, invoice.item_id))))
    return sessions


def month_sessions(s3, bucket: str, month: str) -> list[Session]:
    """The processed month's interactions (through its manifest, as the DAGs find them)."""
    import pandas as pd

    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"processed/month={month}/_manifest.json")["Body"].read())
    uri = manifest["files"]["interactions.parquet"]
    source_bucket, _, key = uri[5:].partition("/")
    body = s3.get_object(Bucket=source_bucket, Key=key)["Body"].read()
    return sessions_from(pd.read_parquet(io.BytesIO(body)))


class TrafficReplayer:
    def __init__(
        self,
        client,
        endpoint: str,
        namespace: str,
        sessions: list[Session],
        *,
        num_results: int = 10,
        rate: float = 40.0,
        loop: bool = True,
        flush_seconds: float = 1.0,
    ) -> None:
        if not sessions:
            raise ValueError("no sessions to replay")
        self.runtime = client("sagemaker-runtime")
        self.cloudwatch = client("cloudwatch")
        self.endpoint, self.namespace, self.sessions = endpoint, namespace, sessions
        self.num_results, self.rate, self.loop, self.flush_seconds = num_results, rate, loop, flush_seconds
        self.impressions: Counter[str] = Counter()
        self.conversions: Counter[str] = Counter()
        self.errors = 0
        self.passes = 0
        self._pending: dict[str, list[int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- control -----------------------------------------------------------------------------
    def start(self) -> TrafficReplayer:
        self._thread = threading.Thread(target=self.run, name="traffic-replayer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        return self.summary()

    def __enter__(self) -> TrafficReplayer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def summary(self) -> dict[str, Any]:
        return {
            variant: {
                "sessions": self.impressions[variant],
                "conversions": self.conversions[variant],
                "rate": round(self.conversions[variant] / self.impressions[variant], 4),
            }
            for variant in sorted(self.impressions)
        } | {"errors": self.errors, "month_passes": self.passes, "distinct_sessions": len(self.sessions)}

    # --- the application ---------------------------------------------------------------------
    def run(self) -> None:
        interval = 1.0 / self.rate if self.rate > 0 else 0.0
        last_flush = time.monotonic()
        while not self._stop.is_set():
            for session in self.sessions:
                if self._stop.is_set():
                    break
                started = time.monotonic()
                self.play(session)
                if time.monotonic() - last_flush >= self.flush_seconds:
                    self.flush()
                    last_flush = time.monotonic()
                pause = interval - (time.monotonic() - started)
                if pause > 0:
                    self._stop.wait(pause)
            self.passes += 1
            if not self.loop:
                break
        self.flush()

    def play(self, session: Session) -> None:
        body = {"user_id": session.user_id, "num_results": self.num_results, "context": {"country": session.country}}
        try:
            response = self.runtime.invoke_endpoint(
                EndpointName=self.endpoint,
                ContentType="application/json",
                Accept="application/json",
                Body=json.dumps(body),
            )
        except ClientError as err:
            self.errors += 1
            if err.response["Error"]["Code"] != "ModelError":
                self._stop.wait(1.0)  # the endpoint is not there (yet): the application backs off
            return
        variant = response["InvokedProductionVariant"]
        items = json.loads(response["Body"].read())["items"]
        converted = int(bool(session.bought.intersection(items)))
        self.impressions[variant] += 1
        self.conversions[variant] += converted
        self._pending.setdefault(variant, []).append(converted)

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        data = []
        for variant, outcomes in pending.items():
            dims = [{"Name": "EndpointName", "Value": self.endpoint}, {"Name": "VariantName", "Value": variant}]
            hits = sum(outcomes)
            data.append({"MetricName": IMPRESSIONS, "Dimensions": dims, "Values": [1.0], "Counts": [len(outcomes)]})
            data.append(
                {
                    "MetricName": CONVERSIONS,
                    "Dimensions": dims,
                    "Values": [1.0, 0.0],
                    "Counts": [float(hits), float(len(outcomes) - hits)],
                }
            )
        if data:
            self.cloudwatch.put_metric_data(Namespace=self.namespace, MetricData=data)


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(prog="devstack.replayer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint-url", default="http://127.0.0.1:4566")
    parser.add_argument("--endpoint", default="mlops-recommender-dev")
    parser.add_argument("--namespace", default="MLOps/Recommendations")
    parser.add_argument("--bucket", default="mlops-processed-dev-123456789012-us-east-1")
    parser.add_argument("--month", default="2011-10")
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--seconds", type=float, default=300.0)
    args = parser.parse_args(argv)

    def client(service: str):
        return boto3.client(
            service,
            endpoint_url=args.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    sessions = month_sessions(client("s3"), args.bucket, args.month)
    with TrafficReplayer(client, args.endpoint, args.namespace, sessions, rate=args.rate) as replayer:
        time.sleep(args.seconds)
    print(json.dumps(replayer.summary(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
