"""Brute-force twins of the feature families: plain Python, one transaction at a time.

`stream_windows` is also the reference a streaming scorer must match: it keeps
each account's past events and, for each transaction in ledger order, reads
the window (t - w, t] cut at the transaction itself, then records it.
"""

from __future__ import annotations

import math
from collections import defaultdict

from amlwatch.features.registry import WINDOWS
from amlwatch.features.windows import STATS


def stream_windows(src, dst, minutes, paid, received):
    """Per transaction, the dict of account-window features (same names as the batch frame)."""
    events = defaultdict(list)  # account -> [(t, dir, cp, amount, new)]
    seen_pairs: set[tuple[int, int]] = set()
    rows = []
    for q in range(len(src)):
        t = minutes[q]
        new = (src[q], dst[q]) not in seen_pairs
        row = {}
        for role, acct, d, x in (("src", src[q], 0, paid[q]), ("dst", dst[q], 1, received[q])):
            for w, width in WINDOWS.items():
                win = [e for e in events[acct] if e[0] > t - width]
                out = [e for e in win if e[1] == 0]
                inn = [e for e in win if e[1] == 1]
                vals = {
                    "out_n": len(out),
                    "out_sum": sum(e[3] for e in out),
                    "in_n": len(inn),
                    "in_sum": sum(e[3] for e in inn),
                    "out_cp": len({e[2] for e in out}),
                    "in_cp": len({e[2] for e in inn}),
                    "out_new": sum(e[4] for e in out),
                    "in_new": sum(e[4] for e in inn),
                }
                for stat in STATS:
                    row[f"{role}_{stat}_{w}"] = vals[stat]
            own = [
                math.log1p(e[3]) for e in events[acct] if e[0] > t - WINDOWS["30d"] and e[1] == d
            ]
            z = 0.0
            if len(own) >= 2:
                mean = sum(own) / len(own)
                std = math.sqrt(max(sum(v * v for v in own) / len(own) - mean * mean, 0.0))
                z = (math.log1p(x) - mean) / max(std, 0.1)
            row[f"{role}_amount_z_30d"] = z
        rows.append(row)
        events[src[q]].append((t, 0, dst[q], paid[q], int(new)))
        events[dst[q]].append((t, 1, src[q], received[q], int(new)))
        seen_pairs.add((src[q], dst[q]))
    return rows


def pairs(src, dst):
    rows, count = [], defaultdict(int)
    for q in range(len(src)):
        rows.append(
            {
                "pair_new": float(count[(src[q], dst[q])] == 0),
                "pair_n_before": float(count[(src[q], dst[q])]),
                "pair_reverse_seen": float(count[(dst[q], src[q])] > 0),
            }
        )
        count[(src[q], dst[q])] += 1
    return rows


def graph_rows(src, dst, days, *, window=30, delta=14, k=5):
    """Graph features per transaction, from edge sets and breadth-first search."""
    first = min(days)
    days = [d - first for d in days]

    def edges(lo, hi):
        return {(a, b) for a, b, d in zip(src, dst, days, strict=True) if lo <= d <= hi and a != b}

    rows = []
    for u, v, d in zip(src, dst, days, strict=True):
        ew, ed, e1 = edges(d - window, d - 1), edges(d - delta, d - 1), edges(d - 1, d - 1)

        def outdeg(es, a):
            return sum(1 for x, _ in es if x == a)

        def indeg(es, a):
            return sum(1 for _, y in es if y == a)

        span = min(window, d) or 1
        sg = set()
        for m in {x for x, _ in ed}:
            if m != u and (m, v) in ed and any((s, u) in ed and (s, m) in ed for s, _ in ed):
                sg.add(m)
        cycle = 0
        if u != v:
            frontier, seen = {v}, {v}
            for length in range(1, k):
                frontier = {b for a, b in ed if a in frontier} - seen
                if u in frontier:
                    cycle = length + 1
                    break
                seen |= frontier
        rows.append(
            {
                "g_src_out_deg": outdeg(ew, u),
                "g_src_in_deg": indeg(ew, u),
                "g_dst_in_deg": indeg(ew, v),
                "g_dst_out_deg": outdeg(ew, v),
                "g_src_out_burst": outdeg(e1, u) - outdeg(ew, u) / span,
                "g_dst_in_burst": indeg(e1, v) - indeg(ew, v) / span,
                "g_src_fan_out": outdeg(ed, u),
                "g_dst_fan_in": indeg(ed, v),
                "g_gather_scatter": min(indeg(ed, u), outdeg(ed, u) + 1),
                "g_scatter_gather": len(sg),
                "g_cycle_len": cycle,
            }
        )
    return rows


def pagerank(n, edges, damping=0.85, iters=500):
    """Power iteration; dangling accounts spread their rank evenly (as igraph's PRPACK)."""
    out = defaultdict(list)
    for a, b in edges:
        out[a].append(b)
    r = [1.0 / n] * n
    for _ in range(iters):
        nxt = [(1 - damping) / n] * n
        dangling = sum(r[a] for a in range(n) if not out[a])
        for a in range(n):
            for b in out[a]:
                nxt[b] += damping * r[a] / len(out[a])
        r = [x + damping * dangling / n for x in nxt]
    return r
