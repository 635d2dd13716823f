"""The data contract: AMLworld's files load unchanged; bad input is one error listing every problem."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from amlwatch.data import load_ledger
from amlwatch.errors import DataError
from amlwatch.synth import World, write_world

HEADER = (
    "Timestamp,From Bank,Account,To Bank,Account,Amount Received,Receiving Currency,"
    "Amount Paid,Payment Currency,Payment Format,Is Laundering"
)
ROWS = [
    "2022/09/01 00:20,010,8000EBD30,010,8000EBD30,3697.34,US Dollar,3697.34,US Dollar,Reinvestment,0",
    "2022/09/01 00:20,03208,8000F4580,00001,8000F5340,0.01,US Dollar,0.01,US Dollar,Cheque,0",
    "2022/09/01 00:00,03209,8000F4670,03209,8000F4670,14675.57,US Dollar,14675.57,US Dollar,Reinvestment,0",
    "2022/09/01 00:02,012,8000F5030,012,8000F5030,2806.97,US Dollar,2806.97,US Dollar,Reinvestment,1",
]


def _write(folder: Path, header: str, rows: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "transactions.csv").write_text("\n".join([header, *rows]) + "\n")
    return folder


def test_amlworld_exact_header_loads(tmp_path: Path) -> None:
    ledger = load_ledger(_write(tmp_path, HEADER, ROWS))
    tx = ledger.transactions
    assert ledger.n_transactions == 4 and ledger.has_labels
    # Sorted by timestamp, ties by file order; txn_id keeps the file row.
    assert tx.get_column("txn_id").to_list() == [2, 3, 0, 1]
    # The repeated `Account` header maps to sender then receiver; banks keep leading zeros.
    row = tx.filter(pl.col("txn_id") == 1).row(0, named=True)
    assert (row["from_bank"], row["from_account"], row["to_bank"], row["to_account"]) == (
        "03208",
        "8000F4580",
        "00001",
        "8000F5340",
    )
    assert ledger.n_accounts == 5


def test_labels_are_optional_and_accounts_give_kinds(tmp_path: Path) -> None:
    header = HEADER.removesuffix(",Is Laundering")
    rows = [r.rsplit(",", 1)[0] for r in ROWS]
    folder = _write(tmp_path, header, rows)
    (folder / "accounts.csv").write_text(
        "Bank Name,Bank ID,Account Number,Entity ID,Entity Name\n"
        "Bank A,010,8000EBD30,800737690,Sole Proprietorship #50438\n"
        "Bank B,03208,8000F4580,80010D4A0,Individual #123\n"
    )
    ledger = load_ledger(folder)
    assert not ledger.has_labels
    kinds = dict(
        zip(ledger.accounts.get_column("account"), ledger.accounts.get_column("kind"), strict=True)
    )
    assert kinds["8000EBD30"] == "Corp" and kinds["8000F4580"] == "Indiv"
    assert ledger.warnings  # three accounts are not in accounts.csv


def test_synthetic_world_round_trips_csv_and_parquet(small_world: World, tmp_path: Path) -> None:
    for fmt in ("csv", "parquet"):
        ledger = load_ledger(write_world(small_world, tmp_path / fmt, format=fmt))
        assert ledger.n_transactions == small_world.transactions.height
        assert (
            ledger.transactions.get_column("is_laundering").sum()
            == small_world.transactions.get_column("is_laundering").sum()
        )
        assert ledger.transactions.get_column("typology").null_count() < ledger.n_transactions


BAD = [
    ("header", [], "header does not match"),
    (
        "timestamp",
        ["2022-13-45 99:99,010,A,010,B,1,US Dollar,1,US Dollar,ACH,0"],
        "not a timestamp",
    ),
    ("amount", ["2022/09/01 00:20,010,A,010,B,abc,US Dollar,1,US Dollar,ACH,0"], "not a number"),
    (
        "negative",
        ["2022/09/01 00:20,010,A,010,B,-5,US Dollar,1,US Dollar,ACH,0"],
        "negative amount",
    ),
    ("account", ["2022/09/01 00:20,010,,010,B,1,US Dollar,1,US Dollar,ACH,0"], "missing value"),
    (
        "huge",
        ["2022/09/01 00:20,010,A,010,B,1e39,US Dollar,1,US Dollar,ACH,0"],
        "amount above 1e+15",
    ),
    ("label", ["2022/09/01 00:20,010,A,010,B,1,US Dollar,1,US Dollar,ACH,7"], "label not 0 or 1"),
    ("empty", [], "has no transactions"),
]


@pytest.mark.parametrize(("case", "rows", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_file_column_and_examples(
    tmp_path: Path, case: str, rows: list[str], message: str
) -> None:
    header = (
        "Timestamp,From Bank,Account,To Bank,Account,Amount,Currency"
        if case == "header"
        else HEADER
    )
    folder = _write(tmp_path, header, rows)
    with pytest.raises(DataError) as info:
        load_ledger(folder)
    text = str(info.value)
    assert "transactions.csv" in text and message in text
    if rows:
        assert "line 2" in text  # examples point at the file's line


def test_every_problem_in_one_error(tmp_path: Path) -> None:
    rows = [
        "bad,010,A,010,B,x,US Dollar,-1,US Dollar,ACH,3",
        "2022/09/01 00:20,010,A,010,B,1,US Dollar,1,US Dollar,ACH,0",
        "bad too,010,A,010,B,1,US Dollar,1,US Dollar,ACH,0",
    ]
    folder = _write(tmp_path, HEADER, rows)
    (folder / "accounts.csv").write_text("Bank,Account\n1,2\n")
    with pytest.raises(DataError) as info:
        load_ledger(folder)
    problems = info.value.problems
    # Columns are named as the file's header names them.
    assert {p.column for p in problems} >= {
        "Timestamp",
        "Amount Received",
        "Amount Paid",
        "Is Laundering",
    }
    assert any(p.file == "accounts.csv" for p in problems)
    assert next(p for p in problems if p.column == "Timestamp").count == 2


def test_the_repeated_account_column_is_named_by_its_role(tmp_path: Path) -> None:
    rows = ["2022/09/01 00:20,010,,010,B,1,US Dollar,1,US Dollar,ACH,0",
            "2022/09/01 00:21,010,A,010, ,1,US Dollar,1,US Dollar,ACH,0"]  # fmt: skip
    with pytest.raises(DataError) as info:
        load_ledger(_write(tmp_path, HEADER, rows))
    assert {(p.column, p.count) for p in info.value.problems} == {
        ("Account (sender)", 1),
        ("Account (receiver)", 1),
    }
    assert "line 2: empty" in str(info.value)  # not Python's None


def test_missing_input(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_ledger(tmp_path / "nope")
    with pytest.raises(DataError, match="no transactions"):
        load_ledger(tmp_path)


def _problem_text(folder: Path) -> str:
    with pytest.raises(DataError) as info:
        load_ledger(folder)
    return " ".join(str(info.value).split())


@pytest.mark.parametrize(
    ("case", "edit", "message"),
    [
        ("extra field", lambda r: [*r[:1], r[1] + ",x", *r[2:]], "line 3 has 12 fields, the header 11"),
        ("unclosed quote", lambda r: [*r[:1], r[1].replace("Cheque", '"Cheque'), *r[2:]],
         'line 3: a quote (") opens a field that never closes'),
    ],
)  # fmt: skip
def test_a_row_that_breaks_the_csv_is_named_by_its_line(
    tmp_path: Path, case: str, edit, message: str
) -> None:
    text = _problem_text(_write(tmp_path, HEADER, edit(list(ROWS))))
    assert f"transactions.csv: {message}" in text
    assert len(text) < 400  # not a dump of the rest of the file


def test_accounts_rows_that_break_the_csv_are_named_too(tmp_path: Path) -> None:
    folder = _write(tmp_path, HEADER, ROWS)
    (folder / "accounts.csv").write_text(
        "Bank Name,Bank ID,Account Number,Entity ID,Entity Name\n"
        "Bank A,010,8000EBD30,800737690,Sole Proprietorship #50438\n"
        "Bank B,03208,8000F4580,80010D4A0,Individual #123,oops\n"
    )
    assert "accounts.csv: line 3 has 6 fields, the header 5" in _problem_text(folder)


def test_text_that_is_not_utf8_is_named_by_its_line(tmp_path: Path) -> None:
    folder = _write(tmp_path, HEADER, ROWS)
    raw = (
        (folder / "transactions.csv").read_bytes().replace(b"Reinvestment,1", b"R\xe9investment,1")
    )
    (folder / "transactions.csv").write_bytes(raw)
    assert "transactions.csv: not UTF-8 text (first at line 5)" in _problem_text(folder)
    (folder / "transactions.csv").write_bytes(b"")
    assert "transactions.csv: is empty (no header line)" in _problem_text(folder)


def test_blank_lines_are_skipped_and_examples_keep_the_file_line(tmp_path: Path) -> None:
    folder = _write(tmp_path, HEADER, [ROWS[0], "", ROWS[1], ROWS[2], ROWS[3], "", ""])
    ledger = load_ledger(folder)
    assert ledger.n_transactions == 4 and ledger.transactions.get_column("txn_id").max() == 3
    bad = ROWS[2].replace("14675.57,US Dollar,14675.57", "14675.57,US Dollar,-1")
    text = _problem_text(_write(tmp_path / "bad", HEADER, [ROWS[0], "", ROWS[1], bad]))
    assert "negative amount (1 row); e.g. line 5: '-1'" in text


def test_a_header_mismatch_names_the_column(tmp_path: Path) -> None:
    header = HEADER.replace("Amount Received", "Amount")
    assert "column 6 is 'Amount', expected 'Amount Received'" in _problem_text(
        _write(tmp_path, header, ROWS)
    )


def test_parquet_with_native_types_loads_as_the_csv_does(tmp_path: Path) -> None:
    csv_ledger = load_ledger(_write(tmp_path / "csv", HEADER, ROWS))
    frame = pl.read_csv(tmp_path / "csv" / "transactions.csv", infer_schema=False)
    frame = frame.with_columns(
        pl.col("Timestamp").str.strptime(pl.Datetime("ns"), "%Y/%m/%d %H:%M"),
        pl.col("Amount Paid").cast(pl.Float64),
        pl.col("Is Laundering") == "1",  # a Boolean label
    )
    (tmp_path / "pq").mkdir()
    frame.write_parquet(tmp_path / "pq" / "transactions.parquet")
    pq_ledger = load_ledger(tmp_path / "pq")
    assert pq_ledger.transactions.equals(csv_ledger.transactions)


def test_examples_name_the_line_in_csv_and_the_row_in_parquet(tmp_path: Path) -> None:
    bad = ROWS[2].replace("14675.57,US Dollar,14675.57", "14675.57,US Dollar,-1")
    folder = _write(tmp_path / "csv", HEADER, [ROWS[0], bad])
    assert "e.g. line 3: '-1'" in _problem_text(folder)  # the header is line 1
    (tmp_path / "pq").mkdir()
    pl.read_csv(folder / "transactions.csv", infer_schema=False).write_parquet(
        tmp_path / "pq" / "transactions.parquet"
    )
    assert "e.g. row 2: '-1'" in _problem_text(tmp_path / "pq")  # Parquet has no lines


def test_an_empty_label_column_means_no_labels(tmp_path: Path) -> None:
    rows = [r.rsplit(",", 1)[0] + "," for r in ROWS]
    ledger = load_ledger(_write(tmp_path, HEADER, rows))
    assert not ledger.has_labels and ledger.n_transactions == 4
    assert any("'Is Laundering' is empty in every row" in w for w in ledger.warnings)
    # Some labels and some empty ones are still an error: which rows are lawful is unknown.
    partial = [rows[0], *ROWS[1:]]
    assert "label not 0 or 1 (1 row); e.g. line 2: empty" in _problem_text(
        _write(tmp_path / "partial", HEADER, partial)
    )
    whole = [r.rsplit(",", 1)[0] + ",1.0" for r in ROWS]  # whole numbers written as floats
    assert load_ledger(_write(tmp_path / "floats", HEADER, whole)).labels().tolist() == [1] * 4


def test_odd_but_valid_input_loads_with_warnings(tmp_path: Path) -> None:
    rows = [*ROWS, ROWS[0], ROWS[1].replace("Cheque", "Wire Transfer")]
    rows = [r + ",web" for r in rows]
    ledger = load_ledger(_write(tmp_path, HEADER + ",Channel", rows))
    assert ledger.n_transactions == 6
    text = " ".join(ledger.warnings)
    assert "column(s) 'Channel' ignored" in text
    assert "1 row(s) repeat an earlier row in every field" in text
    assert "'Wire Transfer' (1)" in text and "no format feature" in text


def test_ibm_release_names_and_gzip_load(tmp_path: Path) -> None:
    accounts = (
        "Bank Name,Bank ID,Account Number,Entity ID,Entity Name\n"
        "Bank B,03208,8000F4580,80010D4A0,Individual #123\n"
    )
    folder = tmp_path / "ibm"
    folder.mkdir()
    (folder / "HI-Small_Trans.csv").write_text("\n".join([HEADER, *ROWS]) + "\n")
    (folder / "HI-Small_accounts.csv").write_text(accounts)
    for data in (folder, folder / "HI-Small_Trans.csv"):
        ledger = load_ledger(data)
        kinds = ledger.accounts.filter(pl.col("account") == "8000F4580").get_column("kind")
        assert ledger.n_transactions == 4 and kinds.to_list() == ["Indiv"]
    (folder / "LI-Small_Trans.csv").write_text("\n".join([HEADER, *ROWS]) + "\n")
    assert "several transaction files (HI-Small_Trans.csv, LI-Small_Trans.csv)" in _problem_text(
        folder
    )
    import gzip

    zipped = tmp_path / "gz"
    zipped.mkdir()
    with gzip.open(zipped / "transactions.csv.gz", "wt") as fh:
        fh.write("\n".join([HEADER, *ROWS]) + "\n")
    plain = load_ledger(_write(tmp_path / "plain", HEADER, ROWS))
    assert load_ledger(zipped).transactions.equals(plain.transactions)


def test_exported_timestamp_forms_and_snake_case_headers_load(tmp_path: Path) -> None:
    forms = ["2022/09/01 00:20:00", "2022-09-01 00:20", "2022-09-01T00:20", "2022-09-01 00:20:00"]
    rows = [
        f"{form}{row[len('2022/09/01 00:20') :]}" for form, row in zip(forms, ROWS, strict=True)
    ]
    times = load_ledger(_write(tmp_path / "forms", HEADER, rows)).transactions.get_column(
        "timestamp"
    )
    assert times.dt.strftime("%Y/%m/%d %H:%M").to_list() == ["2022/09/01 00:20"] * 4
    # amlwatch's own column names, with and without the label.
    snake = "timestamp,from_bank,from_account,to_bank,to_account,amount_received,receiving_currency,amount_paid,payment_currency,payment_format"
    unlabelled = [r.rsplit(",", 1)[0] for r in ROWS]
    assert not load_ledger(_write(tmp_path / "snake", snake, unlabelled)).has_labels
    assert load_ledger(_write(tmp_path / "snake1", snake + ",is_laundering", ROWS)).has_labels
    zoned = [ROWS[0].replace("2022/09/01 00:20", "2022-09-01T00:20:00+02:00"), *ROWS[1:]]
    assert "no time zone" in _problem_text(_write(tmp_path / "zoned", HEADER, zoned))
