"""faceclust: who appears in this video clip, and when?

The public API (what the dashboard and other programs use): ``extract`` a clip's faces (cached),
``cluster`` them into people, ``run`` both and export, ``evaluate`` against labels; a user's
``Edits``; per-person summaries, zips and reels; 2-D projections for looking at clusters.
Parameters are frozen dataclasses, one per stage.
"""

from .cache import cache_root
from .cluster import ALGORITHMS, ClusterParams
from .detect import DETECTORS, DetectParams
from .edits import EDITS_FILE, Edits, dump_edits, load_edits
from .embed import EmbedParams, embedder_title, thresholds
from .errors import BadInput
from .evaluate import evaluate, read_labels
from .export import cluster_summary, safe_name, write_zip
from .extract import ExtractParams
from .features import FeatureParams
from .pipeline import Extraction, cluster, entry_labels, extract, kept_extraction, run
from .project import EXACT_BELOW, fused_vectors, project, warm_up_projection
from .reel import Person, ReelParams, Source, cached_reel, person, preview
from .superres import SR_METHODS, SRParams
from .table import FaceTable
from .track import TrackParams
from .version import __version__
from .video import CLIP_TYPES, FRAME_MODES, SamplingParams

__all__ = [
    "ALGORITHMS",
    "CLIP_TYPES",
    "DETECTORS",
    "EDITS_FILE",
    "EXACT_BELOW",
    "FRAME_MODES",
    "SR_METHODS",
    "BadInput",
    "ClusterParams",
    "DetectParams",
    "Edits",
    "EmbedParams",
    "ExtractParams",
    "Extraction",
    "FaceTable",
    "FeatureParams",
    "Person",
    "ReelParams",
    "SRParams",
    "SamplingParams",
    "Source",
    "TrackParams",
    "__version__",
    "cache_root",
    "cached_reel",
    "cluster",
    "cluster_summary",
    "dump_edits",
    "embedder_title",
    "entry_labels",
    "evaluate",
    "extract",
    "fused_vectors",
    "kept_extraction",
    "load_edits",
    "person",
    "preview",
    "project",
    "read_labels",
    "run",
    "safe_name",
    "thresholds",
    "warm_up_projection",
    "write_zip",
]
