"""The ``faceclust`` command line: run, batch, reel, people, eval, models, app (exit codes in
``EPILOG``)."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from .batch import ClipPeople, run_batch
from .cache import cache_root
from .cluster import ALGORITHMS, ClusterParams
from .detect import DETECTORS
from .embed import EmbedParams, embedder_title
from .errors import BadInput
from .evaluate import evaluate, read_labels, read_table
from .extract import ExtractParams
from .library import Library, library_path, photo_exemplars, search
from .models import MODEL_FILES, fetch_model, find_model
from .pipeline import entry_labels, run
from .reel import ReelParams, read_people, write_reel
from .superres import SR_METHODS
from .version import __version__
from .video import FRAME_MODES, SamplingParams

log = logging.getLogger("faceclust")

#: Exit statuses.
OK, INTERNAL_ERROR, BAD_INPUT, CLIPS_FAILED, INTERRUPTED = 0, 1, 2, 3, 130
EPILOG = """\
environment:
  FACECLUST_CACHE         extraction cache and kept reels (default ~/.cache/faceclust)
  FACECLUST_CACHE_MAX_GB  the cache's size limit in GB (default 10)
  FACECLUST_MODELS        model folders, os.pathsep-separated; downloads go to the first
                          (default ~/.cache/faceclust/models)
  FACECLUST_SAMPLES       the dashboard's sample clips folder (default samples/)
  FACECLUST_BATCHES       the dashboard's batches folder (default batches/)
  FACECLUST_LIBRARY       the library of known people (default
                          ~/.local/share/faceclust/library.sqlite)

exit status:
  0    done
  1    internal error (-v prints the traceback)
  2    bad input: one line on stderr, nothing written
  3    batch: finished, but some clips could not be used (each is named)
  130  interrupted (Ctrl-C, SIGTERM): nothing half-written is left
"""


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 with one line
        raise BadInput(message)


class _Help(argparse.RawDescriptionHelpFormatter):
    """Help that states every default (where the text does not already) and keeps the epilog's
    layout."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "default" in text
            or action.default in (None, False, argparse.SUPPRESS)
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


#: Set by Ctrl-C or SIGTERM. The KeyboardInterrupt raised then can be lost where the signal lands
#: inside a ``__del__`` or a callback (Python reports such exceptions as "ignored"), so every
#: progress report raises it again until the run has stopped.
_STOP = threading.Event()

#: The unit of each progress stage, by the stage's first word.
UNITS = {
    "hash": "B",
    "download": "B",
    "extract": "frames",
    "batch": "clips",
    "reel": "segments",
    "photos": "photos",
}
#: Seconds between progress lines when stderr is not a terminal (a log file, a CI job).
PLAIN_EVERY_S = 10.0


class _Progress:
    """Draws ``progress(stage, done, total)``: a tqdm bar per stage on a terminal, else a plain
    line on stderr when a stage starts, every ``PLAIN_EVERY_S`` seconds and when it ends;
    nothing when quiet."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.bars: dict = {}
        self.started: dict[str, float] = {}
        self.last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if _STOP.is_set():
            raise KeyboardInterrupt
        if self.quiet:
            return
        unit = UNITS.get(stage.split()[0], "")
        if self.tty:
            self._bar(stage, done, total, unit)
        else:
            self._line(stage, done, total, unit)

    def _bar(self, stage: str, done: int, total: int, unit: str) -> None:
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(
                desc=stage, total=total or None, unit=unit or "it", unit_scale=unit == "B", file=sys.stderr
            )
        bar.total = total or None
        bar.update(done - bar.n)
        if total and done >= total:
            bar.close()

    def _line(self, stage: str, done: int, total: int, unit: str) -> None:
        now = time.perf_counter()
        starting = stage not in self.started
        started = self.started.setdefault(stage, now)
        ending = bool(total) and done >= total
        if not (starting or ending) and now - self.last < PLAIN_EVERY_S:
            return
        self.last = now
        if unit == "B":
            amount = f"{done / 1e6:.0f}/{total / 1e6:.0f} MB"
        else:
            amount = f"{done}/{total} {unit}" if total else f"{done} {unit}"
        left = f", {(now - started) / done * (total - done):.0f} s left" if 0 < done < total else ""
        print(f"{stage}: {amount}{left}", file=sys.stderr, flush=True)

    def write(self, line: str) -> None:
        """Print a result line on stdout without breaking a bar."""
        if self.tty and not self.quiet:
            from tqdm import tqdm

            tqdm.write(line, file=sys.stdout)
        else:
            print(line, flush=True)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def _parser() -> argparse.ArgumentParser:
    # -v and -q before or after the subcommand: not given there, they keep the main parser's value.
    loudness = argparse.ArgumentParser(add_help=False)
    loudness.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log more; tracebacks"
    )
    loudness.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress, only results"
    )
    main = _ArgumentParser(
        prog="faceclust",
        description="Who appears in this clip, and when?",
        parents=[loudness],
        formatter_class=_Help,
        epilog=EPILOG,
    )
    main.add_argument("--version", action="version", version=f"faceclust {__version__}")
    commands = main.add_subparsers(dest="command", required=True, parser_class=_ArgumentParser)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, parents=[loudness], formatter_class=_Help, epilog=EPILOG)

    run_ = command("run", "find and cluster the people of a clip")
    run_.add_argument("clip", type=Path, help="a video file")
    run_.add_argument("--out", type=Path, required=True, help="output folder")
    _pipeline_options(run_)

    batch = command("batch", "find the people of many clips (episodes) and link them across clips")
    batch.add_argument("clips", nargs="+", type=Path, metavar="CLIP", help="clips, or folders of clips")
    batch.add_argument("--out", type=Path, required=True, help="output folder")
    _pipeline_options(batch)
    batch.add_argument(
        "--ray", metavar="ADDRESS", help="run the clips on a Ray cluster: its address, auto, or local"
    )
    batch.add_argument(
        "--reels", action="store_true", help="also write each series identity's reel into OUT/reels"
    )
    _reel_options(batch)

    reel = command(
        "reel",
        "cut a run's people (or a batch's series identities) out of the clip: mp4, 9:16 mp4, "
        "timelines (OTIO, EDL, FCP XML), CSV",
    )
    reel.add_argument("folder", type=Path, metavar="RUN_DIR", help="a finished run (or batch) folder")
    reel.add_argument("--out", type=Path, required=True, help="output folder")
    reel.add_argument(
        "--person", action="append", metavar="NAME", help="only this person (repeat for more; default all)"
    )
    reel.add_argument("--clip", type=Path, help="where the run's clip is now, if it has moved")
    _reel_options(reel)

    _people_commands(
        command("people", "the library of known people: add, list, rename, remove, search"), loudness
    )

    eval_ = command("eval", "score a run's faces.csv against a labels file")
    eval_.add_argument("--faces", type=Path, required=True)
    eval_.add_argument("--labels", type=Path, required=True)
    eval_.add_argument(
        "--within",
        type=int,
        default=0,
        metavar="N",
        help="match each label in the sampled frame nearest to its own, at most N frames away "
        "(for a run with --frames cheap: half its step)",
    )
    eval_.add_argument("--json", action="store_true", help="print JSON")

    models = command("models", "list or fetch model files")
    model_commands = models.add_subparsers(dest="models_command", required=True, parser_class=_ArgumentParser)
    model_commands.add_parser("list", help="known models and where they are", parents=[loudness])
    fetch = model_commands.add_parser(
        "fetch", help="download and verify a model", parents=[loudness], formatter_class=_Help
    )
    fetch.add_argument("name", choices=list(MODEL_FILES), help="one of: " + ", ".join(MODEL_FILES))

    command("app", "start the dashboard; other options go to Streamlit (e.g. --server.port 8502)")
    return main


def _pipeline_options(command: argparse.ArgumentParser) -> None:
    """The sampling, detection, clustering and worker options of ``run`` and ``batch``."""
    defaults = ExtractParams()
    sampling = command.add_mutually_exclusive_group()
    sampling.add_argument("--step", type=int, help=f"every Nth frame (default {defaults.sampling.step})")
    sampling.add_argument("--fps", type=float, help="about F frames per second")
    command.add_argument(
        "--frames",
        default=defaults.sampling.frames,
        choices=FRAME_MODES,
        help="exact: every Nth decoded frame; cheap: the frame nearest each step's time among "
        "those cheap to decode (no B-frames), far less decoding on broadcast H.264/HEVC",
    )
    command.add_argument(
        "--sr",
        default=defaults.sr.method,
        choices=["auto", *SR_METHODS],
        metavar="NAME",
        help="super-resolution for small faces, one of: " + ", ".join(["auto", *SR_METHODS]),
    )
    command.add_argument(
        "--detector", default=defaults.detect.detector, choices=["auto", *DETECTORS], help="face detector"
    )
    command.add_argument(
        "--embedder",
        default=defaults.embed.embedder,
        metavar="NAME",
        help="face embedder: auto (sface where its model is present or can be downloaded, else "
        "dlib), dlib, sface, or onnx:PATH for an ArcFace-style ONNX model",
    )
    cluster = ClusterParams()
    command.add_argument("--weight", type=float, default=cluster.weight, help="clothing weight 0..1")
    command.add_argument(
        "--eps", type=float, default=None, help="neighbour distance (default: calibrated on each clip)"
    )
    command.add_argument(
        "--min-samples", type=int, default=cluster.min_samples, help="smaller groups are unassigned"
    )
    command.add_argument(
        "--algorithm", default=cluster.algorithm, choices=list(ALGORITHMS), help="clustering algorithm"
    )
    command.add_argument(
        "--workers", "--jobs", type=int, default=None, help="processes in all (default: all cores)"
    )
    command.add_argument("--json", action="store_true", help="print a JSON summary instead of lines")
    known = command.add_mutually_exclusive_group()
    known.add_argument(
        "--library",
        type=Path,
        help="name people after this library (default: FACECLUST_LIBRARY or the user's, where it exists)",
    )
    known.add_argument("--no-library", action="store_true", help="name no one after the library")


def _people_commands(people: argparse.ArgumentParser, loudness: argparse.ArgumentParser) -> None:
    people.add_argument(
        "--library", type=Path, help="the library file (default: FACECLUST_LIBRARY or the user's)"
    )
    commands = people.add_subparsers(dest="people_command", required=True, parser_class=_ArgumentParser)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, parents=[loudness], formatter_class=_Help)

    add = command("add", "add a person (or more faces of one) from photos: the largest face of each")
    add.add_argument("name")
    add.add_argument("photos", nargs="+", type=Path, metavar="PHOTO_OR_FOLDER")
    add.add_argument("--notes", help="notes about the person")
    add.add_argument(
        "--embedder",
        action="append",
        metavar="NAME",
        help="describe the faces with this embedder (repeat for more; default: auto); others "
        "describe them when a clip of theirs is named",
    )
    listing = command("list", "the people of the library")
    listing.add_argument("--json", action="store_true", help="print JSON")
    rename = command("rename", "rename a person")
    rename.add_argument("name")
    rename.add_argument("new_name")
    remove = command("remove", "delete a person with their faces and embeddings")
    remove.add_argument("name")
    search = command("search", "the clips where a face appears: a photo, or a library person")
    search.add_argument("photo", type=Path, nargs="?", metavar="PHOTO")
    search.add_argument("--person", metavar="NAME", help="search for this library person instead of a photo")
    search.add_argument(
        "--in",
        dest="places",
        type=Path,
        action="append",
        metavar="CACHE_OR_BATCH",
        help="an extraction cache, run folder or batch folder (repeat; default: the cache)",
    )
    search.add_argument("--json", action="store_true", help="print JSON")
    export = command("export", "write the library's people into one file, for another machine")
    export.add_argument("file", type=Path)
    import_ = command("import", "add the people of an exported library file")
    import_.add_argument("file", type=Path)


def _reel_options(command: argparse.ArgumentParser) -> None:
    defaults = ReelParams()
    command.add_argument("--vertical", action="store_true", help="also a 9:16 reel that follows the face")
    command.add_argument("--gap", type=float, default=defaults.gap, help="join appearances this close (s)")
    command.add_argument("--pad", type=float, default=defaults.pad, help="seconds added around each segment")
    command.add_argument(
        "--min-length", type=float, default=defaults.min_length, help="drop appearances shorter than this (s)"
    )


def _reels(
    folder: Path,
    out: Path,
    args: argparse.Namespace,
    progress: _Progress,
    only: list[str] | None = None,
    say: Callable[[str], None] | None = None,
) -> list[dict]:
    """Write the reels of a run or batch folder, ``say`` (default: print) what each became;
    returns one dict each."""
    say = say or progress.write
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
    made = []
    for person in people:
        if person.segments.empty:
            say(f"{person.name}: no appearance of at least {params.min_length:g} s; no reel")
            continue
        files = write_reel(person, sources, out, args.vertical, progress)
        # As written: a segment that ran into the next shot ends at the cut.
        with open(files[-1], newline="") as table:
            cuts = list(csv.DictReader(table))
        seconds = sum(float(cut["end"]) - float(cut["start"]) for cut in cuts)
        screen = sum(
            own["frame_index"].nunique() * sources[clip].seconds_per_frame
            for clip, own in person.faces.groupby("clip")
        )
        made.append(
            {"person": person.name, "segments": len(cuts), "reel_s": round(seconds, 3)}
            | {"screen_s": round(screen, 3), "files": [str(f) for f in files]}
        )
        said = f"{len(cuts)} segments, {seconds:.1f} s reel ({screen:.1f} s on screen)"
        say(f"{person.name}: {said} -> {files[0]}")
    if not made:
        raise BadInput(f"no reel written: no one appears for at least {params.min_length:g} s")
    return made


def _pipeline_params(args: argparse.Namespace) -> tuple[ExtractParams, ClusterParams]:
    sampling = SamplingParams(frames=args.frames)
    if args.step is not None:
        sampling = replace(sampling, step=args.step)
    if args.fps is not None:
        sampling = replace(sampling, fps=args.fps)
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
    if args.workers is not None and args.workers < 1:
        raise BadInput(f"--workers must be at least 1, got {args.workers}")
    return extract_params, cluster_params


def _run(args: argparse.Namespace, progress: _Progress) -> int:
    extract_params, cluster_params = _pipeline_params(args)
    library = _run_library(args)
    extraction, labels, clusters = run(
        args.clip, args.out, extract_params, cluster_params, args.workers, progress, library
    )
    eps = extraction.resolve(cluster_params).eps
    summary = {
        "clip": str(args.clip),
        "out": str(args.out),
        "faces": len(labels),
        "people": len(clusters),
        "unassigned": int((labels < 0).sum()),
        "embedder": extraction.embedder,
        "eps": eps,
        "eps_from": extraction.eps_source(cluster_params),
        "evidence_note": extraction.evidence_note,
        "cache_hit": extraction.cache_hit,
        "clusters": clusters.to_dict("records"),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return OK
    source = "cache" if extraction.cache_hit else "extraction"
    progress.write(
        f"{len(labels)} faces ({source}) described by {embedder_title(extraction.embedder)}, "
        f"{len(clusters)} people, "
        f"{summary['unassigned']} unassigned, eps {eps:.2f} ({summary['eps_from']}) -> {args.out}"
    )
    if extraction.evidence_note:
        progress.write(extraction.evidence_note)
    if library is not None:
        named = clusters.dropna(subset="library_name")
        progress.write(
            f"named after the library: {len(named)} of {len(clusters)}"
            + "".join(
                f"; {r.name} is {r.library_name} ({r.library_distance:.2f})" for r in named.itertuples()
            )
        )
    return OK


def _run_library(args: argparse.Namespace) -> Path | None:
    """The library that names ``run``'s or ``batch``'s people: ``--library`` (which must
    exist), none with ``--no-library``, else the user's where it exists."""
    if args.no_library:
        return None
    if args.library is not None:
        if not args.library.is_file():
            raise BadInput(f"no library at {args.library} (make one with 'faceclust people add')")
        return args.library
    path = library_path()
    return path if path.is_file() else None


def _clip_line(result: ClipPeople) -> str:
    source = "cache" if result.cache_hit else "extraction"
    return f"{result.folder}: " + (result.error or f"{len(result.people)} people ({source})")


def _batch(args: argparse.Namespace, progress: _Progress) -> int:
    extract_params, cluster_params = _pipeline_params(args)
    on_clip = None if args.json else lambda result: progress.write(_clip_line(result))
    results, series = run_batch(
        args.clips,
        args.out,
        extract_params,
        cluster_params,
        args.workers,
        args.ray,
        progress,
        on_clip,
        _run_library(args),
    )
    failed = [r for r in results if r.error is not None]
    say = (lambda line: None) if args.json else None
    reels = _reels(args.out, args.out / "reels", args, progress, say=say) if args.reels else []
    identities = int(series["identity"].nunique())
    if args.json:
        clips = [
            {"clip": r.clip, "folder": r.folder, "people": len(r.people), "cache_hit": r.cache_hit}
            | {"error": r.error}
            for r in results
        ]
        print(
            json.dumps(
                {"out": str(args.out), "identities": identities, "clips": clips, "reels": reels}, indent=2
            )
        )
    else:
        progress.write(
            f"{identities} series identities across {len(results) - len(failed)} clips"
            + (f", {len(failed)} clip(s) left out" if failed else "")
            + f" -> {args.out}"
        )
    return CLIPS_FAILED if failed else OK


def _reel(args: argparse.Namespace, progress: _Progress) -> int:
    _reels(args.folder, args.out, args, progress, args.person)
    return OK


def _eval(args: argparse.Namespace, progress: _Progress) -> int:
    faces = read_table(
        args.faces, ["frame_index", "top", "right", "bottom", "left", "cluster"], "faces table"
    )
    labels = read_labels(args.labels)
    if args.within < 0:
        raise BadInput(f"--within must be at least 0, got {args.within}")
    metrics = evaluate(faces, labels, args.within)
    if args.json:
        print(json.dumps(metrics, indent=2))
        return OK
    for name, value in metrics.items():
        print(f"{name:22s} {value:.3f}" if isinstance(value, float) else f"{name:22s} {value}")
    return OK


def _people(args: argparse.Namespace, progress: _Progress) -> int:
    with Library(args.library) as library:
        command = args.people_command
        if command == "add":
            embeds = [EmbedParams(name).resolved() for name in args.embedder or ["auto"]]
            exemplars, problems = photo_exemplars(args.photos, embeds, progress)
            for line in problems:
                log.warning("%s", line)
            if not exemplars:
                raise BadInput(f"no face found in the photos of {args.name}; nothing added")
            total = library.add(args.name, exemplars, args.notes)
            progress.write(f"{args.name}: {len(exemplars)} faces added, {total} in all -> {library.path}")
        elif command == "list":
            people = library.people()
            if args.json:
                print(people.to_json(orient="records", indent=2))
            else:
                for row in people.itertuples():
                    notes = f" · {row.notes}" if row.notes else ""
                    print(f"{row.name}: {row.faces} faces ({row.embedders or 'no embeddings'}){notes}")
        elif command == "rename":
            library.rename(args.name, args.new_name)
            progress.write(f"{args.name} is now {args.new_name}")
        elif command == "remove":
            library.remove(args.name)
            progress.write(f"{args.name} removed, with their faces and embeddings")
        elif command == "export":
            library.export(args.file)
            progress.write(f"{len(library.people())} people -> {args.file}")
        elif command == "import":
            added = library.import_(args.file)
            progress.write(f"{added} faces added from {args.file}; {len(library.people())} people in all")
        else:
            return _search(args, library, progress)
    return OK


def _search(args: argparse.Namespace, library: Library, progress: _Progress) -> int:
    if (args.photo is None) == (args.person is None):
        raise BadInput("search for a PHOTO or a --person, one of them")
    found = search.places(args.places or [cache_root()])
    for line in search.refresh(library, found, entry_labels):
        log.warning("%s", line)
    embeds = search.indexed_embedders(library, found)
    if not embeds:
        raise BadInput("no clips to search in: " + ", ".join(map(str, args.places or [cache_root()])))
    queries, _ = search.query_vectors(library, embeds, args.photo, args.person)
    results = search.search(library, queries, found)
    if args.json:
        print(results.to_json(orient="records", indent=2))
        return OK
    for row in results.itertuples():
        known = f" ({row.known_as})" if row.known_as else ""
        print(
            f"{row.clip}: {row.person}{known}, {row.match} at {row.distance:.2f} "
            f"({row.embedder}; {row.settings}), {row.appearances} [{row.place}]"
        )
    if results.empty:
        print(f"not found in {len({p.source for p in found})} clips")
    return OK


def _models(args: argparse.Namespace, progress: _Progress) -> int:
    if args.models_command == "fetch":
        print(fetch_model(args.name, progress))
        return OK
    for name, spec in MODEL_FILES.items():
        path = find_model(name)
        print(f"{name:18s} {str(path) if path else 'missing':60s} {spec.url}")
    return OK


def _app(options: list[str]) -> None:
    """Replace this process with the dashboard's Streamlit server."""
    from . import dashboard

    command = dashboard.command(options)
    os.execv(command[0], command)


def _interrupt(signum: int, frame) -> None:
    _STOP.set()
    raise KeyboardInterrupt  # a terminated run cleans up as an interrupted one does


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    _STOP.clear()
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, _interrupt)
    verbose = False
    progress = None
    try:
        args, extra = _parser().parse_known_args(argv)
        verbose, quiet = getattr(args, "verbose", False), getattr(args, "quiet", False)
        if args.command == "app":
            _app(extra)
        if extra:
            raise BadInput(f"unrecognized arguments: {' '.join(extra)}")
        logging.getLogger("faceclust").setLevel(
            logging.INFO if verbose else logging.ERROR if quiet else logging.WARNING
        )
        progress = _Progress(quiet)
        commands = {"run": _run, "batch": _batch, "reel": _reel, "people": _people}
        commands |= {"eval": _eval, "models": _models}
        return commands[args.command](args, progress)
    except BadInput as e:
        print(f"faceclust: error: {e}", file=sys.stderr)
        return BAD_INPUT
    except KeyboardInterrupt:
        print("faceclust: interrupted", file=sys.stderr)
        return INTERRUPTED
    except Exception as e:
        if verbose:
            traceback.print_exc()
        print(f"faceclust: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return INTERNAL_ERROR
    finally:
        if progress is not None:
            progress.close()


if __name__ == "__main__":
    sys.exit(main())
