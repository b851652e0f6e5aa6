"""word2vec CBOW from scratch (notebook 02), one concern per module, in reading order:

1. `sampling`: the vocabulary, subsampling, context windows and noise words;
2. `model`: the CBOW `nn.Module`s (negative sampling, and the full-softmax textbook model);
3. `train`: the settings, one epoch's random draws, and the readable autograd trainer;
4. `train_fast`: the same update written out by hand, fused, on one or more processes;
5. `gensim_io`: word2vec files and gensim (KeyedVectors, gensim's own CBOW as a baseline).

Both trainers follow word2vec.c: frequent words are subsampled, the context window shrinks
at random to 1..window words on each side, negatives come from the unigram distribution
raised to 0.75, and the learning rate decays linearly to nearly zero.
"""
