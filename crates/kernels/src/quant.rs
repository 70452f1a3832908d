//! GGUF tensor types: their block layouts, dequantization to f32, and the quantized matrix
//! product the CPU path multiplies with directly (weights stay in their blocks; each output row
//! is dequantized into a small buffer that stays in the L1 cache and dotted with the inputs).
//!
//! The layouts are ggml's (`ggml-common.h`): a block holds a fixed number of values along a
//! row, with one or two f16 scales; k-quants group 256 values with 6-bit sub-scales. Kernels
//! are written once as plain Rust and compiled again under `#[target_feature]` for AVX2+FMA and
//! AVX-512, picked at run time by [`Isa::detected`].

use half::{bf16, f16};
use rayon::prelude::*;

use crate::isa::Isa;

pub use crate::tensor_type::{SUPPORTED_TYPES, TensorType};

#[inline(always)]
fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

/// Dequantizes one row: `bytes` holds exactly `out.len()` values of type `ty`
/// (`ty.row_bytes(out.len())` bytes). Dispatched to the widest kernel this CPU runs.
pub fn dequantize_row(ty: TensorType, bytes: &[u8], out: &mut [f32]) {
    dequantize_row_on(Isa::detected(), ty, bytes, out)
}

/// [`dequantize_row`] with the kernel of `isa` (the generic one where this CPU lacks it), so
/// tests check every version this machine can run.
pub fn dequantize_row_on(isa: Isa, ty: TensorType, bytes: &[u8], out: &mut [f32]) {
    debug_assert_eq!(ty.row_bytes(out.len()), Some(bytes.len()));
    match isa.min(Isa::of_machine()) {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            // SAFETY: `Isa::detected` reports AVX-512 (F, BW, VL), AVX2 and FMA only where the CPU has them.
            unsafe { dequantize_row_avx512(ty, bytes, out) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => {
            // SAFETY: `Isa::detected` reports AVX2+FMA only where the CPU has them.
            unsafe { dequantize_row_avx2(ty, bytes, out) }
        }
        _ => dequantize_row_generic(ty, bytes, out),
    }
}

/// Explicit AVX2 for the 32-value block types, the generic body (compiled for AVX2) for the rest.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
fn dequantize_row_avx2(ty: TensorType, bytes: &[u8], out: &mut [f32]) {
    if !crate::quant_x86::dequantize_row_avx2(ty, bytes, out) {
        dequantize_row_generic(ty, bytes, out)
    }
}

/// Block unpacking gains nothing from 512-bit registers: the AVX2 kernel, compiled for AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
fn dequantize_row_avx512(ty: TensorType, bytes: &[u8], out: &mut [f32]) {
    if !crate::quant_x86::dequantize_row_avx2(ty, bytes, out) {
        dequantize_row_generic(ty, bytes, out)
    }
}

/// The kernel body, inlined into each instruction-set version so the compiler vectorises it
/// for that set.
#[inline(always)]
fn dequantize_row_generic(ty: TensorType, bytes: &[u8], out: &mut [f32]) {
    let blocks = bytes.chunks_exact(ty.block_bytes());
    let outs = out.chunks_exact_mut(ty.block_len());
    match ty {
        TensorType::F32 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        TensorType::F16 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f16::from_le_bytes([b[0], b[1]]).to_f32();
            }
        }
        TensorType::BF16 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = bf16::from_le_bytes([b[0], b[1]]).to_f32();
            }
        }
        TensorType::Q4_0 => {
            for (o, b) in outs.zip(blocks) {
                let d = f16_at(b, 0);
                let qs = &b[2..18];
                for j in 0..16 {
                    o[j] = ((qs[j] & 0x0F) as i32 - 8) as f32 * d;
                    o[j + 16] = ((qs[j] >> 4) as i32 - 8) as f32 * d;
                }
            }
        }
        TensorType::Q4_1 => {
            for (o, b) in outs.zip(blocks) {
                let d = f16_at(b, 0);
                let m = f16_at(b, 2);
                let qs = &b[4..20];
                for j in 0..16 {
                    o[j] = (qs[j] & 0x0F) as f32 * d + m;
                    o[j + 16] = (qs[j] >> 4) as f32 * d + m;
                }
            }
        }
        TensorType::Q8_0 => {
            for (o, b) in outs.zip(blocks) {
                let d = f16_at(b, 0);
                for (v, &q) in o.iter_mut().zip(&b[2..34]) {
                    *v = (q as i8) as f32 * d;
                }
            }
        }
        TensorType::Q4K => {
            for (o, b) in outs.zip(blocks) {
                let d = f16_at(b, 0);
                let dmin = f16_at(b, 2);
                let scales = &b[4..16];
                let qs = &b[16..144];
                for group in 0..4 {
                    let (sc1, m1) = scale_min_k4(2 * group, scales);
                    let (sc2, m2) = scale_min_k4(2 * group + 1, scales);
                    let (d1, m1) = (d * sc1 as f32, dmin * m1 as f32);
                    let (d2, m2) = (d * sc2 as f32, dmin * m2 as f32);
                    let q = &qs[32 * group..32 * group + 32];
                    let y = &mut o[64 * group..64 * group + 64];
                    for l in 0..32 {
                        y[l] = d1 * (q[l] & 0x0F) as f32 - m1;
                        y[l + 32] = d2 * (q[l] >> 4) as f32 - m2;
                    }
                }
            }
        }
        TensorType::Q6K => {
            for (o, b) in outs.zip(blocks) {
                let d = f16_at(b, 208);
                for half in 0..2 {
                    let ql = &b[64 * half..64 * half + 64];
                    let qh = &b[128 + 32 * half..128 + 32 * half + 32];
                    let sc = &b[192 + 8 * half..192 + 8 * half + 8];
                    let y = &mut o[128 * half..128 * half + 128];
                    for l in 0..32 {
                        let is = l / 16;
                        let q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i32 - 32;
                        let q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                        let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                        let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                        y[l] = d * (sc[is] as i8) as f32 * q1 as f32;
                        y[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
                        y[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
                        y[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
                    }
                }
            }
        }
    }
}

/// The 6-bit scale and minimum of sub-block `j` (of 8) of a Q4_K block (ggml's `get_scale_min_k4`).
#[inline(always)]
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// The dot product of two equally long slices, dispatched like [`dequantize_row`].
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_on(Isa::detected(), a, b)
}

/// [`dot`] with the kernel of `isa` (the generic one where this CPU lacks it).
pub fn dot_on(isa: Isa, a: &[f32], b: &[f32]) -> f32 {
    match isa.min(Isa::of_machine()) {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            // SAFETY: `Isa::detected` reports AVX-512 only where the CPU has it.
            unsafe { dot_avx512(a, b) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => {
            // SAFETY: `Isa::detected` reports AVX2+FMA only where the CPU has them.
            unsafe { dot_avx2(a, b) }
        }
        _ => dot_generic(a, b),
    }
}

#[cfg(target_arch = "x86_64")]
use crate::quant_x86::{dot_avx2, dot_avx512};

/// Sixteen independent partial sums, so the compiler keeps them in vector registers (two AVX2
/// registers, one AVX-512 register) instead of one serial chain.
#[inline(always)]
fn dot_generic(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let a_chunks = a.chunks_exact(LANES);
    let b_chunks = b.chunks_exact(LANES);
    let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());
    for (x, y) in a_chunks.zip(b_chunks) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in a_rest.iter().zip(b_rest) {
        sum += x * y;
    }
    sum
}

/// The dot product of a quantized row with `x` without unpacking the row into memory, where
/// `isa` (capped by this CPU) has a kernel for the row's type (AVX2: Q4_0, Q4_1, Q8_0); `None`
/// elsewhere.
// Elsewhere than x86-64 no kernel reads the blocks, and the arguments go unused.
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
fn dot_quantized_row_on(isa: Isa, ty: TensorType, bytes: &[u8], x: &[f32]) -> Option<f32> {
    match isa.min(Isa::of_machine()) {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma | Isa::Avx512 => {
            // SAFETY: capped by `Isa::of_machine`, which reports AVX2+FMA (and F16C, present
            // on every such CPU) only where the CPU has them.
            unsafe { crate::quant_x86::dot_quantized_row_avx2(ty, bytes, x) }
        }
        _ => None,
    }
}

#[derive(Clone)]
/// A weight matrix kept in its GGUF blocks: `rows` output rows of `cols` values each.
pub struct QuantMatrix {
    pub ty: TensorType,
    pub rows: usize,
    pub cols: usize,
    /// `rows * ty.row_bytes(cols)` bytes.
    data: std::sync::Arc<dyn AsRef<[u8]> + Send + Sync>,
    offset: usize,
    row_bytes: usize,
}

impl QuantMatrix {
    /// A matrix over `data[offset..]`; `None` when the bytes are too few or `cols` is not a
    /// whole number of blocks.
    pub fn new(
        ty: TensorType,
        rows: usize,
        cols: usize,
        data: std::sync::Arc<dyn AsRef<[u8]> + Send + Sync>,
        offset: usize,
    ) -> Option<QuantMatrix> {
        let row_bytes = ty.row_bytes(cols)?;
        let end = offset.checked_add(row_bytes.checked_mul(rows)?)?;
        if end > (*data).as_ref().len() {
            return None;
        }
        Some(QuantMatrix {
            ty,
            rows,
            cols,
            data,
            offset,
            row_bytes,
        })
    }

    /// The bytes of row `row`.
    pub fn row_bytes_of(&self, row: usize) -> &[u8] {
        let start = self.offset + row * self.row_bytes;
        &(*self.data).as_ref()[start..start + self.row_bytes]
    }

    /// Bytes the matrix occupies.
    pub fn bytes(&self) -> usize {
        self.rows * self.row_bytes
    }

    /// Row `row` as f32 values.
    pub fn dequantize_row_into(&self, row: usize, out: &mut [f32]) {
        dequantize_row(self.ty, self.row_bytes_of(row), out)
    }

    /// The whole matrix as f32, row-major.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.rows * self.cols];
        out.par_chunks_mut(self.cols)
            .enumerate()
            .for_each(|(row, o)| self.dequantize_row_into(row, o));
        out
    }

    /// `x · Wᵀ` for `x` of `m` rows of `cols` values: `m` rows of `rows` values. Output rows
    /// are shared out among threads in chunks; each thread dequantizes one weight row at a time
    /// and dots it with every input row, so weights are read once whatever `m` is.
    pub fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        debug_assert_eq!(x.len(), m * self.cols);
        // Output transposed (weight row by input row), so each chunk of weight rows writes one
        // contiguous piece; transposed back below when there is more than one input row.
        let mut transposed = vec![0.0f32; self.rows * m];
        let isa = Isa::detected();
        const ROWS_PER_TASK: usize = 16;
        transposed
            .par_chunks_mut(ROWS_PER_TASK * m)
            .enumerate()
            .for_each(|(task, out)| {
                let mut weights = vec![0.0f32; self.cols];
                for (i, out_row) in out.chunks_mut(m).enumerate() {
                    let row = task * ROWS_PER_TASK + i;
                    if m == 1
                        && let Some(v) =
                            dot_quantized_row_on(isa, self.ty, self.row_bytes_of(row), x)
                    {
                        out_row[0] = v;
                        continue;
                    }
                    self.dequantize_row_into(row, &mut weights);
                    for (o, input) in out_row.iter_mut().zip(x.chunks_exact(self.cols)) {
                        *o = dot(&weights, input);
                    }
                }
            });
        if m == 1 {
            return transposed;
        }
        let mut out = vec![0.0f32; m * self.rows];
        for (row, values) in transposed.chunks_exact(m).enumerate() {
            for (i, v) in values.iter().enumerate() {
                out[i * self.rows + row] = *v;
            }
        }
        out
    }
}

/// Values quantized to Q8_0 blocks as ggml's reference quantizer does (scale = max |x| / 127,
/// values rounded), for building test models and fuzz seeds.
pub fn quantize_q8_0(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() / 32 * 34);
    for block in values.chunks(32) {
        let amax = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
        out.extend(f16::from_f32(d).to_le_bytes());
        out.extend(block.iter().map(|v| (v * inv).round() as i8 as u8));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16_bytes(v: f32) -> [u8; 2] {
        f16::from_f32(v).to_le_bytes()
    }

    #[test]
    fn q4_0_block_by_hand() {
        // d = 0.5; nibbles 0..15 low, 15..0 high: values (q - 8) * d.
        let mut block = f16_bytes(0.5).to_vec();
        block.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
        let mut out = [0.0; 32];
        dequantize_row(TensorType::Q4_0, &block, &mut out);
        for j in 0..16 {
            assert_eq!(out[j], (j as f32 - 8.0) * 0.5);
            assert_eq!(out[j + 16], (15.0 - j as f32 - 8.0) * 0.5);
        }
    }

    #[test]
    fn q4_1_and_q8_0_blocks_by_hand() {
        let mut block = f16_bytes(0.25).to_vec();
        block.extend(f16_bytes(-1.0));
        block.extend((0..16u8).map(|j| j | (3 << 4)));
        let mut out = [0.0; 32];
        dequantize_row(TensorType::Q4_1, &block, &mut out);
        assert_eq!(out[5], 5.0 * 0.25 - 1.0);
        assert_eq!(out[21], 3.0 * 0.25 - 1.0);

        let mut block = f16_bytes(2.0).to_vec();
        block.extend((0..32i8).map(|j| (j - 16) as u8));
        dequantize_row(TensorType::Q8_0, &block, &mut out);
        for (j, v) in out.iter().enumerate() {
            assert_eq!(*v, (j as f32 - 16.0) * 2.0);
        }
    }

    #[test]
    fn row_bytes_refuse_partial_blocks() {
        assert_eq!(TensorType::Q4_1.row_bytes(64), Some(40));
        assert_eq!(TensorType::Q4_1.row_bytes(65), None);
        assert_eq!(TensorType::Q6K.row_bytes(512), Some(420));
        assert_eq!(TensorType::BF16.row_bytes(3), Some(6));
    }

    #[test]
    fn matmul_equals_dequantized_product() {
        // 5 rows of 64 values with varied scales, times 1 input row (the fused one-row kernel)
        // and 3 (dequantized rows), in each 32-value block type.
        let (rows, cols) = (5, 64);
        for ty in [TensorType::Q4_0, TensorType::Q4_1, TensorType::Q8_0] {
            let mut bytes = Vec::new();
            for r in 0..rows * cols / 32 {
                bytes.extend(f16_bytes(0.01 * (r as f32 + 1.0)));
                if ty == TensorType::Q4_1 {
                    bytes.extend(f16_bytes(-0.05 * r as f32));
                }
                let quants = if ty == TensorType::Q8_0 { 32 } else { 16 };
                bytes.extend((0..quants).map(|j| ((j * 7 + r * 3) % 255) as u8));
            }
            let data: std::sync::Arc<dyn AsRef<[u8]> + Send + Sync> = std::sync::Arc::new(bytes);
            let matrix = QuantMatrix::new(ty, rows, cols, data, 0).unwrap();
            let w = matrix.dequantize();
            for m in [1, 3] {
                let x: Vec<f32> = (0..m * cols).map(|i| (i as f32 * 0.37).sin()).collect();
                let y = matrix.matmul(&x, m);
                for i in 0..m {
                    for r in 0..rows {
                        let expected: f64 = (0..cols)
                            .map(|k| x[i * cols + k] as f64 * w[r * cols + k] as f64)
                            .sum();
                        let got = y[i * rows + r] as f64;
                        assert!(
                            (got - expected).abs() < 1e-4,
                            "{ty:?}, m {m}: {got} vs {expected}"
                        );
                    }
                }
            }
        }
    }

    /// The one-row product straight from the blocks, on every instruction set this machine
    /// runs, against the f64 sum over the generic kernel's dequantized row.
    #[test]
    fn the_fused_row_dot_matches_the_dequantized_row_on_every_instruction_set() {
        let cols = 96;
        for ty in [TensorType::Q4_0, TensorType::Q4_1, TensorType::Q8_0] {
            let mut bytes = Vec::new();
            for block in 0..cols / 32 {
                bytes.extend(f16_bytes(0.02 * (block as f32 + 1.0)));
                if ty == TensorType::Q4_1 {
                    bytes.extend(f16_bytes(-0.3 + 0.1 * block as f32));
                }
                let quants = if ty == TensorType::Q8_0 { 32 } else { 16 };
                bytes.extend((0..quants).map(|j| ((j * 29 + block * 11) % 256) as u8));
            }
            let x: Vec<f32> = (0..cols).map(|i| (i as f32 * 0.61).cos()).collect();
            let mut row = vec![0.0f32; cols];
            dequantize_row_on(Isa::Baseline, ty, &bytes, &mut row);
            let expected: f64 = row.iter().zip(&x).map(|(w, x)| *w as f64 * *x as f64).sum();
            for isa in Isa::every_on_this_machine() {
                match dot_quantized_row_on(isa, ty, &bytes, &x) {
                    Some(got) => assert!(
                        (got as f64 - expected).abs() < 1e-4,
                        "{isa:?}, {ty:?}: {got} vs {expected}"
                    ),
                    // Only the x86 vector kernels read blocks directly.
                    None => assert!(
                        !matches!(isa, Isa::Avx2Fma | Isa::Avx512),
                        "{isa:?}, {ty:?}: no fused kernel"
                    ),
                }
            }
        }
    }

    #[test]
    fn a_matrix_larger_than_its_bytes_is_refused() {
        let data: std::sync::Arc<dyn AsRef<[u8]> + Send + Sync> =
            std::sync::Arc::new(vec![0u8; 100]);
        assert!(QuantMatrix::new(TensorType::Q4_0, 6, 32, data.clone(), 0).is_none());
        // Five rows take 90 bytes: they fit from byte 10, not from byte 11.
        assert!(QuantMatrix::new(TensorType::Q4_0, 5, 32, data.clone(), 11).is_none());
        assert!(QuantMatrix::new(TensorType::Q4_0, 5, 32, data, 10).is_some());
    }
}
