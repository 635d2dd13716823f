"""Request and response bodies (Pydantic): the transaction in AMLworld's fields, the answer."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from amlwatch.data import schema

__all__ = [
    "ErrorResponse",
    "HealthResponse",
    "ReloadResponse",
    "ScoreResponse",
    "TransactionBody",
    "parse_timestamp",
]

# The loader's formats (`amlwatch.data.schema`): AMLworld's first.
TIMESTAMP_FORMATS = schema.TIMESTAMP_FORMATS

Text = Annotated[str, Field(min_length=1, max_length=128)]
Amount = Annotated[float, Field(ge=0, le=schema.MAX_AMOUNT, allow_inf_nan=False, strict=True)]


# AMLworld's own form, zero-padded: read without strptime (~0.1 ms of a request's ~2.6 ms of CPU).
_AMLWORLD = re.compile(r"([0-9]{4})/([0-9]{2})/([0-9]{2}) ([0-9]{2}):([0-9]{2})")


def parse_timestamp(value: str) -> dt.datetime:
    """A naive datetime from one of the loader's formats, else ValueError."""
    plain = _AMLWORLD.fullmatch(value)
    if plain is not None:
        try:  # datetime() checks the ranges as strptime does; anything odd goes to strptime
            year, month, day, hour, minute = map(int, plain.groups())
            return dt.datetime(year, month, day, hour, minute)
        except ValueError:
            pass
    for fmt in TIMESTAMP_FORMATS:
        try:
            return dt.datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise ValueError(
        f"not a timestamp like 2022/09/01 13:05 (formats: {', '.join(TIMESTAMP_FORMATS)})"
    )


class TransactionBody(BaseModel):
    """One transaction, with AMLworld's columns under amlwatch's canonical names.

    `Account` appears twice in AMLworld's header (sender, then receiver); here
    they are `from_account` and `to_account`. `is_laundering`, when given, is
    stored with the transaction and never used for its score.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    timestamp: Text = Field(description="2022/09/01 13:05 (AMLworld) or ISO 2022-09-01T13:05:00")
    from_bank: Text
    from_account: Text
    to_bank: Text
    to_account: Text
    amount_received: Amount
    receiving_currency: Text
    amount_paid: Amount
    payment_currency: Text
    payment_format: Text
    is_laundering: Annotated[int, Field(ge=0, le=1, strict=True)] | None = None

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, value: str) -> str:
        parse_timestamp(value)
        return value


class ScoreResponse(BaseModel):
    """The answer, given once the transaction's state change is committed to the state file."""

    seq: int = Field(description="The transaction's position in the service's stream.")
    detector: str
    score: float
    threshold: float
    model_alert: bool = Field(description="score > threshold (the run's threshold)")
    rules: list[str] = Field(description="The rules the transaction hits.")
    alert: bool = Field(description="model_alert OR any rule hit (rules and model coexist)")
    reasons: list[str] = Field(
        default_factory=list,
        description="For a model alert, what drove the score, worded as the run's "
        "alerts.parquet words it (XGBoost: largest SHAP contributions; GAN: the columns "
        "it reconstructs worst; rules: the rules hit); empty otherwise.",
    )
    features: dict[str, float] | None = Field(
        default=None, description="The streamable features (with ?features=true)."
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="What the model has no notion of, scored anyway: a payment_format outside "
        "AMLworld's seven (no format feature), a currency the run's data never had (or in "
        "other case). Empty when all is well.",
    )


class ErrorResponse(BaseModel):
    error: str
    reasons: list[str]


class HealthResponse(BaseModel):
    status: str
    detector: str
    kind: str
    threshold: float
    accounts: int
    pairs: int
    history_transactions: int
    scored_transactions: int
    durability: str = Field(
        description="What an answered transaction survives: 'process' (a kill of the server)"
        " or 'power' (a power cut too)."
    )
    invocation_id: str | None = Field(
        default=None,
        description="The served run's invocation (its run.json); null for a run folder from"
        " before manifests.",
    )


class ReloadResponse(BaseModel):
    """The run now served, after `POST /v1/admin/reload` (or SIGHUP) re-read the run folder."""

    invocation_id: str | None = Field(description="The served run's invocation (run.json).")
    previous_invocation_id: str | None
    detector: str
    kind: str
    threshold: float
    seconds: float = Field(description="Time to load and check the new model.")
