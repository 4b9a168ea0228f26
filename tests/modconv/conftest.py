"""modconv implements the reference and triton backends only (no cpu kernel: torch's oneDNN
convolution is the fast CPU path; CUDA tensors run triton): the ``modconv_backend`` fixture runs
a test on each of them that can run here."""
import pytest

import fastgen.gan  # noqa: F401  (registers the ops)
from tests.conftest import skip_unless_available


@pytest.fixture(params=("reference", "triton"))
def modconv_backend(request) -> str:
    return skip_unless_available(request.param)


@pytest.fixture
def mdevice(modconv_backend):
    from tests.conftest import backend_device

    return backend_device(modconv_backend)


@pytest.fixture(autouse=True)
def _ieee_float32(monkeypatch):
    """On a GPU, torch's convolutions (the reference) and the kernels would use TF32 for float32:
    the tests compare against float64 at float32 tolerances, so both run in IEEE float32."""
    import torch

    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
