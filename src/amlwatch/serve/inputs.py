"""Warnings for a scored transaction's values the model has no notion of (they score silently).

- A payment format outside AMLworld's seven (`PAYMENT_FORMATS`): the features
  have one ``format_*`` column per known format, so such a row has none set,
  and the GAN's format embedding reads it as "unseen" (index 0); every unknown
  format scores alike. The batch loader warns about the same values.
- A currency the run's data never had (``currencies`` in its metrics.json).
  The features read no currency value: amounts are taken in their own
  currency and ``currency_mismatch`` compares the two currencies as written.
  So an unknown currency's amounts are on a scale the model never saw, and a
  known currency in other case ('us dollar') makes a same-currency payment a
  currency mismatch: both are worth saying. A run from before that field
  records no currencies: then currencies are not checked.

The scoring answer carries these as ``warnings``; `/metrics` counts them by kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from amlwatch.data.schema import PAYMENT_FORMATS

__all__ = ["InputCheck", "InputWarning"]

_FORMATS = frozenset(PAYMENT_FORMATS)
_FORMAT_LIST = ", ".join(PAYMENT_FORMATS)


@dataclass(frozen=True)
class InputWarning:
    kind: str  # "payment_format" or "currency": the label of the metric
    message: str


def _by_case(known: Iterable[str]) -> dict[str, str]:
    return {value.casefold(): value for value in known}


class InputCheck:
    """The values one run knows; `warnings` lists what a transaction has beyond them."""

    def __init__(self, currencies: Iterable[str] | None) -> None:
        self.currencies = None if currencies is None else frozenset(currencies)
        self._currency_case = _by_case(self.currencies or ())
        self._format_case = _by_case(PAYMENT_FORMATS)

    def warnings(
        self, *, payment_format: str, payment_currency: str, receiving_currency: str
    ) -> list[InputWarning]:
        out: list[InputWarning] = []
        if payment_format not in _FORMATS:
            near = self._format_case.get(payment_format.casefold())
            hint = f" (did you mean {near!r}? formats are compared as written)" if near else ""
            out.append(
                InputWarning(
                    "payment_format",
                    f"payment_format {payment_format!r} is not one of AMLworld's seven "
                    f"({_FORMAT_LIST}){hint}; it gets no format feature",
                )
            )
        if self.currencies is None:
            return out
        unknown: dict[str, list[str]] = {}  # the same unknown currency in both fields: one warning
        for field, value in (
            ("payment_currency", payment_currency),
            ("receiving_currency", receiving_currency),
        ):
            if value not in self.currencies:
                unknown.setdefault(value, []).append(field)
        for value, fields in unknown.items():
            near = self._currency_case.get(value.casefold())
            if near is not None:
                why = (
                    f"differs only in case from {near!r}, which the run's data has; currencies "
                    "are compared as written (currency_mismatch)"
                )
            else:
                why = (
                    "never occurs in the run's data; its amounts are read as if in a "
                    "currency the model knows"
                )
            out.append(InputWarning("currency", f"{' and '.join(fields)} {value!r} {why}"))
        return out
