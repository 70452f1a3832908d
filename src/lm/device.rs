//! The sentence encoder on whichever backend the chosen device needs, behind one type.

use super::encoder::{Progress, TextEncoder};
use super::error::{LmError, Result};
use super::folder::ModelFolder;
use super::vectors::Vectors;
use crate::device::{DeviceChoice, Resolved};

/// A [`TextEncoder`] on the CPU (`flex`), CUDA or wgpu, as compiled in.
// One per loaded model, held for its lifetime: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Embedder {
    Cpu(TextEncoder<burn::backend::Flex>),
    #[cfg(feature = "cuda")]
    Cuda(TextEncoder<burn::backend::Cuda>),
    #[cfg(feature = "wgpu")]
    Wgpu(TextEncoder<burn::backend::Wgpu>),
}

impl Embedder {
    /// Opens a model folder and loads it onto the chosen device.
    pub fn open(dir: impl AsRef<std::path::Path>, device: DeviceChoice) -> Result<Embedder> {
        let folder = ModelFolder::open(dir)?;
        match device.resolve().map_err(LmError::Device)? {
            Resolved::Cpu => Ok(Embedder::Cpu(TextEncoder::load(
                folder,
                Default::default(),
            )?)),
            #[cfg(feature = "cuda")]
            Resolved::Cuda => Ok(Embedder::Cuda(TextEncoder::load(
                folder,
                Default::default(),
            )?)),
            #[cfg(feature = "wgpu")]
            Resolved::Wgpu => Ok(Embedder::Wgpu(TextEncoder::load(
                folder,
                Default::default(),
            )?)),
            #[allow(unreachable_patterns)] // reachable only in builds without some backends
            other => Err(LmError::Device(format!(
                "{} is not compiled into this build",
                other.label()
            ))),
        }
    }

    /// The device label (`cpu`, `cuda:0`, `wgpu`).
    pub fn device_label(&self) -> &'static str {
        match self {
            Embedder::Cpu(_) => Resolved::Cpu.label(),
            #[cfg(feature = "cuda")]
            Embedder::Cuda(_) => Resolved::Cuda.label(),
            #[cfg(feature = "wgpu")]
            Embedder::Wgpu(_) => Resolved::Wgpu.label(),
        }
    }

    pub fn folder(&self) -> &ModelFolder {
        match self {
            Embedder::Cpu(e) => e.folder(),
            #[cfg(feature = "cuda")]
            Embedder::Cuda(e) => e.folder(),
            #[cfg(feature = "wgpu")]
            Embedder::Wgpu(e) => e.folder(),
        }
    }

    pub fn tokenize(&self, texts: &[String]) -> Result<Vec<Vec<u32>>> {
        match self {
            Embedder::Cpu(e) => e.tokenize(texts),
            #[cfg(feature = "cuda")]
            Embedder::Cuda(e) => e.tokenize(texts),
            #[cfg(feature = "wgpu")]
            Embedder::Wgpu(e) => e.tokenize(texts),
        }
    }

    /// One vector per text, in order; see [`TextEncoder::encode`].
    pub fn encode(
        &self,
        texts: &[String],
        batch: usize,
        progress: Progress<'_>,
    ) -> Result<Vectors> {
        match self {
            Embedder::Cpu(e) => e.encode_parallel(texts, batch, progress),
            #[cfg(feature = "cuda")]
            Embedder::Cuda(e) => e.encode(texts, batch, progress),
            #[cfg(feature = "wgpu")]
            Embedder::Wgpu(e) => e.encode(texts, batch, progress),
        }
    }

    /// One vector for one text.
    pub fn encode_one(&self, text: &str) -> Result<Vec<f32>> {
        let vectors = self.encode(&[text.to_string()], 1, &mut |_, _| true)?;
        Ok(vectors.row(0).to_vec())
    }
}
