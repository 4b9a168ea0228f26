"""GAN main-job tests. The GAN ops register no "cpu" backend (the reference is as fast on CPU), but
their C++ launchers run the CUDA kernels' math: the "cpu" runs of these tests exercise them."""
import pytest
import torch

import fastgen.gan  # noqa: F401  (registers the ops)
# A model small enough for many steps per second on one CPU core (16x16, 4-8 channels).
TINY = {"z_dim": 8, "w_dim": 8, "channel_base": 64, "channel_max": 8}


@pytest.fixture(autouse=True)
def _one_thread():
    """These models' tensors are tiny: a second intra-op thread only adds synchronisation, which on a
    busy 2-core CI machine costs 10x (measured), so each test runs on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
