"""Overlap reading, transforming and writing on a small machine (Fargate's 2 vCPUs).

Arrow releases the GIL while it parses CSV, computes and encodes Parquet/CSV, so a reader thread
ahead of the transform and a writer thread behind it keep both cores busy. Both queues are
short: memory stays a few blocks, whatever the input size. An exception in either thread
surfaces in the main one.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = object()


def prefetch(source: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Iterate `source` in a background thread, `depth` items ahead."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        items.put((True, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put((True, _DONE))
        except BaseException as err:  # handed to the consumer
            items.put((False, err))

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = items.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


class BackgroundWriter:
    """Runs write calls in order on one thread; `submit` blocks when `depth` calls are pending."""

    def __init__(self, depth: int = 2) -> None:
        self._calls: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            call = self._calls.get()
            if call is _DONE:
                return
            if self._error is None:
                try:
                    call()
                except BaseException as err:
                    self._error = err

    def submit(self, func: Callable[..., Any], *args: Any) -> None:
        if self._error is not None:
            raise self._error
        self._calls.put(lambda: func(*args))

    def finish(self) -> None:
        """Wait for every pending write; re-raise the first failure."""
        self._calls.put(_DONE)
        self._thread.join()
        if self._error is not None:
            raise self._error
