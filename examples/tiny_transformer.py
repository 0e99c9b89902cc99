"""A character-level transformer language model, trained on a small text that ships here.

Tokens are characters; the model reads a window of T of them and predicts, at every
position, the next one: token + position embeddings, pre-norm TransformerBlocks (causal
multi-head self-attention and a GELU MLP), a final LayerNorm and a linear head. The whole
training step (forward, cross-entropy, backward, Adam) is one compiled graph.

The sequence length T is a symbolic dim, as the batch size B is: the token embedding is a
gather (gc.take of the ids' rows), the position embedding the first T rows of its table
(a slice, checked against the context length when called), and each attention's causal
mask is built in the graph for whatever T a call brings. So one compiled function trains on
windows of T = 32 and samples from prompts of any length up to 32, without padding.

The baseline to beat is the unigram entropy of the text: the loss (in nats per character)
of a model that knows only how often each character occurs. Attention over the previous
characters lets the model go well below it. At the end it samples new text (fixed seed).

    python examples/tiny_transformer.py                      # 600 steps, reference backend
    python examples/tiny_transformer.py --steps 20 --backend reference

Writes to out/tiny_transformer/: loss_curve.png (with the unigram entropy to beat),
train_graph.svg/.dot (the whole step, a box per module), block_graph.svg/.dot (one block,
forward and backward) and sample.txt.
The text, examples/data/fables.txt, is Aesop's fables retold in plain English for this
project (see examples/data/README.md).
"""
from __future__ import annotations

import math
import os
import sys
import time
from collections import Counter

import numpy as np

import graphc as gc
from _common import (Progress, example_parser, format_ms, out_dir, parse_example_args, save_graph,
                     save_loss_curve)

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "fables.txt")


class CharTransformer(gc.nn.Module):
    def __init__(self, vocab: int, context: int, dim: int, heads: int, layers: int):
        super().__init__()
        self.context = context
        self.token = gc.nn.Embedding(vocab, dim)
        self.position = gc.nn.Parameter(0.02 * gc.nn.generator().standard_normal((context, dim)))
        self.blocks = [gc.nn.TransformerBlock(dim, heads) for _ in range(layers)]
        self.ln = gc.nn.LayerNorm(dim)
        self.head = gc.nn.Linear(dim, vocab)

    def forward(self, ids):                       # ids (B, T) -> logits (B, T, vocab)
        T = ids.shape[1]                          # symbolic: any T <= context
        x = self.token(ids) + self.position.node[:T]  # (B, T, D) + (T, D)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


def unigram_entropy(text: str) -> float:
    """-sum p log p over character frequencies, in nats."""
    counts = np.array(list(Counter(text).values()), dtype=np.float64)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def windows(data, starts, T):
    """Inputs data[s:s+T] and targets data[s+1:s+T+1] for each start s."""
    idx = np.asarray(starts)[:, None] + np.arange(T)
    return data[idx], data[idx + 1]


def sample(logits_fn, prompt_ids, count, T, rng, temperature=0.8):
    """Generate `count` ids after the prompt, each from the logits at the last position of
    the (at most T) ids before it: T is symbolic, so a short context needs no padding."""
    ids = list(prompt_ids)
    for _ in range(count):
        window = np.array([ids[-T:]], dtype=np.int64)
        z = logits_fn(ids=window)[0, -1].astype(np.float64) / temperature
        p = np.exp(z - z.max())
        ids.append(int(rng.choice(len(p), p=p / p.sum())))
    return ids


def parse_args(argv=None):
    p = example_parser(__doc__)
    p.add_argument("--steps", type=int, default=600, help="training steps (default 600)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--context", type=int, default=32, help="T, characters the model sees")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--sample", type=int, default=300, help="characters to generate")
    args = parse_example_args(p, argv, positive=("steps",))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    text = open(DATA, encoding="utf-8").read()
    chars = sorted(set(text))
    encode = {c: i for i, c in enumerate(chars)}
    data = np.array([encode[c] for c in text], dtype=np.int64)
    split = int(0.9 * len(data))
    train, valid = data[:split], data[split:]
    T = args.context
    baseline = unigram_entropy(text[:split])
    print(f"text: {os.path.relpath(DATA)}, {len(text):,} characters, {len(chars)} distinct; "
          f"{len(train):,} for training, {len(valid):,} held out")
    print(f"unigram entropy of the training text: {baseline:.3f} nats/char "
          f"(uniform over {len(chars)} would be {math.log(len(chars)):.3f})")

    gc.nn.manual_seed(args.seed)
    model = CharTransformer(len(chars), T, args.dim, args.heads, args.layers)
    ids = gc.tensor("ids", ("B", "T"), dtype="int64")    # T: any length up to the context
    targets = gc.tensor("targets", ("B", "T"), dtype="int64")
    logits = model(ids)
    loss = gc.nn.CrossEntropyLoss()(logits, targets)
    optimizer = gc.optim.Adam(model.parameters(), lr=args.lr)
    print(f"model: {args.layers} transformer block(s), dim {args.dim}, {args.heads} heads, "
          f"context {T}: {model.num_parameters():,} parameters")

    t0 = time.perf_counter()
    step = gc.train_step(loss, optimizer, backend=args.backend)
    evaluate = gc.nn.function(loss, backend=args.backend)
    predict = gc.nn.function(logits, backend=args.backend)
    print(f"train step: one graph of {len(step.compiled.raw_graph)} nodes, "
          f"{len(step.graph)} after optimization; compiled for backend {args.backend!r} "
          f"in {time.perf_counter() - t0:.2f} s")

    rng = np.random.default_rng(args.seed)
    bar, losses, step_times = Progress(args.steps), [], []
    for i in range(1, args.steps + 1):
        # cosine decay to 10%: the learning rate is a graph input, so no recompilation
        optimizer.lr = args.lr * (0.55 + 0.45 * math.cos(math.pi * (i - 1) / args.steps))
        x, y = windows(train, rng.integers(0, len(train) - T - 1, args.batch), T)
        t0 = time.perf_counter()
        losses.append(step(ids=x, targets=y))
        step_times.append(time.perf_counter() - t0)
        bar.update(i, losses[-1], step_time=step_times[-1], lr=f"{optimizer.lr:.1e}")

    final = float(np.mean(losses[-min(50, len(losses)):]))
    x, y = windows(valid, np.arange(0, len(valid) - T - 1, T), T)
    held_out = float(evaluate(ids=x, targets=y))
    print(f"step time: {format_ms(1e3 * np.median(step_times))} ms median over {len(step_times)} "
          f"steps (batch {args.batch} x {T} characters, backend {args.backend}); "
          f"training took {sum(step_times):.1f} s")
    print(f"loss: {losses[0]:.3f} at the start -> {final:.3f} nats/char (mean of the last "
          f"{min(50, len(losses))} steps); held-out text {held_out:.3f}")
    print(f"unigram entropy {baseline:.3f} nats/char: the model is {baseline - final:.3f} nats "
          f"below it on the training text, {baseline - held_out:.3f} on held-out text")

    prompt = "THE "
    generated = sample(predict, [encode[c] for c in prompt], args.sample, T,
                       np.random.default_rng(args.seed))
    text_out = "".join(chars[i] for i in generated)
    print(f"sample (temperature 0.8, seed {args.seed}):\n---\n{text_out}\n---")

    out = out_dir("tiny_transformer")
    written = [save_loss_curve(losses, os.path.join(out, "loss_curve.png"),
                               title="tiny_transformer: cross-entropy (nats/char) per step",
                               reference=baseline,
                               reference_label=f"unigram entropy {baseline:.2f}")]
    # The whole step (about 600 nodes) is readable with each module drawn as one box; one
    # block is drawn open below, forward and backward.
    written += save_graph([loss, *step.grads], os.path.join(out, "train_graph"),
                          title="character transformer: one training step, a box per module",
                          collapse=1)
    block = model.blocks[0]
    h = gc.tensor("h", ("B", "T", args.dim))
    block_out = block(h).sum()
    written += save_graph([block_out, *gc.grad(block_out, [p.node for p in block.parameters()])],
                          os.path.join(out, "block_graph"),
                          title="one TransformerBlock: forward (blue) and backward (orange)")
    with open(os.path.join(out, "sample.txt"), "w", encoding="utf-8") as f:
        f.write(text_out + "\n")
    written.append(os.path.join(out, "sample.txt"))
    for path in written:
        if path:
            print(f"wrote {os.path.relpath(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
