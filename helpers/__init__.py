"""Embeddings from Scratch: the code the notebooks import, one module per topic.

In reading order: paths, versions, data, corpus, tfidf (01); neighbours, similarity,
labels, plots (01-05); word2vec (02); vectors, analogies (03); bert (04); tokens,
gguf, llm (05). The README's module map says what each one holds.
"""

import warnings

from tqdm import TqdmWarning

# Progress bars here are plain text, the same in Jupyter, a terminal and the website, so
# tqdm's hint to install ipywidgets (raised when transformers imports tqdm.auto) is
# noise.
warnings.filterwarnings("ignore", category=TqdmWarning)
