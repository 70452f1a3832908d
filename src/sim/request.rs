//! What the person in front of the storefront says they want ("something light and funny"):
//! the similarity of that sentence to every item, blended into an adaptive policy's scores, and
//! a row of its own at the top of the page. The similarities arrive from outside (the language
//! model); nothing here runs a model.

/// A request in words, ready to re-rank a page.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub text: String,
    /// Cosine of the request's sentence vector with each item's (index 0, padding, ignored).
    pub similarity: Vec<f32>,
    /// How much the request counts against the model's scores: 0 ignores it, 1 ranks by it
    /// alone.
    pub weight: f32,
    /// Each word of the request with its cosine to every item: which words made a card rise.
    pub words: Vec<(String, Vec<f32>)>,
}

impl Request {
    /// `(1 − weight) · z(model) + weight · z(request)` into `scores`, where `z` standardises
    /// over the catalogue (items 1..): the model's scores and cosines live on different scales,
    /// and standardising makes the weight mean the same for every model.
    pub fn blend(&self, scores: &mut [f32]) {
        let n = scores.len().min(self.similarity.len());
        if n < 2 {
            return;
        }
        let model = standardiser(&scores[1..n]);
        let request = standardiser(&self.similarity[1..n]);
        let w = self.weight.clamp(0.0, 1.0);
        for (score, &sim) in scores[1..n].iter_mut().zip(&self.similarity[1..n]) {
            *score = (1.0 - w) * model(*score) + w * request(sim);
        }
    }

    /// The word of the request closest to `item`, with its cosine.
    pub fn best_word(&self, item: u32) -> Option<(&str, f32)> {
        self.words
            .iter()
            .filter_map(|(word, sims)| sims.get(item as usize).map(|&s| (word.as_str(), s)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// `x ↦ (x − mean) / sd` over `values` (sd 1 when they are all equal).
fn standardiser(values: &[f32]) -> impl Fn(f32) -> f32 + use<> {
    let n = values.len().max(1) as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    let sd = if var > 0.0 { var.sqrt() } else { 1.0 };
    move |x| ((f64::from(x) - mean) / sd) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(weight: f32) -> Request {
        Request {
            text: "funny".into(),
            // items 1..=4; padding 0
            similarity: vec![0.0, 0.1, 0.9, 0.5, 0.5],
            weight,
            words: vec![
                ("light".into(), vec![0.0, 0.8, 0.1, 0.2, 0.3]),
                ("funny".into(), vec![0.0, 0.1, 0.7, 0.6, 0.2]),
            ],
        }
    }

    #[test]
    fn the_blend_standardises_both_sides_and_weighs_them() {
        // Model scores 1, 2, 3, 2 have mean 2 and sd sqrt(0.5); similarities 0.1, 0.9, 0.5, 0.5
        // have mean 0.5 and sd sqrt(0.08).
        let model = [0.0, 1.0, 2.0, 3.0, 2.0];
        let z_model = [-1.0 / 0.5f32.sqrt(), 0.0, 1.0 / 0.5f32.sqrt(), 0.0];
        let z_sim = [-0.4 / 0.08f32.sqrt(), 0.4 / 0.08f32.sqrt(), 0.0, 0.0];
        for weight in [0.0f32, 0.3, 1.0] {
            let mut scores = model;
            request(weight).blend(&mut scores);
            assert_eq!(scores[0], 0.0, "padding is left alone");
            for i in 0..4 {
                let want = (1.0 - weight) * z_model[i] + weight * z_sim[i];
                assert!((scores[i + 1] - want).abs() < 1e-5, "{weight}: {scores:?}");
            }
        }
        // Weight 1 ranks by the request alone: item 2 first, item 1 last.
        let mut scores = model;
        request(1.0).blend(&mut scores);
        assert!(scores[2] > scores[3] && scores[3] > scores[1]);
    }

    #[test]
    fn the_closest_word_explains_each_item() {
        let r = request(0.5);
        assert_eq!(r.best_word(1), Some(("light", 0.8)));
        assert_eq!(r.best_word(3), Some(("funny", 0.6)));
        assert_eq!(r.best_word(9), None);
    }
}
