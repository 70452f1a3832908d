//! A run's initial weights, drawn on the CPU whatever device trains. Each burn backend has its
//! own random generator (the CPU's, CubeCL's on wgpu and CUDA), so the same seed gave different
//! starting weights on each device; drawn here once and copied to the device, a seed means one
//! starting point everywhere, and a run on a GPU can be compared step by step with the CPU's.

use burn::backend::Flex;
use burn::prelude::*;
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};

use super::error::TrainError;
use crate::model::{SeqRec, TransformerConfig, Vocabulary};

/// The seeded initial model on `device`, with the item text vectors when the config keeps them
/// (or starts the id embeddings from them).
pub(crate) fn initial_model<B: Backend>(
    config: &TransformerConfig,
    seed: u64,
    vocabulary: Vocabulary,
    text: Option<&crate::lm::Vectors>,
    device: &B::Device,
) -> Result<SeqRec<B>, TrainError> {
    if let Some(text) = text
        && text.len() != vocabulary.size()
    {
        return Err(TrainError::Config(format!(
            "item text vectors have {} rows for a vocabulary of {}",
            text.len(),
            vocabulary.size()
        )));
    }
    let cpu = Default::default();
    Flex::seed(&cpu, seed);
    let drawn = with_text(
        SeqRec::<Flex>::new(config, vocabulary, &cpu),
        config,
        text,
        &cpu,
    );
    // Through bytes: the record of one backend is not a record of another. Full precision, so
    // every weight arrives exactly as drawn.
    let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
    let failed = |e: burn::record::RecorderError| {
        TrainError::Config(format!("copying the initial weights to the device: {e}"))
    };
    let bytes = recorder.record(drawn.into_record(), ()).map_err(failed)?;
    let record = recorder.load(bytes, device).map_err(failed)?;
    // The skeleton on the device: its own draws are all replaced by the record.
    let skeleton = with_text(
        SeqRec::<B>::new(config, vocabulary, device),
        config,
        text,
        device,
    );
    Ok(skeleton.load_record(record))
}

fn with_text<B: Backend>(
    model: SeqRec<B>,
    config: &TransformerConfig,
    text: Option<&crate::lm::Vectors>,
    device: &B::Device,
) -> SeqRec<B> {
    match text {
        Some(text) => {
            let table = Tensor::<B, 2>::from_data(
                TensorData::new(text.as_slice().to_vec(), [text.len(), text.dim()]),
                device,
            );
            model.with_text_vectors(table, config)
        }
        None => model,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Autodiff;
    use burn::module::{ModuleVisitor, Param};
    use burn::optim::GradientsParams;

    struct Flatten(Vec<f32>);
    impl<B: Backend> ModuleVisitor<B> for Flatten {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.0
                .extend(param.val().into_data().to_vec::<f32>().unwrap());
        }
    }

    fn weights<B: Backend>(model: &SeqRec<B>) -> Vec<f32> {
        let mut flatten = Flatten(Vec::new());
        model.visit(&mut flatten);
        flatten.0
    }

    #[test]
    fn the_seed_alone_decides_the_initial_weights_and_text_arrives_intact() {
        let config = TransformerConfig {
            hidden: 8,
            heads: 2,
            layers: 1,
            inner: 16,
            max_len: 5,
            item_text: crate::model::ItemText::Fused,
            text_dim: 3,
            ..TransformerConfig::default()
        };
        let vocabulary = Vocabulary { num_items: 4 };
        let text = crate::lm::Vectors::new(3, (0..18).map(|i| i as f32 / 7.0).collect());
        let device = Default::default();
        let a =
            initial_model::<Autodiff<Flex>>(&config, 7, vocabulary, Some(&text), &device).unwrap();
        // The backend's generator, drawn from since, does not change what seed 7 gives.
        let _ = Tensor::<Flex, 1>::random([9], burn::tensor::Distribution::Default, &device);
        let b = initial_model::<Flex>(&config, 7, vocabulary, Some(&text), &device).unwrap();
        let c = initial_model::<Flex>(&config, 8, vocabulary, Some(&text), &device).unwrap();
        assert_eq!(weights(&a), weights(&b));
        assert_ne!(weights(&b), weights(&c));
        // The frozen text table is among the weights, exactly, and still frozen.
        let flat = weights(&b);
        assert!(flat.windows(18).any(|w| w == text.as_slice()));
        let grads_of = |model: &SeqRec<Autodiff<Flex>>| {
            GradientsParams::from_grads(model.item_table().sum().backward(), model).len()
        };
        let table = Tensor::from_data(TensorData::new(text.as_slice().to_vec(), [6, 3]), &device);
        let direct = SeqRec::<Autodiff<Flex>>::new(&config, vocabulary, &device)
            .with_text_vectors(table, &config);
        assert_eq!(grads_of(&a), grads_of(&direct));
    }

    #[test]
    fn a_text_table_of_the_wrong_length_is_refused() {
        let config = TransformerConfig::default();
        let text = crate::lm::Vectors::new(3, vec![0.0; 6]);
        let device = Default::default();
        let error = initial_model::<Flex>(
            &config,
            1,
            Vocabulary { num_items: 4 },
            Some(&text),
            &device,
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("2 rows for a vocabulary of 6"),
            "{error}"
        );
    }
}
