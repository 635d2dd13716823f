"""`amlwatch synth`: a seeded synthetic bank world in AMLworld's layout, with planted laundering.

Specification (written before the features; not tuned afterwards)
-----------------------------------------------------------------
World. `days` days (default 120) from 2022-09-01, timestamps to the minute.
`n_banks` banks (default 30), each in one country: US 50 %, GB 10 %, DE 8 %,
FR 8 %, CH/SG/HK 5 % each, AE 4 %; the last two banks are in KY and PA (the
default rules file lists KY and PA). Accounts are individuals ("Individual
#i") and companies ("Corporation #j"), one company per eight individuals;
companies are 35 % shops, 5 % utilities, the rest ordinary businesses. An
account's bank is drawn by a Zipf(1.1) bank size; its currency is its
country's. The number of individuals is set so that the lawful behaviours
below produce about `n_transactions` transactions.

Lawful behaviour (rates per account):
- *Salaries* (normal scatter): 70 % of individuals have one employer (a
  non-shop company); each employer pays on its own payday (1st, 15th or 28th)
  at its own hour, the same amount every month (lognormal, median 3,000,
  rounded to 10), format ACH.
- *Bills*: each individual pays 2-4 utilities once a month on its own day
  (± 2 days), lognormal median 90, ACH.
- *Card spending*: each individual pays shops at 0.5 per day (Poisson),
  shops by Zipf(1.2) popularity, 8-22 h, lognormal median 40, Credit Card.
- *Peer transfers*: each individual has 4 friends; 0.05 transfers a day,
  lognormal median 80, ACH or Cash.
- *Suppliers and customers*: each company has 3-8 supplier companies and pays
  each about twice a month, lognormal median 5,000, Wire / Cheque / ACH.
- *Reinvestment*: 10 % of companies move money to themselves once a week.
Hard negatives:
- *Shops gather* many small card payments and pay their suppliers (a lawful
  gather-scatter shape).
- *Payroll bursts*: 5 % of employers pay a one-off bonus to all their
  employees on one random day; 5 % of employers start payroll halfway through
  the period, so their first salary run is a burst to new counterparties.
Cross-border payments (payer and payee banks in different countries) are paid
in the payer's currency and received in the payee's, at fixed rates.

Laundering: rings are planted until laundering transactions reach
`laundering_rate` (default 0.1 %) of all transactions, the eight typologies
in equal shares. Participants are 50 % existing accounts and 50 % new mule
accounts (individuals with only their peer transfers), a mule's bank is in a
listed country with probability 0.3. A ring starts on a uniform day; leg
amounts are lognormal (median 8,000) for the first leg and each forwarding
leg keeps 95-99 % of what came in; formats are ACH 45 %, Wire 25 %, Cheque
10 %, Cash 10 %, Bitcoin 10 %; hours are uniform.
- *fan_out*: one source pays 5-12 distinct accounts within 1-5 days.
- *fan_in*: 5-12 distinct accounts pay one sink within 1-5 days.
- *cycle*: 3-6 accounts, each pays the next and the last pays the first,
  hops 1-3 days apart.
- *scatter_gather*: a source pays 3-8 intermediaries within 1-3 days; each
  intermediary pays one sink 2-7 days after it was paid.
- *gather_scatter*: 4-10 accounts pay a hub within 3-10 days; then the hub
  pays 4-10 other accounts over the next 3-10 days (every outgoing leg after
  the last incoming one).
- *stack*: three layers of 2-3 accounts; every account of a layer pays every
  account of the next, 1-4 days between layers.
- *bipartite*: 2-4 payers each pay each of 2-4 payees within 1-7 days.
- *random*: a random walk of 4-8 hops over a fresh set of accounts (revisits
  allowed, never to itself), hops 1-3 days apart.
Each laundering transaction carries its `Typology` and `Ring ID`.
"""

from __future__ import annotations

from amlwatch.synth.generate import SynthConfig, World, generate, to_ledger, write_world

__all__ = ["SynthConfig", "World", "generate", "to_ledger", "write_world"]
