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
    MAX_AMOUNT,
    PAYMENT_FORMATS,
    SECOND_ACCOUNT_ALIASES,
    TIMESTAMP_FORMATS,
    TRANSACTION_COLUMNS,
    TRANSACTION_HEADER,
)
from amlwatch.errors import DataError, Problem
from runkit.textfiles import first_bad_utf8, first_broken_row, open_binary

__all__ = ["find_table", "load_ledger"]

_NUMERIC = ("amount_received", "amount_paid")
_TEXT: tuple[str, ...] = ("from_bank", "from_account", "to_bank", "to_account")
_TEXT += ("receiving_currency", "payment_currency", "payment_format")
_NOT_A_TIMESTAMP = (
    "not a timestamp like 2022/09/01 00:20 (AMLworld's), 2022/09/01 00:20:00, "
    "2022-09-01 00:20[:00] or 2022-09-01T00:20[:00] (no time zone)"
)
# A problem names the column as the file's header does; AMLworld repeats "Account".
_AS_IN_FILE = dict(zip(TRANSACTION_COLUMNS, TRANSACTION_HEADER, strict=True)) | {
    "from_account": "Account (sender)",
    "to_account": "Account (receiver)",
}


_IGNORED = "_ignored_"
_SUFFIXES = (".parquet", ".csv", ".csv.gz")
# IBM's release names its files <set>_Trans.csv and <set>_accounts.csv (HI-Small_Trans.csv, ...).
_IBM_TRANSACTIONS = "_Trans"
_IBM_ACCOUNTS = "_accounts"
_CSV_PROBLEM_CHARS = 200


def _stem(path: Path) -> str:
    name = path.name
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _in_folder(folder: Path, stem: str) -> Path | None:
    for suffix in _SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def find_table(data: Path, stem: str) -> Path | None:
    """The `stem` table ("transactions" or "accounts") of DATA, or None.

    DATA is a folder or the transactions file itself. Names, in order:
    `<stem>.parquet`, `.csv` or `.csv.gz`; then IBM's release names
    (`HI-Small_Trans.csv` with `HI-Small_accounts.csv`). The accounts table
    is the one beside the transactions file. Raises `DataError` when a folder
    holds several IBM transaction files (which one is meant is the user's to say).
    """
    transactions = data if data.is_file() else _in_folder(data, "transactions")
    if transactions is None and data.is_dir():
        found = sorted(
            p for p in data.iterdir() if p.is_file() and _stem(p).endswith(_IBM_TRANSACTIONS)
            and p.name.endswith(_SUFFIXES)
        )  # fmt: skip
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            raise DataError(
                [Problem(str(data), "", f"several transaction files ({names}); pass one of them")],
                source=str(data),
            )
        transactions = found[0] if found else None
    if stem == "transactions" or transactions is None:
        return transactions
    base = _stem(transactions)
    if base.endswith(_IBM_TRANSACTIONS):
        return _in_folder(transactions.parent, base[: -len(_IBM_TRANSACTIONS)] + _IBM_ACCOUNTS)
    return _in_folder(transactions.parent, "accounts")


def _raw_header(path: Path, problems: list[Problem]) -> list[str] | None:
    """The header's names, or None with a problem (empty file, not UTF-8, not a table)."""
    if path.suffix == ".parquet":
        try:
            return list(pl.read_parquet_schema(path).keys())
        except (OSError, pl.exceptions.PolarsError) as exc:  # not a Parquet file
            problems.append(Problem(path.name, "", f"cannot be read as Parquet: {_first(exc)}"))
            return None
    try:
        with open_binary(path) as fh:
            first = fh.readline()
    except OSError as exc:  # a .gz that is not gzip
        problems.append(Problem(path.name, "", f"cannot be read: {_first(exc)}"))
        return None
    if not first.strip():
        problems.append(Problem(path.name, "", "is empty (no header line)"))
        return None
    try:
        text = first.decode("utf-8-sig").strip("\r\n")
    except UnicodeDecodeError:
        problems.append(Problem(path.name, "", "not UTF-8 text (first at line 1)"))
        return None
    return [name.strip().strip('"') for name in text.split(",")]


def _first(exc: BaseException) -> str:
    """An exception's first line, cut short (Polars may quote the rest of the file)."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= _CSV_PROBLEM_CHARS else text[:_CSV_PROBLEM_CHARS] + "..."


def _csv_defect(path: Path, width: int) -> str | None:
    """Where a CSV that the reader refused stops being one: not UTF-8, a row of another
    width, a quote that never closes."""
    bad = first_bad_utf8(path)
    if bad is not None:
        return f"not UTF-8 text (first at line {bad[0]})"
    return first_broken_row(path, width)


def _header_mismatch(expected: list[str], got: list[str]) -> str:
    """Which columns differ, by position: "column 6 is 'Amount', expected 'Amount Received'"."""
    diffs = []
    for i in range(max(len(expected), len(got))):
        want = expected[i] if i < len(expected) else None
        have = got[i] if i < len(got) else None
        if want == have:
            continue
        if have is None:
            diffs.append(f"column {i + 1} {want!r} is missing")
        elif want is None:
            diffs.append(f"column {i + 1} {have!r} is not expected")
        else:
            diffs.append(f"column {i + 1} is {have!r}, expected {want!r}")
    return "; ".join(diffs[:3]) + ("; ..." if len(diffs) > 3 else "")


def _map_header(
    header: list[str], path: Path, problems: list[Problem], warnings: list[str]
) -> list[str] | None:
    """Canonical names by position, or None (with a problem) when the header does not fit.

    Columns after AMLworld's (and the synthetic `Typology`, `Ring ID`) are
    ignored, with a warning: an export may carry a bank's own columns.
    """
    snake = list(TRANSACTION_COLUMNS)  # amlwatch's own names, label optional here too
    if header[: len(snake)] == snake or header[: len(snake) - 1] == snake[:-1]:
        canonical = snake if header[: len(snake)] == snake else snake[:-1]
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
                    f"header does not match AMLworld's ({_header_mismatch(expected, got)}): "
                    f"expected {','.join(TRANSACTION_HEADER)} (label optional), "
                    f"got {','.join(header)}",
                )
            )
            return None
        canonical = list(TRANSACTION_COLUMNS[: len(expected)])
    extras = header[len(canonical) :]
    known = {**EXTRA_HEADER, **{v: v for v in EXTRA_HEADER.values()}}
    unknown = [name for name in extras if name not in known]
    if unknown:
        warnings.append(f"{path.name}: column(s) {', '.join(map(repr, unknown))} ignored")
    return canonical + [known.get(name, f"{_IGNORED}{i}") for i, name in enumerate(extras)]


def _read_strings(path: Path, names: list[str], problems: list[Problem]) -> pl.DataFrame | None:
    """Every column as text, plus `_row`: the row's number in the file (its line for CSV),
    or None with a problem when the file cannot be read as a table."""
    if path.suffix == ".parquet":
        frame = pl.read_parquet(path)
        frame.columns = names
        # Native types (timestamps, booleans) become the text the checks below parse.
        frame = frame.with_columns(
            pl.col(pl.Datetime, pl.Date).dt.strftime("%Y-%m-%d %H:%M:%S"),
            pl.col(pl.Boolean).cast(pl.Int8),
        )
        frame = frame.with_columns(pl.all().cast(pl.String))
        return frame.with_row_index("_row", offset=1).with_columns(pl.col("_row").cast(pl.Int64))
    with open_binary(path) as fh:
        fh.readline()
        if not fh.read(1):  # a header and nothing else
            return pl.DataFrame(schema={**dict.fromkeys(names, pl.String), "_row": pl.Int64})
    try:
        frame = pl.read_csv(
            path, has_header=False, skip_rows=1, new_columns=names, infer_schema=False
        )
    except pl.exceptions.PolarsError as exc:
        problems.append(Problem(path.name, "", _csv_defect(path, len(names)) or _first(exc)))
        return None
    frame = frame.with_row_index("_row", offset=2).with_columns(pl.col("_row").cast(pl.Int64))
    # Blank lines (a file's trailing newlines, say) are no transactions: every field is null.
    return frame.filter(~pl.all_horizontal(pl.col(names).is_null()))


def _examples(
    frame: pl.DataFrame, column: str, mask: pl.Expr, path: Path
) -> tuple[int, tuple[str, ...]]:
    bad = frame.filter(mask)
    rows = bad.head(3)
    # `_row` is the file's line for CSV (what an editor shows), the row's position in Parquet.
    unit = "row" if path.suffix == ".parquet" else "line"
    examples = tuple(
        f"{unit} {row}: {'empty' if value is None else repr(value)}"
        for row, value in zip(rows.get_column("_row"), rows.get_column(column), strict=True)
    )
    return bad.height, examples


def _parse_transactions(
    path: Path, problems: list[Problem], warnings: list[str]
) -> pl.DataFrame | None:
    header = _raw_header(path, problems)
    names = None if header is None else _map_header(header, path, problems, warnings)
    if names is None:
        return None
    raw = _read_strings(path, names, problems)
    if raw is None:
        return None
    raw = raw.drop(c for c in raw.columns if c.startswith(_IGNORED))
    if raw.height == 0:
        problems.append(Problem(path.name, "", "has no transactions"))
        return None
    has_labels = "is_laundering" in names
    if (
        has_labels
        and raw.get_column("is_laundering").str.strip_chars().replace("", None).is_null().all()
    ):
        warnings.append(
            f"{path.name}: column 'Is Laundering' is empty in every row: read as unlabelled"
        )
        raw = raw.drop("is_laundering")
        has_labels = False
    ts = pl.coalesce(
        pl.col("timestamp").str.strip_chars().str.strptime(pl.Datetime("us"), f, strict=False)
        for f in TIMESTAMP_FORMATS
    )
    exprs = [ts.alias("timestamp")]
    exprs += [pl.col(c).str.strip_chars().cast(pl.Float64, strict=False).alias(c) for c in _NUMERIC]
    exprs += [pl.col(c).str.strip_chars().alias(c) for c in _TEXT]
    if has_labels:  # 0/1, or 0.0/1.0 as some exports write whole numbers
        label = pl.col("is_laundering").str.strip_chars().cast(pl.Float64, strict=False)
        exprs.append(pl.when(label.is_in([0.0, 1.0])).then(label).cast(pl.Int8))
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
        checks.append((c, pl.col(c) > MAX_AMOUNT, f"amount above {MAX_AMOUNT:.0e}"))
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
        count, examples = _examples(both, f"raw_{column}", mask, path)
        if count:
            problems.append(Problem(path.name, _AS_IN_FILE[column], message, count, examples))
    formats = parsed.get_column("payment_format").value_counts(sort=True)
    other = formats.filter(
        ~pl.col("payment_format").is_in(PAYMENT_FORMATS) & pl.col("payment_format").is_not_null()
    )
    if other.height:
        shown = ", ".join(f"{f!r} ({n:,})" for f, n in other.head(5).rows())
        warnings.append(
            f"{path.name}: column 'Payment Format' has value(s) outside AMLworld's "
            f"{', '.join(PAYMENT_FORMATS)}: {shown}; they get no format feature"
        )
    repeated = parsed.height - parsed.drop("_row").n_unique()
    if repeated:
        warnings.append(
            f"{path.name}: {repeated:,} row(s) repeat an earlier row in every field "
            "(kept: two equal payments in one minute can be real)"
        )
    if not has_labels:
        parsed = parsed.with_columns(pl.lit(None, dtype=pl.Int8).alias("is_laundering"))
    for column, dtype in (("typology", pl.String), ("ring_id", pl.Int64)):
        if column not in parsed.columns:
            parsed = parsed.with_columns(pl.lit(None, dtype=dtype).alias(column))
    parsed = parsed.drop("_row")
    return parsed.with_row_index("txn_id").with_columns(pl.col("txn_id").cast(pl.Int64))


def _parse_accounts(path: Path, problems: list[Problem]) -> pl.DataFrame | None:
    header = _raw_header(path, problems)
    if header is None:
        return None
    expected = [
        *ACCOUNT_HEADER,
        *(h for h in header[len(ACCOUNT_HEADER) :] if h in ACCOUNT_OPTIONAL),
    ]
    if header != expected:
        problems.append(
            Problem(
                path.name,
                "",
                f"header does not match ({_header_mismatch(expected, header)}): expected "
                f"{','.join(ACCOUNT_HEADER)}[,Country], got {','.join(header)}",
            )
        )
        return None
    names = ["bank_name", "bank", "account", "entity_id", "entity_name"]
    names += [ACCOUNT_OPTIONAL[h] for h in header[len(ACCOUNT_HEADER) :]]
    read = _read_strings(path, names, problems)
    if read is None:
        return None
    raw = read.with_columns(pl.col(names).str.strip_chars())
    for column, header_name in (("bank", "Bank ID"), ("account", "Account Number"),
                                ("entity_id", "Entity ID")):  # fmt: skip
        missing = pl.col(column).is_null() | (pl.col(column) == "")
        count, examples = _examples(raw, column, missing, path)
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
    warnings: list[str] = []
    txn_path = find_table(data, "transactions")
    if txn_path is None:
        raise DataError(
            [Problem(str(data), "", "no transactions.csv, .csv.gz or .parquet (or IBM's "
                     "<set>_Trans.csv)")],
            source=str(data),
        )  # fmt: skip
    tx = _parse_transactions(txn_path, problems, warnings)
    acc_path = find_table(data, "accounts")
    accounts = _parse_accounts(acc_path, problems) if acc_path is not None else None
    if problems or tx is None:
        raise DataError(problems, source=str(data))
    return build_ledger(tx, accounts, source=str(data), warnings=warnings)


def build_ledger(
    tx: pl.DataFrame,
    accounts: pl.DataFrame | None,
    *,
    source: str = "",
    warnings: list[str] | None = None,
) -> Ledger:
    """Sort, key and join parsed transactions (canonical columns + `txn_id`) into a `Ledger`.

    `warnings`: the loader's, kept ahead of the ones joining the tables gives."""
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
    warnings = list(warnings or [])
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
