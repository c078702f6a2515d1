"""The ``faceclust`` command line: run, batch, reel, eval, models. Exit 0 ok, 2 bad input, 1 internal
error."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from .batch import run_batch
from .cluster import ALGORITHMS, ClusterParams
from .detect import DETECTORS
from .errors import BadInput
from .evaluate import LABEL_COLUMNS, evaluate, read_table
from .extract import ExtractParams
from .models import MODEL_FILES, fetch_model, find_model
from .pipeline import run
from .reel import ReelParams, read_people, write_reel
from .superres import SR_METHODS
from .video import SamplingParams

log = logging.getLogger("faceclust")


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 with one line
        raise BadInput(message)


#: Set by Ctrl-C or SIGTERM. The KeyboardInterrupt raised then can be lost where the signal lands
#: inside a ``__del__`` or a callback (Python reports such exceptions as "ignored"), so every
#: progress report raises it again until the run has stopped.
_STOP = threading.Event()


class _ProgressBar:
    """Draws ``progress(stage, done, total)`` as one updating line on a terminal, else logs."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.last = 0.0
        self.tty = sys.stderr.isatty()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if _STOP.is_set():
            raise KeyboardInterrupt
        now = time.perf_counter()
        if done < total and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        elapsed = now - self.started
        left = f", {elapsed / done * (total - done):.0f} s left" if 0 < done < total else ""
        unit = "segments" if stage.startswith("reel") else "clips" if stage == "batch" else "frames"
        line = f"{stage}: {done}/{total} {unit}{left}" if total else f"{stage}..."
        if self.tty:
            print(f"\r{line:<60}", end="" if done < total else "\n", file=sys.stderr, flush=True)
        else:
            log.info(line)


def _parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(prog="faceclust", description="Who appears in this clip, and when?")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_ArgumentParser)

    run_ = commands.add_parser("run", help="find and cluster the people of a clip")
    run_.add_argument("clip", type=Path)
    run_.add_argument("--out", type=Path, required=True, help="output folder")
    _pipeline_options(run_)
    run_.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")

    batch = commands.add_parser(
        "batch", help="find the people of many clips (episodes) and link them across clips"
    )
    batch.add_argument("clips", nargs="+", type=Path, metavar="CLIP", help="clips, or folders of clips")
    batch.add_argument("--out", type=Path, required=True, help="output folder")
    _pipeline_options(batch)
    batch.add_argument("--jobs", type=int, default=None, help="processes in all (default: all cores)")
    batch.add_argument(
        "--ray", metavar="ADDRESS", help="run the clips on a Ray cluster: its address, auto, or local"
    )

    batch.add_argument(
        "--reels",
        action="store_true",
        help="also write each series identity's reel into OUT/reels (see reel)",
    )
    _reel_options(batch)

    reel = commands.add_parser(
        "reel",
        help="cut a run's people (or a batch's series identities) out of the clip: mp4, 9:16 mp4, "
        "timelines (OTIO, EDL, FCP XML), CSV",
    )
    reel.add_argument("folder", type=Path, metavar="RUN_DIR", help="a finished run (or batch) folder")
    reel.add_argument("--out", type=Path, required=True, help="output folder")
    reel.add_argument(
        "--person", action="append", metavar="NAME", help="only this person (repeat for more; default all)"
    )
    reel.add_argument("--clip", type=Path, help="where the run's clip is now, if it has moved")
    _reel_options(reel)

    eval_ = commands.add_parser("eval", help="score a run's faces.csv against a labels file")
    eval_.add_argument("--faces", type=Path, required=True)
    eval_.add_argument("--labels", type=Path, required=True)
    eval_.add_argument("--json", action="store_true", help="print JSON")

    models = commands.add_parser("models", help="list or fetch model files")
    model_commands = models.add_subparsers(dest="models_command", required=True, parser_class=_ArgumentParser)
    model_commands.add_parser("list", help="known models and where they are")
    fetch = model_commands.add_parser("fetch", help="download and verify a model")
    fetch.add_argument("name", choices=list(MODEL_FILES), metavar="NAME")
    return parser


def _pipeline_options(command: argparse.ArgumentParser) -> None:
    """The sampling, detection and clustering options of ``run`` and ``batch``."""
    defaults = ExtractParams()
    sampling = command.add_mutually_exclusive_group()
    sampling.add_argument("--step", type=int, help=f"every Nth frame (default {defaults.sampling.step})")
    sampling.add_argument("--fps", type=float, help="about F frames per second")
    command.add_argument(
        "--sr",
        default=defaults.sr.method,
        choices=["auto", *SR_METHODS],
        metavar="NAME",
        help=f"super-resolution for small faces (default {defaults.sr.method})",
    )
    command.add_argument(
        "--detector",
        default=defaults.detect.detector,
        choices=["auto", *DETECTORS],
        help="face detector (default auto)",
    )
    command.add_argument(
        "--embedder",
        default=defaults.embed.embedder,
        metavar="NAME",
        help="face embedder: auto (sface where its model is present or can be downloaded, else "
        "dlib), dlib, sface, or onnx:PATH for an ArcFace-style ONNX model (default auto)",
    )
    cluster = ClusterParams()
    command.add_argument("--weight", type=float, default=cluster.weight, help="clothing weight 0..1")
    command.add_argument(
        "--eps", type=float, default=None, help="neighbour distance (default: calibrated on each clip)"
    )
    command.add_argument("--min-samples", type=int, default=cluster.min_samples)
    command.add_argument("--algorithm", default=cluster.algorithm, choices=list(ALGORITHMS))


def _reel_options(command: argparse.ArgumentParser) -> None:
    defaults = ReelParams()
    command.add_argument("--vertical", action="store_true", help="also a 9:16 reel that follows the face")
    command.add_argument(
        "--gap",
        type=float,
        default=defaults.gap,
        help=f"join appearances this close, s (default {defaults.gap})",
    )
    command.add_argument(
        "--pad",
        type=float,
        default=defaults.pad,
        help=f"seconds added around each segment (default {defaults.pad})",
    )
    command.add_argument(
        "--min-length",
        type=float,
        default=defaults.min_length,
        help=f"drop appearances shorter than this, s (default {defaults.min_length})",
    )


def _reels(folder: Path, out: Path, args: argparse.Namespace, only: list[str] | None = None) -> None:
    """Write the reels of a run or batch folder and say what each became."""
    params = ReelParams(args.gap, args.pad, args.min_length)
    params.validate()
    sources, people = read_people(folder, params, getattr(args, "clip", None))
    if only:
        unknown = set(only) - {p.name for p in people}
        if unknown:
            raise BadInput(
                f"no person named {', '.join(sorted(unknown))} in {folder}; "
                f"there are: {', '.join(p.name for p in people)}"
            )
        people = [p for p in people if p.name in only]
    made = 0
    for person in people:
        if person.segments.empty:
            print(f"{person.name}: no appearance of at least {params.min_length:g} s; no reel")
            continue
        files = write_reel(person, sources, out, args.vertical, _ProgressBar())
        screen = sum(
            own["frame_index"].nunique() * sources[clip].seconds_per_frame
            for clip, own in person.faces.groupby("clip")
        )
        made += 1
        print(
            f"{person.name}: {len(person.segments)} segments, {person.seconds:.1f} s reel "
            f"({screen:.1f} s on screen) -> {files[0]}"
        )
    if not made:
        raise BadInput(f"no reel written: no one appears for at least {params.min_length:g} s")


def _pipeline_params(args: argparse.Namespace) -> tuple[ExtractParams, ClusterParams]:
    sampling = SamplingParams(step=args.step) if args.step is not None else SamplingParams()
    if args.fps is not None:
        sampling = SamplingParams(fps=args.fps)
    defaults = ExtractParams()
    extract_params = replace(
        defaults,
        sampling=sampling,
        detect=replace(defaults.detect, detector=args.detector),
        sr=replace(defaults.sr, method=args.sr),
        embed=replace(defaults.embed, embedder=args.embedder),
    )
    extract_params.embed.validate()
    cluster_params = ClusterParams(args.algorithm, args.weight, args.eps, args.min_samples)
    cluster_params.validate()
    return extract_params, cluster_params


def _run(args: argparse.Namespace) -> None:
    extract_params, cluster_params = _pipeline_params(args)
    if args.workers is not None and args.workers < 1:
        raise BadInput(f"--workers must be at least 1, got {args.workers}")
    extraction, labels, clusters = run(
        args.clip, args.out, extract_params, cluster_params, args.workers, _ProgressBar()
    )
    source = "cache" if extraction.cache_hit else "extraction"
    eps = extraction.resolve(cluster_params).eps
    print(
        f"{len(labels)} faces ({source}) described by {extraction.embedder}, {len(clusters)} people, "
        f"{int((labels < 0).sum())} unassigned, eps {eps:.2f} ({extraction.eps_source(cluster_params)}) "
        f"-> {args.out}"
    )
    if not len(labels):
        print("no faces were found in this clip")


def _batch(args: argparse.Namespace) -> None:
    extract_params, cluster_params = _pipeline_params(args)
    results, series = run_batch(
        args.clips, args.out, extract_params, cluster_params, args.jobs, args.ray, _ProgressBar()
    )
    for result in results:
        source = "cache" if result.cache_hit else "extraction"
        print(f"{result.folder}: " + (result.error or f"{len(result.people)} people ({source})"))
    failed = sum(r.error is not None for r in results)
    if args.reels:
        _reels(args.out, args.out / "reels", args)
    print(
        f"{series['identity'].nunique()} series identities across {len(results) - failed} clips"
        + (f", {failed} clip(s) left out" if failed else "")
        + f" -> {args.out}"
    )


def _reel(args: argparse.Namespace) -> None:
    _reels(args.folder, args.out, args, args.person)


def _eval(args: argparse.Namespace) -> None:
    faces = read_table(
        args.faces, ["frame_index", "top", "right", "bottom", "left", "cluster"], "faces table"
    )
    labels = read_table(args.labels, LABEL_COLUMNS, "labels file")
    metrics = evaluate(faces, labels)
    if args.json:
        print(json.dumps(metrics, indent=2))
        return
    for name, value in metrics.items():
        print(f"{name:22s} {value:.3f}" if isinstance(value, float) else f"{name:22s} {value}")


def _models(args: argparse.Namespace) -> None:
    if args.models_command == "fetch":
        print(fetch_model(args.name))
        return
    for name, spec in MODEL_FILES.items():
        path = find_model(name)
        print(f"{name:18s} {str(path) if path else 'missing':60s} {spec.url}")


def _interrupt(signum: int, frame) -> None:
    _STOP.set()
    raise KeyboardInterrupt  # a terminated run cleans up as an interrupted one does


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    _STOP.clear()
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, _interrupt)
    try:
        args = _parser().parse_args(argv)
        logging.getLogger("faceclust").setLevel(logging.INFO if args.verbose else logging.WARNING)
        {"run": _run, "batch": _batch, "reel": _reel, "eval": _eval, "models": _models}[args.command](args)
        return 0
    except BadInput as e:
        print(f"faceclust: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("faceclust: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        log.debug("internal error", exc_info=True)
        print(f"faceclust: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
