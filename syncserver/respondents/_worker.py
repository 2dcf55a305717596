"""Matching in the background, so that an upload's receipt never waits for it
(docs/spec/respondent-matching.md §6.3).

One thread takes the interviews ingest has registered, in the order they were
submitted, and matches them in batches. Matching yields to uploads: it starts a batch only
when no upload has finished for ``quiet`` seconds, or when the oldest interview has
waited ``max_delay`` seconds, so that under a burst of uploads the receipts come first
and matching catches up after. Their identity answers wait in memory only; if
the process stops first, or more than ``max_backlog`` wait, the interviews stay
``pending`` in the store and :func:`~._rebuild.match_pending` matches them at the next
start. A failure is logged without any identity data, and the worker goes on.
"""

from __future__ import annotations

import datetime
import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence

from ._identity import IdentityAnswers
from ._matcher import Matcher

__all__ = ["MatchWorker"]

log = logging.getLogger("syncserver")

Item = tuple[uuid.UUID, IdentityAnswers]


class MatchWorker:
    BATCH = 500

    def __init__(
        self,
        matcher: Matcher,
        *,
        clock: Callable[[], datetime.datetime],
        max_backlog: int = 20_000,
        quiet: float = 0.25,
        max_delay: float = 30.0,
    ) -> None:
        self.matcher = matcher
        self.clock = clock
        self.max_backlog = max_backlog
        self.quiet = quiet
        self.max_delay = max_delay
        self._last_activity = -math.inf
        self._todo: deque[tuple[float, Item]] = deque()
        self._busy = 0
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="respondent-matcher", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"MatchWorker({len(self._todo)} waiting)"

    def submit(self, items: Sequence[Item]) -> None:
        if not items:
            return
        with self._cond:
            if self._closed:
                return  # left pending: matched at the next start
            room = self.max_backlog - len(self._todo)
            if room < len(items):
                log.warning(
                    "matching backlog full: %d interviews left pending until the next start",
                    len(items) - max(room, 0),
                )
            now = time.monotonic()
            self._todo.extend((now, item) for item in items[: max(room, 0)])
            self._cond.notify()

    def note_activity(self) -> None:
        """An upload finished: matching waits until uploads pause (or ``max_delay``)."""
        self._last_activity = time.monotonic()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is matched; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._todo and not self._busy, timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Finish what is waiting (up to ``timeout`` seconds), then stop."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _yield_to_uploads(self) -> float:
        """Seconds matching should still wait for uploads (call with the condition held)."""
        if self._closed or not self._todo:
            return 0.0
        now = time.monotonic()
        quiet_in = self._last_activity + self.quiet - now
        overdue_in = self._todo[0][0] + self.max_delay - now
        return max(0.0, min(quiet_in, overdue_in))

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._todo or self._closed)
                while (wait := self._yield_to_uploads()) > 0:
                    self._cond.wait(wait)
                if not self._todo:
                    return
                n = min(self.BATCH, len(self._todo))
                batch = [self._todo.popleft()[1] for _ in range(n)]
                self._busy = len(batch)
            try:
                self.matcher.match(batch, now=self.clock())
            except Exception as e:  # keep going; the interviews stay pending in the store
                log.error(
                    "matching %d interviews failed (%s); they stay pending until the next start",
                    len(batch),
                    e.__class__.__name__,
                )
            finally:
                with self._cond:
                    self._busy = 0
                    self._cond.notify_all()
