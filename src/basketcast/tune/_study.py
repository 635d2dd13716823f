"""`tune`: set up (or resume) a study, build the features once, run the workers, write outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from basketcast.config import RunConfig
from basketcast.tune._space import DEFAULT_SPACE, SearchSpace

__all__ = ["TuneResult", "tune"]

Progress = Callable[[str], None]

_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "POLARS_MAX_THREADS",
    "NUMBA_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)


@dataclass(frozen=True)
class TuneResult:
    """Where a study stands after `tune` returns.

    Attributes
    ----------
    study
        The Optuna study (loaded from its storage).
    finished
        Trials that count toward N (complete and pruned).
    failed_stale
        Numbers of trials found running with their worker gone, marked failed.
    outputs
        Paths written: ``trials``, ``best`` (when a trial completed), figures, ``html``.
    """

    study: Any
    finished: int
    failed_stale: list[int]
    outputs: dict[str, Path]
    defaults_moved: dict[str, tuple[Any, Any]]
    """Trial 0 runs the configuration's values, except these (outside the space):
    name -> (the configuration's value, the nearest inside the space, which trial 0 ran)."""


def _optuna() -> Any:
    try:
        import optuna
        import optuna_integration  # noqa: F401
    except ImportError:
        raise ImportError("basketcast tune needs Optuna: pip install 'basketcast[tune]'") from None
    return optuna


def thread_budget(threads: int, jobs: int) -> int:
    """Each worker's share of the thread budget (`threads`, or this process's, or every core)."""
    total = threads or int(os.environ.get("OMP_NUM_THREADS") or 0) or (os.cpu_count() or 1)
    return max(1, total // jobs)


def tune(
    data: str | Path,
    out: str | Path,
    *,
    trials: int,
    storage: str | None = None,
    study: str = "basketcast",
    jobs: int = 1,
    timeout: float | None = None,
    config: RunConfig | None = None,
    space: SearchSpace = DEFAULT_SPACE,
    seed: int = 0,
    enqueue: Sequence[Mapping[str, Any]] = (),
    progress: Progress | None = None,
) -> TuneResult:
    """Search the item model's parameters with Optuna (TPE, seeded) until the study holds
    `trials` finished trials.

    Parameters
    ----------
    data
        The Instacart-layout folder; only its train orders are scored.
    out
        The study folder: journal file, cached features, best.toml, trials.csv, figures.
    trials
        The total of finished (complete or pruned) trials the study should hold:
        a re-run goes on from where the last one stopped.
    storage
        An Optuna RDB URL, or a journal file path (default ``out/study.journal``).
    study
        The study's name in the storage.
    jobs
        Worker processes; the thread budget is divided between them.
    timeout
        Seconds after which no worker starts a new trial.
    config
        The base configuration (folds, rounds, ...); the searched knobs override it.
        Its own values are the study's first trial.
    space
        What is searched (`load_space` reads a TOML override).
    seed
        Seeds the sampler (and each worker's, derived from it).
    enqueue
        More parameter sets to try first (after the base configuration's).
    progress
        Called with a line after each finished trial (in-process workers) or every few seconds.
    """
    optuna = _optuna()
    from basketcast.data.load import load_dataset
    from basketcast.device import resolve_device
    from basketcast.pipeline import data_fingerprint
    from basketcast.tune._objective import FeatureCache
    from basketcast.tune._outputs import write_outputs
    from basketcast.tune._storage import fail_stale_trials, make_storage, trial_counts
    from basketcast.tune._worker import WorkerSpec, run_worker

    if trials < 1 or jobs < 1:
        raise ValueError(f"--trials and --jobs must be at least 1, got {trials} and {jobs}")
    report: Progress = progress or (lambda message: None)
    base = config or RunConfig()
    data, out = Path(data), Path(out)
    # Bad input fails here, with the validator's message, before any study.
    base = base.resolved(users=load_dataset(data).n_users)
    fingerprint = data_fingerprint(data)
    out.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    the_study = optuna.create_study(
        study_name=study, storage=make_storage(storage, out), direction="minimize",
        load_if_exists=True,
    )  # fmt: skip
    _check_same_search(the_study, fingerprint=fingerprint, base=base, space=space)
    if not the_study.trials:
        the_study.enqueue_trial(space.defaults(base), user_attrs={"defaults": True})
        for values in enqueue:
            the_study.enqueue_trial(dict(values))
    stale = fail_stale_trials(the_study)
    if stale:
        report(f"marked {len(stale)} trial(s) left running by a stopped worker as failed: {stale}")

    depth = space.max_history_targets(base)
    report(f"features: building once to history depth {depth} (cached in {out / 'features'})")
    FeatureCache(data, out, fingerprint=fingerprint, config=base, depth=depth).build()

    per_worker = thread_budget(base.threads, jobs)
    specs = [
        WorkerSpec(
            data=str(data),
            out=str(out),
            storage=storage,
            study=study,
            trials=trials,
            seed=seed,
            worker=w,
            threads=per_worker,
            device=resolve_device(base.model.device),
            base_toml=base.to_toml(),
            space=[asdict(p) for p in space.params],
            fingerprint=fingerprint,
            feature_depth=depth,
            timeout=timeout,
        )
        for w in range(jobs)
    ]
    if jobs == 1:
        run_worker(specs[0])
    else:
        _run_processes(specs, per_worker, lambda: trial_counts(the_study), report, trials)
    finished, _running = trial_counts(the_study)
    outputs = write_outputs(the_study, out, base=base, space=space)
    return TuneResult(the_study, finished, stale, outputs, space.moved_defaults(base))


def _run_processes(
    specs: list[Any],
    threads: int,
    counts: Callable[[], tuple[int, int]],
    report: Progress,
    trials: int,
) -> None:
    """Start one worker process per spec, each with `threads` threads, and wait for them all."""
    env = {**os.environ, **{var: str(threads) for var in _THREAD_VARS}}
    with tempfile.TemporaryDirectory(prefix="basketcast-tune-") as tmp:
        procs = []
        for spec in specs:
            path = Path(tmp) / f"worker{spec.worker}.json"
            path.write_text(spec.to_json())
            cmd = [sys.executable, "-m", "basketcast.tune._worker", str(path)]
            procs.append(subprocess.Popen(cmd, env=env))
        try:
            while any(p.poll() is None for p in procs):
                time.sleep(2.0)
                finished, running = counts()
                report(f"{finished}/{trials} trials finished, {running} running")
        except KeyboardInterrupt:
            for p in procs:  # they got the Ctrl-C too; give them time to fail their trials
                p.wait(timeout=30)
            raise
    bad = [p.returncode for p in procs if p.returncode != 0]
    if bad:
        raise RuntimeError(f"{len(bad)} of {len(procs)} tuning workers failed (exit codes {bad})")


def _check_same_search(
    study: Any, *, fingerprint: str, base: RunConfig, space: SearchSpace
) -> None:
    """A study continues only on the same data, base configuration and space."""
    signature = {
        "data_fingerprint": fingerprint,
        "base_config": base.stage_hash(),
        "space": json.dumps([asdict(p) for p in space.params], default=list, sort_keys=True),
    }
    recorded = {k: study.user_attrs.get(k) for k in signature}
    if not any(recorded.values()):
        for k, v in signature.items():
            study.set_user_attr(k, v)
        return
    changed = [k for k in signature if recorded[k] != signature[k]]
    if changed:
        raise ValueError(
            f"study {study.study_name!r} was started with another {', '.join(changed)}; "
            "resume it with the same data, --config and --space, or give a new --study or --out"
        )
