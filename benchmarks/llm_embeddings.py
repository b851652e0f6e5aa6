"""Benchmark: batched neighbour search and embedding extraction memory (notebook 05).

1. Nearest neighbours for an 11-token prompt over a 151,936 x 1,536 float32 matrix (random
   data; the size of DeepSeek-R1-Distill-Qwen-1.5B's embedding): the seed's loop (one
   sklearn cosine_similarity call per token over the whole matrix) against ours (rows
   normalised once, one matrix product, topk). Both must find the same neighbours.
2. Peak memory of extraction on a Qwen2-architecture checkpoint made here (bf16, ~400 MB,
   of which the 151,936 x 1,024 embedding is 311 MB): `read_input_embeddings` against the
   seed's `AutoModel.from_pretrained(...)` (fp32, as the seed loaded it) then
   `get_input_embeddings()`, each in a fresh process: peak RSS (VmHWM, reset after the
   imports) above the RSS after the imports.

Run: .venv/bin/python benchmarks/llm_embeddings.py   (about 2 minutes)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from helpers.llm import nearest_tokens, seed_cosine_loop, unit_rows

ROWS, DIM, PROMPT_TOKENS, N = 151_936, 1_536, 11, 5

MEASURE = r"""
import json, sys, torch
from transformers import AutoModel
from transformers.models.qwen2 import modeling_qwen2  # code both methods import, loaded before the baseline
from helpers.llm import read_input_embeddings
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"): return int(line.split()[1]) * 1024
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
baseline = status("VmRSS")
if sys.argv[2] == "ours":
    matrix = read_input_embeddings(sys.argv[1])
else:
    matrix = AutoModel.from_pretrained(sys.argv[1], dtype=torch.float32).get_input_embeddings().weight  # as the seed
# touch every byte, as any use of the matrix will (memory-mapped weights only count once read)
checksum = int(matrix.detach().view(torch.uint8).max())
print(json.dumps({"peak_above_baseline": status("VmHWM") - baseline, "tensor_bytes": matrix.numel() * matrix.element_size(),
                  "dtype": str(matrix.dtype)}))
"""


def neighbour_search() -> tuple[float, float, float, bool]:
    """Seed loop time, batched search time, normalisation time, and whether results agree."""
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((ROWS, DIM), dtype=np.float32)
    token_ids = rng.choice(ROWS, PROMPT_TOKENS, replace=False).tolist()

    start = time.perf_counter()
    seed_result = seed_cosine_loop(matrix, token_ids, N)
    seed_seconds = time.perf_counter() - start

    tensor = torch.from_numpy(matrix)
    start = time.perf_counter()
    units = unit_rows(tensor)
    normalise_seconds = time.perf_counter() - start
    start = time.perf_counter()
    _, ours = nearest_tokens(units, token_ids, N)
    batched_seconds = time.perf_counter() - start
    return seed_seconds, batched_seconds, normalise_seconds, ours.tolist() == [list(map(int, r)) for r in seed_result]


def extraction_memory() -> dict[str, dict]:
    """Peak RSS of both extraction methods, each in a fresh Python process."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(vocab_size=ROWS, hidden_size=1024, intermediate_size=2816, num_hidden_layers=4,
                         num_attention_heads=8, num_key_value_heads=2, tie_word_embeddings=True)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        torch.manual_seed(0)
        Qwen2ForCausalLM(config).to(torch.bfloat16).save_pretrained(folder)
        size = sum(p.stat().st_size for p in Path(folder).glob("*.safetensors"))
        print(f"checkpoint: Qwen2 architecture, {size / 1e6:.0f} MB of safetensors in bf16")
        for method in ("ours", "AutoModel.from_pretrained fp32"):
            output = subprocess.run([sys.executable, "-c", MEASURE, folder, method], capture_output=True, text=True, check=True)
            results[method] = json.loads(output.stdout.strip().splitlines()[-1])
    return results


def main() -> None:
    """Run both measurements and print the table and the RESULT line."""
    seed_seconds, batched_seconds, normalise_seconds, same = neighbour_search()
    print(f"Neighbours of {PROMPT_TOKENS} tokens over a {ROWS:,} x {DIM:,} float32 matrix (top {N})\n")
    print(f"{'method':<40} {'seconds':>8}")
    print("-" * 49)
    print(f"{'seed: cosine_similarity per token':<40} {seed_seconds:>8.2f}")
    print(f"{'ours: normalise rows once':<40} {normalise_seconds:>8.2f}")
    print(f"{'ours: one matrix product + topk':<40} {batched_seconds:>8.2f}")
    print(f"same neighbours: {same}; speed-up of the search {seed_seconds / batched_seconds:.0f}x, "
          f"including the one-off normalisation {seed_seconds / (batched_seconds + normalise_seconds):.0f}x\n")

    memory = extraction_memory()
    tensor_bytes = memory["ours"]["tensor_bytes"]
    print(f"{'extraction':<28} {'peak RSS above baseline':>24} {'/ tensor bytes':>15}")
    print("-" * 69)
    for method, row in memory.items():
        print(f"{method:<28} {row['peak_above_baseline'] / 1e6:>21.0f} MB {row['peak_above_baseline'] / tensor_bytes:>15.2f}")
    print(f"(embedding tensor: {tensor_bytes / 1e6:.0f} MB, {memory['ours']['dtype']}; "
          f"AutoModel gave {memory['AutoModel.from_pretrained fp32']['dtype']})")
    mem_ratio = memory["ours"]["peak_above_baseline"] / tensor_bytes
    print(
        f"RESULT ratio={seed_seconds / batched_seconds:.1f} seed_loop_s={seed_seconds:.2f} batched_s={batched_seconds:.3f} "
        f"normalise_s={normalise_seconds:.2f} same={int(same)} mem_ratio={mem_ratio:.2f} "
        f"automodel_mem_ratio={memory['AutoModel.from_pretrained fp32']['peak_above_baseline'] / tensor_bytes:.2f}"
    )
    if not same:
        raise SystemExit("batched neighbours differ from the seed loop")


if __name__ == "__main__":
    main()
