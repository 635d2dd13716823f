"""Generate the world specified in `amlwatch.synth`'s docstring, vectorised with NumPy."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from amlwatch.data.ledger import Ledger
from amlwatch.io import write_frame
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
FORMATS = ("ACH", "Wire", "Cheque", "Cash", "Credit Card", "Reinvestment", "Bitcoin")
_ACH, _WIRE, _CHEQUE, _CASH, _CARD, _REINVEST, _BTC = range(len(FORMATS))
_BTC_PER_USD = 1.0 / 20000.0


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


class _Legs:
    """Accumulates lawful legs: account codes, minute, USD amount, format code."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(
        self,
        src: np.ndarray,
        dst: np.ndarray,
        minute: np.ndarray,
        usd: np.ndarray,
        fmt: np.ndarray | int,
    ) -> None:
        n = len(src)
        fmt_arr = np.full(n, fmt, np.int8) if isinstance(fmt, int) else fmt.astype(np.int8)
        self.parts.append(
            (src.astype(np.int64), dst.astype(np.int64), minute.astype(np.int64), usd, fmt_arr)
        )

    def arrays(self) -> list[np.ndarray]:
        return [np.concatenate(c) for c in zip(*self.parts, strict=True)]


def _epoch_us(moment: dt.datetime) -> int:
    return int((moment - dt.datetime(1970, 1, 1)).total_seconds()) * 1_000_000


def _lognormal(rng: np.random.Generator, median: float, sigma: float, size: int) -> np.ndarray:
    return rng.lognormal(np.log(median), sigma, size)


def _monthly(cfg: SynthConfig, day_of_month: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row index, day offset) of each month's `day_of_month` (0-based) inside the period."""
    rows, offsets = [], []
    first = dt.date(cfg.start.year, cfg.start.month, 1)
    while (first - cfg.start).days < cfg.days:
        base = (first - cfg.start).days
        day = base + day_of_month
        ok = (day >= 0) & (day < cfg.days)
        rows.append(np.nonzero(ok)[0])
        offsets.append(day[ok])
        first = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return np.concatenate(rows), np.concatenate(offsets)


def _lawful(rng: np.random.Generator, cfg: SynthConfig, n_ind: int, n_corp: int) -> _Legs:
    legs = _Legs()
    days = cfg.days
    corp = n_ind + np.arange(n_corp)
    kind = rng.choice(3, size=n_corp, p=[0.35, 0.05, 0.60])  # shop, utility, business
    shops, utilities, employers = corp[kind == 0], corp[kind == 1], corp[kind != 0]
    if len(utilities) < 4:
        utilities = corp[:4]
    # Salaries (normal scatter): fixed payday, hour and amount per employee.
    employed = np.nonzero(rng.random(n_ind) < 0.7)[0]
    boss = rng.choice(employers, size=len(employed))
    payday = dict(
        zip(employers.tolist(), rng.choice([0, 14, 27], size=len(employers)).tolist(), strict=True)
    )
    pay_hour = dict(
        zip(employers.tolist(), rng.integers(7, 12, size=len(employers)).tolist(), strict=True)
    )
    late = set(rng.choice(employers, size=max(1, len(employers) // 20), replace=False).tolist())
    dom = np.array([payday[b] for b in boss.tolist()])
    hour = np.array([pay_hour[b] for b in boss.tolist()])
    salary = np.round(_lognormal(rng, 3000.0, 0.4, len(employed)), -1)
    row, day = _monthly(cfg, dom)
    starts_late = np.isin(boss[row], np.array(sorted(late)))
    keep = ~starts_late | (day >= days // 2)
    row, day = row[keep], day[keep]
    legs.add(
        boss[row],
        employed[row],
        day * DAY + hour[row] * 60 + rng.integers(0, 5, len(row)),
        salary[row],
        _ACH,
    )
    # Payroll bursts: a one-off bonus to every employee of 5 % of employers.
    bonus_boss = rng.choice(employers, size=max(1, len(employers) // 20), replace=False)
    bonus_day = dict(
        zip(bonus_boss.tolist(), rng.integers(0, days, len(bonus_boss)).tolist(), strict=True)
    )
    sel = np.nonzero(np.isin(boss, bonus_boss))[0]
    bday = np.array([bonus_day[b] for b in boss[sel].tolist()], dtype=np.int64)
    legs.add(
        boss[sel],
        employed[sel],
        bday * DAY + 10 * 60 + rng.integers(0, 30, len(sel)),
        np.round(_lognormal(rng, 1000.0, 0.3, len(sel)), -2),
        _ACH,
    )
    # Bills: 2-4 utilities per individual, monthly on the individual's own day (± 2).
    n_bills = rng.integers(2, 5, n_ind)
    payer = np.repeat(np.arange(n_ind), n_bills)
    biller = rng.choice(utilities, size=len(payer))
    bill_usd = _lognormal(rng, 90.0, 0.5, len(payer))
    row, day = _monthly(cfg, rng.integers(2, 26, len(payer)))
    day = np.clip(day + rng.integers(-2, 3, len(day)), 0, days - 1)
    legs.add(
        payer[row],
        biller[row],
        day * DAY + rng.integers(6 * 60, 22 * 60, len(row)),
        bill_usd[row] * rng.uniform(0.9, 1.1, len(row)),
        _ACH,
    )
    # Card spending at shops by Zipf popularity.
    n_card = int(rng.poisson(0.5 * days * n_ind))
    popularity = 1.0 / np.arange(1, len(shops) + 1) ** 1.2
    who = rng.integers(0, n_ind, n_card)
    legs.add(
        who,
        rng.choice(shops, size=n_card, p=popularity / popularity.sum()),
        rng.integers(0, days, n_card) * DAY + rng.integers(8 * 60, 22 * 60, n_card),
        _lognormal(rng, 40.0, 0.8, n_card),
        _CARD,
    )
    # Peer transfers among friends.
    friends = rng.integers(0, n_ind, (n_ind, 4))
    n_peer = int(rng.poisson(0.05 * days * n_ind))
    who = rng.integers(0, n_ind, n_peer)
    to = friends[who, rng.integers(0, 4, n_peer)]
    ok = to != who
    legs.add(
        who[ok],
        to[ok],
        rng.integers(0, days * DAY, int(ok.sum())),
        _lognormal(rng, 80.0, 0.7, int(ok.sum())),
        rng.choice([_ACH, _CASH], size=int(ok.sum())),
    )
    # Suppliers: each company pays 3-8 suppliers about twice a month.
    n_sup = rng.integers(3, 9, n_corp)
    buyer = np.repeat(corp, n_sup)
    seller = rng.choice(corp, size=len(buyer))
    ok = seller != buyer
    buyer, seller = buyer[ok], seller[ok]
    times = rng.poisson(2.0 * days / 30.0, len(buyer))
    b2, s2 = np.repeat(buyer, times), np.repeat(seller, times)
    legs.add(
        b2,
        s2,
        rng.integers(0, days, len(b2)) * DAY + rng.integers(9 * 60, 17 * 60, len(b2)),
        _lognormal(rng, 5000.0, 0.8, len(b2)),
        rng.choice([_WIRE, _CHEQUE, _ACH], size=len(b2)),
    )
    # Reinvestment: 10 % of companies move money to themselves weekly.
    rein = rng.choice(corp, size=max(1, n_corp // 10), replace=False)
    weeks = np.arange(0, days, 7)
    who = np.repeat(rein, len(weeks))
    day = np.tile(weeks, len(rein)) + np.repeat(rng.integers(0, 7, len(rein)), len(weeks))
    ok = day < days
    legs.add(
        who[ok],
        who[ok],
        day[ok] * DAY + 23 * 60,
        _lognormal(rng, 2000.0, 0.5, int(ok.sum())),
        _REINVEST,
    )
    return legs


def generate(config: SynthConfig | None = None) -> World:
    """Build one seeded world (same config -> identical frames)."""
    cfg = config or SynthConfig()
    rng = np.random.default_rng(cfg.seed)
    per_ind = 0.55 * cfg.days + 3.7 * cfg.days / 30.0 + 0.06 * cfg.days
    n_ind = max(int(cfg.n_transactions / per_ind), 40)
    n_corp = max(n_ind // 8, 16)
    legs = _lawful(rng, cfg, n_ind, n_corp)
    src, dst, minute, usd, fmt = legs.arrays()
    n_lawful = len(src)
    budget = round(cfg.laundering_rate * n_lawful / (1.0 - cfg.laundering_rate))
    planted = plant(rng, budget=budget, n_existing=n_ind + n_corp, horizon=cfg.days * DAY)
    n_mules = planted.n_mules
    n_acc = n_ind + n_corp + n_mules
    # Mules live quietly: a few peer transfers with individuals, both ways.
    mule = n_ind + n_corp + np.arange(n_mules)
    n_mp = rng.poisson(0.05 * cfg.days, n_mules)
    m = np.repeat(mule, n_mp)
    other = rng.integers(0, n_ind, len(m))
    flip = rng.random(len(m)) < 0.5
    mule_legs = (np.where(flip, other, m), np.where(flip, m, other))
    launder_fmt = rng.choice(
        [_ACH, _WIRE, _CHEQUE, _CASH, _BTC], size=len(planted.src), p=[0.45, 0.25, 0.1, 0.1, 0.1]
    )
    src = np.concatenate([src, mule_legs[0], planted.src])
    dst = np.concatenate([dst, mule_legs[1], planted.dst])
    minute = np.concatenate([minute, rng.integers(0, cfg.days * DAY, len(m)), planted.minute])
    usd = np.concatenate([usd, _lognormal(rng, 80.0, 0.7, len(m)), planted.usd])
    fmt = np.concatenate(
        [fmt, rng.choice([_ACH, _CASH], size=len(m)).astype(np.int8), launder_fmt.astype(np.int8)]
    )
    n_plain = n_lawful + len(m)
    typ = np.concatenate([np.full(n_plain, -1, np.int8), planted.typology])
    ring = np.concatenate([np.full(n_plain, -1, np.int64), planted.ring])
    # Banks and countries.
    names = list(COUNTRIES)
    share = np.array([COUNTRIES[c][0] for c in names])
    bank_country = rng.choice(len(names), size=cfg.n_banks, p=share / share.sum())
    bank_country[-2:] = [names.index("KY"), names.index("PA")]
    size = 1.0 / np.arange(1, cfg.n_banks + 1) ** 1.1
    acc_bank = rng.choice(cfg.n_banks, size=n_acc, p=size / size.sum())
    listed_banks = np.nonzero(np.isin(bank_country, [names.index("KY"), names.index("PA")]))[0]
    to_listed = rng.random(n_mules) < 0.3
    acc_bank[mule[to_listed]] = rng.choice(listed_banks, size=int(to_listed.sum()))
    acc_country = bank_country[acc_bank]
    rate = np.array([COUNTRIES[c][2] for c in names])
    cur_idx = np.array(
        [sorted({v[1] for v in COUNTRIES.values()}).index(COUNTRIES[c][1]) for c in names]
    )
    currencies = [*sorted({v[1] for v in COUNTRIES.values()}), "Bitcoin"]
    pay_c, recv_c = acc_country[src], acc_country[dst]
    btc = fmt == _BTC
    cross = pay_c != recv_c
    paid = np.where(btc, usd * _BTC_PER_USD, usd * rate[pay_c])
    received = np.where(btc, paid, np.where(cross, usd * rate[recv_c], paid))
    pay_cur = np.where(btc, len(currencies) - 1, cur_idx[pay_c])
    recv_cur = np.where(btc, len(currencies) - 1, np.where(cross, cur_idx[recv_c], pay_cur))
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
            "kind": np.where(
                np.arange(n_acc) < n_ind,
                "Indiv",
                np.where(np.arange(n_acc) < n_ind + n_corp, "Corp", "Indiv"),
            ),
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
            "amount_received": np.round(received[order], 2),
            "receiving_currency": pl.Series(currencies).gather(recv_cur[order]),
            "amount_paid": np.round(paid[order], 2),
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
