//! Reading weight and optimizer files (`best.bin`, checkpoints) written by burn's
//! `BinFileRecorder`. burn reads them with no limit on the lengths inside, so a damaged length
//! prefix made it reserve exabytes and abort the process (found by fuzzing,
//! `fuzz/regressions/weights`); an allocation failure cannot be caught like a panic. The same
//! format is read here with a limit, every tensor's bytes are checked against its shape
//! (`tensor_check`) before burn converts it, and any panic in decoding is caught too.

use std::path::{Path, PathBuf};

use bincode::de::read::SliceReader;
use bincode::serde::OwnedSerdeDecoder;
use burn::prelude::*;
use burn::record::{BurnRecord, FullPrecisionSettings, Record};
use serde::Deserialize;

use super::error::TrainError;
use super::tensor_check::Checked;

/// The most any length inside a record may claim: far above any model reclab trains, far
/// below what would exhaust memory.
const LIMIT: usize = 1 << 32;

/// Reads the record file `path` (its extension becomes `.bin`, as burn's recorder names it).
pub fn read_record<B: Backend, R: Record<B>>(
    path: &Path,
    device: &B::Device,
) -> Result<R, TrainError> {
    let path: PathBuf = path.with_extension("bin");
    let fail = |message: String| TrainError::Checkpoint {
        path: path.clone(),
        message,
    };
    let bytes = std::fs::read(&path).map_err(|e| fail(e.to_string()))?;
    let config = bincode::config::standard().with_limit::<LIMIT>();
    let decoded = crate::guard::catching(|| {
        let mut decoder = OwnedSerdeDecoder::from_reader(SliceReader::new(&bytes), config);
        BurnRecord::<R::Item<FullPrecisionSettings>, B>::deserialize(Checked(
            decoder.as_deserializer(),
        ))
    })
    .map_err(|panic| {
        fail(format!(
            "the record decoder stopped on damaged data ({panic})"
        ))
    })?;
    let record = decoded.map_err(|e| {
        fail(format!(
            "{e} (expected a weights or optimizer file written by reclab)"
        ))
    })?;
    crate::guard::catching(|| R::from_item(record.item, device))
        .map_err(|panic| fail(format!("the record does not fit the model ({panic})")))
}

/// Loads the weights file `path` into `model`; weights of other shapes than the model's (a
/// damaged file, or one from another configuration) are refused naming the file.
pub fn load_weights_into<B: Backend, M: Module<B>>(
    model: M,
    path: &Path,
    device: &B::Device,
) -> Result<M, TrainError> {
    let expected = model.num_params();
    // Not behind `guard::catching`: burn's module mapping is not safe to interrupt (see
    // `guard`); a record of other shapes loads without a panic and is refused below.
    let loaded = model.load_record(read_record(path, device)?);
    if loaded.num_params() != expected {
        return Err(TrainError::Checkpoint {
            path: path.with_extension("bin"),
            message: format!(
                "it holds {} weights where the model has {expected}: it belongs to another configuration, or is damaged",
                loaded.num_params()
            ),
        });
    }
    Ok(loaded)
}
