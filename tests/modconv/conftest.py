"""modconv implements the reference, cuda and triton backends (no cpu kernel: torch's oneDNN
convolution is the fast CPU path): the ``modconv_backend`` fixture runs a test on each of them
that can run here (cuda only on a GPU; its tile code runs on the CPU in test_tiles_on_cpu.py)."""
import pytest

import fastgen.gan  # noqa: F401  (registers the ops)
from tests.conftest import skip_unless_available


@pytest.fixture(params=("reference", "cuda", "triton"))
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
