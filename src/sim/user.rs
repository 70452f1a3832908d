//! The world the simulated users live in (items with genres, latent vectors, quality) and the
//! users themselves: a hidden taste, satiation with repeated genres, drift, and patience.

use rand::Rng;

use crate::data::Dataset;

/// What the simulator knows of the catalogue: indexed by item (0 is padding).
#[derive(Debug, Clone)]
pub struct World {
    pub titles: Vec<String>,
    pub genre_names: Vec<String>,
    pub genres: Vec<Vec<u32>>,
    pub num_genres: usize,
    /// Latent item vectors of a synthetic world (empty rows on real data).
    pub latent: Vec<Vec<f32>>,
    /// Intrinsic quality: the synthetic world's, or on real data the centred log popularity.
    pub quality: Vec<f32>,
    /// Training popularity, for the static page and "Trending".
    pub popularity: Vec<u32>,
    /// Weights of the appeal terms (the synthetic world's, or defaults on real data).
    pub genre_weight: f64,
    pub latent_weight: f64,
    pub sequence_weight: f64,
    pub quality_weight: f64,
    latent_scale: f64,
}

impl World {
    pub fn of(dataset: &Dataset) -> World {
        let counts = dataset.item_counts();
        let genres: Vec<Vec<u32>> = dataset.items.iter().map(|i| i.categories.clone()).collect();
        let num_genres = dataset.category_names.len().max(1);
        let titles: Vec<String> = (0..dataset.items.len() as u32)
            .map(|i| dataset.item_label(i).to_string())
            .collect();
        let genre_names = dataset.category_names.clone();
        match &dataset.truth {
            Some(truth) => World {
                titles,
                genre_names,
                genres,
                num_genres,
                latent: truth.item_latent.clone(),
                quality: truth.item_quality.clone(),
                popularity: counts,
                genre_weight: truth.config.genre_weight,
                latent_weight: truth.config.latent_weight,
                sequence_weight: truth.config.sequence_weight,
                quality_weight: truth.config.quality_weight,
                latent_scale: truth.config.latent_dim as f64 / 2.0,
            },
            None => {
                let logs: Vec<f32> = counts.iter().map(|&c| (1.0 + c as f32).ln()).collect();
                let mean =
                    logs.iter().skip(1).sum::<f32>() / logs.len().saturating_sub(1).max(1) as f32;
                World {
                    titles,
                    genre_names,
                    genres,
                    num_genres,
                    latent: vec![Vec::new(); counts.len()],
                    quality: logs.iter().map(|l| l - mean).collect(),
                    popularity: counts,
                    genre_weight: 4.0,
                    latent_weight: 0.0,
                    sequence_weight: 0.0,
                    quality_weight: 0.5,
                    latent_scale: 1.0,
                }
            }
        }
    }

    pub fn num_items(&self) -> usize {
        self.genres.len().saturating_sub(1)
    }
}

/// A taste over genres from how similar a description of the person is to each genre's name:
/// a softmax of the cosines at `temperature` (small: the closest genres take most of the mass).
/// Sentence vectors put every genre name at a similar, moderate cosine to any sentence, so the
/// differences, not the levels, carry the meaning.
pub fn taste_from_similarities(similarities: &[f32], temperature: f64) -> Vec<f64> {
    if similarities.is_empty() {
        return Vec::new();
    }
    let t = temperature.max(1e-6);
    let max = similarities
        .iter()
        .map(|&s| f64::from(s))
        .fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = similarities
        .iter()
        .map(|&s| ((f64::from(s) - max) / t).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    weights.iter().map(|w| w / total).collect()
}

/// One simulated user's hidden state.
#[derive(Debug, Clone)]
pub struct SimUser {
    /// Taste over genres (sums to 1).
    pub taste: Vec<f64>,
    pub latent: Vec<f32>,
    /// How tired the user is of each genre (grows with clicks, fades each step).
    pub satiation: Vec<f64>,
    /// Steps without a click the user tolerates before leaving.
    pub patience: f64,
    /// The user's history, oldest first: what the model reads.
    pub history: Vec<u32>,
}

impl SimUser {
    /// A user of a synthetic world with its true taste and latent vector, starting from its
    /// training history.
    pub fn from_truth(
        dataset: &Dataset,
        user: usize,
        history: &[u32],
        patience: f64,
    ) -> Option<SimUser> {
        let truth = dataset.truth.as_ref()?;
        Some(SimUser {
            taste: truth
                .user_taste
                .get(user)?
                .iter()
                .map(|&t| f64::from(t))
                .collect(),
            latent: truth.user_latent.get(user)?.clone(),
            satiation: vec![0.0; dataset.category_names.len().max(1)],
            patience,
            history: history.to_vec(),
        })
    }

    /// A user derived from a real history: taste = the genre shares of the history's items.
    pub fn from_history(world: &World, history: &[u32], patience: f64) -> SimUser {
        let mut taste = vec![0.0; world.num_genres];
        for &item in history {
            let genres = &world.genres[item as usize];
            for &g in genres {
                taste[g as usize] += 1.0 / genres.len() as f64;
            }
        }
        let total: f64 = taste.iter().sum();
        if total > 0.0 {
            taste.iter_mut().for_each(|t| *t /= total);
        } else {
            taste.fill(1.0 / world.num_genres as f64);
        }
        SimUser {
            taste,
            latent: Vec::new(),
            satiation: vec![0.0; world.num_genres],
            patience,
            history: history.to_vec(),
        }
    }

    /// How much the user wants `item` now (a utility for the choice model).
    pub fn appeal(&self, world: &World, item: u32) -> f64 {
        let i = item as usize;
        let genres = &world.genres[i];
        let (fit, tired) = if genres.is_empty() {
            (0.0, 0.0)
        } else {
            let n = genres.len() as f64;
            (
                genres.iter().map(|&g| self.taste[g as usize]).sum::<f64>() / n,
                genres
                    .iter()
                    .map(|&g| self.satiation[g as usize])
                    .sum::<f64>()
                    / n,
            )
        };
        let latent = dot(&self.latent, &world.latent[i]);
        let sequence = self
            .history
            .last()
            .map_or(0.0, |&l| dot(&world.latent[l as usize], &world.latent[i]));
        world.genre_weight * fit * world.num_genres as f64 / 4.0
            + world.latent_weight * latent
            + world.sequence_weight * sequence * world.latent_scale / 4.0
            + world.quality_weight * f64::from(world.quality[i])
            - tired
    }

    /// After a click: the item joins the history, its genres tire, and with probability
    /// `drift` one random genre gains appeal.
    pub fn clicked(
        &mut self,
        world: &World,
        item: u32,
        satiation: f64,
        drift: f64,
        rng: &mut impl Rng,
    ) {
        self.history.push(item);
        for &g in &world.genres[item as usize] {
            self.satiation[g as usize] += satiation;
        }
        if rng.random::<f64>() < drift {
            let g = rng.random_range(0..self.taste.len());
            self.taste[g] += 0.1;
            let total: f64 = self.taste.iter().sum();
            self.taste.iter_mut().for_each(|t| *t /= total);
        }
    }

    /// Every step: satiation fades.
    pub fn rest(&mut self, recovery: f64) {
        self.satiation.iter_mut().for_each(|s| *s *= 1.0 - recovery);
    }
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum()
}

#[cfg(test)]
mod tests {
    use super::taste_from_similarities;

    #[test]
    fn a_description_sets_the_taste_by_a_softmax_over_genre_similarities() {
        // By hand at temperature 0.1: weights e^0, e^-1, e^-3 (relative to the largest).
        let taste = taste_from_similarities(&[0.5, 0.4, 0.2], 0.1);
        let w = [1.0, (-1.0f64).exp(), (-3.0f64).exp()];
        let total: f64 = w.iter().sum();
        for (got, want) in taste.iter().zip(w.iter().map(|x| x / total)) {
            assert!((got - want).abs() < 1e-6, "{taste:?}");
        }
        assert!((taste.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(taste_from_similarities(&[], 0.1).is_empty());
    }
}
