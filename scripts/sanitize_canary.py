"""Proves that the sanitizer run can fail: calls a raw fastgen._C launcher, past every Python
check, with an output buffer 4 rows too small, so the kernel writes out of bounds.

Run by ``make test-sanitize`` with the sanitized extension and libasan preloaded: it must die
with AddressSanitizer's heap-buffer-overflow report (exit status non-zero). Under a normal build it
exits 0 having written past the buffer, which is why it is never run outside that target.
"""
import torch

from fastgen.ops._native import dtype_code, launch

n_rays, n_channels = 64, 3
values = torch.ones(n_rays, n_channels)
packed_info = torch.stack([torch.arange(n_rays), torch.ones(n_rays, dtype=torch.int64)], 1)
out = torch.zeros(n_rays - 4, n_channels)  # too small on purpose
launch("segment_sum", values.device, values.data_ptr(), out.data_ptr(), packed_info.data_ptr(),
       n_rays, n_rays, n_channels, dtype_code(values.dtype))
print("sanitize_canary: wrote past the buffer and nothing noticed")
