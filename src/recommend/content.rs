//! Content: profile-and-match. Each item is a unit feature vector (its categories, later text
//! embeddings); a history's profile is the mean of its items' vectors; an item's score is the
//! cosine between its vector and the profile. Items without features score 0.

use super::{Query, Recommender, with_scratch};
use crate::data::Dataset;

pub struct Content {
    name: String,
    dimensions: usize,
    /// Sparse unit vector per item index (`(feature, weight)`); entry 0 is padding.
    vectors: Vec<Vec<(u32, f32)>>,
}

impl Content {
    /// Multi-hot category (genre) vectors, normalised to unit length.
    pub fn from_categories(dataset: &Dataset) -> Content {
        let vectors = dataset
            .items
            .iter()
            .map(|item| {
                let weight = 1.0 / (item.categories.len().max(1) as f32).sqrt();
                item.categories.iter().map(|&c| (c, weight)).collect()
            })
            .collect();
        Content {
            name: "Content".to_string(),
            dimensions: dataset.category_names.len(),
            vectors,
        }
    }

    /// Any item vectors (normalised here), e.g. text embeddings; `vectors[0]` is padding.
    pub fn from_vectors(
        name: &str,
        dimensions: usize,
        mut vectors: Vec<Vec<(u32, f32)>>,
    ) -> Content {
        for vector in &mut vectors {
            let norm = vector.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
            if norm > 0.0 {
                vector.iter_mut().for_each(|(_, w)| *w /= norm);
            }
        }
        Content {
            name: name.to_string(),
            dimensions,
            vectors,
        }
    }
}

impl Recommender for Content {
    fn name(&self) -> &str {
        &self.name
    }

    fn num_items(&self) -> usize {
        self.vectors.len() - 1
    }

    fn score(&self, query: Query<'_>, scores: &mut [f32]) {
        with_scratch(self.dimensions, |profile| {
            for &item in query.history {
                for &(feature, weight) in &self.vectors[item as usize] {
                    profile[feature as usize] += weight;
                }
            }
            let norm = profile.iter().map(|p| p * p).sum::<f32>().sqrt();
            // The mean's 1/h factor cancels in the cosine; an empty profile scores all 0.
            let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
            for (score, vector) in scores.iter_mut().zip(&self.vectors) {
                *score = vector
                    .iter()
                    .map(|&(f, w)| profile[f as usize] * w)
                    .sum::<f32>()
                    * scale;
            }
        });
    }
}
