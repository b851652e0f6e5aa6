"""Benchmark: neighbour search and reading one embedding matrix (notebook 05).

1. Nearest neighbours of an 11-token prompt over a 151,936 x 1,536 float32 matrix (the
   size of DeepSeek-R1-Distill-Qwen-1.5B's embedding; random numbers). The original
   notebook's loop calls torch.nn.functional.cosine_similarity(token, all rows) once per
   token. `helpers.neighbours.nearest_rows` reads the matrix once in blocks, taking each
   block's row norms and its products with the prompt rows together, with no normalised
   copy. Both must find the same neighbours. Baseline and ours run interleaved, 3
   rounds: median (min-max). `ratio` (= `total_ratio`) includes our norms.
2. Peak memory of reading the embedding from a Qwen2 checkpoint made here and
   proportioned like DeepSeek-R1-Distill-Qwen-1.5B (the embedding is 13% of the
   parameters; untied LM head; bf16), everything in the checkpoint's own dtype, each
   method in a fresh process: `read_input_embeddings`, plain
   `safe_open(...).get_tensor`, and `AutoModel.from_pretrained` then
   `get_input_embeddings()` (which memory-maps the file: weights count once read;
   a fourth row reads them all). Peak RSS (VmHWM, reset after the imports) above the RSS
   after the imports, divided by the tensor's bytes.
3. The same for SmolLM2's GGUF file: `read_gguf_tensor("token_embd.weight")`
   (`gguf_mem_ratio`, over the float32 result's bytes) and gguf's own
   `GGUFReader` + `dequantize`.

Run: .venv/bin/python benchmarks/llm_embeddings.py   (about 2 minutes on 2 cores)
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from transformers.utils import logging as transformers_logging

from helpers.llm import original_cosine_loop, smollm2_gguf
from helpers.neighbours import nearest_rows, row_norms

transformers_logging.disable_progress_bar()

ROWS, DIM, PROMPT_TOKENS, N, ROUNDS = 151_936, 1_536, 11, 5, 3

MEASURE = r"""
import json, sys, torch
from safetensors import safe_open
from transformers import AutoModel
from transformers.models.qwen2 import modeling_qwen2  # code the methods import
from helpers.gguf import read_gguf_tensor
from helpers.llm import read_input_embeddings, embedding_parameter_name
import gguf
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"): return int(line.split()[1]) * 1024
path, method = sys.argv[1], sys.argv[2]
key = None if path.endswith(".gguf") else embedding_parameter_name(path)
torch.ones(4, 4) @ torch.ones(4, 4)  # load torch's kernels before the baseline
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the RSS
baseline = status("VmRSS")
if method == "read_input_embeddings":
    matrix = read_input_embeddings(path)
elif method == "safe_open.get_tensor":
    with safe_open(path + "/model.safetensors", framework="pt") as handle:
        matrix = handle.get_tensor(key)
elif method.startswith("AutoModel"):
    model = AutoModel.from_pretrained(path, dtype="auto")
    matrix = model.get_input_embeddings().weight
    if method.endswith("all weights read"):  # what using the model costs
        checksum = sum(int(p.detach().reshape(-1).view(torch.uint8).max())
                       for p in model.parameters())
elif method == "read_gguf_tensor":
    matrix = read_gguf_tensor(path, "token_embd.weight")
elif method == "GGUFReader + dequantize":
    tensors = gguf.GGUFReader(path).tensors
    tensor = next(t for t in tensors if t.name == "token_embd.weight")
    matrix = torch.from_numpy(gguf.quants.dequantize(tensor.data, tensor.tensor_type))
# touch every byte, as any use of the matrix will (mapped pages count once read)
checksum = int(matrix.detach().reshape(-1).view(torch.uint8).max())
print(json.dumps({"peak": status("VmHWM") - baseline, "dtype": str(matrix.dtype),
                  "bytes": matrix.numel() * matrix.element_size()}))
"""


def spread(values: list[float]) -> str:
    """Median and range of a few timings, as 'median (min-max)'."""
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def neighbour_search() -> dict[str, list[float] | bool]:
    """Interleaved timings of the original loop and ours; whether they agree."""
    rng = np.random.default_rng(0)
    matrix = torch.from_numpy(rng.standard_normal((ROWS, DIM), dtype=np.float32))
    token_ids = rng.choice(ROWS, PROMPT_TOKENS, replace=False).tolist()
    times: dict[str, list[float]] = {
        "original": [], "ours": [], "norms": [], "search": [], "bf16": []
    }  # fmt: skip
    same = True
    for _ in range(ROUNDS):
        start = time.perf_counter()
        original = original_cosine_loop(matrix, token_ids, N)
        times["original"].append(time.perf_counter() - start)

        start = time.perf_counter()
        _, ours = nearest_rows(matrix, token_ids, N)
        times["ours"].append(time.perf_counter() - start)
        same &= ours.tolist() == original

        start = time.perf_counter()
        norms = row_norms(matrix)
        times["norms"].append(time.perf_counter() - start)
        start = time.perf_counter()
        _, searched = nearest_rows(matrix, token_ids, N, norms=norms)
        times["search"].append(time.perf_counter() - start)
        same &= searched.tolist() == original
    bf16 = matrix.bfloat16()
    bf16_reference = original_cosine_loop(bf16.float(), token_ids, N)
    for _ in range(ROUNDS):
        start = time.perf_counter()
        _, ours_bf16 = nearest_rows(bf16, token_ids, N)
        times["bf16"].append(time.perf_counter() - start)
    return times | {"same": same, "same_bf16": ours_bf16.tolist() == bf16_reference}


def stand_in_checkpoint(folder: str) -> tuple[int, int]:
    """Write a bf16 Qwen2 checkpoint shaped like DeepSeek-1.5B; return its sizes."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=32_768, hidden_size=512, intermediate_size=2_986,
        num_hidden_layers=18, num_attention_heads=8, num_key_value_heads=2,
        tie_word_embeddings=False,
    )  # fmt: skip
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(folder)
    embedding = model.get_input_embeddings().weight.numel()
    return embedding, sum(p.numel() for p in model.parameters())


def peak_memory(path: str, method: str) -> dict:
    """Run one reading method in a fresh process and return its measurements."""
    output = subprocess.run(
        [sys.executable, "-c", MEASURE, path, method],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run the measurements; print the tables and the RESULT line."""
    times = neighbour_search()
    original = statistics.median(times["original"])
    ours = statistics.median(times["ours"])
    print(
        f"Neighbours of {PROMPT_TOKENS} tokens over a {ROWS:,} x {DIM:,} matrix "
        f"(top {N}), {ROUNDS} interleaved rounds, {torch.get_num_threads()} threads\n"
    )
    print(f"{'method':<52} {'seconds: median (min-max)':>26}")
    print("-" * 79)
    rows = [
        ("original notebook: cosine_similarity per token", "original"),
        ("ours: nearest_rows (norms + products, one pass)", "ours"),
        ("  ours, the row norms alone (row_norms)", "norms"),
        ("  ours, the search with the norms given", "search"),
        ("ours on the same matrix in bf16 (no float32 copy)", "bf16"),
    ]
    for label, key in rows:
        print(f"{label:<52} {spread(times[key]):>26}")
    search_ratio = original / statistics.median(times["search"])
    print(
        f"same neighbours: {times['same']} (bf16: {times['same_bf16']}); "
        f"ours is {original / ours:.0f}x faster including the norms "
        f"({search_ratio:.0f}x for the search alone)\n"
    )

    memory = {}
    with tempfile.TemporaryDirectory() as folder:
        embedding_params, all_params = stand_in_checkpoint(folder)
        size = sum(p.stat().st_size for p in Path(folder).glob("*.safetensors"))
        print(
            f"Stand-in Qwen2 checkpoint: {all_params / 1e6:.0f} M parameters, of which "
            f"the embedding is {embedding_params / all_params:.0%}; "
            f"{size / 1e6:.0f} MB of bf16 safetensors"
        )
        for method in (
            "read_input_embeddings",
            "safe_open.get_tensor",
            "AutoModel.from_pretrained",
            "AutoModel, all weights read",
        ):
            memory[method] = peak_memory(folder, method)
    gguf_path = str(smollm2_gguf())
    for method in ("read_gguf_tensor", "GGUFReader + dequantize"):
        memory[method] = peak_memory(gguf_path, method)
    header = f"{'reading the embedding':<28} {'dtype':<15} {'peak above base':>16}"
    print(f"\n{header} {'/ tensor':>9}")
    print("-" * 71)
    ratios = {}
    for method, row in memory.items():
        ratios[method] = row["peak"] / row["bytes"]
        print(
            f"{method:<28} {row['dtype']:<15} {row['peak'] / 1e6:>13.0f} MB "
            f"{ratios[method]:>9.2f}"
        )
    print("(/ tensor: over the bf16 tensor's bytes, or the GGUF float32 result's)")
    print(
        "(AutoModel memory-maps the checkpoint: a weight counts once it is read; the\n"
        " 'all weights read' row is the cost of using the model, not just its table)"
    )
    print(
        f"RESULT ratio={original / ours:.1f} total_ratio={original / ours:.1f} "
        f"search_ratio={search_ratio:.1f} original_s={original:.2f} ours_s={ours:.3f} "
        f"same={int(times['same'])} mem_ratio={ratios['read_input_embeddings']:.2f} "
        f"safe_open_mem_ratio={ratios['safe_open.get_tensor']:.2f} "
        f"automodel_mem_ratio={ratios['AutoModel.from_pretrained']:.2f} "
        f"automodel_all_mem_ratio={ratios['AutoModel, all weights read']:.2f} "
        f"gguf_mem_ratio={ratios['read_gguf_tensor']:.2f} "
        f"gguf_reader_mem_ratio={ratios['GGUFReader + dequantize']:.2f}"
    )
    if not (times["same"] and times["same_bf16"]):
        raise SystemExit("nearest_rows found other neighbours than the original loop")


if __name__ == "__main__":
    main()
