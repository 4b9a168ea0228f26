"""mlp implements the reference and triton backends only (no cpu kernel: torch's BLAS is the fast
CPU path; CUDA tensors run triton): ``mlp_backend`` runs a test on each of them that can run here."""
import pytest

import fastgen.nerf  # noqa: F401  (registers the op)
from tests.conftest import backend_device, skip_unless_available


@pytest.fixture(params=("reference", "triton"))
def mlp_backend(request) -> str:
    return skip_unless_available(request.param)


@pytest.fixture
def mdevice(mlp_backend):
    return backend_device(mlp_backend)


@pytest.fixture(autouse=True)
def _ieee_float32(monkeypatch):
    """On a GPU, torch's float32 matmuls could use TF32; the float64 comparisons assume IEEE."""
    import torch

    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
