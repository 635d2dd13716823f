"""A tuning worker: asks the study for trials and runs them until it holds N finished ones.

`basketcast tune --jobs J` starts J of these as processes (``python -m
basketcast.tune._worker SPEC``), each with its share of the thread budget set
in its environment before anything heavy is imported.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["WorkerSpec", "run_worker"]


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process needs, as plain JSON."""

    data: str
    out: str
    storage: str | None
    study: str
    trials: int
    seed: int
    worker: int
    threads: int
    device: str
    base_toml: str
    space: list[dict[str, Any]]
    fingerprint: str
    feature_depth: int
    timeout: float | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        return cls(**json.loads(text))


def _sampler_seed(seed: int, worker: int, trials_so_far: int) -> int:
    # A restarted or parallel worker must not replay another's random start-up draws.
    text = f"{seed}:{worker}:{trials_so_far}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:4], "little")


class _Heartbeat:
    """Writes the time into the running trial every minute, so others can tell it is alive."""

    def __init__(self, trial: Any, *, every: float = 60.0) -> None:
        from basketcast.tune._storage import HEARTBEAT_ATTR

        self._trial, self._every, self._attr = trial, every, HEARTBEAT_ATTR
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._trial.set_user_attr(self._attr, time.time())
            except Exception:  # the trial was finished meanwhile: nothing left to mark
                return

    def __enter__(self) -> _Heartbeat:
        self._trial.set_user_attr(self._attr, time.time())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_worker(spec: WorkerSpec) -> int:
    """Run trials until the study holds `spec.trials` finished ones (or the timeout); return
    how many this worker finished."""
    import optuna

    from basketcast.config import RunConfig
    from basketcast.tune._objective import FeatureCache, Objective
    from basketcast.tune._space import Param, SearchSpace
    from basketcast.tune._storage import (
        WORKER_ATTR,
        budget_lock,
        make_storage,
        trial_counts,
        worker_id,
    )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = Path(spec.out)
    storage = make_storage(spec.storage, out)
    probe = optuna.load_study(study_name=spec.study, storage=storage)
    sampler = optuna.samplers.TPESampler(
        seed=_sampler_seed(spec.seed, spec.worker, len(probe.trials))
    )
    base = RunConfig.from_dict(_toml(spec.base_toml))
    # In-training pruning waits for a quarter of the round budget: before that, a trial with a
    # low learning rate trails the others at the same round without being worse.
    pruner = optuna.pruners.MedianPruner(
        n_startup_trials=5, n_warmup_steps=max(1, base.model.num_boost_round // 4)
    )
    study = optuna.load_study(
        study_name=spec.study, storage=storage, sampler=sampler, pruner=pruner
    )
    space = SearchSpace(tuple(Param(**{**p, "choices": tuple(p["choices"])}) for p in spec.space))
    cache = FeatureCache(
        Path(spec.data), out, fingerprint=spec.fingerprint, config=base, depth=spec.feature_depth
    )
    objective = Objective(base, space, cache, spec.device, spec.threads)
    deadline = None if spec.timeout is None else time.monotonic() + spec.timeout
    done = 0
    me = worker_id()
    while deadline is None or time.monotonic() < deadline:
        with budget_lock(out):
            finished, running = trial_counts(study)
            if finished + running >= spec.trials:
                break
            trial = study.ask()
            trial.set_user_attr(WORKER_ATTR, me)
        state, value = optuna.trial.TrialState.FAIL, None
        try:
            with _Heartbeat(trial):
                value = objective(trial)
            state = optuna.trial.TrialState.COMPLETE
        except optuna.TrialPruned:
            state = optuna.trial.TrialState.PRUNED
        finally:
            # On an error or Ctrl-C the trial is failed here, and the error goes on.
            _tell(study, trial, state, value)
        done += 1
    return done


def _tell(study: Any, trial: Any, state: Any, value: float | None) -> None:
    import optuna

    # Another worker may have taken this trial for dead and failed it: its result is lost.
    with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
        study.tell(trial, value if state == optuna.trial.TrialState.COMPLETE else None, state=state)


def _toml(text: str) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(text)


def main(argv: list[str]) -> int:
    """``python -m basketcast.tune._worker SPEC.json``: run one worker."""
    spec = WorkerSpec.from_json(Path(argv[0]).read_text())
    try:
        run_worker(spec)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
