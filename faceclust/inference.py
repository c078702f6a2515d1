"""ONNX networks (YuNet, the ArcFace-style embedders) run by ONNX Runtime on one thread.

faceclust runs one worker process per core, so a network gets one thread. On these models ONNX
Runtime is 1.6-2.3x faster per thread than OpenCV's dnn module (``bench/speed.py``); the
super-resolution models stay with ``cv2.dnn_superres``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .errors import BadInput


@cache
def network(path: Path) -> ort.InferenceSession:
    """The ONNX model at ``path``, loaded once per process; BadInput where it cannot be loaded."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: no warnings about unused initialisers
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # ONNX Runtime raises its own exception types, one per failure kind
        raise BadInput(f"model {path} cannot be loaded by ONNX Runtime ({first_line(e)})") from None


def run(session: ort.InferenceSession, batch: np.ndarray) -> dict[str, np.ndarray]:
    """The outputs of a one-input network for ``batch`` (float32), by output name."""
    names = [output.name for output in session.get_outputs()]
    values = session.run(names, {session.get_inputs()[0].name: np.ascontiguousarray(batch, np.float32)})
    return dict(zip(names, values, strict=True))


def first_line(error: Exception) -> str:
    """The last non-empty line of an error's message (where the libraries put the cause)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__
