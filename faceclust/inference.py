"""ONNX networks (YuNet, the ArcFace-style embedders) run by ONNX Runtime.

A network gets as many threads as OpenCV has in the process: one in extraction's workers (one
process per core), all cores elsewhere. On these models ONNX Runtime is 1.7-2.2x faster per
thread than OpenCV's dnn module (``bench/speed.py``); the super-resolution models stay with
``cv2.dnn_superres``. onnxruntime is imported on first use (a quarter of a second).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .errors import BadInput

if TYPE_CHECKING:
    from onnxruntime import InferenceSession


@cache
def network(path: Path) -> InferenceSession:
    """The ONNX model at ``path``, loaded once per process; BadInput where it cannot be loaded."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, cv2.getNumThreads())
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: no warnings about unused initialisers
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:
        if not _from_onnx_runtime(e):
            raise
        raise BadInput(f"model {path} cannot be loaded by ONNX Runtime ({error_line(e)})") from None


def run(
    session: InferenceSession, batch: np.ndarray, outputs: list[str] | None = None
) -> dict[str, np.ndarray]:
    """The ``outputs`` (None: all) of a one-input network for ``batch`` (N, ...) float32 in the
    model's input layout, by output name, each (N, ...) as the model shapes it; BadInput where
    the model refuses the batch (its shape, say)."""
    names = outputs or [output.name for output in session.get_outputs()]
    try:
        values = session.run(names, {session.get_inputs()[0].name: np.ascontiguousarray(batch, np.float32)})
    except Exception as e:
        if not _from_onnx_runtime(e):
            raise
        shape = list(batch.shape)
        raise BadInput(f"the model does not run on input of shape {shape} ({error_line(e)})") from None
    return dict(zip(names, values, strict=True))


def error_line(error: Exception) -> str:
    """The line of an error's message that states the cause: ONNX Runtime's own line where there
    is one (the first), else the last non-empty line (where OpenCV and protobuf put it)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    last = lines[-1] if lines else type(error).__name__
    return next((line for line in lines if "ONNXRuntimeError" in line), last)


def _from_onnx_runtime(error: Exception) -> bool:
    """Whether ``error`` is one of ONNX Runtime's own exception types (Fail, InvalidArgument, ...)."""
    return type(error).__module__.startswith("onnxruntime")
