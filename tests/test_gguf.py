"""The hand-written GGUF reader, checked bit for bit against the gguf package."""

import json
import subprocess
import sys

import gguf
import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType as Q

from helpers.gguf import (
    GGUFArray,
    dequantize_q4_1,
    dequantize_q8_0,
    read_gguf_header,
    read_gguf_tensor,
)
from helpers.llm import smollm2_gguf


@pytest.fixture(scope="module")
def smollm2():
    """The real SmolLM2 file and gguf's own reader of it."""
    path = smollm2_gguf()
    return path, gguf.GGUFReader(path)


def gguf_reference(reader: gguf.GGUFReader, name: str) -> np.ndarray:
    """gguf's dequantisation of one tensor, in PyTorch's (rows first) shape."""
    tensor = next(t for t in reader.tensors if t.name == name)
    values = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
    return values.reshape(tuple(reversed(tensor.shape.tolist())))


def same_bits(ours: torch.Tensor, reference: np.ndarray) -> bool:
    """Equal shapes and identical float32 bit patterns (so -0.0 != 0.0, NaN == NaN)."""
    reference = np.ascontiguousarray(reference, dtype=np.float32)
    return (
        ours.dtype == torch.float32
        and tuple(ours.shape) == reference.shape
        and (np.array_equal(ours.numpy().view(np.uint32), reference.view(np.uint32)))
    )


@pytest.mark.parametrize(
    "name, type_name",
    [
        ("token_embd.weight", "Q8_0"),
        ("blk.0.attn_q.weight", "Q4_1"),
        ("blk.17.ffn_down.weight", "Q4_1"),
        ("blk.29.attn_v.weight", "Q4_1"),
        ("blk.3.attn_norm.weight", "F32"),
        ("output_norm.weight", "F32"),
    ],
)
def test_real_tensors_equal_gguf_bit_for_bit(smollm2, name, type_name):
    path, reader = smollm2
    assert read_gguf_header(path).tensors[name].type_name == type_name
    assert same_bits(read_gguf_tensor(path, name), gguf_reference(reader, name))


def test_header_of_the_real_file(smollm2):
    path, reader = smollm2
    header = read_gguf_header(path)
    assert header.version == 3 and len(header.tensors) == len(reader.tensors) == 272
    assert header.metadata["general.architecture"] == "llama"
    assert header.metadata["llama.block_count"] == 30
    assert header.metadata["llama.embedding_length"] == 576
    assert header.metadata["tokenizer.ggml.tokens"] == GGUFArray(
        element_type=8, count=49152
    )
    assert header.metadata["tokenizer.ggml.merges"].count == 48900
    assert "output.weight" not in header.tensors  # tied: the LM head reuses token_embd
    for tensor in reader.tensors:
        info = header.tensors[tensor.name]
        assert info.shape == tuple(reversed(tensor.shape.tolist()))
        assert info.offset == tensor.data_offset  # both absolute
        assert info.n_bytes == tensor.n_bytes and info.type_id == int(
            tensor.tensor_type
        )


def test_one_block_by_hand():
    scale = np.float16(0.5).tobytes()
    q8_block = torch.tensor(
        list(scale + bytes([1, 255, 127, 128] + [0] * 28)), dtype=torch.uint8
    )
    assert dequantize_q8_0(q8_block[None]).tolist()[0][:5] == [
        0.5,
        -0.5,
        63.5,
        -64.0,
        0.0,
    ]
    minimum = np.float16(-1.0).tobytes()
    packed = bytes(
        [0x21, 0xF0] + [0] * 14
    )  # values 1, 0, ... and 2, 15, ... in high halves
    q4_block = torch.tensor(list(scale + minimum + packed), dtype=torch.uint8)
    values = dequantize_q4_1(q4_block[None])[0].tolist()
    assert values[:2] == [-0.5, -1.0] and values[16:18] == [0.0, 6.5]


def write_gguf(path, tensors: dict, extra_metadata: bool = True) -> None:
    """A small GGUF file: name -> (array, ggml type or None for its own dtype)."""
    writer = gguf.GGUFWriter(str(path), arch="llama")
    if extra_metadata:
        writer.add_array("tokenizer.ggml.tokens", [f"token{i}" for i in range(1000)])
        writer.add_array("test.scores", [0.5] * 300)
        writer.add_string("test.name", "tiny ünïcode")
        writer.add_uint32("test.count", 7)
    for name, (array, qtype) in tensors.items():
        if qtype is None:
            writer.add_tensor(name, array)
        else:
            writer.add_tensor(name, gguf.quants.quantize(array, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture()
def tiny_gguf(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {
        "f16": (rng.normal(size=(5, 7)).astype(np.float16), None),
        "f32": (rng.normal(size=(3, 4, 2)).astype(np.float32), None),
        "q8": (rng.normal(size=(6, 64)).astype(np.float32), Q.Q8_0),
        "q40": (rng.normal(size=(2, 32)).astype(np.float32), Q.Q4_0),
        "q41": (rng.normal(size=(4, 96)).astype(np.float32), Q.Q4_1),
    }
    path = tmp_path / "tiny.gguf"
    write_gguf(path, tensors)
    return path, tensors


def test_tiny_file_every_decoded_type(tiny_gguf):
    path, tensors = tiny_gguf
    reader = gguf.GGUFReader(path)
    header = read_gguf_header(path)
    assert header.metadata["test.name"] == "tiny ünïcode"
    assert header.metadata["test.count"] == 7
    assert header.metadata["test.scores"] == GGUFArray(element_type=6, count=300)
    f16 = read_gguf_tensor(path, "f16")
    assert torch.equal(f16, torch.from_numpy(tensors["f16"][0].astype(np.float32)))
    assert torch.equal(
        read_gguf_tensor(path, "f32"), torch.from_numpy(tensors["f32"][0])
    )
    for name in ("f16", "f32", "q8", "q41"):
        assert same_bits(read_gguf_tensor(path, name), gguf_reference(reader, name)), (
            name
        )
    # quantisation loses little: Q8_0 within 1% of the range, Q4_1 within 1/15 of it
    q8, q41 = read_gguf_tensor(path, "q8"), read_gguf_tensor(path, "q41")
    assert np.abs(q8.numpy() - tensors["q8"][0]).max() < 0.03
    assert np.abs(q41.numpy() - tensors["q41"][0]).max() < 0.5


def test_chunked_decoding_equals_one_piece(tiny_gguf, monkeypatch):
    import helpers.gguf

    path, _ = tiny_gguf
    whole = read_gguf_tensor(path, "q41")
    monkeypatch.setattr(helpers.gguf, "CHUNK_BYTES", 20)  # one block per chunk
    assert torch.equal(read_gguf_tensor(path, "q41"), whole)


def test_other_types_missing_names_and_bad_files(tiny_gguf, tmp_path):
    path, _ = tiny_gguf
    with pytest.raises(
        ValueError, match=r"q40 in .* is Q4_0; this reader decodes F32, F16"
    ):
        read_gguf_tensor(path, "q40")
    with pytest.raises(
        KeyError, match=r"no tensor 'q4' \(5 tensors\)\. Did you mean: q41, q40\?"
    ):
        read_gguf_tensor(path, "q4")
    data = path.read_bytes()
    cut_data = tmp_path / "cut_data.gguf"
    cut_data.write_bytes(data[:-40])  # past the final padding
    with pytest.raises(ValueError, match=r"is truncated: q41 needs bytes up to"):
        read_gguf_tensor(cut_data, "q41")
    assert read_gguf_tensor(cut_data, "f16").shape == (
        5,
        7,
    )  # earlier tensors still read
    cut_header = tmp_path / "cut_header.gguf"
    cut_header.write_bytes(data[:200])
    with pytest.raises(ValueError, match="is truncated: its header needs byte"):
        read_gguf_header(cut_header)
    not_gguf = tmp_path / "model.safetensors"
    not_gguf.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(ValueError, match="is not a GGUF file"):
        read_gguf_tensor(not_gguf, "x")
    version_1 = tmp_path / "v1.gguf"
    version_1.write_bytes(b"GGUF" + (1).to_bytes(4, "little") + data[8:])
    with pytest.raises(ValueError, match="GGUF version 1"):
        read_gguf_header(version_1)


def test_unknown_type_number(tmp_path):
    """A hand-written file with one tensor of ggml type 99."""
    name = b"mystery"
    header = b"GGUF" + (3).to_bytes(4, "little") + (1).to_bytes(8, "little")
    header += (0).to_bytes(8, "little")  # no metadata
    header += len(name).to_bytes(8, "little") + name + (1).to_bytes(4, "little")
    header += (
        (32).to_bytes(8, "little")
        + (99).to_bytes(4, "little")
        + (0).to_bytes(8, "little")
    )
    path = tmp_path / "mystery.gguf"
    path.write_bytes(header + bytes(-len(header) % 32) + bytes(64))
    assert read_gguf_header(path).tensors["mystery"].type_name == "type 99"
    with pytest.raises(ValueError, match="mystery in .* is type 99"):
        read_gguf_tensor(path, "mystery")


MEASURE = r"""
import json, sys
from helpers.gguf import read_gguf_tensor
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"): return int(line.split()[1]) * 1024
open("/proc/self/clear_refs", "w").write("5")
baseline = status("VmRSS")
matrix = read_gguf_tensor(sys.argv[1], "token_embd.weight")
print(json.dumps({"peak": status("VmHWM") - baseline, "bytes": matrix.numel() * 4}))
"""


def test_peak_memory_reading_the_embedding(smollm2):
    output = subprocess.run(
        [sys.executable, "-c", MEASURE, str(smollm2[0])],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    measured = json.loads(output.stdout.strip().splitlines()[-1])
    assert measured["bytes"] == 49152 * 576 * 4
    assert measured["peak"] <= 1.5 * measured["bytes"], measured
