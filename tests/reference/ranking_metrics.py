#!/usr/bin/env python3
"""Independent check of reclab's full-ranking metrics (numpy only).

Reads a dump written by `reclab eval --dump DIR` (scores.f32, users.tsv, metrics.json),
ranks every user's items itself (history excluded except the targets, padding item 0
excluded, ties broken by item index ascending), recomputes HR, Recall, Precision, NDCG,
MRR and MAP at each cut-off, and compares them with reclab's numbers.

Exit status 0 when every metric agrees within the tolerance, 1 otherwise.
Usage: ranking_metrics.py DIR [--tol 1e-6]
"""
import json
import math
import sys

import numpy as np


def read_items(field):
    return [int(x) for x in field.split()] if field.strip() else []


def metrics_for(ranked, targets, k):
    top = ranked[:k]
    hits = [p + 1 for p, item in enumerate(top) if item in targets]
    n_hits = len(hits)
    dcg = sum(1.0 / math.log2(p + 1) for p in hits)
    idcg = sum(1.0 / math.log2(p + 1) for p in range(1, min(len(targets), k) + 1))
    precisions = [(i + 1) / p for i, p in enumerate(hits)]
    return {
        "hit": 1.0 if n_hits else 0.0,
        "recall": n_hits / len(targets),
        "precision": n_hits / k,
        "ndcg": dcg / idcg,
        "mrr": 1.0 / hits[0] if hits else 0.0,
        "map": sum(precisions) / min(len(targets), k),
    }


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    directory = args[0]
    tol = float(args[args.index("--tol") + 1]) if "--tol" in args else 1e-6
    with open(f"{directory}/metrics.json") as f:
        reported = json.load(f)
    cutoffs = reported["cutoffs"]
    users = []
    with open(f"{directory}/users.tsv") as f:
        for line in f:
            user, targets, history = line.rstrip("\n").split("\t")
            users.append((int(user), set(read_items(targets)), read_items(history)))
    scores = np.fromfile(f"{directory}/scores.f32", dtype="<f4")
    width = scores.size // len(users)
    scores = scores.reshape(len(users), width)
    max_k = max(cutoffs)
    sums = {f"{name}@{k}": 0.0 for k in cutoffs for name in ["hit", "recall", "precision", "ndcg", "mrr", "map"]}
    index = np.arange(width)
    for row, (_, targets, history) in zip(scores, users):
        row = row.astype(np.float64).copy()
        excluded = [i for i in history if i not in targets]
        row[excluded] = -np.inf
        row[0] = -np.inf
        if np.isnan(row).any():
            raise SystemExit("NaN score in the dump")
        # lexsort sorts by the last key first: score descending, then item index ascending.
        order = np.lexsort((index, -row))
        ranked = [int(i) for i in order[:max_k] if row[i] != -np.inf]
        for k in cutoffs:
            for name, value in metrics_for(ranked, targets, k).items():
                sums[f"{name}@{k}"] += value
    worst = 0.0
    for key, total in sums.items():
        mine = total / len(users)
        theirs = reported["metrics"][key]
        worst = max(worst, abs(mine - theirs))
        flag = "" if abs(mine - theirs) <= tol else "   <-- MISMATCH"
        print(f"{key:14} reference {mine:.8f}  reclab {theirs:.8f}{flag}")
    print(f"users {len(users)}, largest difference {worst:.3e}")
    return 0 if worst <= tol else 1


if __name__ == "__main__":
    sys.exit(main())
