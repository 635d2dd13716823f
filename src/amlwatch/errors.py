"""Input errors: one `DataError` that lists every `Problem` found (file, column, count, examples)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DataError", "Problem"]


@dataclass(frozen=True)
class Problem:
    """One broken rule: where it is, what is wrong, how many rows, a few examples."""

    file: str
    column: str
    message: str
    count: int = 0
    examples: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f"{self.file}: column {self.column!r}" if self.column else self.file
        text = f"{where}: {self.message}"
        if self.count:
            text += f" ({self.count:,} {'row' if self.count == 1 else 'rows'})"
        if self.examples:
            text += "; e.g. " + "; ".join(self.examples)
        return text


class DataError(ValueError):
    """Raised once with *every* problem found in an input, never just the first."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...], *, source: str = "") -> None:
        self.problems = tuple(problems)
        self.source = source
        head = f"{len(self.problems)} problem(s) in {source or 'the input'}:"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))
