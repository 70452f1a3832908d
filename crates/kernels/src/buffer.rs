//! Output buffers for the kernels and the training step's host operations.
//!
//! `vec![0.0; n]` zeroes a large buffer on the calling thread: the allocator hands back a block
//! freed by the previous step, and glibc's `memset` clears it while the other cores wait. In a
//! SASRec step that single-threaded clearing was 6–9% of the CPU time (`perf`). These buffers
//! are cleared by every thread of the pool instead, each its own share.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// Below this many values one thread clears a buffer faster than the pool can be woken.
const PARALLEL_FROM: usize = 1 << 16;

/// Values per parallel task.
const CHUNK: usize = 1 << 14;

/// `n` zeros, cleared in parallel when `n` is large.
pub fn zeros(n: usize) -> Vec<f32> {
    if n < PARALLEL_FROM {
        return vec![0.0; n];
    }
    let mut values = Vec::with_capacity(n);
    // Each thread clears whole chunks with `fill` (a memset), where rayon's `repeat_n` wrote
    // one element at a time.
    values.spare_capacity_mut()[..n]
        .par_chunks_mut(CHUNK)
        .for_each(|chunk| chunk.fill(MaybeUninit::new(0.0f32)));
    // SAFETY: the loop above wrote every one of the first n elements.
    unsafe { values.set_len(n) };
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeros_are_zeros_of_the_asked_length_below_and_above_the_parallel_size() {
        for n in [
            0,
            5,
            PARALLEL_FROM - 1,
            PARALLEL_FROM,
            3 * PARALLEL_FROM + 7,
        ] {
            // A freed block of ones first, which the allocator is likely to hand back.
            drop(std::hint::black_box(vec![1.0f32; n]));
            let values = zeros(n);
            assert_eq!(values.len(), n);
            assert!(values.iter().all(|&v| v == 0.0), "n {n}");
        }
    }
}
