//! The built-in synthetic world: a catalogue and users with hidden tastes, and interaction
//! sequences produced by a choice process with interest drift. It needs no download, is fully
//! determined by its config (seed included), and keeps its hidden truth so the simulator can
//! later play the same users.
//!
//! The choice process, per step of a user's session: every unseen item gets a utility
//! `genre_weight · taste·genres(i) + latent_weight · u·v_i + sequence_weight · v_last·v_i +
//! quality_weight · q_i + popularity_weight · log p_i`, and the next item is drawn from the
//! softmax of the utilities. After each step the taste drifts: with probability `drift` one
//! genre gains appeal. The `v_last` term gives sequences short-term structure that a
//! sequential model can learn and a popularity baseline cannot.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Gamma, LogNormal, Normal};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::error::{DataError, Result};
use super::raw::{ItemMeta, KeyMap, RawLog};

/// Genre names, alphabetical so their indices match the dataset's category order.
pub const GENRES: [&str; 12] = [
    "Action",
    "Animation",
    "Comedy",
    "Documentary",
    "Drama",
    "Fantasy",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Western",
];

/// Sizes and parameters of the synthetic world. The defaults give about 40 000 interactions:
/// small enough to train a Transformer on a laptop CPU in about a minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyntheticConfig {
    pub seed: u64,
    pub users: usize,
    pub items: usize,
    /// How many of [`GENRES`] the catalogue uses.
    pub genres: usize,
    pub latent_dim: usize,
    /// Mean number of interactions per user (log-normal around it, clamped to the bounds).
    pub mean_seq_len: f64,
    pub min_seq_len: usize,
    pub max_seq_len: usize,
    /// Zipf exponent of the popularity law (larger = longer tail).
    pub popularity_exponent: f64,
    /// Probability per step that the user's taste drifts towards a random genre.
    pub drift: f64,
    pub genre_weight: f64,
    pub latent_weight: f64,
    pub sequence_weight: f64,
    pub quality_weight: f64,
    pub popularity_weight: f64,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            seed: 42,
            users: 1000,
            items: 500,
            genres: GENRES.len(),
            latent_dim: 8,
            mean_seq_len: 40.0,
            min_seq_len: 5,
            max_seq_len: 200,
            popularity_exponent: 1.0,
            drift: 0.05,
            genre_weight: 4.0,
            latent_weight: 1.0,
            sequence_weight: 2.0,
            quality_weight: 0.5,
            popularity_weight: 0.7,
        }
    }
}

impl SyntheticConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(DataError::Config(format!("synthetic world: {m}")));
        if self.users == 0 || self.items < 2 {
            return bad("needs at least 1 user and 2 items");
        }
        if self.genres == 0 || self.genres > GENRES.len() {
            return bad(&format!("genres must be between 1 and {}", GENRES.len()));
        }
        if self.min_seq_len == 0 || self.min_seq_len > self.max_seq_len {
            return bad("needs 1 <= min_seq_len <= max_seq_len");
        }
        if self.max_seq_len > self.items {
            return bad(
                "max_seq_len cannot exceed the number of items (users never repeat an item)",
            );
        }
        if !(0.0..=1.0).contains(&self.drift) {
            return bad("drift is a probability between 0 and 1");
        }
        if self.latent_dim == 0 || self.mean_seq_len <= 0.0 {
            return bad("latent_dim and mean_seq_len must be positive");
        }
        Ok(())
    }
}

/// The hidden truth behind a synthetic dataset, indexed like the dataset (users dense from 0,
/// items from 1 with row 0 for padding).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyntheticTruth {
    pub config: SyntheticConfig,
    /// Each user's initial taste over the genres (sums to 1), in dataset category order.
    pub user_taste: Vec<Vec<f32>>,
    pub user_latent: Vec<Vec<f32>>,
    pub item_latent: Vec<Vec<f32>>,
    pub item_quality: Vec<f32>,
    /// Relative popularity (Zipf weight, the most popular item is 1).
    pub item_popularity: Vec<f32>,
}

/// The world before it is turned into a dataset: the log and the truth keyed by raw code.
pub struct World {
    pub log: RawLog,
    pub user_taste: Vec<Vec<f32>>,
    pub user_latent: Vec<Vec<f32>>,
    pub item_latent: Vec<Vec<f32>>,
    pub item_quality: Vec<f32>,
    pub item_popularity: Vec<f32>,
}

struct Catalogue {
    genres: Vec<Vec<usize>>,
    latent: Vec<Vec<f32>>,
    quality: Vec<f32>,
    log_popularity: Vec<f32>,
    popularity: Vec<f32>,
    meta: Vec<ItemMeta>,
}

const ADJECTIVES: [&str; 24] = [
    "Silent", "Crimson", "Last", "Hidden", "Broken", "Golden", "Distant", "Wild", "Midnight",
    "Lost", "Burning", "Quiet", "Electric", "Frozen", "Secret", "Restless", "Painted", "Iron",
    "Hollow", "Bright", "Falling", "Endless", "Little", "Savage",
];

/// Nouns per genre (same order as [`GENRES`]), so a title hints at its genre.
const NOUNS: [[&str; 8]; 12] = [
    [
        "Strike", "Outpost", "Siege", "Pursuit", "Vendetta", "Convoy", "Bullet", "Ambush",
    ],
    [
        "Kingdom", "Robot", "Dragon", "Forest", "Balloon", "Friends", "Puppet", "Island",
    ],
    [
        "Wedding",
        "Roommates",
        "Holiday",
        "Mixup",
        "Neighbours",
        "Reunion",
        "Road Trip",
        "Office",
    ],
    [
        "Ocean", "Archive", "Empire", "Harvest", "Machine", "River", "Frontier", "Voices",
    ],
    [
        "Summer", "Letters", "Family", "Promise", "Winter", "Harbor", "Daughter", "Years",
    ],
    [
        "Sword", "Crown", "Spell", "Tower", "Realm", "Oracle", "Griffin", "Quest",
    ],
    [
        "House", "Cellar", "Ritual", "Mask", "Woods", "Asylum", "Doll", "Scream",
    ],
    [
        "Song", "Stage", "Melody", "Chorus", "Ballroom", "Encore", "Rhythm", "Serenade",
    ],
    [
        "Key", "Alibi", "Cipher", "Witness", "Manor", "Clue", "Stranger", "Affair",
    ],
    [
        "Kiss",
        "Heart",
        "Paris",
        "Moonlight",
        "Sweetheart",
        "Love Story",
        "Rose",
        "Dance",
    ],
    [
        "Signal", "Orbit", "Colony", "Android", "Nebula", "Protocol", "Horizon", "Starship",
    ],
    [
        "Canyon",
        "Rider",
        "Sheriff",
        "Gold Rush",
        "Saloon",
        "Outlaw",
        "Prairie",
        "Gunslinger",
    ],
];

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normal_vector(rng: &mut ChaCha8Rng, dim: usize) -> Vec<f32> {
    let scale = 1.0 / (dim as f64).sqrt();
    // The parameters are constants, valid by construction.
    let normal = Normal::new(0.0, scale).unwrap_or_else(|_| unreachable!());
    (0..dim).map(|_| normal.sample(rng) as f32).collect()
}

fn catalogue(config: &SyntheticConfig, rng: &mut ChaCha8Rng) -> Catalogue {
    let n = config.items;
    let g = config.genres;
    // Genre frequencies fall off with the genre's rank, as in real catalogues.
    let genre_weights: Vec<f64> = (0..g).map(|k| 1.0 / ((k + 1) as f64).powf(0.6)).collect();
    let genre_order: Vec<usize> = {
        let mut order: Vec<usize> = (0..g).collect();
        shuffle(&mut order, rng);
        order
    };
    let draw_genre = |rng: &mut ChaCha8Rng| genre_order[weighted_index(&genre_weights, rng)];
    let mut ranks: Vec<usize> = (0..n).collect();
    shuffle(&mut ranks, rng);
    let quality_law = Normal::new(0.0, 1.0).unwrap_or_else(|_| unreachable!());
    let mut used_titles: FxHashMap<String, usize> = FxHashMap::default();
    let mut cat = Catalogue {
        genres: Vec::with_capacity(n),
        latent: Vec::with_capacity(n),
        quality: Vec::with_capacity(n),
        log_popularity: Vec::with_capacity(n),
        popularity: Vec::with_capacity(n),
        meta: Vec::with_capacity(n),
    };
    for &rank in ranks.iter().take(n) {
        let primary = draw_genre(rng);
        let mut genres = vec![primary];
        for extra_probability in [0.4, 0.1] {
            if rng.random::<f64>() < extra_probability {
                let extra = draw_genre(rng);
                if !genres.contains(&extra) {
                    genres.push(extra);
                }
            }
        }
        genres.sort_unstable();
        let popularity = 1.0 / ((rank + 1) as f64).powf(config.popularity_exponent);
        let adjective = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
        let noun = NOUNS[primary][rng.random_range(0..NOUNS[primary].len())];
        let base = format!("The {adjective} {noun}");
        let seen = used_titles.entry(base.clone()).or_insert(0);
        *seen += 1;
        let title = if *seen == 1 {
            base
        } else {
            format!("{base} {}", *seen)
        };
        cat.meta.push(ItemMeta {
            title: Some(title),
            categories: genres.iter().map(|&k| GENRES[k].to_string()).collect(),
            year: Some(1970 + rng.random_range(0..56)),
            text: None,
            fields: Default::default(),
        });
        cat.genres.push(genres);
        cat.latent.push(normal_vector(rng, config.latent_dim));
        cat.quality.push(quality_law.sample(rng) as f32);
        cat.log_popularity.push(popularity.ln() as f32);
        cat.popularity.push(popularity as f32);
    }
    cat
}

fn shuffle<T>(v: &mut [T], rng: &mut ChaCha8Rng) {
    use rand::seq::SliceRandom;
    v.shuffle(rng);
}

/// Draws an index with probability proportional to `weights` (all non-negative, not all 0).
fn weighted_index(weights: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let total: f64 = weights.iter().sum();
    let mut target = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        target -= w;
        if target <= 0.0 {
            return i;
        }
    }
    weights.len() - 1
}

/// One user's hidden profile and the sequence the choice process gives them.
struct UserDraw {
    taste: Vec<f32>,
    latent: Vec<f32>,
    items: Vec<u32>,
    times: Vec<f64>,
    ratings: Vec<f32>,
}

/// Start of the simulated period: 2024-01-01 in Unix seconds.
const EPOCH_START: f64 = 1_704_067_200.0;
const DAY: f64 = 86_400.0;

fn simulate_user(config: &SyntheticConfig, cat: &Catalogue, user: usize) -> UserDraw {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    // Each user has its own stream, so users can be drawn in parallel and in any order.
    rng.set_stream(user as u64 + 1);
    let g = config.genres;
    let gamma = Gamma::new(0.3, 1.0).unwrap_or_else(|_| unreachable!());
    let mut taste: Vec<f64> = (0..g).map(|_| gamma.sample(&mut rng) + 1e-6).collect();
    let sum: f64 = taste.iter().sum();
    taste.iter_mut().for_each(|t| *t /= sum);
    let initial_taste: Vec<f32> = taste.iter().map(|&t| t as f32).collect();
    let latent = normal_vector(&mut rng, config.latent_dim);

    let sigma = 0.8;
    let length_law = LogNormal::new(config.mean_seq_len.ln() - sigma * sigma / 2.0, sigma)
        .unwrap_or_else(|_| unreachable!());
    let length = (length_law.sample(&mut rng).round() as usize)
        .clamp(config.min_seq_len, config.max_seq_len);
    let gap_law = Exp::new(1.0 / DAY).unwrap_or_else(|_| unreachable!());
    let noise = Normal::new(0.0, 0.5).unwrap_or_else(|_| unreachable!());

    // The part of the utility that does not change during the session.
    let static_utility: Vec<f64> = (0..cat.latent.len())
        .map(|i| {
            config.latent_weight * dot(&latent, &cat.latent[i]) as f64
                + config.quality_weight * cat.quality[i] as f64
                + config.popularity_weight * cat.log_popularity[i] as f64
        })
        .collect();
    let mut seen = vec![false; cat.latent.len()];
    let mut weights = vec![0.0f64; cat.latent.len()];
    let mut time = EPOCH_START + rng.random::<f64>() * 540.0 * DAY;
    let mut last: Option<usize> = None;
    let mut draw = UserDraw {
        taste: initial_taste,
        latent,
        items: Vec::with_capacity(length),
        times: Vec::with_capacity(length),
        ratings: Vec::with_capacity(length),
    };
    for _ in 0..length {
        let mut best = f64::NEG_INFINITY;
        let utilities: Vec<f64> = (0..cat.latent.len())
            .map(|i| {
                if seen[i] {
                    return f64::NEG_INFINITY;
                }
                let genre_fit: f64 = cat.genres[i].iter().map(|&k| taste[k]).sum::<f64>()
                    / cat.genres[i].len() as f64;
                let sequence_fit = last.map_or(0.0, |l| dot(&cat.latent[l], &cat.latent[i]) as f64);
                let u = static_utility[i]
                    + config.genre_weight * genre_fit * g as f64
                    + config.sequence_weight * sequence_fit * config.latent_dim as f64 / 2.0;
                best = best.max(u);
                u
            })
            .collect();
        for (w, u) in weights.iter_mut().zip(&utilities) {
            *w = (u - best).exp();
        }
        let chosen = weighted_index(&weights, &mut rng);
        seen[chosen] = true;
        last = Some(chosen);
        time += gap_law.sample(&mut rng);
        let appeal = utilities[chosen] - best;
        let rating = (4.5 + appeal + noise.sample(&mut rng))
            .round()
            .clamp(1.0, 5.0);
        draw.items.push(chosen as u32);
        draw.times.push(time.floor());
        draw.ratings.push(rating as f32);
        if rng.random::<f64>() < config.drift {
            let k = rng.random_range(0..g);
            taste[k] += 0.3;
            let sum: f64 = taste.iter().sum();
            taste.iter_mut().for_each(|t| *t /= sum);
        }
    }
    draw
}

/// Generates the world: users `1..=users` and items `1..=items` as original ids.
pub fn generate(config: &SyntheticConfig) -> Result<World> {
    config.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let cat = catalogue(config, &mut rng);
    let draws: Vec<UserDraw> = (0..config.users)
        .into_par_iter()
        .map(|u| simulate_user(config, &cat, u))
        .collect();
    let total: usize = draws.iter().map(|d| d.items.len()).sum();
    let mut log = RawLog {
        user_keys: (1..=config.users).map(|u| u.to_string()).collect(),
        item_keys: (1..=config.items).map(|i| i.to_string()).collect(),
        users: Vec::with_capacity(total),
        items: Vec::with_capacity(total),
        timestamps: Some(Vec::with_capacity(total)),
        ratings: Some(Vec::with_capacity(total)),
        item_meta: cat.meta.iter().cloned().map(Some).collect(),
    };
    let mut user_taste = Vec::with_capacity(config.users);
    let mut user_latent = Vec::with_capacity(config.users);
    for (u, draw) in draws.into_iter().enumerate() {
        log.users
            .extend(std::iter::repeat_n(u as u32, draw.items.len()));
        log.items.extend(&draw.items);
        if let Some(ts) = log.timestamps.as_mut() {
            ts.extend(&draw.times);
        }
        if let Some(r) = log.ratings.as_mut() {
            r.extend(&draw.ratings);
        }
        user_taste.push(draw.taste);
        user_latent.push(draw.latent);
    }
    Ok(World {
        log,
        user_taste,
        user_latent,
        item_latent: cat.latent,
        item_quality: cat.quality,
        item_popularity: cat.popularity,
    })
}

impl World {
    /// The truth re-indexed to a dataset built from this world's log.
    /// `category_names` is the dataset's category order, which the taste vectors follow.
    pub fn truth_for(
        &self,
        config: &SyntheticConfig,
        keys: &KeyMap,
        category_names: &[String],
    ) -> SyntheticTruth {
        let genre_index: Vec<usize> = category_names
            .iter()
            .map(|name| GENRES.iter().position(|g| g == name).unwrap_or(0))
            .collect();
        let taste = |code: u32| -> Vec<f32> {
            let full = &self.user_taste[code as usize];
            genre_index
                .iter()
                .map(|&k| full.get(k).copied().unwrap_or(0.0))
                .collect()
        };
        let item = |code: u32, values: &Vec<Vec<f32>>, dim: usize| {
            if code == u32::MAX {
                vec![0.0; dim]
            } else {
                values[code as usize].clone()
            }
        };
        let scalar = |code: u32, values: &Vec<f32>| {
            if code == u32::MAX {
                0.0
            } else {
                values[code as usize]
            }
        };
        SyntheticTruth {
            config: config.clone(),
            user_taste: keys.users.iter().map(|&c| taste(c)).collect(),
            user_latent: keys
                .users
                .iter()
                .map(|&c| self.user_latent[c as usize].clone())
                .collect(),
            item_latent: keys
                .items
                .iter()
                .map(|&c| item(c, &self.item_latent, config.latent_dim))
                .collect(),
            item_quality: keys
                .items
                .iter()
                .map(|&c| scalar(c, &self.item_quality))
                .collect(),
            item_popularity: keys
                .items
                .iter()
                .map(|&c| scalar(c, &self.item_popularity))
                .collect(),
        }
    }
}
