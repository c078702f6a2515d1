"""faceclust: who appears in this video clip, and when?

The public API: ``extract`` a clip's faces (cached), ``cluster`` them into people, ``run`` both
and export, ``evaluate`` against labels. Parameters are frozen dataclasses, one per stage.
"""

__version__ = "0.1.0"

from .cluster import ALGORITHMS, ClusterParams
from .detect import DETECTORS, DetectParams
from .embed import EmbedParams
from .errors import BadInput
from .evaluate import evaluate
from .extract import ExtractParams
from .features import FeatureParams
from .pipeline import Extraction, cluster, extract, run
from .superres import SR_METHODS, SRParams
from .table import FaceTable
from .track import TrackParams
from .video import SamplingParams

__all__ = [
    "ALGORITHMS",
    "DETECTORS",
    "SR_METHODS",
    "BadInput",
    "ClusterParams",
    "DetectParams",
    "EmbedParams",
    "ExtractParams",
    "Extraction",
    "FaceTable",
    "FeatureParams",
    "SRParams",
    "SamplingParams",
    "TrackParams",
    "cluster",
    "evaluate",
    "extract",
    "run",
]
