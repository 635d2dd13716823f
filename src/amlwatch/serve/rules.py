"""The run's rules evaluated on one row of plain values (same grammar and meaning as the batch).

`amlwatch.detectors.rules` compiles each rule's `when` to a Polars expression
for whole frames; this module compiles the same text, with the same parser's
clause pattern and aliases, to a Python function of one row. Every operand
the service computes is a number (never null) except the countries, which
only `country_listed` reads (null counts as not listed, as in the batch).
The stream test checks hits against `RulesDetector.hits` on the batch frame.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from amlwatch.detectors.rules import _CLAUSE, RulesDetector

__all__ = ["RowRules"]

_ALIASES = {"transfersLastDay": "src_out_n_1d", "amount": "amount_paid"}
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt, "<": operator.lt, ">=": operator.ge,
    "<=": operator.le, "==": operator.eq, "!=": operator.ne,
}  # fmt: skip
Row = Mapping[str, Any]
Test = Callable[[Row], bool]


def _clause(text: str, listed: frozenset[str]) -> tuple[Test, str | None]:
    m = _CLAUSE.match(text)
    if m is None:  # the batch parser rejected it already when the rules were loaded
        raise ValueError(f"cannot parse rule clause {text.strip()!r}")
    neg, name, op, number = m.groups()
    column: str | None
    if name == "country_listed":
        column = None

        def operand(row: Row) -> Any:
            return row["src_country"] in listed or row["dst_country"] in listed
    else:
        column = _ALIASES.get(name, name)

        def operand(row: Row) -> Any:
            return row[column]

    if op:
        cmp, bound = _OPS[op], float(number)

        def test(row: Row) -> bool:
            return bool(cmp(operand(row), bound))
    else:

        def test(row: Row) -> bool:
            return bool(operand(row))

    if neg:
        return (lambda row: not test(row)), column
    return test, column


class RowRules:
    """A `RulesDetector`'s rules as Python functions of one row."""

    def __init__(self, detector: RulesDetector) -> None:
        listed = frozenset(detector.listed_countries)
        self.names: list[str] = []
        self.columns: set[str] = set()
        self._rules: list[list[list[Test]]] = []
        for rule in detector.rules:
            groups = []
            for group in rule.when.split("||"):
                tests = []
                for text in group.split("&&"):
                    test, column = _clause(text, listed)
                    tests.append(test)
                    if column is not None:
                        self.columns.add(column)
                groups.append(tests)
            self.names.append(rule.name)
            self._rules.append(groups)

    def hits(self, row: Row) -> list[str]:
        """Names of the rules the row hits, in the rules file's order."""
        return [
            name
            for name, groups in zip(self.names, self._rules, strict=True)
            if any(all(t(row) for t in tests) for tests in groups)
        ]
