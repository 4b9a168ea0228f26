"""fastgen.compat.stylegan.install() in a fresh interpreter, against a stand-in StyleGAN repository
(written to a temporary folder): ``torch_utils/ops/*`` modules whose functions fail the way an
uncompiled CUDA plugin does, and a ``training/networks.py`` that imports them as StyleGAN does.
Both orders: install() before the repository's imports, and after them."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from fastgen.compat.stylegan import MODULES

ROOT = Path(__file__).parents[2]

NETWORKS = """
import torch
from torch_utils.ops import bias_act, conv2d_gradfix, conv2d_resample, fma, grid_sample_gradfix, upfirdn2d

def layer(x, w, b):
    f = upfirdn2d.setup_filter([1, 3, 3, 1])
    x = conv2d_resample.conv2d_resample(x, w, f, up=2, padding=1)
    x = bias_act.bias_act(x, b, act="lrelu", clamp=256)
    x = conv2d_gradfix.conv2d(x, torch.ones(3, 3, 1, 1))
    grid = torch.zeros(x.shape[0], 2, 2, 2)
    return fma.fma(x, torch.full_like(x, 2.0), torch.ones(3, 1, 1)), grid_sample_gradfix.grid_sample(x, grid)
"""

RUN = """
import sys, torch
import fastgen.compat.stylegan as sg

def check(repo, before):
    for name in [m for m in sys.modules if m.split(".")[0] in ("torch_utils", "training")]:
        del sys.modules[name]  # a fresh repository for each order
    sys.path.insert(0, repo)
    if before:
        sg.install()
    import training.networks as networks
    import torch_utils.ops.conv2d_gradfix as gradfix_module
    if not before:
        sg.install()
    y, s = networks.layer(torch.randn(1, 2, 4, 4), torch.randn(3, 2, 3, 3), torch.zeros(3))
    assert y.shape == (1, 3, 8, 8) and s.shape == (1, 3, 2, 2)
    gradfix_module.enabled = True  # StyleGAN's training loop flips the flag on the module it holds
    assert sg.conv2d_gradfix.enabled is True
    with gradfix_module.no_weight_gradients():
        assert sg.conv2d_gradfix.weight_gradients_disabled and gradfix_module.weight_gradients_disabled
    sg.conv2d_gradfix.enabled = False
    from torch_utils.ops import bias_act
    assert bias_act._init() is True and bias_act.activation_funcs["lrelu"].def_gain > 1
    sys.path.remove(repo)

check({before!r}, True)
check({after!r}, False)
print("install ok")
"""


def _repo(tmp: Path) -> Path:
    ops = tmp / "torch_utils" / "ops"
    ops.mkdir(parents=True)
    (tmp / "torch_utils" / "__init__.py").write_text("")
    (ops / "__init__.py").write_text("")
    plugin = "def _fail(*a, **k):\n    raise RuntimeError('StyleGAN CUDA plugin: not compiled')\n"
    stubs = {"bias_act": ["bias_act", "_init"], "upfirdn2d": ["setup_filter", "upfirdn2d", "upsample2d", "_init"],
             "filtered_lrelu": ["filtered_lrelu", "_init"], "conv2d_resample": ["conv2d_resample"], "conv2d_gradfix": ["conv2d", "conv_transpose2d"],
             "grid_sample_gradfix": ["grid_sample"], "fma": ["fma"]}
    assert sorted(stubs) == sorted(MODULES)
    for name, funcs in stubs.items():
        body = plugin + "".join(f"{f} = _fail\n" for f in funcs)
        if name == "conv2d_gradfix":
            body += textwrap.dedent("""
                import contextlib
                enabled = False
                weight_gradients_disabled = False
                @contextlib.contextmanager
                def no_weight_gradients(disable=True):
                    raise RuntimeError('StyleGAN context manager')
                    yield
                """)
        (ops / f"{name}.py").write_text(body)
    (tmp / "training").mkdir()
    (tmp / "training" / "__init__.py").write_text("")
    (tmp / "training" / "networks.py").write_text(NETWORKS)
    return tmp


def test_install_runs_stylegan_code_on_fastgen(tmp_path):
    """install() before the repository's imports, then (a second copy) after them."""
    before, after = _repo(tmp_path / "before"), _repo(tmp_path / "after")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", RUN.format(before=str(before), after=str(after))],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0 and "install ok" in out.stdout, out.stderr[-3000:]
