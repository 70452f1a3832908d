//! The encoder: item + position embeddings, N self-attention blocks, scores tied to the item
//! embedding table.

use burn::module::Param;
use burn::nn::attention::{MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::transformer::{PositionWiseFeedForward, PositionWiseFeedForwardConfig};
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, LayerNorm, Linear,
    LinearConfig,
};
use burn::prelude::*;

use super::activation::gelu;
use super::attention::{AttentionInputs, attention};
use super::config::{ItemText, TransformerConfig};
use super::dropout::dropout;
use super::layer_norm::{config as norm_config, layer_norm};
use super::linear::over_positions;

/// Token numbering: 0 is padding, `1..=num_items` are items, `num_items + 1` is the mask token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vocabulary {
    pub num_items: usize,
}

impl Vocabulary {
    pub const PADDING: u32 = 0;

    pub fn mask(&self) -> u32 {
        self.num_items as u32 + 1
    }

    /// Embedding rows: padding, items, mask.
    pub fn size(&self) -> usize {
        self.num_items + 2
    }
}

/// One encoder block: self-attention and a feed-forward sublayer, each with dropout, a
/// residual connection and LayerNorm (after the sublayer, or before it when `norm_first`).
#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    attention: MultiHeadAttention<B>,
    feed_forward: PositionWiseFeedForward<B>,
    norm_attention: LayerNorm<B>,
    norm_feed_forward: LayerNorm<B>,
    dropout: Dropout,
    norm_first: bool,
}

impl<B: Backend> Block<B> {
    fn new(config: &TransformerConfig, device: &B::Device) -> Self {
        let init = Initializer::Normal {
            mean: 0.0,
            std: config.init_range,
        };
        Block {
            attention: MultiHeadAttentionConfig::new(config.hidden, config.heads)
                .with_dropout(config.dropout)
                .with_initializer(init.clone())
                .init(device),
            feed_forward: PositionWiseFeedForwardConfig::new(config.hidden, config.inner)
                .with_dropout(config.dropout)
                .with_initializer(init)
                .init(device),
            norm_attention: norm_config(config.hidden).init(device),
            norm_feed_forward: norm_config(config.hidden).init(device),
            dropout: DropoutConfig::new(config.dropout).init(),
            norm_first: config.norm_first,
        }
    }

    /// Returns the block's output and its attention weights `[batch, heads, len, len]`.
    fn forward(
        &self,
        x: Tensor<B, 3>,
        padding: Tensor<B, 2, Bool>,
        future: Option<Tensor<B, 3, Bool>>,
    ) -> (Tensor<B, 3>, Tensor<B, 4>) {
        let normed = self.norm_input(x.clone());
        self.sublayers(x, normed.clone(), normed, padding, future)
    }

    /// The output at the last position only `[batch, 1, hidden]`, and that position's attention
    /// weights `[batch, heads, 1, len]`: the same numbers as [`Self::forward`] there, without
    /// computing queries, attention and feed-forward for the positions nobody reads.
    fn forward_last(
        &self,
        x: Tensor<B, 3>,
        padding: Tensor<B, 2, Bool>,
    ) -> (Tensor<B, 3>, Tensor<B, 4>) {
        let [batch, len, hidden] = x.dims();
        let last = |t: Tensor<B, 3>| t.slice([0..batch, len - 1..len, 0..hidden]);
        let normed = self.norm_input(x.clone());
        // The last position sees every earlier one, so the causal mask has nothing to hide.
        self.sublayers(last(x), last(normed.clone()), normed, padding, None)
    }

    /// The attention sublayer's input: normalised first in a pre-norm block.
    fn norm_input(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        if self.norm_first {
            layer_norm(&self.norm_attention, x)
        } else {
            x
        }
    }

    /// Attention of `queries` over `keys` (the normalised inputs at the query positions and at
    /// every position), added to `residual` (the block's input at the query positions), then
    /// the feed-forward sublayer.
    fn sublayers(
        &self,
        residual: Tensor<B, 3>,
        queries: Tensor<B, 3>,
        keys: Tensor<B, 3>,
        padding: Tensor<B, 2, Bool>,
        future: Option<Tensor<B, 3, Bool>>,
    ) -> (Tensor<B, 3>, Tensor<B, 4>) {
        let (context, weights) = self.attend(queries, keys, padding, future);
        let mut x = residual + dropout(context, self.dropout.prob);
        if !self.norm_first {
            x = layer_norm(&self.norm_attention, x);
        }
        let normed = if self.norm_first {
            layer_norm(&self.norm_feed_forward, x.clone())
        } else {
            x.clone()
        };
        let mut x = x + dropout(self.feed_forward_sublayer(normed), self.dropout.prob);
        if !self.norm_first {
            x = layer_norm(&self.norm_feed_forward, x);
        }
        (x, weights)
    }

    /// burn's `MultiHeadAttention::forward` with this module's dropout (see `dropout.rs`):
    /// the same parameters and the same computation, dropout on the scaled scores before the
    /// masks as burn places it; training on the CPU runs it as one fused kernel
    /// (`attention.rs`). Returns the context `[batch, queries, hidden]` and the weights
    /// `[batch, heads, queries, keys]`.
    pub(crate) fn attend(
        &self,
        queries: Tensor<B, 3>,
        keys: Tensor<B, 3>,
        padding: Tensor<B, 2, Bool>,
        future: Option<Tensor<B, 3, Bool>>,
    ) -> (Tensor<B, 3>, Tensor<B, 4>) {
        let mha = &self.attention;
        let inputs = AttentionInputs {
            query: over_positions(&mha.query, queries),
            key: over_positions(&mha.key, keys.clone()),
            value: over_positions(&mha.value, keys),
            padding,
            future,
        };
        let (context, weights) = attention(
            inputs,
            mha.n_heads,
            self.dropout.prob,
            self.attention_fill(),
        );
        (over_positions(&mha.output, context), weights)
    }

    /// The score a hidden key gets before the softmax (burn's `min_float`).
    pub(crate) fn attention_fill(&self) -> f32 {
        self.attention.min_float as f32
    }

    /// burn's `PositionWiseFeedForward::forward` with this module's dropout.
    pub(crate) fn feed_forward_sublayer(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let ff = &self.feed_forward;
        // burn's module is configured with GELU, the activation computed here.
        let x = gelu(over_positions(&ff.linear_inner, x));
        over_positions(&ff.linear_outer, dropout(x, self.dropout.prob))
    }

    /// The feed-forward sublayer's two projections alone, without GELU and dropout between
    /// them, for timing (`reclab bench train --ops`).
    pub(crate) fn feed_forward_projections(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let ff = &self.feed_forward;
        over_positions(&ff.linear_outer, over_positions(&ff.linear_inner, x))
    }
}

/// Item text vectors inside the model (`fused` and `frozen`): the frozen vectors and a learned
/// projection of them to the hidden size.
#[derive(Module, Debug)]
pub struct TextItems<B: Backend> {
    /// One sentence vector per token `[vocabulary, text_dim]` (padding and mask rows zero).
    /// Saved with the weights, so a saved model needs no language model to be reopened; never
    /// trained (detached wherever it is read).
    vectors: Param<Tensor<B, 2>>,
    projection: Linear<B>,
    /// `[vocabulary, 1]`: 1 where a token's id embedding counts (every token when fused, the
    /// mask token alone when frozen), else 0.
    id_weight: Param<Tensor<B, 2>>,
}

impl<B: Backend> TextItems<B> {
    fn new(config: &TransformerConfig, vocabulary: Vocabulary, device: &B::Device) -> Self {
        let rows = vocabulary.size();
        let mut id_weight = vec![1.0f32; rows];
        if config.item_text == ItemText::Frozen {
            id_weight = vec![0.0; rows];
            id_weight[vocabulary.mask() as usize] = 1.0;
        }
        TextItems {
            vectors: Param::from_tensor(Tensor::zeros([rows, config.text_dim], device))
                .set_require_grad(false),
            projection: LinearConfig::new(config.text_dim, config.hidden)
                .with_initializer(Initializer::Normal {
                    mean: 0.0,
                    std: config.init_range,
                })
                .init(device),
            id_weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(id_weight, [rows, 1]),
                device,
            ))
            .set_require_grad(false),
        }
    }

    /// The item table: id embeddings where they count plus the projected text vectors.
    fn table(&self, ids: Tensor<B, 2>) -> Tensor<B, 2> {
        let text = self.projection.forward(self.vectors.val().detach());
        ids * self.id_weight.val().detach() + text
    }
}

/// The sequential recommender.
///
/// Position embeddings count from the end of the history (the latest item is position 0), so
/// the same history scores the same however much left padding its batch needs. Padding is
/// masked out of attention as a key; burn fills masked scores with a large negative number,
/// not `-inf`, so a row with every key masked (a padded query in causal mode) softmaxes to a
/// finite uniform row instead of NaN.
#[derive(Module, Debug)]
pub struct SeqRec<B: Backend> {
    items: Embedding<B>,
    positions: Embedding<B>,
    input_norm: LayerNorm<B>,
    input_dropout: Dropout,
    blocks: Vec<Block<B>>,
    /// Used only with pre-norm blocks (a post-norm stack already ends in a LayerNorm).
    final_norm: LayerNorm<B>,
    /// Item text vectors and their projection (`fused`, `frozen`).
    text: Option<TextItems<B>>,
    norm_first: bool,
    max_len: usize,
}

impl<B: Backend> SeqRec<B> {
    pub fn new(config: &TransformerConfig, vocabulary: Vocabulary, device: &B::Device) -> Self {
        let init = Initializer::Normal {
            mean: 0.0,
            std: config.init_range,
        };
        SeqRec {
            items: EmbeddingConfig::new(vocabulary.size(), config.hidden)
                .with_initializer(init.clone())
                .init(device),
            positions: EmbeddingConfig::new(config.max_len, config.hidden)
                .with_initializer(init)
                .init(device),
            input_norm: norm_config(config.hidden).init(device),
            input_dropout: DropoutConfig::new(config.dropout).init(),
            blocks: (0..config.layers)
                .map(|_| Block::new(config, device))
                .collect(),
            final_norm: norm_config(config.hidden).init(device),
            text: config
                .item_text
                .keeps_vectors()
                .then(|| TextItems::new(config, vocabulary, device)),
            norm_first: config.norm_first,
            max_len: config.max_len,
        }
    }

    /// Gives the model its items' text vectors `[vocabulary, text_dim]` (rows of padding and
    /// mask zero). `init` starts the id embeddings of items with text from a random projection
    /// of their vectors, scaled to the initialiser's spread; `fused` and `frozen` keep the
    /// vectors. Without item text this changes nothing.
    pub fn with_text_vectors(mut self, vectors: Tensor<B, 2>, config: &TransformerConfig) -> Self {
        match config.item_text {
            ItemText::None => {}
            ItemText::Init => {
                let [rows, dim] = vectors.dims();
                let device = vectors.device();
                let projection = Tensor::<B, 2>::random(
                    [dim, config.hidden],
                    burn::tensor::Distribution::Normal(0.0, 1.0),
                    &device,
                );
                let projected = vectors.clone().matmul(projection);
                let has_text = vectors.abs().sum_dim(1).greater_elem(0.0).float();
                let spread = projected
                    .clone()
                    .var(0)
                    .mean()
                    .sqrt()
                    .into_scalar()
                    .to_f64();
                let scale = if spread > 0.0 {
                    config.init_range / spread
                } else {
                    0.0
                };
                let ids = self.items.weight.val();
                let weight = projected * scale * has_text.clone()
                    + ids * (has_text.neg() + 1.0).reshape([rows, 1]);
                // A fresh leaf: the projection that made it is not part of the model.
                self.items.weight = Param::from_tensor(weight.detach());
            }
            ItemText::Fused | ItemText::Frozen => {
                if let Some(text) = &mut self.text {
                    text.vectors = Param::from_tensor(vectors.detach()).set_require_grad(false);
                }
            }
        }
        self
    }

    /// Every token's embedding `[vocabulary, hidden]`: the id table, with text when kept.
    pub fn item_table(&self) -> Tensor<B, 2> {
        let ids = self.items.weight.val();
        match &self.text {
            Some(text) => text.table(ids),
            None => ids,
        }
    }

    /// Embeddings of token ids `[batch, len]` → `[batch, len, hidden]`.
    fn lookup(&self, tokens: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        match &self.text {
            None => self.items.forward(tokens),
            Some(_) => {
                let [batch, len] = tokens.dims();
                let table = self.item_table();
                let [_, hidden] = table.dims();
                table
                    .select(0, tokens.reshape([batch * len]))
                    .reshape([batch, len, hidden])
            }
        }
    }

    /// The encoder blocks, for timing them one by one (`reclab bench train --ops`).
    pub(crate) fn blocks(&self) -> &[Block<B>] {
        &self.blocks
    }

    /// The input LayerNorm (the shape of every block's), for timing (`reclab bench train --ops`).
    pub(crate) fn layer_norm(&self) -> &LayerNorm<B> {
        &self.input_norm
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Hidden states `[batch, len, hidden]` of left-padded token ids `[batch, len]`
    /// (`len <= max_len`), and the last block's attention weights `[batch, heads, len, len]`.
    pub fn encode(&self, tokens: Tensor<B, 2, Int>, causal: bool) -> (Tensor<B, 3>, Tensor<B, 4>) {
        let [batch, len] = tokens.dims();
        let (x, padding) = self.embed(tokens);
        let future = causal.then(|| self.future_mask(batch, len, &x.device()));
        let mut x = x;
        let mut weights = None;
        for block in &self.blocks {
            let (out, w) = block.forward(x, padding.clone(), future.clone());
            x = out;
            weights = Some(w);
        }
        // A model has at least one block (checked by TransformerConfig::problem).
        let weights = weights.unwrap_or_else(|| Tensor::zeros([batch, 1, len, len], &x.device()));
        (self.finish(x), weights)
    }

    /// What inference needs: the hidden state at the last position `[batch, hidden]` and the
    /// last block's attention weights from there `[batch, heads, len]` — equal to [`Self::encode`]
    /// at that position, with the last block computed for that position alone.
    pub fn encode_last(
        &self,
        tokens: Tensor<B, 2, Int>,
        causal: bool,
    ) -> (Tensor<B, 2>, Tensor<B, 3>) {
        let [batch, len] = tokens.dims();
        let (mut x, padding) = self.embed(tokens);
        let device = x.device();
        let future = causal.then(|| self.future_mask(batch, len, &device));
        let Some((last_block, earlier)) = self.blocks.split_last() else {
            // No blocks (refused by TransformerConfig::problem): the embeddings themselves.
            let [_, _, hidden] = x.dims();
            let x = self.finish(x).slice([0..batch, len - 1..len, 0..hidden]);
            return (
                x.reshape([batch, hidden]),
                Tensor::zeros([batch, 1, len], &device),
            );
        };
        for block in earlier {
            x = block.forward(x, padding.clone(), future.clone()).0;
        }
        let (x, weights) = last_block.forward_last(x, padding);
        let [_, _, hidden] = x.dims();
        let [_, heads, _, _] = weights.dims();
        (
            self.finish(x).reshape([batch, hidden]),
            weights.reshape([batch, heads, len]),
        )
    }

    /// Item + position embeddings, normalised, and the padding mask.
    pub(crate) fn embed(&self, tokens: Tensor<B, 2, Int>) -> (Tensor<B, 3>, Tensor<B, 2, Bool>) {
        let [batch, len] = tokens.dims();
        let device = tokens.device();
        let padding = tokens.clone().equal_elem(0);
        let positions = Tensor::<B, 1, Int>::arange(0..len as i64, &device)
            .neg()
            .add_scalar(len as i64 - 1)
            .reshape([1, len])
            .expand([batch, len]);
        let x = self.lookup(tokens) + self.positions.forward(positions);
        (
            dropout(layer_norm(&self.input_norm, x), self.input_dropout.prob),
            padding,
        )
    }

    /// Each position sees itself and the past.
    pub(crate) fn future_mask(
        &self,
        batch: usize,
        len: usize,
        device: &B::Device,
    ) -> Tensor<B, 3, Bool> {
        Tensor::<B, 2, Bool>::tril_mask([len, len], 0, device)
            .unsqueeze::<3>()
            .expand([batch, len, len])
    }

    /// The final LayerNorm of a pre-norm stack (a post-norm stack already ends in one).
    fn finish(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        if self.norm_first {
            layer_norm(&self.final_norm, x)
        } else {
            x
        }
    }

    /// Scores of every token (padding, items, mask) for hidden states `[n, hidden]`: the dot
    /// product with the item embedding table (tied weights).
    pub fn logits(&self, hidden: Tensor<B, 2>) -> Tensor<B, 2> {
        hidden.matmul(self.item_table().transpose())
    }

    /// Embeddings of token ids of any shape `[.., ]`, for sampled losses.
    pub fn item_embeddings(&self, tokens: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        self.lookup(tokens)
    }
}

#[cfg(test)]
mod text_tests {
    use super::*;
    use crate::model::loss::softmax_cross_entropy;
    use burn::backend::{Autodiff, Flex};
    use burn::optim::{AdamConfig, GradientsParams, Optimizer};

    type B = Autodiff<Flex>;

    fn config(item_text: ItemText) -> TransformerConfig {
        TransformerConfig {
            hidden: 8,
            heads: 2,
            layers: 1,
            inner: 16,
            dropout: 0.0,
            max_len: 5,
            item_text,
            text_dim: 3,
            ..TransformerConfig::default()
        }
    }

    /// Six rows (padding, four items, mask); items 1 and 2 share one text, item 4 has none.
    fn text_table() -> Tensor<B, 2> {
        Tensor::from_floats(
            [
                [0.0, 0.0, 0.0],
                [1.0, 0.0, 0.5],
                [1.0, 0.0, 0.5],
                [0.0, 1.0, -1.0],
                [0.0, 0.0, 0.0],
                [0.0, 0.0, 0.0],
            ],
            &Default::default(),
        )
    }

    fn model(item_text: ItemText) -> SeqRec<B> {
        let device = Default::default();
        let config = config(item_text);
        SeqRec::<B>::new(&config, Vocabulary { num_items: 4 }, &device)
            .with_text_vectors(text_table(), &config)
    }

    fn to_vec<const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
        t.into_data().convert::<f32>().to_vec().unwrap()
    }

    fn loss(model: &SeqRec<B>) -> Tensor<B, 1> {
        let device = Default::default();
        let tokens = Tensor::<B, 2, Int>::from_ints([[0, 1, 3], [2, 3, 1]], &device);
        let (hidden, _) = model.encode(tokens, true);
        let hidden = hidden.reshape([6, 8]);
        let targets = Tensor::<B, 1, Int>::from_ints([1, 3, 2, 3, 1, 2], &device);
        softmax_cross_entropy(model.logits(hidden), targets)
    }

    #[test]
    fn the_projection_learns_and_the_text_vectors_stay_frozen() {
        for mode in [ItemText::Fused, ItemText::Frozen] {
            let model = model(mode);
            let text = model.text.as_ref().unwrap();
            let vectors_before = to_vec(text.vectors.val());
            let projection_before = to_vec(text.projection.weight.val());
            let grads = loss(&model).backward();
            let grads = GradientsParams::from_grads(grads, &model);
            let text = model.text.as_ref().unwrap();
            let projection_grad = grads
                .get::<Flex, 2>(text.projection.weight.id)
                .expect("the projection receives a gradient");
            let projection_grad: Vec<f32> = projection_grad
                .into_data()
                .convert::<f32>()
                .to_vec()
                .unwrap();
            assert!(projection_grad.iter().any(|g| g.abs() > 0.0));
            assert!(grads.get::<Flex, 2>(text.vectors.id).is_none(), "{mode:?}");
            let mut optimizer = AdamConfig::new().init::<B, SeqRec<B>>();
            let stepped = optimizer.step(1e-2, model, grads);
            let text = stepped.text.as_ref().unwrap();
            assert_eq!(to_vec(text.vectors.val()), vectors_before, "{mode:?}");
            assert_ne!(to_vec(text.projection.weight.val()), projection_before);
        }
    }

    #[test]
    fn frozen_items_are_their_text_and_fused_items_add_their_ids() {
        let table = |mode| to_vec(model(mode).item_table());
        let row = |t: &[f32], r: usize| t[r * 8..(r + 1) * 8].to_vec();
        let frozen = table(ItemText::Frozen);
        // The same text, the same embedding; an item is no longer its id.
        assert_eq!(row(&frozen, 1), row(&frozen, 2));
        assert_ne!(row(&frozen, 1), row(&frozen, 3));
        let fused = table(ItemText::Fused);
        assert_ne!(row(&fused, 1), row(&fused, 2), "fused items keep their ids");
    }

    #[test]
    fn init_starts_items_with_text_from_their_projected_vectors() {
        let device = Default::default();
        let config = config(ItemText::Init);
        let plain = SeqRec::<B>::new(&config, Vocabulary { num_items: 4 }, &device);
        let before = to_vec(plain.items.weight.val());
        let model = plain.with_text_vectors(text_table(), &config);
        assert!(model.text.is_none(), "init keeps no text module");
        let after = to_vec(model.items.weight.val());
        let row = |t: &[f32], r: usize| t[r * 8..(r + 1) * 8].to_vec();
        assert_eq!(
            row(&after, 1),
            row(&after, 2),
            "one text, one starting point"
        );
        assert_ne!(row(&after, 1), row(&before, 1));
        // Rows without text (padding, item 4, mask) keep their initial values.
        for r in [0, 4, 5] {
            assert_eq!(row(&after, r), row(&before, r));
        }
        // Scaled to the initialiser's spread.
        let spread = (row(&after, 1).iter().map(|x| x * x).sum::<f32>() / 8.0).sqrt();
        assert!(spread > 0.001 && spread < 0.2, "{spread}");
    }
}
