"""ONNX scoring graph == PyTorch scores; the Triton repository matches the graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from amlwatch.gan import GANConfig, GANDetector
from amlwatch.gan.export import OUTPUTS, triton_config, write_triton_repository
from amlwatch.gan.nets import InputLayer
from amlwatch.gan.prep import residual_reasons

from ._planted import CATEGORICAL, NUMERIC, planted

STREAM_NUMERIC = (*NUMERIC, "sum_1h")
STREAM_CATEGORICAL = (*CATEGORICAL, "hour", "weekday")


def stream_like(n: int, *, seed: int) -> pl.DataFrame:
    """Planted rows plus what the served features look like: hour and weekday as float
    categoricals (Polars casts them to "13.0"), and a window sum that is mostly 0, else
    +-1e-12 rounding residues (sums that cancel), else a real amount."""
    frame, _ = planted(n, anomaly_rate=0.01, seed=seed)
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    sums = np.where(
        u < 0.5,
        0.0,
        np.where(u < 0.95, rng.normal(scale=2e-12, size=n), 10.0 ** rng.uniform(1, 5, n)),
    )
    return frame.with_columns(
        pl.Series("sum_1h", sums),
        pl.Series("hour", rng.integers(0, 24, n).astype(np.float32)),
        pl.Series("weekday", rng.integers(1, 8, n).astype(np.float32)),
    )


ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def detector() -> GANDetector:
    frame = stream_like(2000, seed=11)
    # Residual whitening on, as in the run's configuration: its matmul is in the graph.
    cfg = GANConfig(max_epochs=3, batch_size=256, seed=2, log_scale=True, rec_whiten=True)
    det = GANDetector(columns=STREAM_NUMERIC, categorical=STREAM_CATEGORICAL, config=cfg)
    det.fit(frame)
    return det.set_weight(0.3)  # a non-default weight must be baked into the graph


@pytest.fixture(scope="module")
def model_dir(detector: GANDetector, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One export for both tests (the exporter takes seconds).
    root = tmp_path_factory.mktemp("model_repository")
    return write_triton_repository(detector, root, name="gan")


def test_onnx_scores_equal_torch_scores_on_10000_rows(
    detector: GANDetector, model_dir: Path
) -> None:
    frame = stream_like(10_000, seed=12)
    # Edge cases the graph must treat like the detector: a missing value, an
    # unseen category, a value far beyond the clip, a missing and an unseen hour.
    frame = frame.with_columns(
        frame["f0"].scatter(0, None),
        frame["kind"].scatter(1, "never-seen"),
        frame["f1"].scatter(2, 1e9),
        frame["sum_1h"].scatter(3, None),
        frame["hour"].scatter([4, 5], [None, 24.0]),
    )
    path = model_dir / "1" / "model.onnx"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert detector.prep_ is not None
    num, cat = detector.prep_.transform(frame)
    score, rec, feat, residual = session.run(list(OUTPUTS), {"numeric": num, "categorical": cat})
    assert score.shape == (10_000,)
    expected = detector.decision_function(frame)
    np.testing.assert_allclose(score, expected, atol=1e-4, rtol=0)
    exp_rec, exp_feat = detector.components(frame)
    np.testing.assert_allclose(rec, exp_rec, atol=1e-4, rtol=0)
    np.testing.assert_allclose(feat, exp_feat, atol=1e-4, rtol=0)
    assert np.isfinite(score).all() and score[2] > np.median(score)
    # The residual output gives the detector's own reasons (what a served alert shows).
    assert residual.shape == (10_000, detector.graph_.inputs.dim)
    served = residual_reasons(detector.prep_, residual, 3)
    batch = detector.reasons(frame, top=3)
    same = sum(s == b for s, b in zip(served, batch, strict=True))
    assert same >= 9_990  # float32 ties
    assert served[2] == batch[2]
    # One row at a time, as the service feeds it: the same scores.
    one = [session.run(["score"], {"numeric": num[i : i + 1], "categorical": cat[i : i + 1]})[0][0]
           for i in range(0, 10_000, 97)]  # fmt: skip
    np.testing.assert_allclose(one, expected[::97], atol=1e-4, rtol=0)


def test_the_exported_log_scaling_keeps_tiny_values(tmp_path: Path) -> None:
    # Scale 1e-12: a value of 1e-12 must come out as 1, as torch's log1p gives it;
    # ONNX's Log(1 + a) (what the exporter writes for log1p) gives 0 there.
    layer = InputLayer(
        center=[0.0], scale=[1e-12], vocab_sizes=[], clip=10.0, log_scale=True
    ).eval()
    values = np.array([[0.0], [1e-12], [-2e-12], [3e-8], [0.5], [1e6], [np.nan]], np.float32)
    program = torch.onnx.export(layer, (torch.from_numpy(values),), input_names=["numeric"],
                                dynamo=True, external_data=False, verbose=False)  # fmt: skip
    assert program is not None
    program.save(str(tmp_path / "layer.onnx"))
    session = ort.InferenceSession(str(tmp_path / "layer.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"numeric": values})[0]
    expected = torch.sign(torch.from_numpy(values)) * torch.log1p(torch.from_numpy(values).abs())
    expected = torch.nan_to_num(expected / 1e-12, nan=0.0).clamp(-10, 10).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0)
    np.testing.assert_allclose(layer(torch.from_numpy(values)).numpy(), expected, rtol=1e-6)
    assert got[1, 0] == pytest.approx(1.0, rel=1e-6) and got[2, 0] == pytest.approx(-2.0, rel=1e-6)


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
    assert declared(config.input)["categorical"][1] == [len(STREAM_CATEGORICAL)]


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
    score, *_ = det.graph_(torch.from_numpy(num))
    np.testing.assert_allclose(score.detach().numpy(), det.decision_function(frame), atol=1e-5)
