"""Known answers for the search: it resumes to exactly N, beats a poor corner, runs in parallel."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections import Counter

import optuna
import polars as pl
import pytest

from basketcast.config import RunConfig, load_config
from basketcast.data.load import load_dataset
from basketcast.tune import tune

POOR = {"max_depth": 1, "eta": 0.01}
TS = optuna.trial.TrialState


def _states(study) -> Counter:
    return Counter(t.state for t in study.get_trials(deepcopy=False))


def _leave_a_trial_running(storage: str) -> int:
    """A real worker process that takes a trial and dies without finishing it."""
    code = f"""
import optuna, os, socket
from optuna.storages.journal import JournalFileBackend, JournalStorage
study = optuna.load_study(study_name="basketcast",
                          storage=JournalStorage(JournalFileBackend({storage!r})))
trial = study.ask()
trial.set_user_attr("worker", f"{{socket.gethostname()}}:{{os.getpid()}}")
print(trial.number)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("study")


def test_stopped_at_5_and_restarted_with_8_ends_with_exactly_8(
    tune_data, base_config, space, study_dir
):
    first = tune(
        tune_data, study_dir, trials=5, config=base_config, space=space, enqueue=[POOR] * 3
    )
    assert first.finished == 5
    orphan = _leave_a_trial_running(str(study_dir / "study.journal"))
    again = tune(tune_data, study_dir, trials=8, config=base_config, space=space)
    assert again.failed_stale == [orphan]  # its worker is gone: failed, and not counted
    states = _states(again.study)
    assert states[TS.COMPLETE] + states[TS.PRUNED] == 8
    assert states[TS.FAIL] == 1 and states[TS.RUNNING] == 0
    # A restarted sampler does not replay the first run's random draws.
    params = [tuple(sorted(t.params.items())) for t in again.study.trials if t.params]
    assert len(set(params)) == len(params)


def test_twenty_trials_beat_a_poor_corner_by_one_percent(tune_data, base_config, space, study_dir):
    result = tune(tune_data, study_dir, trials=20, config=base_config, space=space)
    study = result.study
    assert result.finished == 20
    poor = [t for t in study.trials if t.params.get("max_depth") == 1 and t.params["eta"] == 0.01]
    assert len(poor) == 3 and all(t.state == TS.COMPLETE for t in poor)
    assert all(study.best_value <= 0.99 * t.value for t in poor)
    # Trial 0 is the base configuration (its max_bin 256 moved into the space's choices).
    first = study.trials[0]
    resolved = base_config.resolved(users=load_dataset(tune_data).n_users)  # its "auto" eta
    assert first.params["eta"] == resolved.model.eta and first.params["max_bin"] == 128
    for t in study.get_trials(states=(TS.COMPLETE,)):
        assert t.user_attrs["folds_ran"] == [0, 1, 2]
        assert 0 <= t.user_attrs["oof_f1"] <= 1
    for t in study.get_trials(states=(TS.PRUNED,)):
        assert t.user_attrs["folds_ran"] == [0]  # pruned on fold 0: the others never ran


def test_outputs_hold_a_runnable_best_configuration(study_dir):
    best_toml = study_dir / "best.toml"
    config = load_config(best_toml)  # what `basketcast run --config best.toml` reads
    assert isinstance(config, RunConfig)
    assert config.model.folds == 3 and config.features.history_targets == 0
    with open(best_toml, "rb") as fh:
        written = tomllib.load(fh)
    table = pl.read_csv(study_dir / "trials.csv")
    best = table.filter(pl.col("state") == "COMPLETE").sort("logloss").row(0, named=True)
    assert written["model"]["max_depth"] == best["param_max_depth"]
    assert written["model"]["eta"] == pytest.approx(best["param_eta"])
    assert f"trial {best['number']}" in best_toml.read_text()
    assert table.height == 21  # 20 finished + the failed one
    for name in ("history.png", "param_importances.png", "tune.html"):
        assert (study_dir / name).stat().st_size > 0


def test_resume_refuses_other_settings(tune_data, base_config, space, study_dir):
    other = RunConfig.from_dict(
        {**base_config.to_dict(), "model": {**base_config.to_dict()["model"], "folds": 4}}
    )
    with pytest.raises(ValueError, match="another base_config"):
        tune(tune_data, study_dir, trials=21, config=other, space=space)


def test_two_jobs_share_one_study_and_record_each_trial_once(
    tune_data, base_config, space, tmp_path
):
    result = tune(tune_data, tmp_path, trials=4, jobs=2, config=base_config, space=space)
    study = result.study
    assert result.finished == 4 and _states(study)[TS.RUNNING] == 0
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2  # both processes ran trials
    recorded: Counter = Counter()
    with open(tmp_path / "study.journal") as fh:
        for line in fh:
            op = json.loads(line)
            if "param_name" in op:
                recorded[(op["trial_id"], op["param_name"])] += 1
    assert set(recorded.values()) == {1}
    assert {trial_id for trial_id, _ in recorded} == {t._trial_id for t in study.trials}
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == len(study.trials)


def test_an_rdb_url_works_as_storage(tune_data, base_config, space, tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    result = tune(
        tune_data, tmp_path / "out", trials=2, storage=url, config=base_config, space=space
    )
    assert result.finished == 2
    again = optuna.load_study(study_name="basketcast", storage=url)
    assert len(again.trials) == 2 and not (tmp_path / "out" / "study.journal").exists()
