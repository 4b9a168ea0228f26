"""Shared plumbing of the native backends ("cpu" and "cuda"): dtype codes and launcher calls.

Every family's ``native.py`` allocates its outputs with torch and calls
``launch(name, device, *ints)``, which runs ``fastgen._C.<name>_cpu(*ints, n_threads)`` or
``fastgen._C.<name>_cuda(*ints, device_index, stream)`` (see csrc/common/bindings_util.h).
"""
from __future__ import annotations

import torch

from fastgen._ext import CUDA_HINT, get_ext


def dtype_code(dtype: torch.dtype) -> int:
    """The extension's code for a storage dtype (the values live in csrc/common/common.h)."""
    ext = get_ext()
    codes = {torch.float32: ext.FLOAT32, torch.float64: ext.FLOAT64,
             torch.float16: ext.FLOAT16, torch.bfloat16: ext.BFLOAT16}
    return codes[dtype]


def launch(name: str, device: torch.device, *args) -> None:
    """Call ``_C.<name>_cpu(*args, n_threads)`` or ``_C.<name>_cuda(*args, device, stream)``."""
    ext = get_ext()
    if device.type == "cuda":
        launcher = getattr(ext, name + "_cuda", None)
        if launcher is None:
            raise RuntimeError(f"fastgen._C was built without CUDA "
                               f"({ext.build_info()['cuda_missing_reason']}): the cuda backend "
                               f"is unavailable; {CUDA_HINT}")
        launcher(*args, device.index, torch.cuda.current_stream(device).cuda_stream)
    else:
        getattr(ext, name + "_cpu")(*args, torch.get_num_threads())
