"""Batch mode: the people of many clips (a series' episodes), linked into series identities.

The unit of work is a clip: extracted (the core's cache lets a re-run skip finished clips),
clustered and written as ``run`` writes it, into ``OUT/clips/<name>/``. Units run on a local
process pool or as Ray tasks; each returns its people's summary (one mean face embedding per
person, through Ray's object store), from which the driver links people across clips into
series identities: average linkage over the people's mean embeddings, where two people of one
clip are never linked (the clip already told them apart). The driver then writes
``series.csv`` (identity x clip x screen time), ``series/identity_NN.zip`` (each identity's
faces, a folder per clip) and, last, ``batch.json``.

A failed clip (its worker killed, or an internal error) is retried, ``ATTEMPTS`` in all; an
unusable clip (not a video, no faces) is reported in ``batch.json`` and the others go on. With
Ray, every node must see the clips and OUT at the same paths (a shared file system): a clip's
outputs are written where its task runs.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .cluster import Clusterer, ClusterParams
from .errors import BadInput
from .export import ZIP_DATE, safe_name, unique_name
from .extract import ExtractParams
from .folders import BATCH_FILE, CLIPS_DIR, SERIES_DIR, SERIES_FILE, publish, publishing
from .pipeline import run
from .progress import Progress, no_progress
from .version import __version__
from .video import CLIP_TYPES
from .workers import spawn_pool, stop_event

log = logging.getLogger(__name__)

#: Tries per clip before it is reported as failed.
ATTEMPTS = 3
SERIES_COLUMNS = [
    "identity",
    "name",
    "clip",
    "person",
    "library_name",
    "faces",
    "screen_time_s",
    "first_t_sec",
    "last_t_sec",
]


@dataclass
class ClipPeople:
    """What one unit of work returns: a clip's people, or why it has none.

    clip: the clip's path; folder: its output folder under ``OUT/clips``; people: its clusters
    table (``clusters.csv``); means: (P, D) float32, each person's L2-normalised mean face
    embedding (the plain embedding, comparable across clips of one embedder, not the clip's
    learned metric); eps: the eps it was clustered at (None without people); error: one line
    where the clip gave no people.
    """

    clip: str
    folder: str
    people: pd.DataFrame
    means: np.ndarray
    eps: float | None = None
    cache_hit: bool = False
    error: str | None = None

    @classmethod
    def unusable(cls, clip: str, out: str, error: str) -> ClipPeople:
        """A clip that gave no people, and why (one line)."""
        empty = np.zeros((0, 0), np.float32)
        return cls(clip, Path(out).name, pd.DataFrame(), empty, error=error.splitlines()[0])


def clip_files(paths: list[str | Path]) -> list[Path]:
    """The clips named: files as given, folders as their clips (``CLIP_TYPES``) in name order."""
    clips = []
    for path in map(Path, paths):
        if path.is_dir():
            clips += sorted(p for p in path.iterdir() if p.suffix.lower().lstrip(".") in CLIP_TYPES)
        elif path.is_file():
            clips.append(path)
        else:
            raise BadInput(f"no such clip or folder: {path}")
    if not clips:
        raise BadInput("no clips to process (folders are searched for " + ", ".join(CLIP_TYPES) + ")")
    return clips


def process_clip(
    clip: str,
    out: str,
    extract_params: ExtractParams,
    cluster_params: ClusterParams,
    library: str | None,
    workers: int,
) -> ClipPeople:
    """Extract (or load), cluster, name after ``library`` (a file, or None) and write one clip
    into ``out``: a batch's unit of work."""
    try:
        extraction, labels, clusters = run(
            clip, out, extract_params, cluster_params, workers, library=library
        )
    except BadInput as e:
        return ClipPeople.unusable(clip, out, str(e))
    face = extraction.faces.face_embedding
    means = np.zeros((len(clusters), face.shape[1]), np.float32)
    for row, label in enumerate(clusters["cluster"]):
        mean = face[labels == label].mean(axis=0)
        means[row] = mean / np.linalg.norm(mean)
    eps = extraction.resolve(cluster_params).eps
    return ClipPeople(clip, Path(out).name, clusters, means, eps, extraction.cache_hit)


def _failed(unit: tuple, error: BaseException) -> ClipPeople:
    return ClipPeople.unusable(unit[0], unit[1], f"failed {ATTEMPTS} times: {type(error).__name__}: {error}")


#: Told of each clip as it finishes: its result, clips finished, clips in all.
Finished = Callable[[ClipPeople, int, int], None]


def _on_pool(units: list[tuple], jobs: int, finished: Finished) -> list[ClipPeople]:
    """``process_clip`` of every unit on ``jobs`` spawned processes; a unit whose process dies
    or raises is run again in a fresh pool (a dead process breaks the whole pool, so every
    unit then unfinished counts one attempt)."""
    results: dict[int, ClipPeople] = {}
    attempts: Counter[int] = Counter()
    todo = list(range(len(units)))
    stop = stop_event()
    while todo:
        pool = spawn_pool(min(jobs, len(todo)), stop)
        try:
            futures = {pool.submit(process_clip, *units[i]): i for i in todo}
            todo = []
            for future in as_completed(futures):
                i = futures[future]
                try:
                    results[i] = future.result()
                except Exception as e:  # the worker died (BrokenProcessPool) or the clip failed
                    attempts[i] += 1
                    log.warning(
                        "clip %s: %s: %s (attempt %d of %d)",
                        units[i][0],
                        type(e).__name__,
                        e,
                        attempts[i],
                        ATTEMPTS,
                    )
                    if attempts[i] < ATTEMPTS:
                        todo.append(i)
                        continue
                    results[i] = _failed(units[i], e)
                finished(results[i], len(results), len(units))
        except BaseException:  # interrupted: the workers drop their clips and end
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
    return [results[i] for i in range(len(units))]


def _on_ray(units: list[tuple], address: str, finished: Finished) -> list[ClipPeople]:
    """``process_clip`` of every unit as a Ray task (one CPU each) on the cluster at ``address``
    (``local``: a Ray instance started here for this batch). Ray retries a task whose worker
    died or that raised; results come back through the object store."""
    import ray

    host, _, port = address.rpartition(":")
    if port.isdigit():  # Ray retries an unreachable address for minutes: fail at once instead
        try:
            socket.create_connection((host.removeprefix("ray://"), int(port)), timeout=10).close()
        except OSError as e:
            raise BadInput(f"no Ray cluster answers at {address} ({e.strerror or e})") from None
    env = {k: v for k, v in os.environ.items() if k.startswith("FACECLUST_")}
    try:
        ray.init(
            address=None if address == "local" else address,
            runtime_env={"env_vars": env},
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise BadInput(f"cannot use the Ray cluster at '{address}': {e}".splitlines()[0]) from None
    task = ray.remote(num_cpus=1, max_retries=ATTEMPTS - 1, retry_exceptions=True)(process_clip)
    pending = {task.remote(*unit): i for i, unit in enumerate(units)}
    results: dict[int, ClipPeople] = {}
    try:
        while pending:
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(ready)
            try:
                results[i] = ray.get(ready)
            except ray.exceptions.RayError as e:
                results[i] = _failed(units[i], e)
            finished(results[i], len(results), len(units))
        return [results[i] for i in range(len(units))]
    except BaseException:  # interrupted: stop the clips still running on the cluster
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        ray.shutdown()


def link_people(clips: list[ClipPeople], eps: float) -> np.ndarray:
    """Series identity (P,) of every person of ``clips`` in order; 0 is the identity found in
    the most clips. Average linkage over the mean embeddings, cut at ``eps``; two people of
    one clip never share an identity."""
    means = np.vstack([c.means for c in clips]) if clips else np.zeros((0, 0), np.float32)
    clip_of = np.repeat(np.arange(len(clips)), [len(c.means) for c in clips])
    no_cloth = np.zeros((len(means), 1), np.float32)
    clusterer = Clusterer(means, no_cloth, np.zeros(len(means), bool), clip_of)
    return clusterer.labels(ClusterParams(weight=0.0, eps=eps, min_samples=1))


def series_table(clips: list[ClipPeople], identities: np.ndarray) -> pd.DataFrame:
    """One row per (identity, clip, person), columns ``SERIES_COLUMNS``, by identity then clip."""
    rows = []
    people = iter(identities)
    for order, clip in enumerate(clips):
        for person in clip.people.itertuples(index=False):
            identity = int(next(people))
            rows.append(
                {
                    "identity": identity,
                    "name": f"identity_{identity:02d}",
                    "clip": clip.folder,
                    "person": person.name,
                    "library_name": getattr(person, "library_name", None),
                    "faces": person.size,
                    "screen_time_s": person.screen_time_s,
                    "first_t_sec": person.first_t_sec,
                    "last_t_sec": person.last_t_sec,
                    "_order": order,
                }
            )
    table = pd.DataFrame(rows, columns=[*SERIES_COLUMNS, "_order"])
    return (
        table.sort_values(["identity", "_order"], kind="stable").drop(columns="_order").reset_index(drop=True)
    )


def write_series_zip(target: Path, clips_dir: Path, rows: pd.DataFrame) -> None:
    """One identity's zip: for each of its (clip, person) rows, that person's zip from the
    clip's run, under a folder named after the clip; a top-level ``manifest.csv`` of the rows."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        for row in rows.itertuples(index=False):
            with zipfile.ZipFile(clips_dir / row.clip / f"{row.person}.zip") as person:
                for entry in person.infolist():
                    info = zipfile.ZipInfo(f"{row.clip}/{entry.filename}", date_time=ZIP_DATE)
                    archive.writestr(info, person.read(entry))
        archive.writestr(zipfile.ZipInfo("manifest.csv", date_time=ZIP_DATE), rows.to_csv(index=False))


def run_batch(
    clips: list[str | Path],
    out: str | Path,
    extract_params: ExtractParams | None = None,
    cluster_params: ClusterParams | None = None,
    jobs: int | None = None,
    ray: str | None = None,
    progress: Progress = no_progress,
    on_clip: Callable[[ClipPeople], None] | None = None,
    library: str | Path | None = None,
) -> tuple[list[ClipPeople], pd.DataFrame]:
    """Process ``clips`` (files or folders of clips) into ``out`` and link their people.

    jobs: processes to use on this machine (default: all cores): up to ``jobs`` clips at once,
    each clip's extraction sharing the processes left over (one clip and 2 jobs: one clip on
    2 processes). ray: a Ray cluster address (``auto``, or ``local`` to start one here) to run
    the clips on instead. progress: told of clips finished (stage ``batch``); on_clip: given
    each clip's result as it finishes. Returns each clip's result and the series table. Raises
    BadInput when no clip gives any people. library: a library file that names each clip's
    people (``library_name`` in the clips' ``clusters.csv`` and in ``series.csv``).
    """
    extract_params = extract_params or ExtractParams()
    cluster_params = cluster_params or ClusterParams()
    extract_params.validate()
    cluster_params.validate()
    paths = clip_files(clips)
    # Models chosen once here (and any fallback said once), not again by every clip's worker.
    extract_params = replace(
        extract_params,
        detect=extract_params.detect.resolved(),
        sr=extract_params.sr.resolved(),
        embed=extract_params.embed.resolved(),
    )
    out = Path(out)
    clips_dir = out / CLIPS_DIR
    taken: set[str] = set()
    units = [
        (
            str(clip),
            str(clips_dir / unique_name(safe_name(clip.stem), taken)),
            extract_params,
            cluster_params,
            None if library is None else str(library),
        )
        for clip in paths
    ]
    if jobs is not None and jobs < 1:
        raise BadInput(f"--jobs must be at least 1, got {jobs}")
    jobs = jobs or os.cpu_count() or 1
    at_once = min(jobs, len(units))
    started = time.perf_counter()

    def finished(result: ClipPeople, done: int, total: int) -> None:
        if on_clip is not None:
            on_clip(result)
        progress("batch", done, total)

    with publishing(out, BATCH_FILE) as scratch:
        progress("batch", 0, len(units))
        if ray:
            results = _on_ray([(*unit, 1) for unit in units], ray, finished)
        else:
            results = _on_pool([(*unit, jobs // at_once) for unit in units], at_once, finished)
        usable = [r for r in results if r.error is None and len(r.people)]
        if not usable:
            raise BadInput(
                "no clip gave any people: "
                + "; ".join(f"{r.clip}: {r.error or 'no people'}" for r in results)
            )
        eps = float(np.median([r.eps for r in usable]))
        series = series_table(usable, link_people(usable, eps))
        seconds = time.perf_counter() - started
        _write_series(out, scratch, clips_dir, series, results, eps, cluster_params, ray, seconds)
    return results, series


def _write_series(
    out: Path,
    scratch: Path,
    clips_dir: Path,
    series: pd.DataFrame,
    results: list[ClipPeople],
    eps: float,
    cluster_params: ClusterParams,
    ray: str | None,
    seconds: float,
) -> None:
    """series.csv, series/*.zip and batch.json (last, so that it marks a complete batch), through
    ``scratch`` (``folders.publishing``)."""
    series.to_csv(scratch / SERIES_FILE, index=False)
    (scratch / SERIES_DIR).mkdir()
    for name, rows in series.groupby("name", sort=True):
        write_series_zip(scratch / SERIES_DIR / f"{name}.zip", clips_dir, rows)
    shutil.rmtree(out / SERIES_DIR, ignore_errors=True)
    os.replace(scratch / SERIES_DIR, out / SERIES_DIR)
    os.replace(scratch / SERIES_FILE, out / SERIES_FILE)
    publish(
        scratch,
        out,
        BATCH_FILE,
        {
            "faceclust_version": __version__,
            "engine": f"ray {ray}" if ray else "local",
            "cluster_params": asdict(cluster_params),
            "link_eps": eps,
            "identities": int(series["identity"].nunique()),
            "clips": [
                {
                    "clip": r.clip,
                    "folder": r.folder,
                    "people": len(r.people),
                    "cache_hit": r.cache_hit,
                    "error": r.error,
                }
                for r in results
            ],
            "seconds": round(seconds, 3),
        },
    )
