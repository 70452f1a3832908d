//! The encoder: item + position embeddings, N self-attention blocks, scores tied to the item
//! embedding table.

use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::transformer::{PositionWiseFeedForward, PositionWiseFeedForwardConfig};
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig,
};
use burn::prelude::*;

use super::config::TransformerConfig;

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
            norm_attention: LayerNormConfig::new(config.hidden)
                .with_epsilon(1e-12)
                .init(device),
            norm_feed_forward: LayerNormConfig::new(config.hidden)
                .with_epsilon(1e-12)
                .init(device),
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
            self.norm_attention.forward(x)
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
        let mut input = MhaInput::new(queries, keys.clone(), keys).mask_pad(padding);
        if let Some(future) = future {
            input = input.mask_attn(future);
        }
        let attended = self.attention.forward(input);
        let mut x = residual + self.dropout.forward(attended.context);
        if !self.norm_first {
            x = self.norm_attention.forward(x);
        }
        let normed = if self.norm_first {
            self.norm_feed_forward.forward(x.clone())
        } else {
            x.clone()
        };
        let mut x = x + self.dropout.forward(self.feed_forward.forward(normed));
        if !self.norm_first {
            x = self.norm_feed_forward.forward(x);
        }
        (x, attended.weights)
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
            input_norm: LayerNormConfig::new(config.hidden)
                .with_epsilon(1e-12)
                .init(device),
            input_dropout: DropoutConfig::new(config.dropout).init(),
            blocks: (0..config.layers)
                .map(|_| Block::new(config, device))
                .collect(),
            final_norm: LayerNormConfig::new(config.hidden)
                .with_epsilon(1e-12)
                .init(device),
            norm_first: config.norm_first,
            max_len: config.max_len,
        }
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
    fn embed(&self, tokens: Tensor<B, 2, Int>) -> (Tensor<B, 3>, Tensor<B, 2, Bool>) {
        let [batch, len] = tokens.dims();
        let device = tokens.device();
        let padding = tokens.clone().equal_elem(0);
        let positions = Tensor::<B, 1, Int>::arange(0..len as i64, &device)
            .neg()
            .add_scalar(len as i64 - 1)
            .reshape([1, len])
            .expand([batch, len]);
        let x = self.items.forward(tokens) + self.positions.forward(positions);
        (
            self.input_dropout.forward(self.input_norm.forward(x)),
            padding,
        )
    }

    /// Each position sees itself and the past.
    fn future_mask(&self, batch: usize, len: usize, device: &B::Device) -> Tensor<B, 3, Bool> {
        Tensor::<B, 2, Bool>::tril_mask([len, len], 0, device)
            .unsqueeze::<3>()
            .expand([batch, len, len])
    }

    /// The final LayerNorm of a pre-norm stack (a post-norm stack already ends in one).
    fn finish(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        if self.norm_first {
            self.final_norm.forward(x)
        } else {
            x
        }
    }

    /// Scores of every token (padding, items, mask) for hidden states `[n, hidden]`: the dot
    /// product with the item embedding table (tied weights).
    pub fn logits(&self, hidden: Tensor<B, 2>) -> Tensor<B, 2> {
        hidden.matmul(self.items.weight.val().transpose())
    }

    /// Embeddings of token ids of any shape `[.., ]`, for sampled losses.
    pub fn item_embeddings(&self, tokens: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        self.items.forward(tokens)
    }
}
