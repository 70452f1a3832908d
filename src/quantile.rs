//! Nearest-rank quantiles, for the latency and frame-time figures the benchmarks and the A/B
//! report print.

/// The `q`-quantile (0..=1) of `values` by the nearest-rank rule: the smallest value with at
/// least a share `q` of the values at or below it. NaN when there are no values.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn nearest_rank_by_hand() {
        let values = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 6.0, 8.0, 7.0, 9.0];
        // Ten values: the median is the 5th smallest, p99 the 10th, p0 the 1st.
        assert_eq!(quantile(&values, 0.5), 5.0);
        assert_eq!(quantile(&values, 0.95), 10.0);
        assert_eq!(quantile(&values, 0.91), 10.0);
        assert_eq!(quantile(&values, 0.9), 9.0);
        assert_eq!(quantile(&values, 0.0), 1.0);
        assert!(quantile(&[], 0.5).is_nan());
    }
}
