"""Hand-written safetensors writer and reader (Debian's python3-torch 1.13 has no `safetensors`).

The format: an 8-byte little-endian u64 N, then N bytes of JSON header, then the raw little-endian
tensor data. The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
(offsets relative to the end of the header) and may hold "__metadata__", a string -> string map.

The writer is deterministic so that regenerated files are byte-identical: keys are sorted, data is
packed in sorted-key order, the JSON is compact, and the header is padded with spaces to a multiple
of 8 bytes (as the reference implementation does, so the data section starts aligned).
"""

import json
import struct

import numpy as np
import torch

# torch dtype -> (safetensors dtype name, numpy dtype with explicit little-endian byte order)
_DTYPES = {
    torch.float32: ("F32", np.dtype("<f4")),
    torch.float64: ("F64", np.dtype("<f8")),
    torch.int64: ("I64", np.dtype("<i8")),
    torch.int32: ("I32", np.dtype("<i4")),
    torch.bool: ("BOOL", np.dtype("?")),
}
_BY_NAME = {name: (torch_dtype, np_dtype) for torch_dtype, (name, np_dtype) in _DTYPES.items()}


def serialize(tensors, metadata=None):
    """Returns the bytes of a safetensors file holding `tensors` (name -> torch.Tensor)."""
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        if t.dtype not in _DTYPES:
            raise TypeError(f"{name}: dtype {t.dtype} has no safetensors mapping here")
        st_name, np_dtype = _DTYPES[t.dtype]
        data = t.numpy().astype(np_dtype, copy=False).tobytes()
        header[name] = {"dtype": st_name, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("__metadata__ must map strings to strings")
        header["__metadata__"] = dict(metadata)
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def parse(blob):
    """Parses safetensors bytes; returns (name -> torch.Tensor, metadata dict).

    Strict: every tensor's byte range must match its dtype and shape, and the ranges must tile the
    data section exactly (no gaps, no overlaps, no trailing bytes).
    """
    if len(blob) < 8:
        raise ValueError("file shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise ValueError(f"header length {n} runs past the end of a {len(blob)}-byte file")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    spans = []
    for name, info in header.items():
        torch_dtype, np_dtype = _BY_NAME[info["dtype"]]
        shape = [int(d) for d in info["shape"]]
        begin, end = info["data_offsets"]
        count = int(np.prod(shape)) if shape else 1
        if end - begin != count * np_dtype.itemsize or end > len(data):
            raise ValueError(f"{name}: byte range [{begin}, {end}) does not fit {info}")
        array = np.frombuffer(data[begin:end], dtype=np_dtype).reshape(shape).copy()
        tensors[name] = torch.from_numpy(array).to(torch_dtype)
        spans.append((begin, end))
    position = 0
    for begin, end in sorted(spans):
        if begin != position:
            raise ValueError(f"data section has a gap or overlap at byte {position}")
        position = end
    if position != len(data):
        raise ValueError(f"{len(data) - position} trailing bytes after the last tensor")
    return tensors, metadata
