"""Worker processes: spawned (never forked), one thread of OpenCV (and so of ONNX Runtime) each,
and gone with their parent.

Extraction (frames of one clip) and batch (clips) both run on such pools. A fork of a process whose
OpenCV/FFmpeg threads hold locks can deadlock, so workers are spawned; each watches the process
that started it and exits when that process is gone (killed, crashed) or sets the pool's stop
event, so that no worker outlives an interrupted run.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.synchronize import Event


def spawn_pool(workers: int, stop: Event | None = None) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes set up by ``init_worker``; ``stop`` (from
    ``stop_event``), once set, ends them."""
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker,
        initargs=(os.getpid(), stop),
    )


def stop_event() -> Event:
    """An event a spawned pool's workers can see."""
    return multiprocessing.get_context("spawn").Event()


def init_worker(parent: int, stop: Event | None = None) -> None:
    """Set up a worker process started by ``parent`` (its pid); ``stop``, once set, ends it."""
    import cv2

    cv2.setNumThreads(1)  # one process per core; threads inside would fight over cores
    threading.Thread(target=_exit_with_parent, args=(parent, stop), daemon=True).start()


def _exit_with_parent(parent: int, stop: Event | None) -> None:
    """End this worker when the process that started it is gone (killed, crashed) or says stop
    (work in a pool's queue would otherwise run to its end before the parent may exit)."""
    while os.getppid() == parent and not (stop is not None and stop.is_set()):
        time.sleep(1.0)
    os._exit(1)
