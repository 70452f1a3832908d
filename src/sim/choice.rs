//! The choice model (after RecSim's): the user examines the page's cards in reading order, each
//! with a probability that falls with its row and column (position bias) and is highest for the
//! larger hero card (prominence); among the examined cards and a no-click option the user picks
//! by a multinomial logit on appeal; a click yields a dwell time that grows with the appeal.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::layout::{Page, Slot};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChoiceModel {
    /// Probability of examining the hero card.
    pub hero_examination: f64,
    /// Examination of row `r`, column `c`: `row_decay^r · column_decay^c`.
    pub row_decay: f64,
    pub column_decay: f64,
    /// Utility of leaving without a click.
    pub no_click_utility: f64,
    /// Softmax temperature of the logit (higher: choices less driven by appeal).
    pub temperature: f64,
    /// Mean dwell of a click of appeal 0, in seconds; scaled by `exp(appeal / 4)`.
    pub dwell_secs: f64,
}

impl Default for ChoiceModel {
    fn default() -> Self {
        ChoiceModel {
            hero_examination: 0.95,
            row_decay: 0.75,
            column_decay: 0.85,
            no_click_utility: 4.0,
            temperature: 1.0,
            dwell_secs: 30.0,
        }
    }
}

/// What the user did on a page.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Choice {
    /// The clicked card, if any.
    pub clicked: Option<Slot>,
    pub dwell_secs: f64,
    /// Cards examined.
    pub examined: usize,
}

impl ChoiceModel {
    pub fn examination(&self, slot: &Slot) -> f64 {
        match slot.row {
            None => self.hero_examination,
            Some(r) => self.row_decay.powi(r as i32) * self.column_decay.powi(slot.column as i32),
        }
    }

    /// Probabilities of choosing each of the examined cards (by their appeal) and, last, of no
    /// click: the multinomial logit.
    pub fn choice_probabilities(&self, appeals: &[f64]) -> Vec<f64> {
        let t = self.temperature.max(1e-6);
        let utilities: Vec<f64> = appeals
            .iter()
            .chain(std::iter::once(&self.no_click_utility))
            .map(|a| a / t)
            .collect();
        let best = utilities.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> = utilities.iter().map(|u| (u - best).exp()).collect();
        let total: f64 = weights.iter().sum();
        weights.into_iter().map(|w| w / total).collect()
    }

    /// The user looks at `page` and maybe clicks.
    pub fn choose(&self, page: &Page, appeal: impl Fn(u32) -> f64, rng: &mut impl Rng) -> Choice {
        let examined: Vec<Slot> = page
            .slots()
            .into_iter()
            .filter(|slot| rng.random::<f64>() < self.examination(slot))
            .collect();
        let appeals: Vec<f64> = examined.iter().map(|s| appeal(s.item)).collect();
        let probabilities = self.choice_probabilities(&appeals);
        let mut draw = rng.random::<f64>();
        let mut picked = probabilities.len() - 1;
        for (i, p) in probabilities.iter().enumerate() {
            if draw < *p {
                picked = i;
                break;
            }
            draw -= p;
        }
        match examined.get(picked) {
            Some(&slot) => {
                let mean = self.dwell_secs * (appeals[picked] / 4.0).exp().min(20.0);
                // Exponential dwell around the mean.
                let dwell = -mean * (1.0 - rng.random::<f64>()).ln();
                Choice {
                    clicked: Some(slot),
                    dwell_secs: dwell,
                    examined: examined.len(),
                }
            }
            None => Choice {
                clicked: None,
                dwell_secs: 0.0,
                examined: examined.len(),
            },
        }
    }
}
