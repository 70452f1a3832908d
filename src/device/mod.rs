//! Where computation runs, chosen at run time: the burn backend (the CPU's `flex`, CUDA or wgpu,
//! among those compiled in), with the detection and refusal messages of each, and the CPU's
//! instruction sets for host kernels ([`isa`]). The ground floor: training, the language models
//! and the recommenders all choose their device here, and this module imports none of them.

/// The CPU's instruction sets, from the host-kernel crate (where the kernels they pick live).
pub use reclab_kernels::isa;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA when compiled in and a GPU is present, else the CPU.
    Auto,
    Cpu,
    Cuda,
    Wgpu,
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Cuda => "cuda",
            DeviceChoice::Wgpu => "wgpu",
        };
        f.write_str(name)
    }
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda),
            "wgpu" => Ok(DeviceChoice::Wgpu),
            other => Err(format!(
                "unknown device `{other}`; expected auto, cpu, cuda or wgpu"
            )),
        }
    }
}

/// A device that can actually run here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    Cpu,
    Cuda,
    Wgpu,
}

impl Resolved {
    pub fn label(&self) -> &'static str {
        match self {
            Resolved::Cpu => "cpu",
            Resolved::Cuda => "cuda:0",
            Resolved::Wgpu => "wgpu",
        }
    }
}

/// Whether an NVIDIA GPU is visible to this process (its device node exists).
pub fn nvidia_gpu_present() -> bool {
    std::path::Path::new("/dev/nvidia0").exists() || std::path::Path::new("/dev/nvidiactl").exists()
}

/// Why CUDA cannot run here, if it cannot: no NVIDIA device, or no driver library to load.
fn cuda_missing() -> Option<String> {
    if !nvidia_gpu_present() {
        return Some("this machine shows no NVIDIA GPU (no /dev/nvidia0 or /dev/nvidiactl)".into());
    }
    #[cfg(target_os = "linux")]
    {
        let loadable = ["libcuda.so.1", "libcuda.so"].iter().any(|name| {
            let name = std::ffi::CString::new(*name).unwrap_or_default();
            // SAFETY: dlopen reads a NUL-terminated name and returns a handle or null; the
            // handle is closed at once. Loading the driver library runs no code of ours.
            unsafe {
                let handle = libc::dlopen(name.as_ptr(), libc::RTLD_LAZY | libc::RTLD_LOCAL);
                if handle.is_null() {
                    false
                } else {
                    libc::dlclose(handle);
                    true
                }
            }
        });
        if !loadable {
            return Some("the NVIDIA driver library (libcuda.so.1) cannot be loaded".into());
        }
    }
    None
}

impl DeviceChoice {
    /// The device to use, or why the choice cannot be honoured in this build.
    pub fn resolve(self) -> Result<Resolved, String> {
        match self {
            DeviceChoice::Cpu => Ok(Resolved::Cpu),
            DeviceChoice::Auto => Ok(if cfg!(feature = "cuda") && nvidia_gpu_present() {
                Resolved::Cuda
            } else {
                Resolved::Cpu
            }),
            DeviceChoice::Cuda if cfg!(feature = "cuda") => match cuda_missing() {
                // Asked for explicitly on a machine that cannot run it: say so, instead of the
                // CUDA runtime panicking on a worker thread.
                Some(why) => Err(format!(
                    "CUDA was asked for, but {why}; use --device cpu (or auto, which picks CUDA \
                     only where it can run)"
                )),
                None => Ok(Resolved::Cuda),
            },
            DeviceChoice::Cuda => {
                Err("this reclab was built without CUDA; rebuild with `--features cuda`".into())
            }
            DeviceChoice::Wgpu if cfg!(feature = "wgpu") => Ok(Resolved::Wgpu),
            DeviceChoice::Wgpu => {
                Err("this reclab was built without wgpu; rebuild with `--features wgpu`".into())
            }
        }
    }
}
