"""The CBOW models as `nn.Module`s: negative sampling, and the textbook full softmax (notebook 02)."""

from __future__ import annotations

import torch
from torch import nn


class CBOWNegativeSampling(nn.Module):
    """CBOW: the mean of the context's input vectors scores the centre word against noise words."""

    def __init__(self, vocab_size: int, dim: int) -> None:
        """Create input vectors (small random, as word2vec.c) and output vectors (zeros)."""
        super().__init__()
        self.input_embeddings = nn.Embedding(vocab_size, dim, sparse=True)
        self.output_embeddings = nn.Embedding(vocab_size, dim, sparse=True)
        nn.init.uniform_(self.input_embeddings.weight, -0.5 / dim, 0.5 / dim)
        nn.init.zeros_(self.output_embeddings.weight)

    def forward(
        self, contexts: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor
    ) -> torch.Tensor:
        """Return each example's negative-sampling loss (sum them to train, as word2vec does)."""
        mask = mask.to(self.input_embeddings.weight.dtype)
        summed = (self.input_embeddings(contexts) * mask[..., None]).sum(dim=1)
        mean = summed / mask.sum(dim=1, keepdim=True).clamp(min=1)
        # Forward: the mean. Backward: word2vec.c's rule, the undivided error for every
        # context word (the true gradient of a mean is 1/count of it and learns far slower).
        hidden = summed + (mean - summed).detach()
        positive = (self.output_embeddings(targets) * hidden).sum(dim=-1)
        negative = torch.einsum("bkd,bd->bk", self.output_embeddings(negatives), hidden)
        return -nn.functional.logsigmoid(positive) - nn.functional.logsigmoid(-negative).sum(dim=1)


class FullSoftmaxCBOW(nn.Module):
    """The textbook CBOW: mean of context vectors, then a softmax over the whole vocabulary."""

    def __init__(self, vocab_size: int, dim: int) -> None:
        """An embedding layer and a linear layer with one output per vocabulary word."""
        super().__init__()
        self.embeddings = nn.Embedding(vocab_size, dim)
        self.output = nn.Linear(dim, vocab_size)

    def forward(self, contexts: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Return logits over the vocabulary for each example."""
        mask = mask.to(self.embeddings.weight.dtype)
        summed = (self.embeddings(contexts) * mask[..., None]).sum(dim=1)
        return self.output(summed / mask.sum(dim=1, keepdim=True).clamp(min=1))
