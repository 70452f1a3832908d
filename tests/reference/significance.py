"""Reference values for reclab's paired tests (src/stats.rs), computed by scipy.

Reads a JSON file of pairs {"pairs": [{"a": [...], "b": [...]}, ...]} and prints, for each pair
(differences d = b - a): the paired t-test, the Wilcoxon signed-rank test with the options reclab
documents (zero differences dropped, normal approximation, no continuity correction), the
percentile bootstrap 95% interval of the mean difference, and Cohen's d_z.

    python3 tests/reference/significance.py pairs.json
"""

import json
import sys

import numpy as np
from scipy import stats


def main():
    with open(sys.argv[1]) as f:
        pairs = json.load(f)["pairs"]
    out = []
    for pair in pairs:
        a = np.asarray(pair["a"], dtype=float)
        b = np.asarray(pair["b"], dtype=float)
        d = b - a
        t = stats.ttest_rel(b, a)
        w = stats.wilcoxon(d, zero_method="wilcox", correction=False, method="approx")
        boot = stats.bootstrap(
            (d,), np.mean, n_resamples=10_000, method="percentile", random_state=1
        )
        out.append(
            {
                "t": float(t.statistic),
                "t_p": float(t.pvalue),
                "wilcoxon": float(w.statistic),
                "wilcoxon_p": float(w.pvalue),
                "ci_low": float(boot.confidence_interval.low),
                "ci_high": float(boot.confidence_interval.high),
                "effect_size": float(d.mean() / d.std(ddof=1)),
            }
        )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
