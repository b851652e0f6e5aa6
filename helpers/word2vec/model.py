"""The CBOW model as an `nn.Module`: negative sampling, or a full softmax (notebook 02).

`CBOWNegativeSampling` is the lesson: notebook 02 defines it and `make lesson-code`
copies it here. `FullSoftmaxCBOW` is the textbook loss on the same vectors, kept for the
speed comparison in notebook 02's appendix.
"""

from __future__ import annotations

import torch
from torch import nn


# From notebooks/02_word2vec_cbow.ipynb: edit it there, then `make lesson-code`.
class CBOWNegativeSampling(nn.Module):
    """CBOW: the mean of the context's input vectors scores centre and noise words."""

    def __init__(self, vocab_size: int, dim: int, true_gradient: bool = False):
        """Input vectors small and random, output vectors zero, as in word2vec.c."""
        super().__init__()
        self.input_embeddings = nn.Embedding(vocab_size, dim, sparse=True)
        self.output_embeddings = nn.Embedding(vocab_size, dim, sparse=True)
        nn.init.uniform_(self.input_embeddings.weight, -0.5 / dim, 0.5 / dim)
        nn.init.zeros_(self.output_embeddings.weight)
        self.true_gradient = true_gradient

    def hidden(self, contexts: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """h: the mean of the context words' input vectors (mask: 1 for a word)."""
        summed = (self.input_embeddings(contexts) * mask[..., None]).sum(dim=1)
        mean = summed / mask.sum(dim=1, keepdim=True).clamp(min=1)
        if self.true_gradient:
            return mean
        # word2vec.c's backward pass: every context word gets the whole error of h
        return summed + (mean - summed).detach()

    def forward(self, contexts, mask, targets, negatives, noise_mask) -> torch.Tensor:
        """Each example's loss: -log σ(v'_centre · h) - Σ_k log σ(-v'_k · h)."""
        h = self.hidden(contexts, mask)
        positive = (self.output_embeddings(targets) * h).sum(dim=-1)
        negative = (self.output_embeddings(negatives) * h[:, None, :]).sum(dim=-1)
        noise_loss = -nn.functional.logsigmoid(-negative) * noise_mask
        return -nn.functional.logsigmoid(positive) + noise_loss.sum(dim=1)


class FullSoftmaxCBOW(CBOWNegativeSampling):
    """CBOW with a softmax over the whole vocabulary: same vectors, textbook loss."""

    def forward(
        self, contexts: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor
    ):
        """Each example's loss: -log softmax(W' h)[centre], over all V words."""
        logits = self.hidden(contexts, mask) @ self.output_embeddings.weight.T
        return nn.functional.cross_entropy(logits, targets, reduction="none")
