"""Read AMLworld-layout files (CSV or Parquet), check them, and build a `Ledger`.

Every check runs before anything is raised, so one `DataError` lists every
problem (file, column, row count, examples), as basketcast's loader does.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from amlwatch.data.ledger import Ledger
from amlwatch.data.schema import (
    ACCOUNT_HEADER,
    ACCOUNT_OPTIONAL,
    EXTRA_HEADER,
    INDIVIDUAL_PREFIXES,
    SECOND_ACCOUNT_ALIASES,
    TIMESTAMP_FORMAT,
    TRANSACTION_COLUMNS,
    TRANSACTION_HEADER,
)
from amlwatch.errors import DataError, Problem

__all__ = ["find_table", "load_ledger"]

_NUMERIC = ("amount_received", "amount_paid")
_TEXT: tuple[str, ...] = ("from_bank", "from_account", "to_bank", "to_account")
_TEXT += ("receiving_currency", "payment_currency", "payment_format")
_NOT_A_TIMESTAMP = (
    "not a timestamp like 2022/09/01 00:20 (AMLworld's), 2022-09-01 00:20:00 or 2022-09-01T00:20:00"
)
# A problem names the column as the file's header does; AMLworld repeats "Account".
_AS_IN_FILE = dict(zip(TRANSACTION_COLUMNS, TRANSACTION_HEADER, strict=True)) | {
    "from_account": "Account (sender)",
    "to_account": "Account (receiver)",
}


def find_table(data: Path, stem: str) -> Path | None:
    """`data/<stem>.csv` or `.parquet` (or `data` itself when it is that file)."""
    if data.is_file():
        return data if data.stem == stem or stem == "transactions" else None
    for suffix in (".parquet", ".csv"):
        candidate = data / f"{stem}{suffix}"
        if candidate.exists():
            return candidate
    return None


def _raw_header(path: Path) -> list[str]:
    if path.suffix == ".parquet":
        return list(pl.read_parquet_schema(path).keys())
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        first = fh.readline().strip("\r\n")
    return [name.strip().strip('"') for name in first.split(",")] if first else []


def _map_header(header: list[str], path: Path, problems: list[Problem]) -> list[str] | None:
    """Canonical names by position, or None (with a problem) when the header does not fit."""
    if list(header[: len(TRANSACTION_COLUMNS)]) == list(TRANSACTION_COLUMNS):
        canonical = list(TRANSACTION_COLUMNS)
    else:
        labelled = header[10:11] == ["Is Laundering"]
        expected = list(TRANSACTION_HEADER if labelled else TRANSACTION_HEADER[:-1])
        got = list(header[: len(expected)])
        if len(got) == len(expected) and got[4] in SECOND_ACCOUNT_ALIASES:
            got[4] = "Account"
        if got != expected:
            problems.append(
                Problem(
                    path.name,
                    "",
                    "header does not match AMLworld's: expected "
                    f"{','.join(TRANSACTION_HEADER)} (label optional), got {','.join(header)}",
                )
            )
            return None
        canonical = list(TRANSACTION_COLUMNS[: len(expected)])
    extras = header[len(canonical) :]
    unknown = [
        name for name in extras if name not in EXTRA_HEADER and name not in EXTRA_HEADER.values()
    ]
    if unknown:
        problems.append(Problem(path.name, unknown[0], f"unknown column(s): {', '.join(unknown)}"))
        return None
    return canonical + [EXTRA_HEADER.get(name, name) for name in extras]


def _read_strings(path: Path, names: list[str]) -> pl.DataFrame:
    if path.suffix == ".parquet":
        frame = pl.read_parquet(path)
        frame.columns = names
        return frame.with_columns(pl.all().cast(pl.String))
    with path.open("rb") as fh:
        fh.readline()
        if not fh.read(1):  # a header and nothing else
            return pl.DataFrame(schema=dict.fromkeys(names, pl.String))
    return pl.read_csv(
        path,
        has_header=False,
        skip_rows=1,
        new_columns=names,
        infer_schema=False,
        encoding="utf8-lossy",
    )


def _examples(frame: pl.DataFrame, column: str, mask: pl.Expr) -> tuple[int, tuple[str, ...]]:
    bad = frame.with_row_index("_row").filter(mask)
    rows = bad.head(3)
    examples = tuple(
        f"row {row + 2}: {'empty' if value is None else repr(value)}"
        for row, value in zip(rows.get_column("_row"), rows.get_column(column), strict=True)
    )
    return bad.height, examples


def _parse_transactions(path: Path, problems: list[Problem]) -> pl.DataFrame | None:
    names = _map_header(_raw_header(path), path, problems)
    if names is None:
        return None
    raw = _read_strings(path, names)
    if raw.height == 0:
        problems.append(Problem(path.name, "", "has no transactions"))
        return None
    ts = pl.coalesce(
        pl.col("timestamp").str.strptime(pl.Datetime("us"), TIMESTAMP_FORMAT, strict=False),
        pl.col("timestamp").str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False),
        pl.col("timestamp").str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S", strict=False),
    )
    exprs = [ts.alias("timestamp")]
    exprs += [pl.col(c).str.strip_chars().cast(pl.Float64, strict=False).alias(c) for c in _NUMERIC]
    exprs += [pl.col(c).str.strip_chars().alias(c) for c in _TEXT]
    has_labels = "is_laundering" in names
    if has_labels:
        exprs.append(pl.col("is_laundering").str.strip_chars().cast(pl.Int8, strict=False))
    if "typology" in names:
        exprs.append(pl.col("typology").replace("", None))
    if "ring_id" in names:
        exprs.append(pl.col("ring_id").replace("", None).cast(pl.Int64, strict=False))
    parsed = raw.with_columns(exprs)
    checks: list[tuple[str, pl.Expr, str]] = [
        ("timestamp", pl.col("timestamp").is_null(), _NOT_A_TIMESTAMP),
    ]
    for c in _NUMERIC:
        checks.append((c, pl.col(c).is_null() | ~pl.col(c).is_finite(), "not a number"))
        checks.append((c, pl.col(c) < 0, "negative amount"))
    for c in _TEXT:
        checks.append((c, pl.col(c).is_null() | (pl.col(c) == ""), "missing value"))
    if has_labels:
        checks.append(
            (
                "is_laundering",
                ~pl.col("is_laundering").is_in([0, 1]).fill_null(False),
                "label not 0 or 1",
            )
        )
    both = pl.concat(
        [raw.select(pl.all().name.prefix("raw_")), parsed], how="horizontal", strict=True
    )
    for column, mask, message in checks:
        count, examples = _examples(both, f"raw_{column}", mask)
        if count:
            problems.append(Problem(path.name, _AS_IN_FILE[column], message, count, examples))
    if not has_labels:
        parsed = parsed.with_columns(pl.lit(None, dtype=pl.Int8).alias("is_laundering"))
    for column, dtype in (("typology", pl.String), ("ring_id", pl.Int64)):
        if column not in parsed.columns:
            parsed = parsed.with_columns(pl.lit(None, dtype=dtype).alias(column))
    return parsed.with_row_index("txn_id").with_columns(pl.col("txn_id").cast(pl.Int64))


def _parse_accounts(path: Path, problems: list[Problem]) -> pl.DataFrame | None:
    header = _raw_header(path)
    if tuple(header[: len(ACCOUNT_HEADER)]) != ACCOUNT_HEADER or any(
        name not in ACCOUNT_OPTIONAL for name in header[len(ACCOUNT_HEADER) :]
    ):
        problems.append(
            Problem(
                path.name,
                "",
                f"header does not match: expected {','.join(ACCOUNT_HEADER)}[,Country], "
                f"got {','.join(header)}",
            )
        )
        return None
    names = ["bank_name", "bank", "account", "entity_id", "entity_name"]
    names += [ACCOUNT_OPTIONAL[h] for h in header[len(ACCOUNT_HEADER) :]]
    raw = _read_strings(path, names).with_columns(pl.col(names).str.strip_chars())
    for column, header_name in (("bank", "Bank ID"), ("account", "Account Number"),
                                ("entity_id", "Entity ID")):  # fmt: skip
        count, examples = _examples(raw, column, pl.col(column).is_null() | (pl.col(column) == ""))
        if count:
            problems.append(Problem(path.name, header_name, "missing value", count, examples))
    dup = raw.filter(pl.struct("bank", "account").is_duplicated())
    if dup.height:
        examples = tuple(
            f"{b}/{a}" for b, a in dup.select("bank", "account").unique().head(3).rows()
        )
        problems.append(
            Problem(path.name, "Account Number", "duplicate (bank, account)", dup.height, examples)
        )
    label = pl.coalesce(pl.col("entity_name"), pl.col("entity_id"))
    kind = (
        pl.when(
            label.str.starts_with(INDIVIDUAL_PREFIXES[0])
            | label.str.starts_with(INDIVIDUAL_PREFIXES[1])
            | label.str.starts_with(INDIVIDUAL_PREFIXES[2])
        )
        .then(pl.lit("Indiv"))
        .otherwise(pl.lit("Corp"))
    )
    out = raw.with_columns(kind.alias("kind"))
    if "country" not in out.columns:
        out = out.with_columns(pl.lit(None, dtype=pl.String).alias("country"))
    return out.select("bank", "account", "kind", "country", "entity_id")


def load_ledger(data: str | Path) -> Ledger:
    """Load `transactions` (+ optional `accounts`) from a folder or a single file.

    Raises `DataError` listing every problem found; nothing is half-built.
    """
    data = Path(data)
    if not data.exists():
        raise FileNotFoundError(f"{data}: no such file or folder")
    problems: list[Problem] = []
    txn_path = find_table(data, "transactions")
    if txn_path is None:
        raise DataError(
            [Problem(str(data), "", "no transactions.csv or transactions.parquet")],
            source=str(data),
        )
    tx = _parse_transactions(txn_path, problems)
    acc_path = find_table(data, "accounts") if data.is_dir() else None
    accounts = _parse_accounts(acc_path, problems) if acc_path is not None else None
    if problems or tx is None:
        raise DataError(problems, source=str(data))
    return build_ledger(tx, accounts, source=str(data))


def build_ledger(tx: pl.DataFrame, accounts: pl.DataFrame | None, *, source: str = "") -> Ledger:
    """Sort, key and join parsed transactions (canonical columns + `txn_id`) into a `Ledger`."""
    tx = tx.sort("timestamp", "txn_id")
    keys = pl.concat(
        [
            tx.select(pl.col("from_bank").alias("bank"), pl.col("from_account").alias("account")),
            tx.select(pl.col("to_bank").alias("bank"), pl.col("to_account").alias("account")),
        ]
    )
    if accounts is not None:
        keys = pl.concat([keys, accounts.select("bank", "account")])
    # Codes follow the sorted key, so the same accounts get the same codes on every run.
    table = keys.unique().sort("bank", "account").with_row_index("code")
    table = table.with_columns(pl.col("code").cast(pl.Int64))
    warnings: list[str] = []
    if accounts is not None:
        table = table.join(accounts, on=["bank", "account"], how="left")
        unknown = table.filter(pl.col("kind").is_null()).height
        if unknown:
            warnings.append(f"{unknown:,} account(s) in transactions are not in accounts")
    else:
        table = table.with_columns(
            pl.lit(None, dtype=pl.String).alias("kind"),
            pl.lit(None, dtype=pl.String).alias("country"),
            pl.lit(None, dtype=pl.String).alias("entity_id"),
        )
    side = table.select("bank", "account", "code", "kind", "country")
    tx = tx.join(
        side.rename(
            {
                "bank": "from_bank",
                "account": "from_account",
                "code": "src",
                "kind": "src_kind",
                "country": "src_country",
            }
        ),
        on=["from_bank", "from_account"],
        how="left",
        maintain_order="left",
    ).join(
        side.rename(
            {
                "bank": "to_bank",
                "account": "to_account",
                "code": "dst",
                "kind": "dst_kind",
                "country": "dst_country",
            }
        ),
        on=["to_bank", "to_account"],
        how="left",
        maintain_order="left",
    )
    has_labels = bool(tx.get_column("is_laundering").null_count() < tx.height)
    return Ledger(
        transactions=tx,
        accounts=table,
        has_labels=has_labels,
        source=source,
        warnings=tuple(warnings),
    )
