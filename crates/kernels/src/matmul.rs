//! Matrix products on slices, through `gemm` (the crate burn's CPU backend multiplies with,
//! with its own run-time dispatch): the kernels' products, and the training step's linear
//! layers, which call it with buffers of their own rather than through burn, whose CPU backend
//! zero-fills and then copies every product's output before gemm writes it.

use rayon::prelude::*;

/// A row-major matrix to write: its values and the distance between its rows.
pub struct Matrix<'a> {
    values: &'a mut [f32],
    row_stride: usize,
}

impl<'a> Matrix<'a> {
    /// The matrix stored in `values` with rows `row_stride` long.
    pub fn rows(values: &'a mut [f32], row_stride: usize) -> Self {
        Self { values, row_stride }
    }
}

/// A matrix to read: row-major values, read as they are or transposed.
pub struct Operand<'a> {
    values: &'a [f32],
    /// The length of the stored rows.
    row_stride: usize,
    /// Whether the operand is the transpose of what is stored.
    transposed: bool,
}

impl<'a> Operand<'a> {
    /// The stored matrix, whose rows are `row_stride` long.
    pub fn rows(values: &'a [f32], row_stride: usize) -> Self {
        let transposed = false;
        Self {
            values,
            row_stride,
            transposed,
        }
    }

    /// The transpose of the stored matrix, whose rows are `row_stride` long.
    pub fn columns(values: &'a [f32], row_stride: usize) -> Self {
        let transposed = true;
        Self {
            values,
            row_stride,
            transposed,
        }
    }

    /// (row stride, column stride) of the operand as multiplied.
    fn strides(&self) -> (isize, isize) {
        let stride = self.row_stride as isize;
        if self.transposed {
            (1, stride)
        } else {
            (stride, 1)
        }
    }

    /// The last index read for an `[rows, columns]` operand, plus one.
    fn extent(&self, rows: usize, columns: usize) -> usize {
        if rows == 0 || columns == 0 {
            return 0;
        }
        let (row_stride, column_stride) = self.strides();
        (rows - 1) * row_stride as usize + (columns - 1) * column_stride as usize + 1
    }
}

/// Which threads a product runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// The calling thread alone (for callers that are already parallel).
    One,
    /// Every thread of the current rayon pool.
    All,
}

/// `dst (+)= lhs · rhs` with `(m, n, k)`: dst `[m, n]`, lhs `[m, k]`, rhs `[k, n]`.
/// `accumulate` adds to dst instead of overwriting it (then dst is not read).
///
/// # Panics
/// If a matrix's slice is too short for its shape: callers size them from the same shapes.
pub fn multiply(
    dst: Matrix,
    lhs: Operand,
    rhs: Operand,
    (m, n, k): (usize, usize, usize),
    accumulate: bool,
    threads: Threads,
) {
    // The bounds gemm will read and write, checked here because it takes raw pointers.
    assert!(
        dst.row_stride >= n && (m == 0 || (m - 1) * dst.row_stride + n <= dst.values.len()),
        "product destination too small for [{m}, {n}]"
    );
    assert!(
        lhs.extent(m, k) <= lhs.values.len(),
        "left operand too small for [{m}, {k}]"
    );
    assert!(
        rhs.extent(k, n) <= rhs.values.len(),
        "right operand too small for [{k}, {n}]"
    );
    let (lhs_rs, lhs_cs) = lhs.strides();
    let (rhs_rs, rhs_cs) = rhs.strides();
    let parallelism = match threads {
        Threads::One => gemm::Parallelism::None,
        // 0: gemm asks rayon for the current pool's size.
        Threads::All => gemm::Parallelism::Rayon(0),
    };
    // SAFETY: the assertions above keep every element gemm touches inside the slices; `dst`
    // is borrowed mutably, so it cannot overlap the operands.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.values.as_mut_ptr(),
            1,
            dst.row_stride as isize,
            accumulate,
            lhs.values.as_ptr(),
            lhs_cs,
            lhs_rs,
            rhs.values.as_ptr(),
            rhs_cs,
            rhs_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Rows per task of [`sum_over_rows`]: products of a few hundred rows keep gemm's packing
/// worthwhile, and a SASRec batch (6400 positions) still makes a dozen tasks to balance.
const ROWS_PER_TASK: usize = 512;

/// `lhsᵀ · rhs` `[m, n]` and the column sums of `rhs` `[n]`, for `lhs` `[k, m]` and `rhs`
/// `[k, n]` stored row-major: a linear layer's weight and bias gradients over `k` positions.
///
/// gemm spreads a product over the rows and columns of its output, and a weight gradient's
/// output is small (64 × 256 in a SASRec feed-forward) where k is large (thousands of
/// positions): with AVX2 kernels one thread did most of the work. Here blocks of
/// [`ROWS_PER_TASK`] rows run in parallel, each on one thread, and their partial sums are added
/// in block order, so the result does not depend on the number of threads.
///
/// # Panics
/// If `lhs` or `rhs` is shorter than its shape: callers size them from the same shapes.
pub fn sum_over_rows(
    lhs: &[f32],
    rhs: &[f32],
    (m, n, k): (usize, usize, usize),
) -> (Vec<f32>, Vec<f32>) {
    assert!(
        lhs.len() >= k * m && rhs.len() >= k * n,
        "operands too small for {k} rows"
    );
    let (lhs, rhs) = (&lhs[..k * m], &rhs[..k * n]);
    if m == 0 || n == 0 || k == 0 {
        return (vec![0.0; m * n], vec![0.0; n]);
    }
    let block = |lhs: &[f32], rhs: &[f32], threads| {
        let rows = lhs.len() / m;
        let mut product = vec![0.0f32; m * n];
        multiply(
            Matrix::rows(&mut product, n),
            Operand::columns(lhs, m),
            Operand::rows(rhs, n),
            (m, n, rows),
            false,
            threads,
        );
        let mut sums = vec![0.0f32; n];
        for row in rhs.chunks_exact(n) {
            for (sum, value) in sums.iter_mut().zip(row) {
                *sum += value;
            }
        }
        (product, sums)
    };
    if k <= ROWS_PER_TASK {
        return block(lhs, rhs, Threads::All);
    }
    let partials: Vec<(Vec<f32>, Vec<f32>)> = lhs
        .par_chunks(ROWS_PER_TASK * m)
        .zip(rhs.par_chunks(ROWS_PER_TASK * n))
        .map(|(lhs, rhs)| block(lhs, rhs, Threads::One))
        .collect();
    let products: Vec<&[f32]> = partials.iter().map(|(product, _)| &product[..]).collect();
    let sums: Vec<&[f32]> = partials.iter().map(|(_, sums)| &sums[..]).collect();
    (sum_in_order(&products, m * n), sum_in_order(&sums, n))
}

/// Σ of equally long `partials`, element by element, added in the order given (chunks of
/// elements in parallel).
pub(crate) fn sum_in_order(partials: &[&[f32]], len: usize) -> Vec<f32> {
    const CHUNK: usize = 1 << 12;
    let mut total = vec![0.0f32; len];
    total
        .par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(chunk, total)| {
            let start = chunk * CHUNK;
            for partial in partials {
                let partial = &partial[start..start + total.len()];
                for (total, value) in total.iter_mut().zip(partial) {
                    *total += value;
                }
            }
        });
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[rows, columns]` of small whole numbers, so every product is exact in f32.
    fn matrix(rows: usize, columns: usize, seed: usize) -> Vec<f32> {
        (0..rows * columns)
            .map(|i| ((i * 7 + seed * 3) % 11) as f32 - 5.0)
            .collect()
    }

    /// Element (i, j) of a stored `[.., stride]` matrix, read transposed or not.
    fn at(values: &[f32], stride: usize, transposed: bool, i: usize, j: usize) -> f32 {
        if transposed {
            values[j * stride + i]
        } else {
            values[i * stride + j]
        }
    }

    #[test]
    fn every_transposition_and_accumulation_matches_the_sum_of_products() {
        // Sizes past gemm's blocking in every dimension, and odd.
        let (m, n, k) = (67, 45, 130);
        for lhs_transposed in [false, true] {
            for rhs_transposed in [false, true] {
                for (accumulate, threads) in [(false, Threads::All), (true, Threads::One)] {
                    let lhs = matrix(m, k, 1);
                    let rhs = matrix(k, n, 2);
                    let (lhs_stride, rhs_stride) = (
                        if lhs_transposed { m } else { k },
                        if rhs_transposed { k } else { n },
                    );
                    let start = matrix(m, n, 3);
                    let mut dst = start.clone();
                    let operand = |values, stride, transposed| {
                        if transposed {
                            Operand::columns(values, stride)
                        } else {
                            Operand::rows(values, stride)
                        }
                    };
                    multiply(
                        Matrix::rows(&mut dst, n),
                        operand(&lhs, lhs_stride, lhs_transposed),
                        operand(&rhs, rhs_stride, rhs_transposed),
                        (m, n, k),
                        accumulate,
                        threads,
                    );
                    for i in 0..m {
                        for j in 0..n {
                            let mut expected: f32 = (0..k)
                                .map(|l| {
                                    at(&lhs, lhs_stride, lhs_transposed, i, l)
                                        * at(&rhs, rhs_stride, rhs_transposed, l, j)
                                })
                                .sum();
                            if accumulate {
                                expected += start[i * n + j];
                            }
                            assert_eq!(
                                dst[i * n + j],
                                expected,
                                "({i}, {j}), lhs transposed {lhs_transposed}, rhs transposed \
                                 {rhs_transposed}, accumulate {accumulate}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn sums_over_rows_match_the_products_and_column_sums_in_blocks_and_whole() {
        // One block (on every thread), and three blocks with a partial last one.
        for k in [30, 2 * ROWS_PER_TASK + 37] {
            let (m, n) = (5, 7);
            let lhs = matrix(k, m, 1);
            let rhs = matrix(k, n, 2);
            let (product, sums) = sum_over_rows(&lhs, &rhs, (m, n, k));
            for i in 0..m {
                for j in 0..n {
                    let expected: f32 = (0..k).map(|l| lhs[l * m + i] * rhs[l * n + j]).sum();
                    assert_eq!(product[i * n + j], expected, "({i}, {j}), k {k}");
                }
            }
            for j in 0..n {
                let expected: f32 = (0..k).map(|l| rhs[l * n + j]).sum();
                assert_eq!(sums[j], expected, "column {j}, k {k}");
            }
        }
        let (product, sums) = sum_over_rows(&[], &[], (3, 2, 0));
        assert_eq!((product, sums), (vec![0.0; 6], vec![0.0; 2]));
    }

    #[test]
    #[should_panic(expected = "right operand too small for [3, 2]")]
    fn a_short_operand_is_refused() {
        let mut dst = vec![0.0; 4];
        multiply(
            Matrix::rows(&mut dst, 2),
            Operand::rows(&[1.0; 6], 3),
            Operand::rows(&[1.0; 5], 2),
            (2, 2, 3),
            false,
            Threads::One,
        );
    }
}
