"""ONNX scoring graph == PyTorch scores; the Triton repository matches the graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from amlwatch.gan import GANConfig, GANDetector
from amlwatch.gan.export import OUTPUTS, triton_config, write_triton_repository

from ._planted import CATEGORICAL, NUMERIC, planted

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def detector() -> GANDetector:
    frame, _ = planted(2000, anomaly_rate=0.01, seed=11)
    cfg = GANConfig(max_epochs=3, batch_size=256, seed=2, log_scale=True)
    det = GANDetector(columns=NUMERIC, categorical=CATEGORICAL, config=cfg).fit(frame)
    return det.set_weight(0.3)  # a non-default weight must be baked into the graph


@pytest.fixture(scope="module")
def model_dir(detector: GANDetector, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One export for both tests (the exporter takes seconds).
    root = tmp_path_factory.mktemp("model_repository")
    return write_triton_repository(detector, root, name="gan")


def test_onnx_scores_equal_torch_scores_on_10000_rows(
    detector: GANDetector, model_dir: Path
) -> None:
    frame, _ = planted(10_000, anomaly_rate=0.01, seed=12)
    # Edge cases the graph must treat like the detector: a missing value, an
    # unseen category, a value far beyond the clip.
    frame = frame.with_columns(
        frame["f0"].scatter(0, None),
        frame["kind"].scatter(1, "never-seen"),
        frame["f1"].scatter(2, 1e9),
    )
    path = model_dir / "1" / "model.onnx"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert detector.prep_ is not None
    num, cat = detector.prep_.transform(frame)
    score, rec, feat = session.run(list(OUTPUTS), {"numeric": num, "categorical": cat})
    assert score.shape == (10_000,)
    expected = detector.decision_function(frame)
    np.testing.assert_allclose(score, expected, atol=1e-4, rtol=0)
    exp_rec, exp_feat = detector.components(frame)
    np.testing.assert_allclose(rec, exp_rec, atol=1e-4, rtol=0)
    np.testing.assert_allclose(feat, exp_feat, atol=1e-4, rtol=0)
    assert np.isfinite(score).all() and score[2] > np.median(score)


_ONNX_TO_TRITON = {1: "TYPE_FP32", 7: "TYPE_INT64"}


def test_triton_config_parses_and_matches_the_onnx_graph(model_dir: Path) -> None:
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    assert (model_dir / "1" / "model.onnx").is_file()
    config = text_format.Parse(
        (model_dir / "config.pbtxt").read_text(), model_config_pb2.ModelConfig()
    )
    assert config.name == "gan" and config.platform == "onnxruntime_onnx"
    assert config.max_batch_size > 0 and config.HasField("dynamic_batching")

    graph = onnx.load(str(model_dir / "1" / "model.onnx")).graph

    def signature(values):  # name -> (triton type, shape without the batch dimension)
        out = {}
        for v in values:
            t = v.type.tensor_type
            dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
            assert dims[0] == -1, f"{v.name}: the batch dimension must be dynamic"
            out[v.name] = (_ONNX_TO_TRITON[t.elem_type], dims[1:])
        return out

    def declared(entries):
        return {
            e.name: (
                model_config_pb2.DataType.Name(e.data_type),
                list(e.reshape.shape) if e.HasField("reshape") else list(e.dims),
            )
            for e in entries
        }

    assert declared(config.input) == signature(graph.input)
    assert declared(config.output) == signature(graph.output)
    assert set(declared(config.input)) == {"numeric", "categorical"}


def test_a_numeric_only_detector_declares_one_input() -> None:
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    frame, _ = planted(300, anomaly_rate=0.0, seed=13)
    det = GANDetector(columns=NUMERIC[:3], config=GANConfig(max_epochs=1)).fit(frame)
    config = text_format.Parse(triton_config(det, name="n"), model_config_pb2.ModelConfig())
    assert [(i.name, list(i.dims)) for i in config.input] == [("numeric", [3])]
    # The scoring graph then takes one argument (the exported graph's only input).
    assert det.graph_ is not None and det.prep_ is not None
    num, _ = det.prep_.transform(frame)
    score, _, _ = det.graph_(torch.from_numpy(num))
    np.testing.assert_allclose(score.detach().numpy(), det.decision_function(frame), atol=1e-5)
