"""GGUF files read by hand: header, tensor table and dequantisation (notebook 05).

A GGUF file (llama.cpp's format) is: the magic bytes "GGUF", a version, the number of
tensors and of metadata entries; the metadata (key, type, value); one record per tensor
(name, shape, type, offset); then, aligned, the tensor data. Quantised types store
blocks of 32 numbers as small integers plus a float16 scale (and, for Q4_1, a minimum).
`read_gguf_tensor` decodes F32, F16, Q8_0 and Q4_1 with this module's own code, which
the tests compare, bit for bit, with the `gguf` package's `dequantize`.
"""

from __future__ import annotations

import difflib
import mmap
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
# Metadata value types of the GGUF specification, with their struct formats.
SCALAR_FORMATS = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i",
    6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d",
}  # fmt: skip
STRING_TYPE, ARRAY_TYPE = 8, 9
VALUE_TYPE_NAMES = {
    0: "uint8", 1: "int8", 2: "uint16", 3: "int16", 4: "uint32", 5: "int32",
    6: "float32", 7: "bool", 8: "string", 9: "array", 10: "uint64", 11: "int64",
    12: "float64",
}  # fmt: skip
# ggml tensor types: name, numbers per block, bytes per block (ggml's type_traits).
GGML_TYPES = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8),
    28: ("F64", 1, 8), 30: ("BF16", 1, 2),
}  # fmt: skip
# Raw bytes decoded at once: small chunks keep the temporary float32 copies small, so
# the peak memory stays close to the output tensor's own size.
CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True)
class GGUFArray:
    """A metadata array, summarised: element type and length (values skipped)."""

    element_type: int
    count: int

    def __str__(self) -> str:
        """'array of 49,152 string values (skipped)'."""
        kind = VALUE_TYPE_NAMES.get(self.element_type, f"type-{self.element_type}")
        return f"array of {self.count:,} {kind} values (skipped)"


@dataclass(frozen=True)
class GGUFTensorInfo:
    """Where a tensor is: shape in PyTorch order (rows first), type, file offset."""

    name: str
    shape: tuple[int, ...]
    type_id: int
    type_name: str
    offset: int
    n_bytes: int


@dataclass(frozen=True)
class GGUFHeader:
    """A GGUF file's version, metadata (arrays summarised) and tensor table."""

    path: Path
    version: int
    metadata: dict[str, object]
    tensors: dict[str, GGUFTensorInfo]


class _Cursor:
    """Reads little-endian values one after another from a memory-mapped file."""

    def __init__(self, buffer: mmap.mmap, path: Path) -> None:
        """Start at byte 0 of `buffer`, the contents of `path`."""
        self.buffer, self.path, self.position = buffer, path, 0

    def _need(self, n_bytes: int) -> None:
        """Raise a clear error when the file ends before `n_bytes` more bytes."""
        if self.position + n_bytes > len(self.buffer):
            raise ValueError(
                f"{self.path} is truncated: its header needs byte "
                f"{self.position + n_bytes:,}"
                f" but the file has {len(self.buffer):,}. Download or copy it again."
            )

    def scalar(self, fmt: str) -> int | float | bool:
        """One number of struct format `fmt`."""
        size = struct.calcsize(fmt)
        self._need(size)
        (value,) = struct.unpack_from(fmt, self.buffer, self.position)
        self.position += size
        return value

    def string(self) -> str:
        """A GGUF string: a uint64 length, then that many UTF-8 bytes."""
        length = self.scalar("<Q")
        self._need(length)
        raw = self.buffer[self.position : self.position + length]
        self.position += length
        return raw.decode("utf-8", errors="replace")

    def skip(self, value_type: int, count: int = 1) -> None:
        """Move past `count` values of `value_type` without building them."""
        if value_type in SCALAR_FORMATS:
            self._need(struct.calcsize(SCALAR_FORMATS[value_type]) * count)
            self.position += struct.calcsize(SCALAR_FORMATS[value_type]) * count
        elif value_type == STRING_TYPE:
            for _ in range(count):
                length = self.scalar("<Q")
                self._need(length)
                self.position += length
        elif value_type == ARRAY_TYPE:
            for _ in range(count):
                element_type, length = self.scalar("<I"), self.scalar("<Q")
                self.skip(element_type, length)
        else:
            raise ValueError(f"{self.path}: unknown metadata value type {value_type}.")

    def value(self, value_type: int) -> object:
        """One metadata value; an array is skipped and summarised as a GGUFArray."""
        if value_type in SCALAR_FORMATS:
            return self.scalar(SCALAR_FORMATS[value_type])
        if value_type == STRING_TYPE:
            return self.string()
        if value_type == ARRAY_TYPE:
            element_type, count = self.scalar("<I"), self.scalar("<Q")
            self.skip(element_type, count)
            return GGUFArray(element_type, count)
        raise ValueError(f"{self.path}: unknown metadata value type {value_type}.")


def _type_name(type_id: int) -> str:
    """A ggml type's name, or 'type N' for a number this module does not know."""
    return GGML_TYPES[type_id][0] if type_id in GGML_TYPES else f"type {type_id}"


def read_gguf_header(path: str | Path) -> GGUFHeader:
    """Parse a GGUF file's header and tensor table; metadata arrays are skipped."""
    path = Path(path)
    with open(path, "rb") as file:
        if path.stat().st_size < 4:
            raise ValueError(f"{path} is not a GGUF file: it has fewer than 4 bytes.")
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
            cursor = _Cursor(buffer, path)
            if buffer[:4] != GGUF_MAGIC:
                raise ValueError(
                    f"{path} is not a GGUF file: it starts with {buffer[:4]!r}."
                )
            cursor.position = 4
            version = cursor.scalar("<I")
            if version not in (2, 3):
                raise ValueError(
                    f"{path} is GGUF version {version}; this reader handles versions "
                    "2 and 3 (little-endian)."
                )
            n_tensors, n_metadata = cursor.scalar("<Q"), cursor.scalar("<Q")
            metadata = {}
            for _ in range(n_metadata):
                key = cursor.string()
                metadata[key] = cursor.value(cursor.scalar("<I"))
            records = []
            for _ in range(n_tensors):
                name = cursor.string()
                n_dims = cursor.scalar("<I")
                dims = [cursor.scalar("<Q") for _ in range(n_dims)]
                records.append((name, dims, cursor.scalar("<I"), cursor.scalar("<Q")))
            alignment = int(metadata.get("general.alignment", DEFAULT_ALIGNMENT))
            data_start = -(-cursor.position // alignment) * alignment
    tensors = {}
    for name, dims, type_id, offset in records:
        n_values = int(np.prod(dims, dtype=np.int64)) if dims else 1
        _, block_values, block_bytes = GGML_TYPES.get(type_id, ("", 1, 0))
        shape = tuple(reversed(dims))  # ggml lists the fastest-moving dimension first
        tensors[name] = GGUFTensorInfo(
            name, shape, type_id, _type_name(type_id), data_start + offset,
            n_values // block_values * block_bytes,
        )  # fmt: skip
    return GGUFHeader(path, version, metadata, tensors)


# From notebooks/05_llm_embeddings.ipynb: edit it there, then `make lesson-code`.
def dequantize_q8_0(blocks: torch.Tensor) -> torch.Tensor:
    """Q8_0 blocks, (n, 34) bytes, to (n, 32) floats: x = d * q."""
    d = blocks[:, :2].contiguous().view(torch.float16).float()  # one scale per block
    q = blocks[:, 2:].contiguous().view(torch.int8).float()  # 32 signed 8-bit integers
    return d * q


# From notebooks/05_llm_embeddings.ipynb: edit it there, then `make lesson-code`.
def dequantize_q4_1(blocks: torch.Tensor) -> torch.Tensor:
    """Q4_1 blocks, (n, 20) bytes, to (n, 32) floats: x = d * q + m."""
    d = blocks[:, 0:2].contiguous().view(torch.float16).float()  # scale
    m = blocks[:, 2:4].contiguous().view(torch.float16).float()  # minimum
    packed = blocks[:, 4:]  # 16 bytes, two 4-bit integers in each
    q = torch.cat([packed & 0x0F, packed >> 4], dim=1).float()  # low halves come first
    return d * q + m


def _dequantize_f32(blocks: torch.Tensor) -> torch.Tensor:
    """F32 'blocks' of one number, (n, 4) bytes, to (n, 1) floats."""
    return blocks.view(torch.float32)


def _dequantize_f16(blocks: torch.Tensor) -> torch.Tensor:
    """F16 'blocks' of one number, (n, 2) bytes, to (n, 1) floats."""
    return blocks.view(torch.float16).float()


DEQUANTIZERS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "F32": _dequantize_f32,
    "F16": _dequantize_f16,
    "Q8_0": dequantize_q8_0,
    "Q4_1": dequantize_q4_1,
}


def _tensor_info(header: GGUFHeader, name: str) -> GGUFTensorInfo:
    """The record of tensor `name`, checked to lie wholly inside the file."""
    if name not in header.tensors:
        close = difflib.get_close_matches(name, list(header.tensors), n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise KeyError(
            f"{header.path} has no tensor {name!r} "
            f"({len(header.tensors)} tensors).{hint}"
        )
    info = header.tensors[name]
    if info.type_id not in GGML_TYPES:
        raise ValueError(
            f"{name} in {header.path} is {info.type_name}, which no GGUF reader here "
            "knows: is the file from a newer llama.cpp?"
        )
    size = header.path.stat().st_size
    if info.offset + info.n_bytes > size:
        raise ValueError(
            f"{header.path} is truncated: {name} needs bytes up to "
            f"{info.offset + info.n_bytes:,} but the file has {size:,}. Download or "
            "copy it again."
        )
    return info


def read_gguf_blocks(
    path: str | Path, name: str, first: int = 0, count: int = 1
) -> torch.Tensor:
    """The raw bytes of `count` blocks of a tensor from block `first`, as uint8 rows."""
    header = read_gguf_header(path)
    info = _tensor_info(header, name)
    _, _, block_bytes = GGML_TYPES[info.type_id]
    if not 0 <= first < first + count <= info.n_bytes // block_bytes:
        n_blocks = info.n_bytes // block_bytes
        message = f"{name} has blocks 0..{n_blocks - 1}, not {count} from {first}."
        raise ValueError(message)
    with open(header.path, "rb") as file:
        file.seek(info.offset + first * block_bytes)
        raw = np.fromfile(file, dtype=np.uint8, count=count * block_bytes)
    return torch.from_numpy(raw).view(count, block_bytes)


def read_gguf_tensor(path: str | Path, name: str) -> torch.Tensor:
    """One tensor of a GGUF file as float32, decoded chunk by chunk into its buffer."""
    header = read_gguf_header(path)
    info = _tensor_info(header, name)
    if info.type_name not in DEQUANTIZERS:
        raise ValueError(
            f"{name} in {header.path} is {info.type_name}; this reader decodes "
            f"{', '.join(DEQUANTIZERS)}. Use gguf.quants.dequantize for other types."
        )
    _, block_values, block_bytes = GGML_TYPES[info.type_id]
    decode = DEQUANTIZERS[info.type_name]
    output = torch.empty(info.shape, dtype=torch.float32)
    flat = output.view(-1)
    blocks_per_chunk = max(1, CHUNK_BYTES // block_bytes)
    n_blocks = info.n_bytes // block_bytes
    with open(header.path, "rb") as file:
        file.seek(info.offset)
        for first in range(0, n_blocks, blocks_per_chunk):
            count = min(blocks_per_chunk, n_blocks - first)
            raw = np.fromfile(file, dtype=np.uint8, count=count * block_bytes)
            blocks = torch.from_numpy(raw).view(count, block_bytes)
            values = decode(blocks).reshape(-1)
            flat[first * block_values : (first + count) * block_values] = values
    return output
