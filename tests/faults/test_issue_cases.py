"""The numbered failures of the reliability issue (#18), each reproduced, and the smaller ones.

Each test makes the failing situation first (the repro of the issue), then
checks the behaviour that replaced it. Commands run in-process through
Typer's runner unless a real process death or a real run is needed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from basketcast.cli import app
from basketcast.io import INCOMPLETE
from tests.faults._runner import cli, output_state

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    if result.exit_code not in (0, 2):
        raise AssertionError(f"exit {result.exit_code}: {result.output}") from result.exception
    return result.exit_code, " ".join(result.output.split())  # Rich wraps long lines


def copy_data(data: Path, to: Path) -> Path:
    shutil.copytree(data, to)
    return to


def test_1_a_lone_test_order_gets_none_and_a_warning(
    data: Path, tmp_path: Path, configs: dict[str, Path], fault_root: Path
) -> None:
    folder = copy_data(data, tmp_path / "B")
    orders = pl.read_parquet(folder / "orders.parquet")
    lone = orders.head(1).with_columns(
        order_id=pl.lit(88888889, orders.schema["order_id"]),
        user_id=pl.lit(9002, orders.schema["user_id"]),
        eval_set=pl.lit("test").cast(orders.schema["eval_set"]),
        order_number=pl.lit(1, orders.schema["order_number"]),
        days_since_prior_order=pl.lit(None, orders.schema["days_since_prior_order"]),
    )
    pl.concat([orders, lone]).write_parquet(folder / "orders.parquet")
    (folder / "truth.csv").write_text((folder / "truth.csv").read_text() + "88888889,None\n")
    code, output = invoke("validate", str(folder))
    assert code == 0 and "order 88888889 (user 9002, test)" in output and "None" in output
    run = tmp_path / "R"
    done = cli(["run", str(folder), "--out", str(run), "--config", str(configs["A"])],
               log=fault_root / "lone.log")  # fmt: skip
    assert done.code == 0, done.log
    submission = pl.read_csv(run / "submission.csv")
    test_ids = (
        lone.get_column("order_id").to_list()
        + orders.filter(pl.col("eval_set") == "test").get_column("order_id").to_list()
    )
    assert sorted(submission["order_id"].to_list()) == sorted(test_ids)
    assert submission.filter(pl.col("order_id") == 88888889)["products"].item() == "None"
    code, output = invoke("predict", str(run), str(folder), "--out", str(tmp_path / "p.csv"))
    assert code == 0, output
    predicted = pl.read_csv(tmp_path / "p.csv")
    assert predicted.height == len(test_ids)
    assert predicted.filter(pl.col("order_id") == 88888889)["products"].item() == "None"


@pytest.mark.parametrize("kind", ["folder", "dangling link", "link loop"])
def test_2_a_table_path_that_is_not_a_file(data: Path, tmp_path: Path, kind: str) -> None:
    folder = copy_data(data, tmp_path / "B")
    target = folder / "products.csv"
    if kind == "folder":
        target.mkdir()
    elif kind == "dangling link":
        target.symlink_to(folder / "nowhere.csv")
    else:
        target.symlink_to(folder / "products.csv")
    code, output = invoke("validate", str(folder))
    assert code == 2 and "products.csv" in output and "is not a readable file" in output


def test_4_predict_after_a_kill_mid_model_write_uses_one_model_set(
    run_a: Path, data: Path, configs: dict[str, Path], tmp_path: Path, fault_root: Path
) -> None:
    folder = tmp_path / "R"
    shutil.copytree(run_a, folder, symlinks=True)
    invoke("predict", str(run_a), str(data), "--out", str(tmp_path / "before.csv"))
    args = ["run", str(data), "--out", str(folder), "--config", str(configs["B"])]
    killed = cli(args, log=fault_root / "case4.log", fault="kill@write:item_fold1.ubj")
    assert killed.killed
    code, output = invoke("predict", str(folder), str(data), "--out", str(tmp_path / "after.csv"))
    assert code == 0, output
    assert (tmp_path / "after.csv").read_bytes() == (tmp_path / "before.csv").read_bytes()
    manifest = json.loads((folder / "models" / "item_models.json").read_text())
    assert manifest["n_folds"] == 2  # A's models, listed by A's manifest


def test_6_out_is_an_existing_file(data: Path, tmp_path: Path) -> None:
    existing = tmp_path / "file"
    existing.write_text("x")
    for args in (["run", str(data), "--out", str(existing)],
                 ["synth", "--users", "5", "--out", str(existing)]):  # fmt: skip
        code, output = invoke(*args)
        assert code == 2 and "cannot write" in output and "not a folder" in output
    assert existing.read_text() == "x"


def test_6_an_interrupted_synth_leaves_a_folder_marked_incomplete(
    tmp_path: Path, fault_root: Path
) -> None:
    out = tmp_path / "S"
    killed = cli(["synth", "--users", "20", "--out", str(out)], log=fault_root / "synth_kill.log",
                 fault="kill@folder:move:3")  # fmt: skip
    assert killed.killed
    assert (out / INCOMPLETE).exists()
    code, output = invoke("validate", str(out))
    assert code == 2 and "interrupted" in output
    code, output = invoke("synth", "--users", "20", "--out", str(out))
    assert code == 0 and not (out / INCOMPLETE).exists()
    assert invoke("validate", str(out))[0] == 0
    assert not [p for p in out.iterdir() if p.name.startswith(".staging")]


def test_6_a_killed_synth_before_moving_keeps_the_previous_files(
    tmp_path: Path, fault_root: Path
) -> None:
    out = tmp_path / "S"
    assert invoke("synth", "--users", "20", "--seed", "1", "--out", str(out))[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    killed = cli(["synth", "--users", "30", "--seed", "2", "--out", str(out)],
                 log=fault_root / "synth_kill2.log", fault="kill@folder:staged")  # fmt: skip
    assert killed.killed
    after = {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith(".staging")}
    assert after == before
    assert invoke("synth", "--users", "30", "--seed", "2", "--out", str(out))[0] == 0
    assert not [
        p for p in out.iterdir() if p.name.startswith(".")
    ]  # the dead writer's staging swept


def test_7_synth_parquet_over_csv_leaves_one_file_per_table(tmp_path: Path) -> None:
    out = tmp_path / "S"
    assert invoke("synth", "--users", "20", "--out", str(out))[0] == 0
    assert invoke("synth", "--users", "20", "--out", str(out), "--format", "parquet")[0] == 0
    assert not list(out.glob("*.csv")) or {p.name for p in out.glob("*.csv")} == {"truth.csv"}
    assert invoke("validate", str(out))[0] == 0


def test_7_threads_reaches_polars_before_it_starts(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = tmp_path / "t.toml"
    config.write_text("threads = 1\n")
    code = (
        "import sys; sys.argv = ['basketcast', 'config', '--config', sys.argv[1]]; "
        "import basketcast.cli, polars; print(polars.thread_pool_size())"
    )
    env = {k: v for k, v in os.environ.items() if k != "POLARS_MAX_THREADS"}
    env["POLARS_MAX_THREADS"] = "2"  # the file's value must win over the environment
    done = subprocess.run([sys.executable, "-c", code, str(config)], capture_output=True,
                          text=True, env=env, check=True)  # fmt: skip
    assert done.stdout.strip() == "1"


def test_7_one_seed(tmp_path: Path) -> None:
    config = tmp_path / "s.toml"
    config.write_text("[model]\nseed = 3\n")
    code, output = invoke("config", "--config", str(config))
    assert code == 2 and "model.seed" in output and "top-level `seed`" in output
    config.write_text("seed = 3\n")
    code, output = invoke("config", "--config", str(config))
    assert code == 0 and "seed = 3" in output and output.count("seed") == 1


def test_8_config_with_an_unknown_section(tmp_path: Path) -> None:
    config = tmp_path / "k.toml"
    config.write_text("[modle]\nfolds = 2\n")
    code, output = invoke("config", "--config", str(config))
    assert code == 2 and "modle" in output and str(config) in output


@pytest.mark.parametrize("victim", ["models/item_fold0.ubj", "models/item_models.json"])
def test_9_corrupt_model_files_are_named(
    run_a: Path, data: Path, tmp_path: Path, victim: str
) -> None:
    folder = tmp_path / "R"
    shutil.copytree(run_a, folder, symlinks=False)  # a real copy: the original stays intact
    path = folder / victim
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    code, output = invoke("predict", str(folder), str(data), "--out", str(tmp_path / "p.csv"))
    assert code == 2 and victim.split("/")[-1] in output and "corrupt; re-run" in output
    assert not (tmp_path / "p.csv").exists()


def test_10_corrupt_cache_entries_are_recomputed_with_a_note_and_stale_files_swept(
    run_a: Path, data: Path, configs: dict[str, Path], tmp_path: Path, fault_root: Path
) -> None:
    # One re-run covers both corrupt caches (features, item model) and the sweep.
    folder = tmp_path / "R"
    shutil.copytree(run_a, folder, symlinks=True)
    victims = [folder / "cache/features/items.parquet", folder / "cache/item/item_oof.parquet"]
    for path in victims:
        path.write_bytes(path.read_bytes()[:100])
    junk = [folder / ".submission.csv.999999.abcdefgh.tmp", folder / "cache" / "item" / ".x.1.abc.tmp",
            folder / ".outputs" / "20200101T000000Z-deadbeef"]  # fmt: skip
    junk[0].write_text("half")
    junk[1].write_text("half")
    junk[2].mkdir()
    done = cli(["run", str(data), "--out", str(folder), "--config", str(configs["A"])],
               log=fault_root / "case10.log")  # fmt: skip
    assert done.code == 0, done.log
    log = done.log.replace("\n", "")
    notes = json.loads((folder / "metrics.json").read_text())["notes"]
    for path in victims:
        assert path.name in log and "recomputing" in log
        assert any(path.name in n and "recomputing" in n for n in notes)
    assert (folder / "submission.csv").read_bytes() == (run_a / "submission.csv").read_bytes()
    assert not any(p.exists() for p in junk)
    assert output_state(folder)[0] == "complete"


def test_11_predict_answers_the_test_orders_by_default(
    run_a: Path, data: Path, tmp_path: Path
) -> None:
    code, output = invoke("predict", str(run_a), str(data), "--out", str(tmp_path / "p.csv"))
    assert code == 0, output
    predicted = pl.read_csv(tmp_path / "p.csv")
    assert (
        predicted["order_id"].to_list()
        == pl.read_csv(run_a / "submission.csv")["order_id"].to_list()
    )
    assert invoke("evaluate", str(tmp_path / "p.csv"), str(data / "truth.csv"))[0] == 0
    code, output = invoke("predict", str(run_a), str(data), "--out", str(tmp_path / "all.csv"),
                          "--orders", "all")  # fmt: skip
    orders = pl.read_parquet(data / "orders.parquet").filter(pl.col("eval_set") != "prior")
    assert pl.read_csv(tmp_path / "all.csv").height == orders.height


def _transactions(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "tx.csv"
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)
    return path


_TX = "customer,basket,day,item,qty\n" + "".join(
    f"{u},{u * 10 + o},2024-01-{o + 1:02d}T10:00:00,{p},{q}\n"
    for u in (1, 2, 3) for o in (1, 2, 3) for p, q in ((1, 1), (2, 1), (3, -1 if o == 2 else 2))
)  # fmt: skip
_TX_ARGS = ("--user", "customer", "--order", "basket", "--time", "day", "--product", "item")


def test_12_quantity_drops_returns_and_counts_them(tmp_path: Path) -> None:
    path = _transactions(tmp_path, _TX)
    code, output = invoke("datasets", "from-transactions", str(path), *_TX_ARGS,
                          "--quantity", "qty", "--out", str(tmp_path / "D"))  # fmt: skip
    assert code == 0, output
    from basketcast.data.sources.transactions import from_transactions, read_table

    converted = from_transactions(read_table(path), user="customer", order="basket", time="day",
                                  product="item", quantity="qty")  # fmt: skip
    assert converted.summary["lines_quantity_le_0_dropped"] == 3
    assert converted.summary["lines_in"] == 27
    prior = pl.read_csv(tmp_path / "D" / "order_products__prior.csv")
    returned = [u * 10 + 2 for u in (1, 2, 3)]
    assert prior.filter(pl.col("order_id").is_in(returned) & (pl.col("product_id") == 3)).is_empty()


@pytest.mark.parametrize(
    ("content", "phrase"),
    [(b"", "is empty (0 bytes)"),
     (_TX.encode().replace(b"2024-01-02", b"2024-01-\xff2", 1), "not UTF-8 text (first at line")],
)  # fmt: skip
def test_13_empty_or_non_utf8_transactions(tmp_path: Path, content: bytes, phrase: str) -> None:
    path = _transactions(tmp_path, content)
    code, output = invoke("datasets", "from-transactions", str(path), *_TX_ARGS,
                          "--out", str(tmp_path / "D"))  # fmt: skip
    assert code == 2 and phrase in output and "tx.csv" in output
    assert not (tmp_path / "D").exists()


def test_14_header_only_transactions(tmp_path: Path) -> None:
    path = _transactions(tmp_path, "customer,basket,day,item\n")
    code, output = invoke("datasets", "from-transactions", str(path), *_TX_ARGS,
                          "--out", str(tmp_path / "D"))  # fmt: skip
    assert code == 2 and "no lines" in output
    assert not (tmp_path / "D").exists()


@pytest.mark.parametrize(
    ("edit", "phrase"),
    [("malformed", "not an integer order id"),
     ("missing", "test orders of the data with no truth row"),
     ("extra", "not test orders of the data"),
     ("stale", "had not bought before")],
)  # fmt: skip
def test_15_16_truth_is_checked_in_validate(
    data: Path, tmp_path: Path, configs: dict[str, Path], edit: str, phrase: str
) -> None:
    folder = copy_data(data, tmp_path / "B")
    truth = pl.read_csv(folder / "truth.csv")
    if edit == "malformed":
        (folder / "truth.csv").write_text("order_id,products\nabc,1 2\n")
    elif edit == "missing":
        truth.slice(1).write_csv(folder / "truth.csv")
    elif edit == "extra":
        pl.concat([truth, pl.DataFrame({"order_id": [999999999], "products": ["None"]})],
                  how="vertical_relaxed").write_csv(folder / "truth.csv")  # fmt: skip
    else:
        truth.with_columns(products=pl.lit("999999")).write_csv(folder / "truth.csv")
    code, output = invoke(
        "run", str(folder), "--out", str(tmp_path / "R"), "--config", str(configs["A"])
    )
    assert code == 2 and phrase in output and "truth.csv" in output
    assert not (tmp_path / "R").exists()


def test_a_bad_eval_set_is_not_also_reported_as_not_in_orders(data: Path, tmp_path: Path) -> None:
    folder = copy_data(data, tmp_path / "B")
    orders = pl.read_parquet(folder / "orders.parquet").with_columns(
        pl.col("eval_set").cast(pl.String)
    )
    prior_order = orders.filter(pl.col("eval_set") == "prior")["order_id"][0]
    orders = orders.with_columns(
        eval_set=pl.when(pl.col("order_id") == prior_order)
        .then(pl.lit("priorr"))
        .otherwise("eval_set")
    )
    orders.write_parquet(folder / "orders.parquet")
    code, output = invoke("validate", str(folder))
    assert code == 2 and "'priorr'" in output and "not in orders" not in output


def test_2_to_the_63_is_out_of_range(data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "B"
    folder.mkdir()
    for path in data.iterdir():
        if path.name.endswith(".parquet") and path.name != "true_probs.parquet":
            pl.read_parquet(path).write_csv(folder / path.name.replace(".parquet", ".csv"))
    text = (folder / "orders.csv").read_text().splitlines()
    first = text[1].split(",")
    first[0] = str(2**63)
    text[1] = ",".join(first)
    (folder / "orders.csv").write_text("\n".join(text) + "\n")
    code, output = invoke("validate", str(folder))
    assert code == 2 and "out of range" in output and "9223372036854775808" in output


def test_non_utf8_orders_name_the_line_and_control_bytes_are_escaped(
    data: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "B"
    folder.mkdir()
    for path in data.iterdir():
        if path.name.endswith(".parquet") and path.name != "true_probs.parquet":
            pl.read_parquet(path).write_csv(folder / path.name.replace(".parquet", ".csv"))
    raw = (folder / "orders.csv").read_bytes().splitlines(keepends=True)
    raw[5] = raw[5].replace(b"prior", b"pri\xe9r")
    (folder / "orders.csv").write_bytes(b"".join(raw))
    code, output = invoke("validate", str(folder))
    assert code == 2 and "line 6" in output and "UTF-8" in output
    products = (folder / "products.csv").read_bytes()
    (folder / "products.csv").write_bytes(
        products.replace(b"product_name", b"product\x1b[31mname", 1)
    )
    (folder / "orders.csv").write_bytes(b"".join(raw).replace(b"pri\xe9r", b"prior"))
    code, output = invoke("validate", str(folder))
    assert code == 2 and "\x1b" not in output and "\\x1b" in output


def test_help_speaks_to_users_and_version() -> None:
    code, output = invoke("--help")
    assert code == 0 and "basketcast demo" in output and "basketcast synth" in output
    assert "thin wrappers" not in output
    from importlib.metadata import version

    assert invoke("--version") == (0, f"basketcast {version('basketcast')}")


def test_the_boundary_maps_input_errors_to_2_and_keeps_bugs_as_tracebacks(tmp_path: Path) -> None:
    import typer

    from basketcast._cli_common import Boundary
    from basketcast.data.dataset import DataError, Problem

    demo = typer.Typer(cls=Boundary)

    @demo.command("bad-input")
    def bad_input() -> None:
        raise DataError([Problem("orders.csv", "order_id", "not a number", 3)])

    @demo.command("unwritable")
    def unwritable() -> None:
        (tmp_path / "no" / "such" / "dir" / "f").open("w")

    @demo.command("bug")
    def bug() -> None:
        raise KeyError("a bug")

    result = runner.invoke(demo, ["bad-input"])
    assert result.exit_code == 2 and "orders.csv: column 'order_id'" in result.output
    result = runner.invoke(demo, ["unwritable"])
    assert (
        result.exit_code == 2 and "cannot use" in result.output and "No such file" in result.output
    )
    result = runner.invoke(demo, ["bug"])
    assert result.exit_code == 1 and isinstance(result.exception, KeyError)
