//! The instruction sets this CPU runs, detected once at run time, so host kernels compiled for
//! the baseline target can take their AVX2+FMA or AVX-512 versions where the machine has them
//! (and NEON, the aarch64 baseline). A build never assumes `-C target-cpu=native`: one binary
//! runs on every machine of its architecture and picks its kernels where it runs.

use std::sync::OnceLock;

/// The widest family of vector instructions a host kernel may use on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Whatever the compile target guarantees (SSE2 on x86-64).
    Baseline,
    /// aarch64's Advanced SIMD, always present there.
    Neon,
    /// x86-64 with AVX2, FMA and F16C (most laptops and desktops since about 2013).
    Avx2Fma,
    /// x86-64 with AVX-512 F, BW and VL besides AVX2 and FMA.
    Avx512,
}

impl Isa {
    /// This machine's instruction sets (detected on the first call), capped by
    /// `RECLAB_ISA=baseline|avx2|avx512` when set, so each kernel can be measured and tested on
    /// every level the machine supports.
    pub fn detected() -> Isa {
        static DETECTED: OnceLock<Isa> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            let machine = Isa::of_machine();
            match std::env::var("RECLAB_ISA").ok().as_deref() {
                Some("baseline") => Isa::Baseline,
                Some("avx2") if machine >= Isa::Avx2Fma => Isa::Avx2Fma,
                _ => machine,
            }
        })
    }

    /// What the CPU supports, without the environment's cap.
    pub fn of_machine() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            // F16C (f16 scales) came with every AVX2 CPU; checked all the same.
            let avx2 = is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c");
            let avx512 = is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vl");
            if avx2 && avx512 {
                Isa::Avx512
            } else if avx2 {
                Isa::Avx2Fma
            } else {
                Isa::Baseline
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            Isa::Neon
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            Isa::Baseline
        }
    }

    /// Every level this machine runs, narrowest first (each kernel has a version for each, so
    /// tests and benchmarks can force every one).
    pub fn every_on_this_machine() -> Vec<Isa> {
        let of_this_arch: &[Isa] = if cfg!(target_arch = "aarch64") {
            &[Isa::Baseline, Isa::Neon]
        } else {
            &[Isa::Baseline, Isa::Avx2Fma, Isa::Avx512]
        };
        let machine = Isa::of_machine();
        of_this_arch
            .iter()
            .copied()
            .filter(|&isa| isa <= machine)
            .collect()
    }

    /// The name printed beside a speed figure.
    pub fn label(self) -> &'static str {
        match self {
            Isa::Baseline => {
                if cfg!(target_arch = "x86_64") {
                    "x86-64 baseline (SSE2)"
                } else {
                    "baseline"
                }
            }
            Isa::Neon => "NEON",
            Isa::Avx2Fma => "AVX2+FMA",
            Isa::Avx512 => "AVX-512",
        }
    }
}

/// The CPU's model name as the system reports it (`/proc/cpuinfo` on Linux), for speed figures.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|name| name.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}
