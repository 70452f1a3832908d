//! A matrix of vectors, one row per text or item, and the similarity arithmetic on it.

#[derive(Debug, Clone, PartialEq)]
pub struct Vectors {
    dim: usize,
    /// Row-major, `len() * dim` values.
    data: Vec<f32>,
}

impl Vectors {
    /// Rows of `dim` values. Callers build `data` from whole rows, so a length that is not a
    /// multiple of `dim` is a programming error, not bad input: it panics.
    pub fn new(dim: usize, data: Vec<f32>) -> Vectors {
        assert!(
            dim > 0 && data.len().is_multiple_of(dim),
            "vectors of dimension {dim} cannot hold {} values",
            data.len()
        );
        Vectors { dim, data }
    }

    /// Rows of `dim` values, or `None` when `data` does not hold whole rows (data read from
    /// outside: a damaged cache file).
    pub fn checked(dim: usize, data: Vec<f32>) -> Option<Vectors> {
        (dim > 0 && data.len().is_multiple_of(dim)).then_some(Vectors { dim, data })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    pub fn rows(&self) -> impl Iterator<Item = &[f32]> {
        self.data.chunks_exact(self.dim)
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// Scales each row to unit length (a zero row stays zero).
    pub fn normalized(mut self) -> Vectors {
        for row in self.data.chunks_exact_mut(self.dim) {
            let norm = dot(row, row).sqrt();
            if norm > 0.0 {
                row.iter_mut().for_each(|x| *x /= norm);
            }
        }
        self
    }
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Cosine similarity; 0 when either vector is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let denominator = (dot(a, a) * dot(b, b)).sqrt();
    if denominator > 0.0 {
        dot(a, b) / denominator
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_and_normalisation_by_hand() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 1.0]) - 0.5f32.sqrt()).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
        let v = Vectors::new(2, vec![3.0, 4.0, 0.0, 0.0]).normalized();
        assert_eq!(v.row(0), &[0.6, 0.8]);
        assert_eq!(v.row(1), &[0.0, 0.0]);
        assert_eq!(v.len(), 2);
    }
}
