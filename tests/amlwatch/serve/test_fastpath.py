"""The scoring fast path: FastAPI's bytes and FastAPI's state, and doubtful requests left to FastAPI.

Two real servers over loopback, one with the fast path and one without, get
the same requests in the same order; every answer (status, content type,
bytes) and the stored state must be the same. Property tests check that
whatever the fast path's parser accepts, Pydantic accepts with the same values.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sqlite3
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amlwatch.serve.fastpath import parse_features_query, parse_transaction
from amlwatch.serve.schemas import TIMESTAMP_FORMATS, TransactionBody, parse_timestamp

from .conftest import API_KEY, Run, Server, body

URL = "/v1/transactions"
GOOD: dict[str, Any] = {
    "timestamp": "2026/03/01 09:30",
    "from_bank": "900",
    "from_account": "FP-A",
    "to_bank": "901",
    "to_account": "FP-B",
    "amount_received": 120.0,
    "receiving_currency": "Euro",
    "amount_paid": 120.0,
    "payment_currency": "Euro",
    "payment_format": "Wire",
}


# -- the parser ------------------------------------------------------------------------------
_PLAIN_CHARS = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
_plain_text = st.builds(
    lambda head, middle, tail: head + middle + tail if middle is not None else head,
    _PLAIN_CHARS,
    st.none() | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60),
    _PLAIN_CHARS,
)
_amount = (  # every valid amount, up to MAX_AMOUNT and exactly at it
    st.floats(min_value=0, max_value=1e15)
    | st.integers(0, 10**15)
    | st.sampled_from([1e15, 10**15])
)
_timestamp = st.builds(
    lambda when, fmt: when.strftime(fmt),
    st.datetimes(min_value=dt.datetime(1971, 1, 1)),
    st.sampled_from(TIMESTAMP_FORMATS),
)
_plain_body = st.fixed_dictionaries(
    {
        "timestamp": _timestamp,
        **{
            k: _plain_text
            for k in (
                "from_bank",
                "from_account",
                "to_bank",
                "to_account",
                "receiving_currency",
                "payment_currency",
                "payment_format",
            )
        },
        "amount_received": _amount,
        "amount_paid": _amount,
    },
    optional={"is_laundering": st.none() | st.sampled_from([0, 1])},
)


@settings(max_examples=300, deadline=None)
@given(_plain_body)
def test_plain_bodies_parse_to_pydantics_values(data: dict[str, Any]) -> None:
    parsed = parse_transaction(json.dumps(data).encode())
    assert parsed is not None
    model, when = parsed
    expected = TransactionBody(**data)
    assert model.model_dump() == expected.model_dump()
    assert model.model_dump_json() == expected.model_dump_json()  # what the service stores
    assert when == parse_timestamp(data["timestamp"])


def _strptime_only(value: str) -> dt.datetime | None:
    for fmt in TIMESTAMP_FORMATS:
        try:
            return dt.datetime.strptime(value, fmt)
        except ValueError:
            continue
    return None


_digit_runs = st.text(alphabet="0123456789", min_size=1, max_size=5)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.datetimes(min_value=dt.datetime(1, 1, 1)).map(lambda d: d.strftime("%Y/%m/%d %H:%M")),
        st.tuples(*[_digit_runs] * 5).map(lambda p: "{}/{}/{} {}:{}".format(*p)),
        st.text(alphabet="0123456789/: -T٣", max_size=20),
    )
)
def test_timestamps_read_as_strptime_reads_them(value: str) -> None:
    # The quick reading of AMLworld's zero-padded form must agree with strptime everywhere:
    # impossible dates (2022/02/30, hour 24), unpadded fields and other digits included.
    expected = _strptime_only(value)
    if expected is None:
        with pytest.raises(ValueError):
            parse_timestamp(value)
    else:
        assert parse_timestamp(value) == expected


_anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=200),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)


@settings(max_examples=400, deadline=None)
@given(_plain_body, st.sampled_from([*GOOD, "is_laundering", "extra"]), _anything)
def test_whatever_the_parser_accepts_pydantic_accepts_alike(
    data: dict[str, Any], key: str, value: Any
) -> None:
    """Safety: the fast path never answers a request that FastAPI would refuse or read otherwise."""
    data = {**data, key: value}
    try:
        raw = json.dumps(data).encode()
    except ValueError:
        return
    parsed = parse_transaction(raw)
    if parsed is None:
        return  # FastAPI decides
    expected = TransactionBody(**json.loads(raw))  # raises if the fast path was wrong to accept
    assert parsed[0].model_dump_json() == expected.model_dump_json()


DOUBTFUL_BODIES: list[Any] = [
    {**GOOD, "from_bank": " 900"},  # Pydantic strips it
    {**GOOD, "to_account": "Zürich-1"},  # not ASCII
    {**GOOD, "amount_paid": True},
    {**GOOD, "amount_paid": 2**60},  # an integer beyond 2**53 (and MAX_AMOUNT)
    {**GOOD, "amount_paid": 1e39},  # beyond float32: window sums would be inf
    {**GOOD, "amount_received": 10**15 + 1},  # just above MAX_AMOUNT
    {**GOOD, "amount_paid": -1.0},
    {**GOOD, "amount_paid": "120"},
    {**GOOD, "is_laundering": True},
    {**GOOD, "is_laundering": 2},
    {**GOOD, "timestamp": "2026/13/01 09:30"},
    {**GOOD, "payment_format": "x" * 129},
    {**GOOD, "payment_format": ""},
    {**GOOD, "extra": 1},
    {k: v for k, v in GOOD.items() if k != "to_bank"},
    [GOOD],
]


def test_doubtful_bodies_and_queries_are_left_to_fastapi() -> None:
    for doubtful in DOUBTFUL_BODIES:
        assert parse_transaction(json.dumps(doubtful).encode()) is None, doubtful
    for raw in (b"", b"{", b'{"amount_paid": NaN}', json.dumps(GOOD).encode("utf-16")):
        assert parse_transaction(raw) is None, raw
    assert parse_transaction(json.dumps(GOOD).encode()) is not None
    assert [parse_features_query(q) for q in (b"", b"features=true", b"features=false")] == [
        False,
        True,
        False,
    ]
    for query in (b"features=1", b"features=TRUE", b"features=true&features=true", b"x=1"):
        assert parse_features_query(query) is None, query


# -- two real servers -----------------------------------------------------------------------
class LibraryServer(Server):
    """`amlwatch serve` started from the library, where the fast path can be switched off."""

    fast_path: bool = True

    def command(self) -> list[str]:
        code = (
            "import sys; from pathlib import Path; from amlwatch.serve.server import run_server; "
            "from amlwatch.serve.settings import ServeSettings; "
            "run_server(ServeSettings.from_env(Path(sys.argv[1]), port=int(sys.argv[2]), "
            "db=Path(sys.argv[3]), history=False, fast_path=sys.argv[4] == 'on'))"
        )
        switch = "on" if self.fast_path else "off"
        return [sys.executable, "-c", code, str(self.run.out), str(self.port), str(self.db), switch]


def _requests(aml_run: Run) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], int]]]:
    """Plain requests (the fast path answers them) and doubtful ones with the status expected."""
    stream = [body(r) for r in aml_run.stream().head(40).iter_rows(named=True)]
    plain: list[dict[str, Any]] = []
    for i, b in enumerate(stream):
        plain.append({"json": b, "params": {"features": "true"} if i % 3 == 0 else {}})
    plain.append({"json": {**GOOD, "amount_paid": 120, "is_laundering": 1}})  # an integer amount
    plain.append(
        {"json": {**GOOD, "timestamp": "2026/03/01 09:40"}, "params": {"features": "false"}}
    )
    late = {**GOOD, "timestamp": "2026/03/01 09:00", "to_account": "FP-C"}
    plain.append({"json": late})  # plain, but earlier than FP-A's last: 409 from the service
    later = {**GOOD, "timestamp": "2026/03/01 10:00"}
    doubtful: list[tuple[dict[str, Any], int]] = [
        ({"json": DOUBTFUL_BODIES[0] | {"timestamp": "2026/03/01 10:00"}}, 200),
        ({"json": DOUBTFUL_BODIES[1] | {"timestamp": "2026/03/01 10:01"}}, 200),
        ({"json": later | {"timestamp": " 2026/03/01 10:03 "}}, 200),
        ({"json": later | {"timestamp": "2026/03/01 10:04"}, "params": {"features": "1"}}, 200),
        (
            {
                "content": json.dumps(later | {"timestamp": "2026/03/01 10:05"}),
                "headers": {"content-type": "application/json; charset=utf-8"},
            },
            200,
        ),
        *(({"json": b}, 422) for b in DOUBTFUL_BODIES[2:]),
        ({"json": later, "params": {"features": "maybe"}}, 422),
        (
            {"content": b'{"amount_paid": NaN}', "headers": {"content-type": "application/json"}},
            422,
        ),
        ({"content": b"", "headers": {"content-type": "application/json"}}, 422),
        ({"content": json.dumps(later), "headers": {"content-type": "text/plain"}}, 415),
        ({"json": later, "headers": {"x-api-key": "x" * 24}}, 401),
        ({"json": later, "headers": {"x-api-key": None}}, 401),
        ({"json": {**later, "to_bank": "x" * 40_000}}, 413),
    ]
    return plain, doubtful


def _send(client: httpx.Client, request: dict[str, Any]) -> tuple[int, str, bytes]:
    kwargs = dict(request)
    headers = {"x-api-key": API_KEY, **kwargs.pop("headers", {})}
    headers = {k: v for k, v in headers.items() if v is not None}
    r = client.post(URL, headers=headers, **kwargs)
    return r.status_code, r.headers.get("content-type", ""), r.content


def _state(db: Path) -> dict[str, list[Any]]:
    with sqlite3.connect(db) as con:  # the servers are up: WAL readers see what is committed
        return {
            "scored": con.execute(
                "SELECT seq, transaction_json, detector, score, alert, rules "
                "FROM scored ORDER BY seq"
            ).fetchall(),
            "accounts": con.execute("SELECT * FROM accounts ORDER BY account").fetchall(),
            "events": con.execute("SELECT * FROM events ORDER BY account, seq").fetchall(),
            "pairs": con.execute("SELECT * FROM pairs ORDER BY src, dst").fetchall(),
        }


def test_fast_path_sends_fastapis_bytes_and_stores_the_same(aml_run: Run, tmp_path: Path) -> None:
    plain, doubtful = _requests(aml_run)
    assert all(parse_transaction(json.dumps(r["json"]).encode()) is not None for r in plain)
    servers: dict[bool, LibraryServer] = {}
    for fast in (True, False):
        server = LibraryServer(run=aml_run, db=tmp_path / f"fast-{fast}.sqlite3", api_key=API_KEY)
        server.fast_path = fast
        servers[fast] = server.start()
    try:
        answers: dict[bool, list[tuple[int, str, bytes]]] = {}
        for fast, server in servers.items():
            with httpx.Client(base_url=server.url, timeout=30) as client:
                answers[fast] = [_send(client, r) for r in plain + [r for r, _ in doubtful]]
                metrics = client.get("/metrics").text
            counted = [
                float(line.rsplit(" ", 1)[1])
                for line in metrics.splitlines()
                if line.startswith("amlwatch_fast_path_requests_total ")
            ]
            # The fast server answered exactly the plain requests itself; the other, none.
            assert counted == [float(len(plain)) if fast else 0.0]
        statuses = [s for s, _, _ in answers[True]]
        assert statuses == [200] * (len(plain) - 1) + [409] + [s for _, s in doubtful]
        for request, a, b in zip(
            plain + [r for r, _ in doubtful], answers[True], answers[False], strict=True
        ):
            assert a == b, request
        assert any(b'"features":{' in content for _, _, content in answers[True])
        first, second = (_state(servers[f].db) for f in (True, False))
        assert first == second
        assert len(first["scored"]) == len(plain) - 1 + sum(
            s == 200 for _, s in doubtful
        )  # each 200 stored once
        assert math.isfinite(first["scored"][0][3])
    finally:
        for server in servers.values():
            server.kill()
