"""Real customers of a held-out month, replayed through the recommendation API as the shop would.

Each session is one real invoice of the month, in time order: the customer asks the public API for
recommendations (`GET /model/recommendations/{userId}?country=...`, over HTTPS with the API key);
the API invokes the SageMaker endpoint, records the impression for the variant that served and
answers with that `variant` and a `recommendationId`. The session converts when one of the
recommended items is in that invoice - what the customer really bought next - and the shop then
reports the purchase (`POST /conversions` with the recommendation id and the item). The replayer
writes no metric itself: the A/B test decides on what the API recorded, as in production.

Several workers (one keep-alive connection each) keep the per-session cost low; `rate` caps the
sessions per second across them. When the month runs out before the test decides, the replay
starts over (`loop`): the same customers again, in the same order - stated in the summary, since
repeated sessions are not new independent customers.

    PYTHONPATH=. python -m devstack.replayer --month 2011-10 --seconds 60
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devstack.api_client import ApiSession


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
    """`api()` gives a new `devstack.api_client.ApiSession` (one per worker thread)."""

    def __init__(
        self,
        api: Callable[[], ApiSession],
        sessions: list[Session],
        *,
        num_results: int = 10,
        rate: float = 40.0,
        workers: int = 4,
        loop: bool = True,
    ) -> None:
        if not sessions:
            raise ValueError("no sessions to replay")
        self.api, self.sessions = api, sessions
        self.num_results, self.rate, self.workers, self.loop = num_results, rate, workers, loop
        self.impressions: Counter[str] = Counter()
        self.conversions: Counter[str] = Counter()
        self.errors: Counter[int] = Counter()
        self.passes = 0
        self._next = 0  # index of the next session (across passes)
        self._due = 0.0  # when the next session may start (rate)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = self._ended = 0.0

    @classmethod
    def on_stack(cls, stack, sessions: list[Session], **kwargs) -> TrafficReplayer:
        """Through the personalize stack's API on the local stack (its published URL and key, its CA)."""
        from devstack.api_client import ApiSession, api_endpoint, stage_root

        url, key = api_endpoint(stack.client, stack.url)
        root = stage_root(url)
        return cls(lambda: ApiSession(root, key, cafile=stack.ca_bundle), sessions, **kwargs)

    # --- control -----------------------------------------------------------------------------
    def start(self) -> TrafficReplayer:
        self._started = self._due = time.monotonic()
        for number in range(self.workers):
            thread = threading.Thread(target=self.run, name=f"traffic-replayer-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._ended = time.monotonic()
        return self.summary()

    def __enter__(self) -> TrafficReplayer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def summary(self) -> dict[str, Any]:
        elapsed = (self._ended or time.monotonic()) - self._started
        shown = sum(self.impressions.values())
        return {
            variant: {
                "sessions": self.impressions[variant],
                "conversions": self.conversions[variant],
                "rate": round(self.conversions[variant] / self.impressions[variant], 4),
            }
            for variant in sorted(self.impressions)
        } | {
            "errors": dict(self.errors),
            "month_passes": self.passes,
            "distinct_sessions": len(self.sessions),
            "workers": self.workers,
            "seconds": round(elapsed, 1),
            "sessions_per_s": round(shown / elapsed, 1) if elapsed > 0 else 0.0,
        }

    # --- the application ---------------------------------------------------------------------
    def _take(self) -> Session | None:
        """The next session once the rate allows it, or None when the replay is over."""
        with self._lock:
            if self._next >= len(self.sessions):
                self.passes += 1
                if not self.loop:
                    return None
                self._next = 0
            session = self.sessions[self._next]
            self._next += 1
            due = self._due
            self._due = max(due, time.monotonic()) + (1.0 / self.rate if self.rate > 0 else 0.0)
        pause = due - time.monotonic()
        if pause > 0 and self._stop.wait(pause):
            return None
        return session

    def run(self) -> None:
        api = self.api()
        try:
            while not self._stop.is_set():
                session = self._take()
                if session is None:
                    break
                self.play(api, session)
        finally:
            api.close()

    def play(self, api: ApiSession, session: Session) -> None:
        try:
            status, answer = api.model_recommendations(session.user_id, self.num_results, session.country or None)
        except OSError:
            status, answer = 0, {}
        if status != 200:
            with self._lock:
                self.errors[status] += 1
            if status in (0, 429, 503):  # unreachable, throttled, no endpoint yet: the shop backs off
                self._stop.wait(1.0)
            return
        variant = answer["variant"]
        bought = sorted(session.bought.intersection(i["itemId"] for i in answer["items"]))
        counted = False
        if bought:
            try:
                status, reply = api.conversion(answer["recommendationId"], bought[0])
            except OSError:
                status, reply = 0, {}
            counted = status == 200 and reply.get("counted") is True
            if status != 200:
                with self._lock:
                    self.errors[status] += 1
        with self._lock:
            self.impressions[variant] += 1
            self.conversions[variant] += int(counted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devstack.replayer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint-url", default="https://127.0.0.1:4566", help="the local stack")
    parser.add_argument("--ca-bundle", default=None, help="the local stack's CA (AWS_CA_BUNDLE otherwise)")
    parser.add_argument("--bucket", default="mlops-processed-dev-123456789012-us-east-1")
    parser.add_argument("--month", default="2011-10")
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=300.0)
    args = parser.parse_args(argv)
    import os
    import types

    import boto3

    ca_bundle = args.ca_bundle or os.environ.get("AWS_CA_BUNDLE")

    def client(service: str):
        return boto3.client(
            service,
            endpoint_url=args.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            verify=ca_bundle or True,
        )

    stack = types.SimpleNamespace(client=client, url=args.endpoint_url, ca_bundle=ca_bundle)
    sessions = month_sessions(client("s3"), args.bucket, args.month)
    replayer = TrafficReplayer.on_stack(stack, sessions, rate=args.rate, workers=args.workers)
    with replayer:
        time.sleep(args.seconds)
    print(json.dumps(replayer.summary(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
