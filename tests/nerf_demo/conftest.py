import pytest
import torch

from fastgen.data import procedural_scene


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """These tests run tiny tensors, which two threads only slow down (much more so on a busy CPU)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def cache(tmp_path_factory, one_thread):
    """A cache folder holding the demo's 16x16 procedural scene (seed 0), generated once per session."""
    root = tmp_path_factory.mktemp("nerf_cache")
    procedural_scene.cached(root, resolution=16, seed=0)
    return str(root)
