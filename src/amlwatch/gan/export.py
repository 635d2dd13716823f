"""One ONNX scoring graph (scaling -> E -> G -> D features -> score) and a Triton model repository.

The graph takes raw feature values, so any ONNX runtime scores a transaction
from the same numbers the detector reads: input ``numeric`` (float32,
[batch, n_numeric], NaN = missing) and, when the detector has categorical
columns, ``categorical`` (int64, [batch, n_categorical], the indices of
`Preprocessor.vocab`, 0 = unseen). Outputs, float32: ``score``,
``reconstruction`` and ``feature_distance`` [batch], and ``residual`` [batch, the
network's input width]: |x - G(E(x))| / res_scale per input column, which
`amlwatch.gan.prep.residual_reasons` turns into an alert's reasons. Needs the
`gan` extra (onnx, onnxscript).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import torch

from amlwatch.gan.detector import GANDetector
from amlwatch.gan.nets import ScoringGraph

__all__ = ["OUTPUTS", "export_onnx", "triton_config", "write_triton_repository"]

OUTPUTS = ("score", "reconstruction", "feature_distance", "residual")
# Triton's dynamic batcher groups single requests up to this many rows.
MAX_BATCH = 4096


def _frozen(graph: ScoringGraph) -> ScoringGraph:
    """An eval-mode copy: spectral norm divides by the stored sigma (no power iteration).

    Not `remove_parametrizations`: it deletes the weight property from the
    parametrized class, which a deep copy shares with the original module.
    """
    return copy.deepcopy(graph).eval()


def _input_names(det: GANDetector) -> list[str]:
    return ["numeric", "categorical"] if det.categorical else ["numeric"]


def export_onnx(det: GANDetector, path: str | os.PathLike[str], *, opset: int = 18) -> Path:
    """Write the detector's scoring path as one ONNX graph (atomic: temp file + rename)."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise ImportError("ONNX export needs the gan extra: pip install -e '.[gan]'") from err
    graph = det.graph_
    if graph is None:
        raise ValueError("export_onnx: the detector is not fitted")
    frozen = _frozen(graph).cpu()
    n = 3  # example batch; the batch dimension is exported as dynamic
    args: tuple[torch.Tensor, ...] = (torch.zeros(n, len(det.columns)),)
    if det.categorical:
        args = (*args, torch.zeros(n, len(det.categorical), dtype=torch.int64))
    # Dim.DYNAMIC, not one named Dim shared by both inputs: the exporter warns about a shared name.
    shapes = tuple({0: torch.export.Dim.DYNAMIC} for _ in args)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    program = torch.onnx.export(
        frozen,
        args,
        input_names=_input_names(det),
        output_names=list(OUTPUTS),
        dynamic_shapes=shapes,
        opset_version=opset,
        dynamo=True,
        external_data=False,
        verbose=False,
    )
    assert program is not None
    program.save(str(tmp))
    os.replace(tmp, out)
    return out


def triton_config(det: GANDetector, *, name: str) -> str:
    """`config.pbtxt` text for Triton's ONNX Runtime backend, with dynamic batching."""
    inputs = [("numeric", "TYPE_FP32", len(det.columns))]
    if det.categorical:
        inputs.append(("categorical", "TYPE_INT64", len(det.categorical)))
    lines = [
        f'name: "{name}"',
        'platform: "onnxruntime_onnx"',
        f"max_batch_size: {MAX_BATCH}",
    ]
    for iname, dtype, width in inputs:
        lines.append(f'input {{ name: "{iname}" data_type: {dtype} dims: [ {width} ] }}')
    # The scores are [batch] in the graph: Triton wants dims [1] reshaped to [].
    for oname in OUTPUTS[:-1]:
        lines.append(
            f'output {{ name: "{oname}" data_type: TYPE_FP32 dims: [ 1 ] reshape: {{ shape: [ ] }} }}'
        )
    width = det.graph_.inputs.dim if det.graph_ is not None else 0
    lines.append(f'output {{ name: "residual" data_type: TYPE_FP32 dims: [ {width} ] }}')
    lines.append("dynamic_batching { }")
    lines.append("instance_group { count: 1 kind: KIND_CPU }")
    return "\n".join(lines) + "\n"


def write_triton_repository(
    det: GANDetector, root: str | os.PathLike[str], *, name: str = "amlwatch_gan", version: int = 1
) -> Path:
    """``root/<name>/config.pbtxt`` + ``root/<name>/<version>/model.onnx``; returns the model dir."""
    model_dir = Path(root) / name
    export_onnx(det, model_dir / str(version) / "model.onnx")
    tmp = model_dir / f".config.pbtxt.tmp{os.getpid()}"
    tmp.write_text(triton_config(det, name=name))
    os.replace(tmp, model_dir / "config.pbtxt")
    return model_dir
