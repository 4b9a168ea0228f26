"""tiny-cuda-nn user code runs unchanged on fastgen: after ``install()``, ``import tinycudann as tcnn``
is fastgen.compat.tcnn, and tests/compat/scripts/tcnn_instant_ngp.py (an Instant-NGP field from
instant-ngp's config, trained with Adam on CPU tensors) trains and its loss falls: at full size
(2^19-entry tables) on the default backends, and at tiny sizes on the Triton kernels (hash grid and
fused MLP) under the interpreter."""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

import fastgen.compat.tcnn as compat

SCRIPTS = Path(__file__).parent / "scripts"


@pytest.fixture
def installed():
    """install() for one test, then the previous ``tinycudann*`` entries of sys.modules back."""
    saved = {k: v for k, v in sys.modules.items() if k == "tinycudann" or k.startswith("tinycudann.")}
    compat.install()
    yield
    for k in [k for k in sys.modules if k == "tinycudann" or k.startswith("tinycudann.")]:
        del sys.modules[k]
    sys.modules.update(saved)


TINY = {"N_POINTS": "32", "N_STEPS": "6", "LOG2_HASHMAP_SIZE": "10"}


@pytest.mark.parametrize("name", ["auto", "triton"])
def test_instant_ngp_script_trains(installed, monkeypatch, capsys, name):
    from tests.conftest import backend_device, skip_unless_available

    if name != "auto":
        skip_unless_available(name)
        if backend_device(name).type != "cpu":
            pytest.skip(f"{name} runs on CUDA tensors here; the script's modules are on the CPU")
        monkeypatch.setenv("FASTGEN_BACKEND", name)
        for k, v in TINY.items():
            monkeypatch.setenv(k, v)
    runpy.run_path(str(SCRIPTS / "tcnn_instant_ngp.py"), run_name="__main__")
    assert "tcnn_instant_ngp ok" in capsys.readouterr().out
