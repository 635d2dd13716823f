"""What the service loads from the run folder, as one value that a reload replaces whole.

`load_run` reads the run folder's published invocation (checked against its
manifest) into a `LoadedRun`: the served detector, the rules, and what the
run records about itself (invocation id, data source). Startup and reload
both call it; a reload swaps the service's `LoadedRun` in one assignment, so
a request reads one run's model, threshold and rules, never a mix.

A reload keeps the streaming state (account windows, pairs, the account
directory), so `state_conflict` refuses a run made from other data: the
windows would then describe accounts the new model never learned on.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amlwatch.serve.inputs import InputCheck
from amlwatch.serve.model import ServedModel, choose_model, load_rules_engine
from amlwatch.serve.rules import RowRules

__all__ = ["LoadedRun", "StateConflict", "load_run", "state_conflict"]

log = logging.getLogger("amlwatch.serve")


class StateConflict(Exception):
    """The run folder now publishes a run that the service's streaming state does not fit."""


@dataclass(frozen=True)
class LoadedRun:
    """One published invocation of the run folder, loaded for scoring."""

    folder: Path
    """The invocation's folder (``RUN/.outputs/<id>``; RUN itself before manifests)."""
    invocation_id: str | None
    """From ``run.json``; None for a run folder from before manifests."""
    model: ServedModel
    rules: RowRules
    metrics: dict[str, Any]
    """The run's ``metrics.json`` (read once, checked against the manifest)."""
    inputs: InputCheck
    """The formats and currencies the run knows, for the answers' warnings."""

    @property
    def source(self) -> str:
        """The data the run was made from (absolute path; "" when the run records none)."""
        return str(self.metrics.get("source") or "")


def _published(run: Path) -> tuple[Path, str | None]:
    """The run's published invocation, its served files checked against the manifest.

    Resolved once, so a run that publishes into RUN meanwhile cannot hand the
    service one run's config with another's model. A run folder from before
    manifests (no ``run.json``) is read as it is.
    """
    from runkit.runfolder import MANIFEST, published_folder, verify_outputs

    published = published_folder(run)
    if not (published / MANIFEST).exists():
        return published, None
    manifest = verify_outputs(
        published, ["config.json", "metrics.json", "models"], product="amlwatch"
    )
    return published, manifest.get("invocation_id")


def _warn_if_the_run_warned(metrics: dict[str, Any], detector: str) -> None:
    """Repeat what the run said about the served detector (a threshold that alerts on most
    transactions, say): the run's terminal is long gone by the time it is served."""
    for warning in metrics.get("warnings", []):
        if str(warning).startswith(f"{detector}: "):
            log.warning(
                "the run warned about the served detector",
                extra={"event": "run_warning", "detector": detector, "warning": warning},
            )


def load_run(run: Path, *, detector: str | None) -> LoadedRun:
    """Load the run folder's published invocation: its detector (`choose_model`) and rules."""
    if not (run / "config.json").exists():
        raise FileNotFoundError(f"{run}: no config.json (not a folder of `amlwatch run`)")
    folder, invocation_id = _published(run)
    model = choose_model(folder, detector=detector)
    rules = RowRules(load_rules_engine(folder))
    metrics = json.loads((folder / "metrics.json").read_text())
    _warn_if_the_run_warned(metrics, model.detector)
    inputs = InputCheck(metrics.get("currencies"))
    if inputs.currencies is None:
        log.warning(
            "the run records no currencies: currencies are not checked",
            extra={"event": "no_currencies", "run": str(folder),
                   "fix": "re-run with this version of amlwatch"},
        )  # fmt: skip
    return LoadedRun(folder, invocation_id, model, rules, metrics, inputs)


def _same_data(a: str, b: str) -> bool:
    return a == b or bool(a and b and Path(a).resolve() == Path(b).resolve())


def state_conflict(served: LoadedRun, fresh: LoadedRun, *, run: Path) -> str | None:
    """Why `fresh` cannot replace `served` over the same streaming state, or None.

    The state depends on the run only through its data: the account windows and
    the directory were replayed from it (`store.meta("data")`, the run's source
    unless --data said otherwise; startup warns when they differ). The windows'
    widths and statistics are the code's (`features.registry.WINDOWS`), not the
    run's config, and the graph and flow settings are batch only, so no config
    value enters the state; a model that needs a column the service does not
    compute is refused by the probe, as at start. The comparison is with the
    served run, not the state's warm-up data, so that reloading the run the
    service started with never fails on a difference the operator accepted at start.
    """
    if _same_data(served.source, fresh.source):
        return None
    return (
        f"{run}: the run now published ({fresh.invocation_id}) was made from other data "
        f"({fresh.source or 'none recorded'}) than the served one ({served.source or 'none recorded'}),"
        " and the account state was built for the served one's; the streaming state is not"
        " rebuilt on reload: restart the service with a new --db to warm one from the new data"
    )
