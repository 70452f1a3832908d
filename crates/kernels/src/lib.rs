//! reclab's host kernels: the inner loops the CPU runs itself rather than through burn's
//! tensor operations — vectorised exponentials and GELU ([`math`]), the fused attention,
//! LayerNorm, dropout masks and blocked softmax cross-entropy of a training step
//! ([`attention`], [`layer_norm`], [`dropout`], [`cross_entropy`]), matrix products on slices
//! ([`matmul`], through `gemm`, which dispatches itself), and GGUF's quantized blocks with the
//! matrix product the language model multiplies by ([`quant`]).
//!
//! Every kernel is written once as plain Rust and compiled again under `#[target_feature]` for
//! AVX2+FMA and for AVX-512; [`isa::Isa::detected`] picks one at run time, so one binary built
//! for the baseline target runs the widest code each machine has (never `-C target-cpu=native`).
//! On aarch64 NEON is the baseline, so the generic body is already the vector one.
//!
//! No C and no burn here: the crate builds and runs its tests for another architecture with
//! nothing but that target's standard library (CI runs them for aarch64 under emulation).

/// Defines a dispatched kernel: the public function (this CPU's widest version), `*_on` (the
/// version of a given instruction set, for tests, benchmarks and callers that choose once for a
/// whole batch), and its AVX2+FMA and AVX-512 compilations of the same body. Written with three
/// names (`$on / $avx2 / $avx512`) it defines `*_on` alone.
macro_rules! dispatched {
    (
        $(#[$doc:meta])*
        pub fn $name:ident / $on:ident / $avx2:ident / $avx512:ident
            ($($arg:ident: $ty:ty),*) -> $ret:ty = $body:ident
    ) => {
        $(#[$doc])*
        pub fn $name($($arg: $ty),*) -> $ret {
            $on($crate::isa::Isa::detected(), $($arg),*)
        }

        dispatched! {
            $(#[$doc])*
            pub fn $on / $avx2 / $avx512 ($($arg: $ty),*) -> $ret = $body
        }
    };
    (
        $(#[$doc:meta])*
        pub fn $on:ident / $avx2:ident / $avx512:ident
            ($($arg:ident: $ty:ty),*) -> $ret:ty = $body:ident
    ) => {
        $(#[$doc])*
        ///
        /// With the kernel of `isa` (the generic one where this CPU lacks it).
        pub fn $on(isa: $crate::isa::Isa, $($arg: $ty),*) -> $ret {
            use $crate::isa::Isa;
            match isa.min(Isa::of_machine()) {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => {
                    // SAFETY: capped by `Isa::of_machine`, which reports AVX-512 (F, BW, VL),
                    // AVX2 and FMA only where the CPU has them.
                    unsafe { $avx512($($arg),*) }
                }
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2Fma => {
                    // SAFETY: capped by `Isa::of_machine`, which reports AVX2+FMA only where
                    // the CPU has them.
                    unsafe { $avx2($($arg),*) }
                }
                _ => $body::<{ $crate::math::GENERIC_FMA }>($($arg),*),
            }
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        fn $avx2($($arg: $ty),*) -> $ret {
            $body::<true>($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
        fn $avx512($($arg: $ty),*) -> $ret {
            $body::<true>($($arg),*)
        }
    };
}

pub mod attention;
pub mod buffer;
pub mod cross_entropy;
pub mod dropout;
pub mod isa;
pub mod layer_norm;
pub mod math;
pub mod matmul;
pub mod quant;
#[cfg(target_arch = "x86_64")]
mod quant_x86;
pub mod tensor_type;
