"""`amlwatch synth`: a seeded synthetic bank world in AMLworld's layout, with planted laundering.

Specification, revision 2 (written 2026-11-30 before its implementation and before
any measurement on it; not tuned afterwards)
----------------------------------------------------------------------------------
Why a revision. Revision 1 (the first session's) made laundering separable from
each transaction's own fields: laundering legs were lognormal around 8,000 from
fresh, otherwise idle mule accounts, at uniform hours, and Bitcoin was used by
laundering only. XGBoost without graph features reached F1 0.95, leaving
nothing for graph features to add (+0.005). In IBM's AMLworld, ordinary
customers also pay in Bitcoin, send round and near-threshold amounts, and new
accounts transact normally; laundering hides among them. Revision 2 gives
every lawful behaviour its own mix of formats, hours, rounding and
near-threshold amounts, lets accounts open during the period and behave
normally, and draws each laundering ring's amounts, formats and hours from
the same distributions as one lawful behaviour (its *cover*). Typology sizes
and timings are unchanged.

World. `days` days (default 120) from 2022-09-01, timestamps to the minute.
`n_banks` banks (default 30), each in one country: US 50 %, GB 10 %, DE 8 %,
FR 8 %, CH/SG/HK 5 % each, AE 4 %; the last two banks are in KY and PA (the
default rules file lists KY and PA). Accounts are individuals ("Individual
#i") and companies ("Corporation #j"), one company per eight individuals;
companies are 35 % shops, 5 % utilities, the rest ordinary businesses. An
account's bank is drawn by a Zipf(1.1) bank size; its currency is its
country's. The number of individuals is set so that the lawful behaviours
below produce about `n_transactions` transactions.
Account opening: 85 % of accounts (of each kind) are open before the period
starts; 15 % open on a uniform day of the period. From its opening day an
account has every behaviour of its kind at the same rates; it has no
transaction before it (a lawful leg is dropped when either side is not open
yet on its day).

Lawful behaviour (rates per account). Amounts are drawn in USD, converted to
the payment currency at fixed rates, then rounded there as stated; a
*near-threshold* amount is uniform in [9,000, 9,990] in the payment currency,
rounded to 10 (just under a 10,000 reporting threshold).
- *Salaries* (normal scatter): 70 % of individuals have one employer (a
  non-shop company); each employer pays on its own payday (1st, 15th or 28th)
  at its own hour (7-11 h), the same amount every month (lognormal, median
  3,000, sigma 0.4, rounded to 10), format ACH.
- *Bills*: each individual pays 2-4 utilities once a month on its own day
  (± 2 days), 6-22 h, lognormal median 90, sigma 0.5; ACH 80 %, Credit Card
  15 %, Cheque 5 %.
- *Card spending*: each individual pays shops at 0.5 per day (Poisson),
  shops by Zipf(1.2) popularity, 8-22 h, lognormal median 40, sigma 0.8,
  Credit Card.
- *Peer transfers*: each individual has 4 friends; 0.05 transfers a day to a
  friend, any hour (0-24 h), lognormal median 80, sigma 0.9, 30 % rounded to
  10; ACH 55 %, Cash 20 %, Wire 10 %, Cheque 5 %, Bitcoin 10 %.
- *Large personal payments* (rent, cars, deposits, family support): each
  individual makes 0.02 a day to a uniformly drawn account (an individual or
  a company, 50 % each; usually a counterparty never paid before), 8-20 h,
  lognormal median 1,500, sigma 1.0, 40 % rounded to 100; 5 % of them are
  near-threshold instead; ACH 35 %, Wire 25 %, Cheque 15 %, Cash 15 %,
  Bitcoin 10 %.
- *Suppliers and customers*: each company has 3-8 supplier companies and pays
  each about twice a month, 9-17 h, lognormal median 5,000, sigma 0.8, 20 %
  rounded to 1,000; 3 % near-threshold instead; Wire 35 %, ACH 35 %, Cheque
  22 %, Bitcoin 5 %, Cash 3 %.
- *Reinvestment*: 10 % of companies move money to themselves once a week at
  23 h, lognormal median 2,000, sigma 0.5, format Reinvestment.
Hard negatives (lawful traffic that looks like laundering on its own):
- *Shops gather* many small card payments and pay their suppliers (a lawful
  gather-scatter shape).
- *Payroll bursts*: 5 % of employers pay a one-off bonus (lognormal median
  1,000, rounded to 100) to all their employees on one random day, 10 h;
  5 % of employers start payroll halfway through the period, so their first
  salary run is a burst to new counterparties.
- *Bitcoin, Cash, Wire, round and near-threshold amounts* are all used by
  lawful individuals and companies at the rates above (by these rates
  Bitcoin is about 1.3 % of lawful transactions and near-threshold amounts
  about 0.3 %; laundering, through its covers, is about 9 % Bitcoin).
- *New accounts* (15 %) transact normally from their opening day.
Currencies: a payment is paid in the payer's currency and received in the
payee's (the same rule for lawful and laundering legs); Bitcoin payments are
paid and received in Bitcoin (amounts at a fixed 20,000 USD per coin, not
rounded).

Laundering: rings are planted until laundering transactions reach
`laundering_rate` (default 0.1 %) of all transactions, the eight typologies
in equal shares. A ring starts on a uniform day (its span inside the period).
- *Cover*: each ring draws one lawful behaviour as its cover: peer transfers
  30 %, large personal payments 45 %, supplier payments 25 %. Every leg's
  format and hour are drawn from the cover's mixes above; the ring's source
  legs (every leg of fan-out, fan-in and bipartite; the first layer of stack;
  the incoming legs of gather-scatter; the outgoing legs of scatter-gather;
  the first hop of cycle and random) draw their amounts from the cover's
  amount distribution (its lognormal, rounding and near-threshold shares);
  each forwarding leg keeps 95-99 % of what came in, and is then rounded
  with the cover's rounding rule and probability (gather-scatter's hub splits
  95-99 % of what it gathered over its outgoing legs, Dirichlet(4)).
- *Participants*: supplier-cover rings use companies, the others individuals.
  Each participant is, with probability 0.7, any account of that kind already
  open on the ring's start day, and with probability 0.3 a *recruited* one:
  an account of that kind that opened during the period, at most 60 days
  before the ring's start (any open account when there is none). Recruited
  accounts are ordinary accounts with every lawful behaviour of their kind;
  only their laundering legs are labelled. A ring's participants are
  distinct; accounts may take part in several rings. No bank or country is
  preferred: a participant pays from its own bank.
Typologies (sizes and timings as in revision 1):
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
