//! Paired comparisons of two models scored on the same users: the mean difference with a
//! bootstrap 95% interval, the paired t-test, the Wilcoxon signed-rank test, an effect size, and
//! Holm's correction across several comparisons. Distributions come from `statrs`; the numbers
//! are checked against scipy (`tests/reference/significance.py`).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// Resamples of the bootstrap interval.
pub const BOOTSTRAP_RESAMPLES: usize = 10_000;

/// B against A on the same users: differences are `b − a`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairedTest {
    pub users: usize,
    pub mean_a: f64,
    pub mean_b: f64,
    pub mean_difference: f64,
    /// Percentile bootstrap 95% interval of the mean difference (users resampled).
    pub ci_low: f64,
    pub ci_high: f64,
    /// Paired t-test: statistic and two-sided p-value.
    pub t: f64,
    pub t_p: f64,
    /// Wilcoxon signed-rank test (zero differences dropped, ties given average ranks, normal
    /// approximation with the tie correction and no continuity correction — scipy's
    /// `wilcoxon(d, zero_method="wilcox", correction=False, method="approx")`): the smaller of
    /// the two rank sums and the two-sided p-value.
    pub wilcoxon: f64,
    pub wilcoxon_p: f64,
    /// Cohen's d for paired samples (d_z): mean difference over its standard deviation.
    pub effect_size: f64,
}

/// Compares `b` with `a`, paired by position (the same user at the same index).
pub fn paired(a: &[f64], b: &[f64], seed: u64) -> PairedTest {
    let n = a.len().min(b.len());
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| y - x).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let mean_difference = mean(&d);
    let sd = if n > 1 {
        (d.iter().map(|x| (x - mean_difference).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    let (t, t_p) = t_test(mean_difference, sd, n);
    let (wilcoxon, wilcoxon_p) = wilcoxon(&d);
    let (ci_low, ci_high) = bootstrap(&d, seed);
    PairedTest {
        users: n,
        mean_a: mean(&a[..n]),
        mean_b: mean(&b[..n]),
        mean_difference,
        ci_low,
        ci_high,
        t,
        t_p,
        wilcoxon,
        wilcoxon_p,
        effect_size: if sd > 0.0 { mean_difference / sd } else { 0.0 },
    }
}

/// The paired t statistic and its two-sided p-value (n − 1 degrees of freedom). Without
/// variation the test is undefined: p is 1 when the mean difference is 0 too, else 0.
fn t_test(mean: f64, sd: f64, n: usize) -> (f64, f64) {
    if n < 2 || sd == 0.0 {
        return if mean == 0.0 {
            (0.0, 1.0)
        } else {
            (mean.signum() * f64::INFINITY, 0.0)
        };
    }
    let t = mean / (sd / (n as f64).sqrt());
    let p = match StudentsT::new(0.0, 1.0, (n - 1) as f64) {
        Ok(dist) => 2.0 * (1.0 - dist.cdf(t.abs())),
        Err(_) => f64::NAN,
    };
    (t, p.clamp(0.0, 1.0))
}

/// Wilcoxon signed-rank (see [`PairedTest::wilcoxon`]).
fn wilcoxon(d: &[f64]) -> (f64, f64) {
    let mut nonzero: Vec<f64> = d.iter().copied().filter(|x| *x != 0.0).collect();
    let n = nonzero.len();
    if n == 0 {
        return (0.0, 1.0);
    }
    nonzero.sort_by(|x, y| x.abs().total_cmp(&y.abs()));
    let mut r_plus = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && nonzero[j + 1].abs() == nonzero[i].abs() {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their average.
        let rank = (i + j + 2) as f64 / 2.0;
        let tied = (j - i + 1) as f64;
        tie_term += tied * (tied * tied - 1.0);
        r_plus += nonzero[i..=j].iter().filter(|x| **x > 0.0).count() as f64 * rank;
        i = j + 1;
    }
    let n = n as f64;
    let total = n * (n + 1.0) / 2.0;
    let statistic = r_plus.min(total - r_plus);
    let mean = n * (n + 1.0) / 4.0;
    let var = (n * (n + 1.0) * (2.0 * n + 1.0) - 0.5 * tie_term) / 24.0;
    if var <= 0.0 {
        return (statistic, 1.0);
    }
    let z = (r_plus - mean) / var.sqrt();
    let p = 2.0 * (1.0 - Normal::standard().cdf(z.abs()));
    (statistic, p.clamp(0.0, 1.0))
}

/// Percentile bootstrap 95% interval of the mean of `d` (seeded, so a comparison is repeatable).
fn bootstrap(d: &[f64], seed: u64) -> (f64, f64) {
    let n = d.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .map(|_| (0..n).map(|_| d[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    (
        crate::quantile::quantile(&means, 0.025),
        crate::quantile::quantile(&means, 0.975),
    )
}

/// Holm's step-down adjustment of p-values (family-wise error), in the order given.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![0.0; m];
    let mut running = 0.0f64;
    for (step, &i) in order.iter().enumerate() {
        running = running.max(((m - step) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// Mean, sample standard deviation and the half-width of the t-based 95% interval of the mean
/// of `values` (a metric over seeds).
pub fn mean_sd_ci95(values: &[f64]) -> (f64, f64, f64) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, 0.0, f64::NAN);
    }
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    let t = StudentsT::new(0.0, 1.0, (n - 1) as f64)
        .map(|dist| dist.inverse_cdf(0.975))
        .unwrap_or(f64::NAN);
    (mean, sd, t * sd / (n as f64).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_multiplies_by_the_number_left_and_keeps_the_order() {
        // By hand: sorted 0.01, 0.02, 0.04, 0.30 times 4, 3, 2, 1 → 0.04, 0.06, 0.08, 0.30.
        let adjusted = holm(&[0.04, 0.01, 0.30, 0.02]);
        let expected = [0.08, 0.04, 0.30, 0.06];
        for (got, want) in adjusted.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{adjusted:?}");
        }
        // Monotone: a later p never gets a smaller adjusted value; capped at 1.
        assert_eq!(holm(&[0.5, 0.4]), vec![0.8, 0.8]);
        assert_eq!(holm(&[0.9, 0.6, 0.7]), vec![1.0, 1.0, 1.0]);
    }

    #[test]
    fn the_t_interval_over_seeds_matches_a_hand_computation() {
        // Values 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.302653, half-width 4.302653 / √3.
        let (mean, sd, half) = mean_sd_ci95(&[1.0, 2.0, 3.0]);
        assert_eq!((mean, sd), (2.0, 1.0));
        assert!(
            (half - 4.302_652_729_7 / 3f64.sqrt()).abs() < 1e-6,
            "{half}"
        );
    }

    #[test]
    fn identical_models_differ_by_nothing() {
        let a = [0.0, 1.0, 0.5, 0.25];
        let test = paired(&a, &a, 1);
        assert_eq!(test.mean_difference, 0.0);
        assert_eq!((test.t_p, test.wilcoxon_p), (1.0, 1.0));
        assert_eq!((test.ci_low, test.ci_high), (0.0, 0.0));
    }
}
