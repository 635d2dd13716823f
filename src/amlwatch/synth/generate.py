"""Generate the world specified in `amlwatch.synth`'s docstring: accounts, legs, banks, money.

Implementation notes (not changes to the specification): a near-threshold source
leg forwards 95-99 % of its USD draw (uniform in the same range), and a ring whose
kind has too few open accounts fills the rest from the other kind (tiny worlds only).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from amlwatch.data.ledger import Ledger
from amlwatch.io import write_frame
from amlwatch.synth.behaviours import FORMATS, NEAR_RANGE, NEAR_THRESHOLD, fmt_code
from amlwatch.synth.lawful import lawful
from amlwatch.synth.typologies import DAY, TYPOLOGIES, plant

__all__ = ["COUNTRIES", "SynthConfig", "World", "generate", "to_ledger", "write_world"]

# country: (share of banks, currency, units per USD)
COUNTRIES: dict[str, tuple[float, str, float]] = {
    "US": (0.50, "US Dollar", 1.0),
    "GB": (0.10, "UK Pound", 0.8),
    "DE": (0.08, "Euro", 0.95),
    "FR": (0.08, "Euro", 0.95),
    "CH": (0.05, "Swiss Franc", 0.9),
    "SG": (0.05, "Singapore Dollar", 1.35),
    "HK": (0.05, "Hong Kong Dollar", 7.8),
    "AE": (0.04, "UAE Dirham", 3.67),
    "KY": (0.025, "Cayman Dollar", 0.83),
    "PA": (0.025, "US Dollar", 1.0),
}
_BTC = fmt_code("Bitcoin")
_BTC_PER_USD = 1.0 / 20000.0
NEW_ACCOUNTS = 0.15
"""Share of accounts (of each kind) that open on a uniform day of the period."""


@dataclass(frozen=True)
class SynthConfig:
    """Size and seed of a synthetic world (see the package docstring for the behaviours)."""

    n_transactions: int = 300_000
    days: int = 120
    laundering_rate: float = 0.001
    n_banks: int = 30
    seed: int = 0
    start: dt.date = dt.date(2022, 9, 1)

    def __post_init__(self) -> None:
        if self.n_transactions < 1000:
            raise ValueError(f"n_transactions must be >= 1000, got {self.n_transactions}")
        if self.days < 40:
            raise ValueError(f"days must be >= 40 (rings span up to ~4 weeks), got {self.days}")
        if not 0.0 <= self.laundering_rate < 0.2:
            raise ValueError(f"laundering_rate must be in [0, 0.2), got {self.laundering_rate}")
        if self.n_banks < 4:
            raise ValueError(f"n_banks must be >= 4, got {self.n_banks}")


@dataclass(frozen=True)
class World:
    """Transactions (canonical column names, file order) and accounts of one synthetic world."""

    transactions: pl.DataFrame
    accounts: pl.DataFrame
    config: SynthConfig


def _epoch_us(moment: dt.datetime) -> int:
    return int((moment - dt.datetime(1970, 1, 1)).total_seconds()) * 1_000_000


def _money(
    rng: np.random.Generator,
    usd: np.ndarray,
    code: np.ndarray,
    fmt: np.ndarray,
    pay_c: np.ndarray,
    recv_c: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Amount paid (payer's currency, rounded as coded) and received (payee's currency)."""
    rate = np.array([COUNTRIES[c][2] for c in COUNTRIES])
    btc = fmt == _BTC
    paid = usd * rate[pay_c]
    unit = code > 0
    paid[unit] = np.maximum(np.round(paid[unit] / code[unit]), 1) * code[unit]
    near = code == NEAR_THRESHOLD
    paid[near] = np.round(rng.uniform(*NEAR_RANGE, int(near.sum())), -1)
    paid = np.where(btc, usd * _BTC_PER_USD, paid)
    converted = paid / rate[pay_c] * rate[recv_c]
    received = np.where(btc | (pay_c == recv_c), paid, converted)
    return paid, received


def _cents(amount: np.ndarray, btc: np.ndarray) -> np.ndarray:
    """Two decimals; Bitcoin to eight (a card-sized payment is a few ten-thousandths of a coin)."""
    return np.where(btc, np.round(amount, 8), np.round(amount, 2))


def generate(config: SynthConfig | None = None) -> World:
    """Build one seeded world (same config -> identical frames)."""
    cfg = config or SynthConfig()
    rng = np.random.default_rng(cfg.seed)
    # Lawful legs per individual over the period (card, bills + salary, peers, personal,
    # its share of suppliers), times the share left after late account openings.
    per_ind = (0.55 * cfg.days + 3.7 * cfg.days / 30.0 + 0.07 * cfg.days) * 0.84
    n_ind = max(int(cfg.n_transactions / per_ind), 40)
    n_corp = max(n_ind // 8, 16)
    n_acc = n_ind + n_corp
    is_new = rng.random(n_acc) < NEW_ACCOUNTS
    open_day = np.where(is_new, rng.integers(0, cfg.days, n_acc), 0)
    src, dst, minute, usd, code, fmt = lawful(rng, cfg, n_ind, n_corp, open_day)
    n_lawful = len(src)
    budget = round(cfg.laundering_rate * n_lawful / (1.0 - cfg.laundering_rate))
    planted = plant(
        rng,
        budget=budget,
        horizon=cfg.days * DAY,
        open_day=open_day,
        is_new=is_new,
        is_corp=np.arange(n_acc) >= n_ind,
    )
    src = np.concatenate([src, planted.src])
    dst = np.concatenate([dst, planted.dst])
    minute = np.concatenate([minute, planted.minute])
    usd = np.concatenate([usd, planted.usd])
    code = np.concatenate([code, planted.code])
    fmt = np.concatenate([fmt, planted.fmt])
    typ = np.concatenate([np.full(n_lawful, -1, np.int8), planted.typology])
    ring = np.concatenate([np.full(n_lawful, -1, np.int64), planted.ring])
    # Banks and countries: no bank or country is preferred by laundering.
    names = list(COUNTRIES)
    share = np.array([COUNTRIES[c][0] for c in names])
    bank_country = rng.choice(len(names), size=cfg.n_banks, p=share / share.sum())
    bank_country[-2:] = [names.index("KY"), names.index("PA")]
    size = 1.0 / np.arange(1, cfg.n_banks + 1) ** 1.1
    acc_bank = rng.choice(cfg.n_banks, size=n_acc, p=size / size.sum())
    acc_country = bank_country[acc_bank]
    cur_idx = np.array(
        [sorted({v[1] for v in COUNTRIES.values()}).index(COUNTRIES[c][1]) for c in names]
    )
    currencies = [*sorted({v[1] for v in COUNTRIES.values()}), "Bitcoin"]
    pay_c, recv_c = acc_country[src], acc_country[dst]
    btc = fmt == _BTC
    paid, received = _money(rng, usd, code, fmt, pay_c, recv_c)
    pay_cur = np.where(btc, len(currencies) - 1, cur_idx[pay_c])
    recv_cur = np.where(btc, len(currencies) - 1, cur_idx[recv_c])
    # File order: by minute, ties in a seeded random order.
    order = np.lexsort((rng.random(len(src)), minute))
    bank_ids = [f"{10 * (b + 1):03d}" for b in range(cfg.n_banks)]
    acct_num = [f"{0x800000000 + 37 * a:X}" for a in range(n_acc)]
    acc_frame = pl.DataFrame(
        {
            "code": np.arange(n_acc),
            "bank_name": [f"Bank #{b + 1}" for b in acc_bank.tolist()],
            "bank": pl.Series([bank_ids[b] for b in acc_bank.tolist()], dtype=pl.String),
            "account": acct_num,
            "kind": np.where(np.arange(n_acc) < n_ind, "Indiv", "Corp"),
            "country": [names[c] for c in acc_country.tolist()],
        }
    ).with_columns(
        (pl.lit("E") + pl.col("code").cast(pl.String)).alias("entity_id"),
        pl.when(pl.col("kind") == "Indiv")
        .then(pl.lit("Individual #") + pl.col("code").cast(pl.String))
        .otherwise(pl.lit("Corporation #") + pl.col("code").cast(pl.String))
        .alias("entity_name"),
    )
    start = dt.datetime.combine(cfg.start, dt.time())
    bank_s = pl.Series(bank_ids)
    acct_s = pl.Series(acct_num)
    tx = pl.DataFrame(
        {
            "timestamp": pl.Series(minute[order], dtype=pl.Int64) * 60_000_000,
            "from_bank": bank_s.gather(acc_bank[src[order]]),
            "from_account": acct_s.gather(src[order]),
            "to_bank": bank_s.gather(acc_bank[dst[order]]),
            "to_account": acct_s.gather(dst[order]),
            "amount_received": _cents(received[order], btc[order]),
            "receiving_currency": pl.Series(currencies).gather(recv_cur[order]),
            "amount_paid": _cents(paid[order], btc[order]),
            "payment_currency": pl.Series(currencies).gather(pay_cur[order]),
            "payment_format": pl.Series(FORMATS).gather(fmt[order]),
            "is_laundering": (typ[order] >= 0).astype(np.int8),
            "typology": pl.Series([*TYPOLOGIES, None]).gather(
                np.where(typ[order] >= 0, typ[order], len(TYPOLOGIES))
            ),
            "ring_id": pl.Series(ring[order]),
        }
    ).with_columns(
        (pl.col("timestamp") + _epoch_us(start)).cast(pl.Datetime("us")).alias("timestamp"),
        pl.when(pl.col("ring_id") >= 0).then(pl.col("ring_id")).alias("ring_id"),
    )
    return World(transactions=tx, accounts=acc_frame.drop("code"), config=cfg)


def to_ledger(world: World) -> Ledger:
    """The world as a `Ledger`, without a round trip through files (same result as loading them)."""
    from amlwatch.data.load import build_ledger

    tx = world.transactions.with_row_index("txn_id").with_columns(pl.col("txn_id").cast(pl.Int64))
    accounts = world.accounts.select("bank", "account", "kind", "country", "entity_id")
    return build_ledger(tx, accounts, source=f"synthetic world (seed {world.config.seed})")


def write_world(world: World, out: str | Path, *, format: str = "csv") -> Path:
    """Write `transactions` and `accounts` in AMLworld's layout (+ Typology, Ring ID columns)."""
    from amlwatch.data.schema import ACCOUNT_HEADER, TIMESTAMP_FORMAT, TRANSACTION_HEADER

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tx = world.transactions.with_columns(pl.col("timestamp").dt.strftime(TIMESTAMP_FORMAT))
    accounts = world.accounts.select(
        "bank_name", "bank", "account", "entity_id", "entity_name", "country"
    )
    accounts.columns = [*ACCOUNT_HEADER, "Country"]
    if format == "parquet":
        # Parquet cannot repeat a column name; the receiver's column is `Account.1`.
        names = [
            *TRANSACTION_HEADER[:4],
            "Account.1",
            *TRANSACTION_HEADER[5:],
            "Typology",
            "Ring ID",
        ]
        tx.columns = names
        write_frame(accounts, out / "accounts.parquet")
        write_frame(tx, out / "transactions.parquet")
        return out
    from amlwatch.io import atomic_path

    write_frame(accounts, out / "accounts.csv")
    header = ",".join([*TRANSACTION_HEADER, "Typology", "Ring ID"]) + "\n"
    with atomic_path(out / "transactions.csv") as tmp, tmp.open("w") as fh:
        fh.write(header)
        tx.write_csv(fh, include_header=False)
    return out
