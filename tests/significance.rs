//! The paired tests of `reclab runs compare` against scipy on the same vectors, and the per-user
//! results file against the run's own metrics.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reclab::stats::paired;

/// Per-user metric vectors as recommendation produces them: many zeros, many ties, some users
/// better under B, some worse.
fn pairs() -> Vec<(Vec<f64>, Vec<f64>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut out = Vec::new();
    for (n, lift) in [(60usize, 0.0f64), (300, 0.05), (943, 0.02), (400, 0.25)] {
        let ndcg = |rng: &mut ChaCha8Rng, boost: f64| -> f64 {
            if rng.random::<f64>() < 0.8 - boost {
                0.0
            } else {
                // Positions 1..=10 of a single target: 1 / log2(position + 1).
                1.0 / ((rng.random_range(1..=10) + 1) as f64).log2()
            }
        };
        let a: Vec<f64> = (0..n).map(|_| ndcg(&mut rng, 0.0)).collect();
        let b: Vec<f64> = a
            .iter()
            .map(|&x| {
                if rng.random::<f64>() < 0.5 {
                    x
                } else {
                    ndcg(&mut rng, lift)
                }
            })
            .collect();
        out.push((a, b));
    }
    out
}

#[test]
#[ignore = "needs python3 with scipy (scripts/test.sh installs it)"]
fn paired_tests_match_scipy() {
    let pairs = pairs();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("pairs.json");
    let json = serde_json::json!({
        "pairs": pairs.iter().map(|(a, b)| serde_json::json!({"a": a, "b": b})).collect::<Vec<_>>()
    });
    std::fs::write(&input, json.to_string()).unwrap();
    let python = std::env::var("RECLAB_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/significance.py"
    );
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&input)
        .output()
        .expect("python3 is needed for the reference check (scripts/test.sh installs scipy)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    for ((a, b), scipy) in pairs.iter().zip(&reference) {
        let ours = paired(a, b, 1);
        let want = |key: &str| scipy[key].as_f64().unwrap();
        let close = |got: f64, want: f64, tolerance: f64, what: &str| {
            assert!(
                (got - want).abs() <= tolerance * want.abs().max(1e-300),
                "{what}: reclab {got}, scipy {want} (n = {})",
                a.len()
            );
        };
        close(ours.t, want("t"), 1e-9, "t");
        close(ours.t_p, want("t_p"), 1e-7, "t-test p");
        close(ours.wilcoxon, want("wilcoxon"), 1e-12, "Wilcoxon statistic");
        close(ours.wilcoxon_p, want("wilcoxon_p"), 1e-7, "Wilcoxon p");
        close(ours.effect_size, want("effect_size"), 1e-9, "effect size");
        // Two bootstraps with different random streams agree to their Monte Carlo error.
        let width = want("ci_high") - want("ci_low");
        assert!(
            (ours.ci_low - want("ci_low")).abs() < 0.05 * width
                && (ours.ci_high - want("ci_high")).abs() < 0.05 * width,
            "bootstrap interval: reclab [{}, {}], scipy [{}, {}]",
            ours.ci_low,
            ours.ci_high,
            want("ci_low"),
            want("ci_high")
        );
        eprintln!(
            "n = {}: t p {:.3e} (scipy {:.3e}), Wilcoxon p {:.3e} (scipy {:.3e})",
            a.len(),
            ours.t_p,
            want("t_p"),
            ours.wilcoxon_p,
            want("wilcoxon_p")
        );
    }
}
