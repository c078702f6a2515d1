"""An extraction that runs in a background thread owned by one dashboard session.

Streamlit stops a script run on the next widget event; an extraction run inside the script
therefore died with any click. This one lives on beside the reruns and ends only when it is done,
fails or its ``cancel`` is called. ``in_background`` is the priority of all work the dashboard
does ahead of time. Nothing here imports Streamlit.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import faceclust as fc
from faceclust import ranges

log = logging.getLogger(__name__)

#: Frames to see come back before saying how long the rest will take.
EXTRAPOLATE_AFTER = 4
#: From this many faces (about a quarter of an hour of TV) a clip is an episode: the job then
#: also builds the clustering trees of every weight the slider offers and fits Compare's two UMAP
#: layouts before it ends (a minute or two beside a quarter of an hour's extraction), so that
#: no page waits for them and no background thread competes with the pages. A smaller clip's
#: trees take milliseconds and its layouts are fitted on its first visit of Compare: UMAP's
#: first fit in a process compiles for 16 s, which would more than double its extraction.
EPISODE_FACES = 5000


def in_background() -> None:
    """Give the calling thread a lower CPU priority (Linux: threads have their own niceness), so
    that work done ahead of time yields to the pages people are waiting for."""
    if hasattr(os, "setpriority"):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class Cancelled(Exception):
    """Raised from the progress callback to stop an extraction that was cancelled."""


class ExtractionJob:
    """``fc.extract(clip, params)`` in a daemon thread, then ``Extraction.prepare_views`` at
    ``clustering`` (the session's when Run was pressed) with the clip's own eps (People then
    opens at once, and for an episode Compare too, ``EPISODE_FACES``), with its progress,
    outcome and a cancel.

    clip: the file on the server; name: what the user calls it (their upload's name), used in
    every message instead of the server's path; labels: a labels file or None.
    """

    def __init__(
        self,
        clip: Path,
        name: str,
        labels: Path | None,
        params: fc.ExtractParams,
        clustering: fc.ClusterParams,
    ):
        self.clip, self.name, self.labels, self.params = clip, name, labels, params
        self.clustering = clustering
        self.stage, self.done, self.total = "hash", 0, 0
        self.started = time.perf_counter()
        self.extraction: fc.Extraction | None = None
        self.error: str | None = None  # why it failed, in one line naming the clip by ``name``
        self._cancelled = threading.Event()
        self._first: tuple[float, int] | None = None  # when frames first came back, and how many
        self._rate: float | None = None  # seconds per frame since then
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"extract {name}")
        self._thread.start()

    def _progress(self, stage: str, done: int, total: int) -> None:
        if self._cancelled.is_set():
            raise Cancelled
        self.stage, self.done, self.total = stage, done, total
        if stage != "extract" or not done:
            return
        now = time.perf_counter()
        if self._first is None:
            self._first = (now, done)
        # The rate since the first frames came back: start-up (workers, models) is not a rate.
        elif done - self._first[1] >= EXTRAPOLATE_AFTER:
            self._rate = (now - self._first[0]) / (done - self._first[1])

    def _run(self) -> None:
        try:
            given = self.name if self.name != self.clip.name else None  # an upload: the user's name
            extraction = fc.extract(self.clip, self.params, progress=self._progress, name=given)
            faces = len(extraction.faces.table)
            if faces:  # a cancel stops it between two steps
                episode = faces >= EPISODE_FACES
                weights = ranges.WEIGHT.offered if episode else []
                params = extraction.resolve(replace(self.clustering, eps=None))
                extraction.prepare_views(params, weights, episode, self._progress)
            self.extraction = extraction
        except Cancelled:
            log.info("extraction of %s cancelled", self.name)
        except fc.BadInput as e:
            said = str(e).replace(str(self.clip), self.name)
            self.error = said if self.name in said else f"{self.name}: {said}"
        except Exception as e:  # a thread's exception would otherwise vanish into the log only
            log.exception("extraction of %s failed", self.name)
            self.error = f"{self.name}: the extraction failed: {e}"

    def cancel(self) -> None:
        """Stop at the next progress report; the cache keeps nothing of it."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the end; whether it has ended."""
        self._thread.join(seconds)
        return not self.running

    @property
    def seconds_left(self) -> float | None:
        """Estimated seconds to the last frame (None until the rate is known)."""
        if self.stage != "extract" or self._rate is None:
            return None
        return self._rate * max(self.total - self.done, 0)

    def describe(self) -> str:
        """One line of where it is: stage, frames done, time left."""
        if self.cancelled:
            return "Cancelling..."
        if self.stage == "hash":
            return f"Reading the clip: {self.done / 1e6:.0f} of {self.total / 1e6:.0f} MB"
        if self.stage == "prepare":
            return f"Grouping the faces into people: step {self.done} of {self.total}"
        left = self.seconds_left
        said = f", about {left:.0f} s left" if left is not None else ""
        return f"Frame {self.done} of {self.total}{said}"

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0
