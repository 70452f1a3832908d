//! A 2-D map of sentence vectors: their first two principal components, found by power
//! iteration on the covariance (never formed: `Cᵥ = Xᵀ(Xv) / n`), which for a few thousand
//! 384-d vectors takes a fraction of a second and needs no linear-algebra crate.

use super::vectors::{Vectors, dot};

/// Power-iteration steps per component; the first two components of sentence vectors are well
/// separated, and the map only needs them to the pixel.
const ITERATIONS: usize = 100;

/// Each of `rows` projected on the first two principal components of those rows (centred).
/// Signs are fixed so that the largest coordinate of each component is positive, which makes
/// the map the same from run to run.
pub fn principal_map(vectors: &Vectors, rows: std::ops::Range<usize>) -> Vec<[f32; 2]> {
    let dim = vectors.dim();
    let n = rows.len();
    if n == 0 || dim == 0 {
        return vec![[0.0; 2]; n];
    }
    let mut mean = vec![0.0f64; dim];
    for row in rows.clone() {
        for (m, &x) in mean.iter_mut().zip(vectors.row(row)) {
            *m += f64::from(x);
        }
    }
    let mean: Vec<f32> = mean.iter().map(|m| (m / n as f64) as f32).collect();
    let centred: Vec<Vec<f32>> = rows
        .map(|row| {
            vectors
                .row(row)
                .iter()
                .zip(&mean)
                .map(|(x, m)| x - m)
                .collect()
        })
        .collect();
    let first = component(&centred, dim, &[]);
    let second = component(&centred, dim, std::slice::from_ref(&first));
    centred
        .iter()
        .map(|x| [dot(x, &first), dot(x, &second)])
        .collect()
}

/// The leading eigenvector of the covariance of `centred`, orthogonal to `previous`.
fn component(centred: &[Vec<f32>], dim: usize, previous: &[Vec<f32>]) -> Vec<f32> {
    // A fixed, generic start: every coordinate different, none zero.
    let mut v: Vec<f32> = (0..dim).map(|i| 1.0 + (i as f32 * 0.618).fract()).collect();
    for _ in 0..ITERATIONS {
        let mut next = vec![0.0f32; dim];
        for x in centred {
            let projection = dot(x, &v);
            for (n, &xi) in next.iter_mut().zip(x) {
                *n += projection * xi;
            }
        }
        for p in previous {
            let along = dot(&next, p);
            for (n, &pi) in next.iter_mut().zip(p) {
                *n -= along * pi;
            }
        }
        let norm = dot(&next, &next).sqrt();
        if norm == 0.0 {
            // No variance left in this direction (fewer distinct points than components).
            return vec![0.0; dim];
        }
        v = next.iter().map(|x| x / norm).collect();
    }
    let largest = v
        .iter()
        .copied()
        .max_by(|a, b| a.abs().total_cmp(&b.abs()))
        .unwrap_or(1.0);
    if largest < 0.0 {
        v.iter_mut().for_each(|x| *x = -*x);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_recovers_the_two_directions_of_largest_spread() {
        // Points a·(3 e₂) + b·(1 e₀) + 0.01·c e₃ around an offset, in 5-d: the first component
        // is ±e₂ (spread 3), the second ±e₀ (spread 1); e₃'s tiny spread is dropped.
        let offset = [0.5f32, -1.0, 2.0, 0.0, 1.0];
        // a, b and c are centred and pairwise uncorrelated, so the axes are exactly e₂ and e₀.
        let samples = [
            (1.0f32, 1.0f32, 1.0f32),
            (-1.0, 1.0, -1.0),
            (1.0, -1.0, -1.0),
            (-1.0, -1.0, 1.0),
            (0.0, 0.0, 0.0),
        ];
        let mut data = vec![0.0; 5]; // row 0: padding, left out of the map
        for (a, b, c) in samples {
            let mut x = offset;
            x[2] += 3.0 * a;
            x[0] += b;
            x[3] += 0.01 * c;
            data.extend_from_slice(&x);
        }
        let vectors = Vectors::new(5, data);
        let map = principal_map(&vectors, 1..6);
        // The map is (3a, b) up to the sign of each axis; the sign rule makes the largest
        // loading positive (+e₂, +e₀).
        for ((a, b, _), [x, y]) in samples.iter().zip(&map) {
            assert!((x - 3.0 * a).abs() < 1e-3, "{map:?}");
            assert!((y - b).abs() < 1e-3, "{map:?}");
        }
    }

    #[test]
    fn one_point_or_none_maps_to_the_origin() {
        let vectors = Vectors::new(2, vec![0.0, 0.0, 1.0, 2.0]);
        assert_eq!(principal_map(&vectors, 1..2), vec![[0.0, 0.0]]);
        assert!(principal_map(&vectors, 1..1).is_empty());
    }
}
