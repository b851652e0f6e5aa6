"""Embeddings from Scratch: the code the notebooks import. One module per topic:

data (fetching files), corpus (TinyShakespeare), tfidf (01), similarity and plots (01-05),
word2vec (02), vectors (03), bert (04), llm (05), paths and versions (all notebooks).
"""

import warnings

from tqdm import TqdmWarning

# Progress bars here are plain text, the same in Jupyter, a terminal and the website, so
# tqdm's hint to install ipywidgets (raised when transformers imports tqdm.auto) is noise.
warnings.filterwarnings("ignore", category=TqdmWarning)
