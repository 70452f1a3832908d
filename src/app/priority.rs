//! Background work yields the CPU to the window. On a machine with few cores, a training run
//! (burn's kernels on rayon's threads) would otherwise take every core from the thread that
//! draws the window and from a software renderer's threads, and frames would wait for it.

/// The nice value of background threads: the scheduler gives a thread at 0 (the window, the
/// renderer) about ten times the share of one at 10, and background work still uses every
/// core left idle.
const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's scheduling priority (Linux; elsewhere nothing changes). Threads
/// it creates afterwards inherit the lower priority.
pub fn lower_this_thread() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority reads only its integer arguments. On Linux, `who = 0` names the
    // calling thread (nice values are per thread there). Should it fail, the thread merely
    // keeps its normal priority, so the result is not checked.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, BACKGROUND_NICE);
    }
}

/// Builds rayon's global pool (burn's CPU kernels, the evaluator, the A/B runner) with
/// background priority. Must run before anything uses rayon; later calls change nothing.
pub fn background_rayon_pool() {
    let _ = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("reclab-rayon-{i}"))
        .start_handler(|_| lower_this_thread())
        .build_global();
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn a_background_thread_runs_at_the_lower_priority() {
        let (before, after) = std::thread::spawn(|| {
            // SAFETY: getpriority reads only its integer arguments (0 = the calling thread).
            let nice = || unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            let before = nice();
            super::lower_this_thread();
            (before, nice())
        })
        .join()
        .unwrap();
        assert_eq!(
            after,
            before.max(super::BACKGROUND_NICE),
            "nice {before} -> {after}"
        );
    }
}
