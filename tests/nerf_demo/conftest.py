import contextlib

import pytest
import torch

from fastgen.data import procedural_scene


@contextlib.contextmanager
def one_thread():
    """These tests run tiny tensors, which two threads only slow down (much more so on a busy CPU)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module", autouse=True)
def _one_thread_per_module():
    with one_thread():
        yield


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    """A cache folder holding the demo's 16x16 procedural scene (seed 0), generated once per session."""
    root = tmp_path_factory.mktemp("nerf_cache")
    with one_thread():
        procedural_scene.cached(root, resolution=16, seed=0)
    return str(root)
