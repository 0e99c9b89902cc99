"""Block "transformer step": one Adam step of examples/tiny_transformer.py's character model
(its CharTransformer, its default sizes, one fixed batch of its text), on graphc's "cpu"
backend against the "reference" interpreter, and a torch eager model of the same shape."""
from __future__ import annotations

import os
import sys

import numpy as np

from .table import Row, failure

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


def rows(protocol, args, footnotes: list[str]) -> list[Row]:
    sys.path.insert(0, os.path.abspath(EXAMPLES))  # the example imports its _common
    import tiny_transformer as example
    options = example.parse_args([])  # the example's own defaults
    text = open(example.DATA, encoding="utf-8").read()
    chars = sorted(set(text))
    encode = {c: i for i, c in enumerate(chars)}
    data = np.array([encode[c] for c in text[:20000]], dtype=np.int64)  # enough for a batch
    starts = np.random.default_rng(0).integers(0, len(data) - options.context - 1,
                                               options.batch)
    x, y = example.windows(data, starts, options.context)
    case = (f"{options.layers} blocks, dim {options.dim}, T {options.context}, "
            f"b{options.batch}")
    out = []
    for system, peer, make, note in (
            ("graphc cpu", None, lambda: graphc_step(example, options, len(chars), "cpu"), ""),
            ("graphc reference", "reference",
             lambda: graphc_step(example, options, len(chars), "reference"), ""),
            ("torch eager", "torch", lambda: torch_step(options, len(chars)),
             "nn.TransformerEncoderLayer: pre-norm, GELU, same sizes")):
        row = Row("transformer step", case, system)
        try:
            step = make()
            step(x, y)
        except Exception as e:  # a missing torch is "skipped", anything else "failed"
            row.note = failure(e)
        else:
            row.peer, row.note = peer, note
            row.timed(protocol.time_calls(lambda: step(x, y)))
        out.append(row)
    return out


def graphc_step(example, options, vocab: int, backend: str):
    """The step examples/tiny_transformer.py trains with, built as its main() builds it."""
    import graphc as gc
    gc.nn.manual_seed(options.seed)
    model = example.CharTransformer(vocab, options.context, options.dim, options.heads,
                                    options.layers)
    ids = gc.tensor("ids", ("B", options.context), dtype="int64")
    targets = gc.tensor("targets", ("B", options.context), dtype="int64")
    loss = gc.nn.CrossEntropyLoss()(model(ids), targets)
    step = gc.train_step(loss, gc.optim.Adam(model.parameters(), lr=options.lr),
                         backend=backend)
    return lambda x, y: step(ids=x, targets=y)


def torch_step(options, vocab: int):
    """The same model in torch: embeddings, pre-norm causal blocks, final LayerNorm, head."""
    import torch
    from torch import nn
    T, D = options.context, options.dim
    blocks = [nn.TransformerEncoderLayer(D, options.heads, 4 * D, dropout=0.0,
                                         activation="gelu", batch_first=True, norm_first=True)
              for _ in range(options.layers)]
    model = nn.ModuleDict(dict(token=nn.Embedding(vocab, D), blocks=nn.ModuleList(blocks),
                               ln=nn.LayerNorm(D), head=nn.Linear(D, vocab)))
    position = nn.Parameter(0.02 * torch.randn(T, D))
    mask = nn.Transformer.generate_square_subsequent_mask(T)
    opt = torch.optim.Adam([*model.parameters(), position], lr=options.lr)

    def step(x, y):
        h = model["token"](torch.from_numpy(x)) + position
        for block in model["blocks"]:
            h = block(h, src_mask=mask, is_causal=True)
        logits = model["head"](model["ln"](h))
        loss = nn.functional.cross_entropy(logits.reshape(-1, vocab),
                                           torch.from_numpy(y).reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()
    return step
