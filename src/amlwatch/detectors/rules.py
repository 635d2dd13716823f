"""The rules engine: today's practice, rules in TOML, one alert per transaction that hits any rule."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import polars as pl

from amlwatch.detectors.base import Detector

__all__ = ["Rule", "RulesDetector", "load_rules"]

_ALIASES = {
    "transfersLastDay": pl.col("src_out_n_1d"),
    "amount": pl.col("amount_paid"),
}
_CLAUSE = re.compile(
    r"^\s*(!?)\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:(>=|<=|==|!=|>|<)\s*(-?[0-9.]+))?\s*$"
)
_OPS = {
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


@dataclass(frozen=True)
class Rule:
    """One named rule and its Polars expression (True = alert)."""

    name: str
    when: str
    expr: pl.Expr


def _operand(name: str, listed: tuple[str, ...]) -> pl.Expr:
    if name in _ALIASES:
        return _ALIASES[name]
    if name == "country_listed":
        return (
            pl.col("src_country").is_in(list(listed)) | pl.col("dst_country").is_in(list(listed))
        ).fill_null(False)
    return pl.col(name)


def _parse(when: str, listed: tuple[str, ...], source: str) -> pl.Expr:
    groups = []
    for group in when.split("||"):
        clauses = []
        for clause in group.split("&&"):
            m = _CLAUSE.match(clause)
            if m is None:
                raise ValueError(
                    f"{source}: cannot parse rule clause {clause.strip()!r} in {when!r}"
                )
            neg, name, op, number = m.groups()
            operand = _operand(name, listed)
            expr = _OPS[op](operand, float(number)) if op else operand.cast(pl.Boolean)
            clauses.append(~expr if neg else expr)
        groups.append(pl.all_horizontal(clauses))
    return pl.any_horizontal(groups).fill_null(False)


def load_rules(path: str | Path | None = None) -> tuple[list[Rule], tuple[str, ...]]:
    """Rules and the listed countries from a TOML file (default: the seed's two rules)."""
    if path is None:
        text = resources.files("amlwatch.configs").joinpath("rules.toml").read_text()
        source = "rules.toml (built in)"
    else:
        text = Path(path).read_text()
        source = str(path)
    data = tomllib.loads(text)
    listed = tuple(str(c) for c in data.get("listed_countries", []))
    rules = data.get("rule", [])
    if not rules:
        raise ValueError(f"{source}: no [[rule]] tables")
    out = []
    for i, rule in enumerate(rules):
        if "name" not in rule or "when" not in rule:
            raise ValueError(f"{source}: rule #{i + 1} needs `name` and `when`")
        out.append(
            Rule(str(rule["name"]), str(rule["when"]), _parse(str(rule["when"]), listed, source))
        )
    return out, listed


class RulesDetector(Detector):
    """Score = how many rules a transaction hits; it alerts on any hit (threshold 0.5)."""

    name = "rules"

    def __init__(self, *, path: str | Path | None = None, contamination: float = 0.001) -> None:
        super().__init__(contamination=contamination)
        self.path = path
        self.rules, self.listed_countries = load_rules(path)

    def hits(self, features: pl.DataFrame) -> pl.DataFrame:
        """One boolean column per rule."""
        return features.select([r.expr.alias(r.name) for r in self.rules])

    def hit_counts(self, features: pl.DataFrame) -> dict[str, int]:
        """Per-rule hit counts."""
        return {k: int(v) for k, v in self.hits(features).sum().row(0, named=True).items()}

    def _fit(self, features: pl.DataFrame, labels: np.ndarray | None) -> None:
        return None

    def _score(self, features: pl.DataFrame) -> np.ndarray:
        return (
            self.hits(features)
            .select(pl.sum_horizontal(pl.all().cast(pl.Int32)))
            .to_series()
            .to_numpy()
        )

    def _initial_threshold(self, scores: np.ndarray) -> float:
        return 0.5

    def reasons(self, features: pl.DataFrame, *, top: int = 3) -> list[list[str]]:
        hits = self.hits(features)
        names = hits.columns
        arr = hits.to_numpy()
        return [[names[j] for j in np.nonzero(row)[0][:top]] for row in arr]
