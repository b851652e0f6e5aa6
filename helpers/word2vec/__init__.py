"""word2vec CBOW from scratch (notebook 02), one concern per module, in reading order:

1. `sampling`: the vocabulary, subsampling, context windows and noise words;
2. `model`: the CBOW models, torch modules (negative sampling, and full softmax);
3. `train`: the settings, one epoch's random draws, and the readable autograd trainer;
4. `train_fast`: the same update written out by hand, fused, on one or more processes;
5. `gensim_io`: word2vec files and gensim (KeyedVectors, gensim's CBOW as a baseline).

Both trainers follow word2vec.c: frequent words are subsampled, the context window
shrinks at random to 1..window words on each side, negatives come from the unigram
distribution raised to 0.75, and the learning rate decays linearly to nearly zero.

The public names are imported here, so `from helpers.word2vec import train_cbow` works.
"""

from helpers.word2vec.gensim_io import (
    as_sentences,
    load_word2vec,
    save_word2vec,
    to_keyed_vectors,
    train_gensim_cbow,
)
from helpers.word2vec.model import CBOWNegativeSampling, FullSoftmaxCBOW
from helpers.word2vec.sampling import (
    Vocabulary,
    build_vocabulary,
    cbow_examples,
    context_mask,
    context_offsets,
    keep_probabilities,
    noise_distribution,
    sample_negatives,
    sample_window_sizes,
)
from helpers.word2vec.train import (
    CBOWConfig,
    CBOWResult,
    TrainingDivergedError,
    cbow_step,
    check_finite,
    train_cbow_autograd,
    word_progress,
)
from helpers.word2vec.train_fast import train_cbow

__all__ = [
    "CBOWConfig",
    "CBOWNegativeSampling",
    "CBOWResult",
    "FullSoftmaxCBOW",
    "TrainingDivergedError",
    "Vocabulary",
    "as_sentences",
    "build_vocabulary",
    "cbow_examples",
    "cbow_step",
    "check_finite",
    "context_mask",
    "context_offsets",
    "keep_probabilities",
    "load_word2vec",
    "noise_distribution",
    "sample_negatives",
    "sample_window_sizes",
    "save_word2vec",
    "to_keyed_vectors",
    "train_cbow",
    "train_cbow_autograd",
    "train_gensim_cbow",
    "word_progress",
]
