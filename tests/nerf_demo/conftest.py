import pytest

from fastgen.data import procedural_scene


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    """A cache folder holding the demo's 16x16 procedural scene (seed 0), generated once per session."""
    root = tmp_path_factory.mktemp("nerf_cache")
    procedural_scene.cached(root, resolution=16, seed=0)
    return str(root)
