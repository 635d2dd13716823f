"""One contract test every detector passes, plus each detector's known answers."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from amlwatch.detectors import DETECTORS, NotFittedError, make_detector
from amlwatch.detectors.rules import RulesDetector, load_rules
from amlwatch.evaluate import temporal_split

FAST = {"rules": {}, "iforest": {"n_estimators": 30}, "xgboost": {"rounds": 20}}


@pytest.mark.parametrize("kind", sorted(DETECTORS))
def test_contract(kind: str, small_features: pl.DataFrame) -> None:
    detector = make_detector(kind, FAST.get(kind, {}), seed=1)
    split = temporal_split(small_features.height)
    train, test = small_features[split.train], small_features[split.test]
    y = small_features.get_column("is_laundering").to_numpy()[split.train]
    with pytest.raises(NotFittedError):
        detector.decision_function(test)
    assert detector.fit(train, y) is detector
    assert detector.decision_scores_ is not None and detector.decision_scores_.shape == (
        train.height,
    )
    assert detector.threshold_ is not None and np.isfinite(detector.threshold_)
    scores = detector.decision_function(test)
    assert scores.dtype == np.float64 and scores.shape == (test.height,)
    np.testing.assert_array_equal(detector.predict(test), scores > detector.threshold_)
    detector.set_threshold(float(np.median(scores)))
    np.testing.assert_array_equal(detector.predict(test), scores > np.median(scores))
    reasons = detector.reasons(test.head(5), top=2)
    assert len(reasons) == 5 and all(len(r) <= 2 for r in reasons)
    assert detector.reasons(test.head(0)) == []  # a period without alerts has no reasons
    # Same seed, same data -> same scores.
    again = make_detector(kind, FAST.get(kind, {}), seed=1)
    np.testing.assert_array_equal(again.fit(train, y).decision_function(test), scores)


_THREADS_SCRIPT = """
import json, sys
import numpy as np
from amlwatch.detectors import make_detector
from amlwatch.detectors.threads import thread_budget
from amlwatch.evaluate import temporal_split
from amlwatch.features import build_features
from amlwatch.synth import SynthConfig, generate, to_ledger

cfg = SynthConfig(n_transactions=8_000, days=60, laundering_rate=0.01, n_banks=8, seed=3)
frame = build_features(to_ledger(generate(cfg)))
split = temporal_split(frame.height)
train, test = frame[split.train], frame[split.test]
y = frame.get_column("is_laundering").to_numpy()[split.train]
same = {}
for kind, params in [("iforest", {"n_estimators": 30}), ("xgboost", {"rounds": 20}),
                     ("xgboost_propagated", {"rounds": 20})]:
    scores = []
    for threads in (1, 2):
        with thread_budget(threads):
            scores.append(make_detector(kind, params, seed=1).fit(train, y).decision_function(test))
    same[kind] = bool(np.array_equal(scores[0], scores[1]))
json.dump(same, sys.stdout)
"""


def test_scores_do_not_depend_on_the_thread_count() -> None:
    """Why a run may give the detectors every core: 1 and 2 threads score alike, bit for bit.

    In a process whose OpenMP pool has 2 threads (this one's has 1, and XGBoost's pool
    never grows past the OMP_NUM_THREADS it started with).
    """
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    done = subprocess.run(
        [sys.executable, "-c", _THREADS_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == {"iforest": True, "xgboost": True, "xgboost_propagated": True}


def test_thread_budget_is_scoped_and_checked() -> None:
    from amlwatch.detectors.threads import detector_threads, thread_budget

    outside = detector_threads()
    with thread_budget(3):
        assert detector_threads() == 3
        assert make_detector("xgboost", {"rounds": 1}).params["nthread"] == 3
        assert make_detector("iforest").n_jobs == 3
        assert make_detector("xgboost", {"params": {"nthread": 1}}).params["nthread"] == 1
    assert detector_threads() == outside >= 1
    with pytest.raises(ValueError, match="threads must be >= 0"), thread_budget(-1):
        pass


def test_supervised_detector_needs_labels(small_features: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="supervised"):
        make_detector("xgboost", {"rounds": 2}).fit(small_features)


def _planted(n: int, seed: int) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 2] > 2.0).astype(np.int8)  # the signal lives in column c only
    return pl.DataFrame(x, schema=["a", "b", "c", "d"]), y


def test_xgboost_finds_the_planted_column_and_names_it() -> None:
    frame, y = _planted(4000, 0)
    det = make_detector("xgboost", {"columns": ["a", "b", "c", "d"], "rounds": 30}).fit(frame, y)
    test, y_test = _planted(2000, 1)
    scores = det.decision_function(test)
    assert scores[y_test == 1].min() > np.quantile(scores[y_test == 0], 0.99)
    top = det.reasons(test.filter(pl.Series(y_test == 1)), top=1)
    assert all(r and r[0].startswith("c ") for r in top)


def test_isolation_forest_ranks_planted_outliers_first() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 3)).astype(np.float32)
    x[:10, 1] = 1e4 + np.arange(10)  # ten transactions far out on one feature
    frame = pl.DataFrame(x, schema=["a", "b", "c"])
    det = make_detector("iforest", {"columns": ["a", "b", "c"], "n_estimators": 50}).fit(frame)
    top = np.argsort(-det.decision_function(frame))[:15]
    assert len(set(top.tolist()) & set(range(10))) >= 9
    assert all(r[0].startswith("b ") for r in det.reasons(frame.head(10), top=1))


def _rule_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "src_out_n_1d": [11.0, 11.0, 10.0, 0.0, 0.0],
            "amount_paid": [6000.0, 4000.0, 9000.0, 1500.0, 900.0],
            "src_country": ["US", "US", "US", "KY", "US"],
            "dst_country": ["US", "US", "US", "US", "PA"],
        }
    )


def test_seed_rules_known_hits() -> None:
    det = RulesDetector().fit(_rule_frame())
    assert det.hit_counts(_rule_frame()) == {"many_transfers_large_amount": 1, "listed_country": 1}
    assert det.predict(_rule_frame()).tolist() == [True, False, False, True, False]
    assert det.reasons(_rule_frame())[3] == ["listed_country"]


def test_rules_from_toml_with_or_and_negation(tmp_path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        'listed_countries = ["US"]\n[[rule]]\nname = "x"\nwhen = "amount >= 9000 || !country_listed && amount < 1000"\n'
    )
    det = RulesDetector(path=path).fit(_rule_frame())
    assert det.hits(_rule_frame()).get_column("x").to_list() == [False, False, True, False, False]


@pytest.mark.parametrize(
    "text", ['[[rule]]\nname = "x"\nwhen = "amount >>> 3"\n', "listed_countries = []\n"]
)
def test_bad_rules_file_is_a_clear_error(tmp_path, text: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"rules\.toml"):
        load_rules(path)


def test_unknown_detector_kind() -> None:
    with pytest.raises(ValueError, match="unknown detector kind"):
        make_detector("nope")


def test_unknown_detector_parameter_is_an_error_not_a_default() -> None:
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['window'\]"):
        make_detector("xgboost_propagated", {"window": 3.0})
    assert make_detector("xgboost_propagated", {"window_days": 3.0}).window_days == 3.0


def test_config_lists_every_detector_problem(tmp_path) -> None:
    from amlwatch.config import load_config

    path = tmp_path / "run.toml"
    path.write_text(
        '[[detector]]\nname = "a"\nkind = "xgboost"\nparams = {round = 5}\n'
        '[[detector]]\nname = "b"\nkind = "xgbost"\n'
        '[[detector]]\nname = "c"\nkind = "rules"\nparams = {path = "r.toml"}\n'
    )
    with pytest.raises(ValueError) as info:
        load_config(path)
    message = str(info.value)
    assert "run.toml: 2 problem(s)" in message
    assert "'a'" in message and "['round']" in message
    assert "'b'" in message and "unknown detector kind 'xgbost'" in message
    assert "'c'" not in message


def test_a_run_builds_the_families_a_default_propagated_row_reads() -> None:
    from amlwatch.config import DetectorSpec, RunConfig

    cfg = RunConfig(detectors=(DetectorSpec("p", "xgboost_propagated"),))
    assert {"graph", "flow"} <= set(cfg.families())
    narrow = DetectorSpec("p", "xgboost_propagated", {"families": ["transaction", "account"]})
    assert "graph" not in RunConfig(detectors=(narrow,)).families()
