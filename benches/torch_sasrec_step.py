"""A minimal SASRec training step in PyTorch with exactly the shapes of `reclab bench train`:
batch B, length 50, 1682 items + padding + mask (1684 embedding rows), width 64, 2 post-norm
blocks of 2 heads, feed-forward 256 with GELU, dropout 0.2, scores tied to the item embeddings,
full-softmax cross-entropy over every position, Adam (lr 1e-3).

    python benches/torch_sasrec_step.py BATCH THREADS [DEVICE]

Prints the median step time in milliseconds over 20 steps after 3 warm-up steps.
"""

import statistics
import sys
import time

import torch
from torch import nn

ITEMS, LENGTH, WIDTH, HEADS, LAYERS, INNER, DROPOUT = 1682, 50, 64, 2, 2, 256, 0.2


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = nn.MultiheadAttention(WIDTH, HEADS, dropout=DROPOUT, batch_first=True)
        self.feed_forward = nn.Sequential(
            nn.Linear(WIDTH, INNER), nn.GELU(), nn.Dropout(DROPOUT), nn.Linear(INNER, WIDTH)
        )
        self.norm_attention = nn.LayerNorm(WIDTH)
        self.norm_feed_forward = nn.LayerNorm(WIDTH)
        self.dropout = nn.Dropout(DROPOUT)

    def forward(self, x, causal):
        attended, _ = self.attention(x, x, x, attn_mask=causal, need_weights=False)
        x = self.norm_attention(x + self.dropout(attended))
        return self.norm_feed_forward(x + self.dropout(self.feed_forward(x)))


class SasRec(nn.Module):
    def __init__(self):
        super().__init__()
        self.items = nn.Embedding(ITEMS + 2, WIDTH, padding_idx=0)
        self.positions = nn.Embedding(LENGTH, WIDTH)
        self.dropout = nn.Dropout(DROPOUT)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.register_buffer(
            "causal", torch.triu(torch.ones(LENGTH, LENGTH, dtype=torch.bool), diagonal=1)
        )

    def forward(self, sequence):
        positions = torch.arange(LENGTH, device=sequence.device)
        x = self.dropout(self.items(sequence) + self.positions(positions))
        for block in self.blocks:
            x = block(x, self.causal)
        return x @ self.items.weight.T


def main():
    batch, threads = int(sys.argv[1]), int(sys.argv[2])
    device = sys.argv[3] if len(sys.argv) > 3 else "cpu"
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = SasRec().to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss(ignore_index=0)
    sequence = torch.randint(1, ITEMS + 1, (batch, LENGTH), device=device)
    target = torch.randint(1, ITEMS + 1, (batch, LENGTH), device=device)

    def step():
        optimiser.zero_grad(set_to_none=True)
        logits = model(sequence)
        loss = loss_fn(logits.reshape(-1, ITEMS + 2), target.reshape(-1))
        loss.backward()
        optimiser.step()
        if device != "cpu":
            torch.cuda.synchronize()

    for _ in range(3):
        step()
    times = []
    for _ in range(20):
        started = time.perf_counter()
        step()
        times.append((time.perf_counter() - started) * 1000)
    print(f"{statistics.median(times):.1f}")


if __name__ == "__main__":
    main()
