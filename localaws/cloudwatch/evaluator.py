"""The stack's alarm evaluator: CloudWatch evaluates alarms on its own schedule, not when read.

One thread per `LocalAwsStack`, started and stopped with it. It sleeps on an event: a pass runs
every `alarm_evaluation.EVALUATE_EVERY_S` (at least `MIN_GAP_S`), or at once when PutMetricData or
PutMetricAlarm wakes it; a burst of puts makes one pass, and passes are at least `MIN_GAP_S`
apart, so a steady stream of metrics never turns it into a busy loop. A pass evaluates every
metric alarm of every account and Region moto holds; a change of state runs the alarm's actions
(`patches.alarm_actions`).
"""

from __future__ import annotations

import logging
import threading

from moto.cloudwatch.models import cloudwatch_backends

from localaws.cloudwatch.patches import alarm_evaluation

log = logging.getLogger(__name__)

MIN_GAP_S = 1.0


class AlarmEvaluator:
    def __init__(self) -> None:
        self._due = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        alarm_evaluation.listeners.add(self.wake)
        self._thread = threading.Thread(target=self._run, name="localaws-alarms", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        alarm_evaluation.listeners.discard(self.wake)
        self._stopping.set()
        self._due.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def wake(self) -> None:
        self._due.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._due.wait(timeout=max(alarm_evaluation.EVALUATE_EVERY_S, MIN_GAP_S))
            self._due.clear()
            if self._stopping.is_set():
                return
            self.evaluate_all()
            self._stopping.wait(MIN_GAP_S)

    def evaluate_all(self) -> None:
        for account_backends in list(cloudwatch_backends.values()):
            for backend in list(dict.values(account_backends)):
                try:
                    alarm_evaluation.evaluate_backend(backend, only_due=False)
                except Exception:  # one broken alarm must not stop the evaluation of the others
                    log.exception("alarm evaluation failed in %s/%s", backend.account_id, backend.region_name)
        self.passes += 1
