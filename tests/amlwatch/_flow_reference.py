"""Brute-force twin of the flow family: plain Python, straight from its definitions."""

from __future__ import annotations

import functools
import math


def flow(src, dst, minutes, paid, received, *, delta, low=0.9, high=1.0, k=6, max_scan=100):
    """Per row, the dict of flow features (`amlwatch.features.flow`'s definitions)."""
    m = len(src)
    rows = []
    match_src: list[int] = []
    for i in range(m):
        u, v, t = src[i], dst[i], minutes[i]
        past = [j for j in range(i) if minutes[j] > t - delta and src[j] != dst[j]]
        recv = [j for j in past if dst[j] == u]
        pays = [j for j in past if src[j] == u]
        ratios = [(paid[i] / received[j], j) for j in recv]
        matched = [j for r, j in ratios if low <= r <= high]
        first_pay = pays[0] if pays else i
        row = {
            "flow_src_match_n": len(matched),
            "flow_src_match_hours": (t - minutes[max(matched)]) / 60 if matched else -1.0,
            "flow_src_best_ratio": min(ratios, key=lambda rj: (abs(math.log(rj[0])), rj[1]))[0]
            if ratios
            else 0.0,
            "flow_src_max_ratio": paid[i] / max(received[j] for j in recv) if recv else 0.0,
            "flow_src_out_in": (paid[i] + sum(paid[j] for j in pays))
            / sum(received[j] for j in recv)
            if recv
            else 0.0,
            "flow_gather_scatter": min(
                len({src[j] for j in recv if j < first_pay}),
                len({dst[j] for j in pays} | {v}),
            ),
        }
        s = src[max(matched)] if matched else -1
        row["flow_chain_len"] = 1 + rows[max(matched)]["flow_chain_len"] if matched else 0
        match_src.append(s)
        vrecv = [j for j in past if dst[j] == v]
        row["flow_dst_similar_n"] = sum(
            1 for j in vrecv[-max_scan:] if low <= received[i] / received[j] <= 1 / low
        )
        row["flow_dst_fwd_n"] = sum(1 for j in vrecv if rows[j]["flow_src_match_n"] > 0)
        row["flow_scatter_gather"] = (
            len({src[j] for j in vrecv if match_src[j] == s and src[j] != u}) if s >= 0 else 0
        )
        row["flow_cycle_len"] = cycle_len(src, dst, minutes, i, delta=delta, k=k)
        rows.append(row)
    return rows


def cycle_len(src, dst, minutes, i, *, delta, k):
    """1 + fewest hops of a time-respecting path dst[i] -> ... -> src[i] before row i (0 if none)."""
    u, v, t = src[i], dst[i], minutes[i]
    if u == v:
        return 0
    hops = [j for j in range(i) if minutes[j] > t - delta and src[j] != dst[j]]

    @functools.cache
    def reach(at: int, after: int, left: int) -> bool:
        # A path from `at` using rows later than `after`, at most `left` hops, ending at u.
        for j in hops:
            if (
                j > after
                and src[j] == at
                and (dst[j] == u or (left > 1 and reach(dst[j], j, left - 1)))
            ):
                return True
        return False

    for hops_n in range(1, k):
        if reach(v, -1, hops_n):
            return hops_n + 1
    return 0
