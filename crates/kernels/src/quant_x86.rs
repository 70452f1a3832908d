//! x86-64 versions of the hot kernels in explicit AVX2 / AVX-512 intrinsics: the compiler does
//! not vectorise the plain versions' block loops by itself (measured: scalar `vaddss` chains).
//! Each function is compiled for its instruction set and only called after run-time detection
//! ([`crate::isa::Isa::detected`]).

use std::arch::x86_64::*;

use crate::tensor_type::TensorType;

/// An f16 scale stored little-endian at `bytes[at..at + 2]`, converted by F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16_scale(bytes: &[u8], at: usize) -> f32 {
    let bits = u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
}

/// Eight unsigned bytes (the low 8 of `v`) as eight f32.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn u8x8_to_f32(v: __m128i) -> __m256 {
    _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v))
}

/// The 32 values of a Q4_0 or Q4_1 block, dequantized in four registers (values 0..8, 8..16,
/// 16..24, 24..32): Q4_0's (q − 8)·d as q·d − 8d, Q4_1's q·d + m.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q4_block(ty: TensorType, b: &[u8]) -> [__m256; 4] {
    let nibbles = _mm_set1_epi8(0x0F);
    let d = f16_scale(b, 0);
    let (offset, qs_at) = if ty == TensorType::Q4_0 {
        (-8.0 * d, 2)
    } else {
        (f16_scale(b, 2), 4)
    };
    let (d, offset) = (_mm256_set1_ps(d), _mm256_set1_ps(offset));
    let qs = &b[qs_at..qs_at + 16];
    // SAFETY: `qs` is 16 bytes.
    let q = unsafe { _mm_loadu_si128(qs.as_ptr() as *const __m128i) };
    let lo = _mm_and_si128(q, nibbles);
    let hi = _mm_and_si128(_mm_srli_epi16(q, 4), nibbles);
    [
        _mm256_fmadd_ps(u8x8_to_f32(lo), d, offset),
        _mm256_fmadd_ps(u8x8_to_f32(_mm_srli_si128(lo, 8)), d, offset),
        _mm256_fmadd_ps(u8x8_to_f32(hi), d, offset),
        _mm256_fmadd_ps(u8x8_to_f32(_mm_srli_si128(hi, 8)), d, offset),
    ]
}

/// Dequantizes a row of Q4_0, Q4_1 or Q8_0 blocks; returns `false` for other types (the caller
/// then takes the generic kernel).
#[target_feature(enable = "avx2,fma,f16c")]
pub fn dequantize_row_avx2(ty: TensorType, bytes: &[u8], out: &mut [f32]) -> bool {
    match ty {
        TensorType::Q4_0 | TensorType::Q4_1 => {
            let block_bytes = if ty == TensorType::Q4_0 { 18 } else { 20 };
            for (b, o) in bytes
                .chunks_exact(block_bytes)
                .zip(out.chunks_exact_mut(32))
            {
                for (k, w) in q4_block(ty, b).into_iter().enumerate() {
                    // SAFETY: `o` is 32 f32 (chunks_exact); each store writes 8 from 8·k.
                    unsafe { _mm256_storeu_ps(o.as_mut_ptr().add(8 * k), w) };
                }
            }
            true
        }
        TensorType::Q8_0 => {
            for (b, o) in bytes.chunks_exact(34).zip(out.chunks_exact_mut(32)) {
                let d = _mm256_set1_ps(f16_scale(b, 0));
                // SAFETY: `b[2..34]` is 32 bytes read 8 at a time; `o` is 32 f32.
                unsafe {
                    let p = o.as_mut_ptr();
                    for k in 0..4 {
                        let q = _mm_loadl_epi64(b.as_ptr().add(2 + 8 * k) as *const __m128i);
                        let v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
                        _mm256_storeu_ps(p.add(8 * k), _mm256_mul_ps(v, d));
                    }
                }
            }
            true
        }
        _ => false,
    }
}

/// Horizontal sum of eight lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn sum8(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Dot product with four AVX2 accumulators.
#[target_feature(enable = "avx2,fma")]
pub fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY: every load reads 8 values at an index below `n - 7`.
    unsafe {
        while i + 32 <= n {
            for (k, acc) in acc.iter_mut().enumerate() {
                let x = _mm256_loadu_ps(a.as_ptr().add(i + 8 * k));
                let y = _mm256_loadu_ps(b.as_ptr().add(i + 8 * k));
                *acc = _mm256_fmadd_ps(x, y, *acc);
            }
            i += 32;
        }
        while i + 8 <= n {
            let x = _mm256_loadu_ps(a.as_ptr().add(i));
            let y = _mm256_loadu_ps(b.as_ptr().add(i));
            acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
            i += 8;
        }
    }
    let total = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut sum = sum8(total);
    for j in i..n {
        sum += a[j] * b[j];
    }
    sum
}

/// Dot product with two AVX-512 accumulators.
#[target_feature(enable = "avx512f,avx2,fma")]
pub fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc0 = _mm512_setzero_ps();
    let mut acc1 = _mm512_setzero_ps();
    let mut i = 0;
    // SAFETY: every load reads 16 values at an index below `n - 15`.
    unsafe {
        while i + 32 <= n {
            acc0 = _mm512_fmadd_ps(
                _mm512_loadu_ps(a.as_ptr().add(i)),
                _mm512_loadu_ps(b.as_ptr().add(i)),
                acc0,
            );
            acc1 = _mm512_fmadd_ps(
                _mm512_loadu_ps(a.as_ptr().add(i + 16)),
                _mm512_loadu_ps(b.as_ptr().add(i + 16)),
                acc1,
            );
            i += 32;
        }
        while i + 16 <= n {
            acc0 = _mm512_fmadd_ps(
                _mm512_loadu_ps(a.as_ptr().add(i)),
                _mm512_loadu_ps(b.as_ptr().add(i)),
                acc0,
            );
            i += 16;
        }
    }
    let mut sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    for j in i..n {
        sum += a[j] * b[j];
    }
    sum
}

/// The dot product of one quantized row (Q4_0, Q4_1 or Q8_0) with `x`, each block unpacked in
/// registers and multiplied at once (decoding's one-row case: no buffer written and read back).
/// `None` for other types.
#[target_feature(enable = "avx2,fma,f16c")]
pub fn dot_quantized_row_avx2(ty: TensorType, bytes: &[u8], x: &[f32]) -> Option<f32> {
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    match ty {
        TensorType::Q4_0 | TensorType::Q4_1 => {
            let block_bytes = if ty == TensorType::Q4_0 { 18 } else { 20 };
            for (b, xs) in bytes.chunks_exact(block_bytes).zip(x.chunks_exact(32)) {
                let [w0, w1, w2, w3] = q4_block(ty, b);
                // SAFETY: `xs` is 32 f32 (chunks_exact); each load reads 8 from 8·k.
                unsafe {
                    let p = xs.as_ptr();
                    acc0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(p), acc0);
                    acc1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(p.add(8)), acc1);
                    acc0 = _mm256_fmadd_ps(w2, _mm256_loadu_ps(p.add(16)), acc0);
                    acc1 = _mm256_fmadd_ps(w3, _mm256_loadu_ps(p.add(24)), acc1);
                }
            }
        }
        TensorType::Q8_0 => {
            for (i, (b, xs)) in bytes.chunks_exact(34).zip(x.chunks_exact(32)).enumerate() {
                let d = _mm256_set1_ps(f16_scale(b, 0));
                // SAFETY: `b[2..34]` is 32 bytes read 8 at a time; `xs` is 32 f32.
                unsafe {
                    let mut block = _mm256_setzero_ps();
                    for k in 0..4 {
                        let q = _mm_loadl_epi64(b.as_ptr().add(2 + 8 * k) as *const __m128i);
                        let v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
                        block = _mm256_fmadd_ps(v, _mm256_loadu_ps(xs.as_ptr().add(8 * k)), block);
                    }
                    // Two accumulators, alternating, so consecutive blocks do not wait on each other.
                    if i % 2 == 0 {
                        acc0 = _mm256_fmadd_ps(block, d, acc0);
                    } else {
                        acc1 = _mm256_fmadd_ps(block, d, acc1);
                    }
                }
            }
        }
        _ => return None,
    }
    Some(sum8(_mm256_add_ps(acc0, acc1)))
}
