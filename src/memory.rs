//! The allocator's thresholds for a process that trains.
//!
//! A training step allocates and frees the same large buffers every time (on ML-100K at batch
//! 128 the logits alone are 43 MB). glibc serves blocks above its mmap threshold (at most 32 MB)
//! with fresh mappings and trims freed memory at the heap's top, so every step faulted its
//! buffers back in page by page: about a tenth of the step in the kernel. With the thresholds
//! raised, freed buffers stay in the heap and the next step reuses them. At most 512 MB of
//! freed memory is kept before the heap is trimmed.

/// Sets the thresholds; call first thing in `main`, before any thread starts.
pub fn keep_freed_buffers_for_reuse() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's parameters; called before other threads
    // exist, it cannot race with an allocation.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}
