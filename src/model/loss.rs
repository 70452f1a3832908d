//! Training losses over the positions that have a target.

use burn::prelude::*;
use burn::tensor::activation::log_sigmoid;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

/// Which loss trains the model.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LossConfig {
    /// Cross-entropy over the softmax of all items (the default; RecBole's `CE`).
    #[default]
    Softmax,
    /// Binary cross-entropy of the target against `negatives` uniformly sampled items per
    /// position (the original SASRec used 1).
    SampledBce { negatives: usize },
    /// gBCE (gSASRec): BCE with the positive term raised to the power β, which corrects the
    /// overconfidence sampling causes; `calibration` is the paper's t (0.75 there).
    Gbce { negatives: usize, calibration: f64 },
}

impl LossConfig {
    /// Sampled negatives per position (0 for the full softmax).
    pub fn negatives(&self) -> usize {
        match *self {
            LossConfig::Softmax => 0,
            LossConfig::SampledBce { negatives } | LossConfig::Gbce { negatives, .. } => negatives,
        }
    }

    /// β of gBCE for a catalogue of `num_items` items; 1 for plain BCE.
    pub fn beta(&self, num_items: usize) -> f64 {
        match *self {
            LossConfig::Gbce {
                negatives,
                calibration,
            } => {
                let alpha = negatives as f64 / (num_items.max(2) - 1) as f64;
                alpha * (calibration * (1.0 - 1.0 / alpha) + 1.0 / alpha)
            }
            _ => 1.0,
        }
    }
}

/// Mean cross-entropy of `logits` `[n, vocab]` against `targets` `[n]`, as
/// `logsumexp(logits) − logits[target]`: one full-width pass fewer than gathering from a
/// `log_softmax`, forward and backward (about 10% of a training step on the CPU backend).
pub fn softmax_cross_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
) -> Tensor<B, 1> {
    let [n, _] = logits.dims();
    // The row maximum keeps exp() in range; as a constant shift it needs no gradient.
    let max = logits.clone().detach().max_dim(1);
    let log_sum_exp = (logits.clone() - max.clone()).exp().sum_dim(1).log() + max;
    let picked = logits.gather(1, targets.reshape([n, 1]));
    (log_sum_exp - picked).mean()
}

/// [`softmax_cross_entropy`] of the tied-weights logits `hidden · tableᵀ`, computed with its
/// gradient in one go: the loss and the gradients of `hidden` and `table` are computed without
/// autodiff, and the returned loss carries exactly those gradients (through
/// `Σ hidden ⊙ ∂hidden + Σ table ⊙ ∂table`, shifted to the loss's value). The autodiff graph
/// then never holds the `[n, vocabulary]` logits nor walks back through max, exp, sum, log and
/// gather. On the CPU the whole of it runs a block of rows at a time in
/// `reclab_kernels::cross_entropy`, so the logits are never written out whole either.
///
/// `hidden` `[n, d]`, `table` `[vocabulary, d]`, `targets` `[n]`.
pub fn fused_softmax_cross_entropy<B: AutodiffBackend>(
    hidden: Tensor<B, 2>,
    table: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
) -> Tensor<B, 1> {
    let hidden_values = hidden.clone().inner();
    let table_values = table.clone().inner();
    let targets = targets.inner();
    let on_host = super::host_math::on_host::<B::InnerBackend>(&hidden_values.device());
    let gradients = if on_host {
        gradients_on_host(hidden_values, table_values, targets)
    } else {
        gradients_with_tensor_operations(hidden_values, table_values, targets)
    };
    let surrogate = (hidden * Tensor::from_inner(gradients.hidden)).sum()
        + (table * Tensor::from_inner(gradients.table)).sum();
    let offset = Tensor::<B, 1>::from_inner(gradients.loss) - surrogate.clone().detach();
    surrogate + offset
}

/// The mean loss `[1]` and its gradients with respect to `hidden` and `table`.
struct LossGradients<B: Backend> {
    loss: Tensor<B, 1>,
    hidden: Tensor<B, 2>,
    table: Tensor<B, 2>,
}

/// [`LossGradients`] with tensor operations (any backend): the logits, `(softmax − one-hot) / n`
/// and the two products that push it back to `hidden` and `table`.
fn gradients_with_tensor_operations<B: Backend>(
    hidden: Tensor<B, 2>,
    table: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
) -> LossGradients<B> {
    let logits = hidden.clone().matmul(table.clone().transpose());
    let (coefficients, loss) = softmax_rows(logits, targets);
    LossGradients {
        loss,
        hidden: coefficients.clone().matmul(table),
        table: coefficients.transpose().matmul(hidden),
    }
}

/// [`LossGradients`] on the CPU, by the blocked kernel.
fn gradients_on_host<B: Backend>(
    hidden: Tensor<B, 2>,
    table: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
) -> LossGradients<B> {
    use super::host_math::host_values;
    let device = hidden.device();
    let [rows, width] = hidden.dims();
    let [items, _] = table.dims();
    let targets: Vec<usize> = targets
        .into_data()
        .convert::<i64>()
        .to_vec()
        .unwrap_or_default()
        .into_iter()
        // A negative id becomes one past every table, which the kernel reports by its value.
        .map(|target: i64| usize::try_from(target).unwrap_or(usize::MAX))
        .collect();
    let result = reclab_kernels::cross_entropy::tied_softmax_cross_entropy(
        reclab_kernels::isa::Isa::detected(),
        &host_values(hidden),
        &host_values(table),
        &targets,
        width,
    );
    let tensor = |values: Vec<f32>, rows: usize| {
        Tensor::from_data(TensorData::new(values, [rows, width]), &device)
    };
    LossGradients {
        loss: Tensor::from_data(TensorData::new(vec![result.loss as f32], [1]), &device),
        hidden: tensor(result.hidden_gradient, rows),
        table: tensor(result.table_gradient, items),
    }
}

/// `(softmax − one-hot) / n` of each row and the mean cross-entropy, with tensor operations
/// (any backend).
fn softmax_rows<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
) -> (Tensor<B, 2>, Tensor<B, 1>) {
    let [n, _] = logits.dims();
    let max = logits.clone().max_dim(1);
    let exp = (logits.clone() - max.clone()).exp();
    let sum = exp.clone().sum_dim(1);
    let targets = targets.reshape([n, 1]);
    let picked = logits.gather(1, targets.clone());
    let loss = (sum.clone().log() + max - picked).mean();
    let scale = 1.0 / n as f64;
    let coefficients = (exp / sum).mul_scalar(scale).scatter(
        1,
        targets,
        Tensor::full([n, 1], -scale, &loss.device()),
        burn::tensor::IndexingUpdateOp::Add,
    );
    (coefficients, loss)
}

/// Mean (g)BCE: `−β·log σ(s⁺) − Σ log σ(−s⁻)` per position, with `s = hidden · embedding`.
/// `hidden` `[n, d]`, `positive` `[n, d]`, `negative` `[n, k, d]`.
pub fn sampled_bce<B: Backend>(
    hidden: Tensor<B, 2>,
    positive: Tensor<B, 2>,
    negative: Tensor<B, 3>,
    beta: f64,
) -> Tensor<B, 1> {
    let positive_scores = (hidden.clone() * positive).sum_dim(1);
    let negative_scores = (hidden.unsqueeze_dim::<3>(1) * negative).sum_dim(2);
    let positive_term = log_sigmoid(positive_scores).mean().mul_scalar(beta);
    let [n, _, _] = negative_scores.dims();
    let negative_term = log_sigmoid(negative_scores.neg())
        .sum()
        .div_scalar(n.max(1) as f64);
    (positive_term + negative_term).neg()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::Distribution;

    #[test]
    fn cross_entropy_by_hand() {
        let device = Default::default();
        // Row 1: logits [0, ln 3] → p(target 1) = 3/4. Row 2: uniform over 2 → 1/2.
        let logits = Tensor::<Flex, 2>::from_floats([[0.0, 3f32.ln()], [1.0, 1.0]], &device);
        let targets = Tensor::<Flex, 1, Int>::from_ints([1, 0], &device);
        let loss: f32 = softmax_cross_entropy(logits, targets).into_scalar();
        let expected = -((0.75f32).ln() + (0.5f32).ln()) / 2.0;
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
    }

    #[test]
    fn cross_entropy_stays_finite_for_large_logits() {
        let device = Default::default();
        let logits = Tensor::<Flex, 2>::from_floats([[1000.0, 0.0]], &device);
        let targets = Tensor::<Flex, 1, Int>::from_ints([0], &device);
        let loss: f32 = softmax_cross_entropy(logits, targets).into_scalar();
        assert!(loss.abs() < 1e-6, "{loss}");
    }

    /// Loss and gradients of hidden and table, by the fused path or the plain one.
    fn loss_and_gradients(fused: bool) -> (f32, Vec<f32>, Vec<f32>) {
        use burn::backend::Autodiff;
        type A = Autodiff<Flex>;
        let device = Default::default();
        Flex::seed(&device, 11);
        let hidden =
            Tensor::<A, 2>::random([37, 5], Distribution::Normal(0.0, 2.0), &device).require_grad();
        let table =
            Tensor::<A, 2>::random([23, 5], Distribution::Normal(0.0, 2.0), &device).require_grad();
        let targets = Tensor::<A, 1, Int>::from_ints(
            TensorData::new((0..37).map(|i| (i * 7 % 23) as i64).collect(), [37]),
            &device,
        );
        // A function of the table before it is used, so gradients flow through an expression.
        let scaled = table.clone() * 1.5;
        let loss = if fused {
            fused_softmax_cross_entropy(hidden.clone(), scaled, targets)
        } else {
            softmax_cross_entropy(hidden.clone().matmul(scaled.transpose()), targets)
        };
        let value = loss.clone().into_scalar();
        let grads = loss.backward();
        let grad = |t: &Tensor<A, 2>| t.grad(&grads).unwrap().into_data().to_vec().unwrap();
        (value, grad(&hidden), grad(&table))
    }

    #[test]
    fn fused_cross_entropy_has_the_plain_losss_value_and_gradients() {
        let (plain, plain_hidden, plain_table) = loss_and_gradients(false);
        let (fused, fused_hidden, fused_table) = loss_and_gradients(true);
        assert!(
            (plain - fused).abs() < 1e-5 * plain.abs(),
            "{plain} vs {fused}"
        );
        for (a, b) in plain_hidden.iter().zip(&fused_hidden) {
            assert!((a - b).abs() < 1e-6, "hidden gradient {a} vs {b}");
        }
        for (a, b) in plain_table.iter().zip(&fused_table) {
            assert!((a - b).abs() < 1e-6, "table gradient {a} vs {b}");
        }
    }

    #[test]
    fn softmax_rows_by_hand() {
        let device = Default::default();
        let logits = Tensor::<Flex, 2>::from_floats(
            [
                [0.0, 3f32.ln(), -1.0],
                [1000.0, 0.0, 999.0],
                [2.0, 2.0, 2.0],
            ],
            &device,
        );
        let targets = Tensor::<Flex, 1, Int>::from_ints([1, 2, 0], &device);
        let (coefficients, loss) = softmax_rows(logits, targets);
        let coefficients: Vec<f32> = coefficients.into_data().to_vec().unwrap();
        // Row 3: softmax 1/3 each, target 0 → (1/3 − 1, 1/3, 1/3) / 3.
        assert!((coefficients[6] - (1.0 / 3.0 - 1.0) / 3.0).abs() < 1e-6);
        assert!((coefficients[7] - 1.0 / 9.0).abs() < 1e-6);
        // Losses: −ln(3/(1+3+e⁻¹)), 1 + ln(1 + e⁻¹ + e⁻¹⁰⁰⁰), ln 3.
        let e = std::f32::consts::E;
        let expected =
            (-(3.0 / (4.0 + 1.0 / e)).ln() + 1.0 + (1.0 + 1.0 / e).ln() + 3f32.ln()) / 3.0;
        let loss: f32 = loss.into_scalar();
        assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
    }

    #[test]
    fn gradients_agree_on_host_and_with_tensor_operations() {
        let device = Default::default();
        Flex::seed(&device, 5);
        let hidden = Tensor::<Flex, 2>::random([150, 6], Distribution::Normal(0.0, 2.0), &device);
        let table = Tensor::<Flex, 2>::random([29, 6], Distribution::Normal(0.0, 2.0), &device);
        let targets = Tensor::<Flex, 1, Int>::from_ints(
            TensorData::new((0..150).map(|i| (i * 5 % 29) as i64).collect(), [150]),
            &device,
        );
        let host = gradients_on_host(hidden.clone(), table.clone(), targets.clone());
        let ops = gradients_with_tensor_operations(hidden, table, targets);
        let values = |t: Tensor<Flex, 2>| -> Vec<f32> { t.into_data().to_vec().unwrap() };
        let (host_loss, ops_loss): (f32, f32) = (host.loss.into_scalar(), ops.loss.into_scalar());
        assert!(
            (host_loss - ops_loss).abs() < 1e-5 * ops_loss,
            "{host_loss} vs {ops_loss}"
        );
        for (a, b) in values(host.hidden).iter().zip(&values(ops.hidden)) {
            assert!((a - b).abs() < 1e-6, "hidden gradient {a} vs {b}");
        }
        for (a, b) in values(host.table).iter().zip(&values(ops.table)) {
            assert!((a - b).abs() < 1e-6, "table gradient {a} vs {b}");
        }
    }

    #[test]
    fn sampled_bce_by_hand() {
        let device = Default::default();
        // One position, s⁺ = 1·2 = 2, negatives s⁻ = 1·(−1) = −1 and 1·0 = 0.
        let hidden = Tensor::<Flex, 2>::from_floats([[1.0]], &device);
        let positive = Tensor::<Flex, 2>::from_floats([[2.0]], &device);
        let negative = Tensor::<Flex, 3>::from_floats([[[-1.0], [0.0]]], &device);
        let sigma = |x: f32| 1.0 / (1.0 + (-x).exp());
        let expected = -(sigma(2.0).ln() + (1.0 - sigma(-1.0)).ln() + (1.0 - sigma(0.0)).ln());
        let loss: f32 =
            sampled_bce(hidden.clone(), positive.clone(), negative.clone(), 1.0).into_scalar();
        assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
        // β scales the positive term only.
        let loss_beta: f32 = sampled_bce(hidden, positive, negative, 0.5).into_scalar();
        let expected_beta = expected + 0.5 * sigma(2.0).ln();
        assert!((loss_beta - expected_beta).abs() < 1e-5);
    }

    #[test]
    fn gbce_beta_follows_the_paper() {
        // α = 256 / (3417 − 1); t = 0.75 → β = α(t(1 − 1/α) + 1/α) = t·α + (1 − t).
        let loss = LossConfig::Gbce {
            negatives: 256,
            calibration: 0.75,
        };
        let alpha = 256.0 / 3416.0;
        assert!((loss.beta(3417) - (0.75 * alpha + 0.25)).abs() < 1e-12);
        assert_eq!(LossConfig::Softmax.beta(10), 1.0);
    }
}
