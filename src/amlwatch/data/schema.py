"""AMLworld's file layout and the canonical (snake_case) names amlwatch uses inside.

`transactions.csv` repeats the header `Account` (sender, then receiver); columns
are mapped by position, so AMLworld's files load unchanged. Synthetic worlds
add two optional columns, `Typology` and `Ring ID` (the planted scheme and its
id; empty for lawful transactions).
"""

from __future__ import annotations

__all__ = [
    "ACCOUNT_HEADER",
    "EXTRA_HEADER",
    "MAX_AMOUNT",
    "PAYMENT_FORMATS",
    "TIMESTAMP_FORMAT",
    "TIMESTAMP_FORMATS",
    "TRANSACTION_COLUMNS",
    "TRANSACTION_HEADER",
]

TRANSACTION_HEADER: tuple[str, ...] = (
    "Timestamp",
    "From Bank",
    "Account",
    "To Bank",
    "Account",
    "Amount Received",
    "Receiving Currency",
    "Amount Paid",
    "Payment Currency",
    "Payment Format",
    "Is Laundering",
)
TRANSACTION_COLUMNS: tuple[str, ...] = (
    "timestamp",
    "from_bank",
    "from_account",
    "to_bank",
    "to_account",
    "amount_received",
    "receiving_currency",
    "amount_paid",
    "payment_currency",
    "payment_format",
    "is_laundering",
)
EXTRA_HEADER: dict[str, str] = {"Typology": "typology", "Ring ID": "ring_id"}
ACCOUNT_HEADER: tuple[str, ...] = (
    "Bank Name",
    "Bank ID",
    "Account Number",
    "Entity ID",
    "Entity Name",
)
ACCOUNT_OPTIONAL: dict[str, str] = {"Country": "country"}
TIMESTAMP_FORMAT = "%Y/%m/%d %H:%M"
# Every form the loader and the service read: AMLworld's first, then what exports give
# (seconds optional, no time zone).
TIMESTAMP_FORMATS = (
    TIMESTAMP_FORMAT,
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
)
# Names other tools give the repeated `Account` column when they write Parquet.
SECOND_ACCOUNT_ALIASES = ("Account", "Account.1", "Account_1", "Account_duplicated_0")
INDIVIDUAL_PREFIXES = ("Individual", "Person", "Indiv")
# AMLworld's payment formats: each has its own feature column; any other value has none.
PAYMENT_FORMATS = ("ACH", "Wire", "Cheque", "Cash", "Credit Card", "Reinvestment", "Bitcoin")
# The largest amount read: the features keep window sums in float32 (about 3.4e38), and
# no real payment comes near a quadrillion in any currency AMLworld uses.
MAX_AMOUNT = 1e15
