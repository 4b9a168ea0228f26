"""Backend registry and selection: fastgen.info(), `python -m fastgen info`, auto selection,
FASTGEN_BACKEND, unknown and unavailable backends, FASTGEN_REQUIRE_BACKENDS."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import fastgen
import fastgen.ops.render as render
from fastgen.backend import BACKENDS, BackendUnavailableError, backend_status, registered_ops, resolve
from fastgen.ops.render import _library, reference
from tests.conftest import backend_available

ROOT = Path(__file__).resolve().parents[2]


def small_composite_inputs(device="cpu"):
    t0 = torch.tensor([0.0, 0.5, 1.0, 0.2], device=device)
    s = torch.tensor([1.0, 2.0, 0.5, 3.0], device=device)
    c = torch.rand(4, 3, generator=torch.Generator().manual_seed(0)).to(device)
    info = torch.tensor([[0, 3], [3, 1]], device=device)
    return t0, t0 + 0.1, s, c, info


def test_every_render_op_is_registered():
    names = {op.name for op in registered_ops() if op.family == "render"}
    assert names == set(render.__all__)
    for op in registered_ops():
        assert set(op.backends) <= set(BACKENDS)


def test_info_lists_every_op_and_backend(capsys):
    text = fastgen.info()
    assert capsys.readouterr().out.strip() == text.strip()
    for b in BACKENDS:
        line = next((ln for ln in text.splitlines() if ln.strip().startswith(b + " ")), None)
        assert line is not None, f"backend {b} missing from fastgen.info()"
        interpreted = os.environ.get("TRITON_INTERPRET", "0") == "1"
        judged_on = {"reference": "cpu", "cpu": "cpu", "cuda": "cuda", "triton": "cpu" if interpreted else "cuda"}
        ok, reason = backend_status(b, judged_on[b])
        assert ("unavailable" not in line) == ok and reason in line, line
    for name in render.__all__:
        rows = [ln for ln in text.splitlines() if ln.strip().startswith(f"render.{name} ")]
        assert len(rows) == 1, f"op {name} missing from fastgen.info()"
        assert len(rows[0].split()) == 1 + len(BACKENDS), rows[0]


def test_cli_info_runs():
    proc = subprocess.run([sys.executable, "-m", "fastgen", "info"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    for word in ("reference", "cpu", "cuda", "triton", "render.composite", "render.inclusive_sum"):
        assert word in proc.stdout


def test_available_backends_matches_status():
    assert "reference" in fastgen.available_backends("cpu")
    for device in ("cpu", "cuda"):
        assert fastgen.available_backends(device) == [b for b in BACKENDS if backend_status(b, device)[0]]


def test_backend_status_unknown_name():
    with pytest.raises(ValueError, match=r"unknown backend 'bogus'"):
        backend_status("bogus", "cpu")


def test_status_reasons_are_specific(monkeypatch):
    assert backend_status("cpu", "cuda") == (False, "the cpu backend runs on CPU tensors only, these are on cuda")
    assert not backend_status("cuda", "cpu")[0] and "CUDA tensors only" in backend_status("cuda", "cpu")[1]
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    ok, reason = backend_status("triton", "cpu")
    assert not ok and "TRITON_INTERPRET=1" in reason


@pytest.mark.parametrize("device_type", ["cpu", "cuda"])
def test_auto_selection_order(device_type, monkeypatch):
    monkeypatch.delenv("FASTGEN_BACKEND", raising=False)
    order = ("cuda", "triton") if device_type == "cuda" else ("cpu",)
    expected = next((b for b in order if backend_status(b, device_type)[0]), "reference")
    assert resolve("composite", "auto", torch.device(device_type)) == expected
    assert resolve("composite", None, torch.device(device_type)) == expected


# ---------------------------------------------------------------------------- choosing a backend
@pytest.fixture
def spy(monkeypatch):
    """Records which path ran: 'reference' or the kernel backend passed to torch.ops.fastgen."""
    calls = []
    real_k, real_composite = _library._k, reference.composite

    def k(backend):
        calls.append(backend)
        return real_k(backend)

    def ref_composite(*a, **kw):
        calls.append("reference")
        return real_composite(*a, **kw)
    monkeypatch.setattr(_library, "_k", k)
    monkeypatch.setattr(reference, "composite", ref_composite)
    return calls


def test_explicit_backend_runs_that_backend(backend, device, spy, monkeypatch):
    monkeypatch.delenv("FASTGEN_BACKEND", raising=False)
    fastgen.composite(*small_composite_inputs(device)[:4], packed_info=small_composite_inputs(device)[4],
                      backend=backend)
    assert spy and set(spy) == {backend}


def test_fastgen_backend_env_overrides_auto(backend, device, spy, monkeypatch):
    monkeypatch.setenv("FASTGEN_BACKEND", backend)
    t0, t1, s, c, info = small_composite_inputs(device)
    fastgen.composite(t0, t1, s, c, packed_info=info)
    assert spy and set(spy) == {backend}


def test_explicit_backend_beats_env(spy, monkeypatch):
    monkeypatch.setenv("FASTGEN_BACKEND", "cuda")
    t0, t1, s, c, info = small_composite_inputs()
    fastgen.composite(t0, t1, s, c, packed_info=info, backend="reference")
    assert spy == ["reference"]


def test_env_names_unavailable_backend(monkeypatch):
    monkeypatch.setenv("FASTGEN_BACKEND", "cuda")
    t0, t1, s, c, info = small_composite_inputs()
    with pytest.raises(BackendUnavailableError, match=r"composite: backend 'cuda' \(from FASTGEN_BACKEND\) is "
                                                      r"unavailable: the cuda backend runs on CUDA tensors only"):
        fastgen.composite(t0, t1, s, c, packed_info=info)


def test_env_unknown_backend(monkeypatch):
    monkeypatch.setenv("FASTGEN_BACKEND", "fastest")
    with pytest.raises(ValueError, match=r"inclusive_sum: unknown backend 'fastest'; choose one of auto, "
                                         r"reference, cpu, cuda, triton"):
        fastgen.inclusive_sum(torch.ones(3))


@pytest.mark.parametrize("op", ["inclusive_sum", "render_weight_from_alpha", "accumulate_along_rays", "composite"])
def test_unknown_backend_name(op, spy):
    x = torch.rand(2, 3)
    args = {"composite": (x, x + 1, x, torch.rand(2, 3, 3))}.get(op, (x,))
    with pytest.raises(ValueError, match=rf"{op}: unknown backend 'gpu'; choose one of auto, reference, cpu, "
                                         r"cuda, triton"):
        getattr(fastgen, op)(*args, backend="gpu")
    assert spy == []


@pytest.mark.parametrize("name", BACKENDS)
def test_unavailable_backend_raises_with_reason(name, spy):
    """Asking by name for a backend that cannot run on these tensors raises with its reason; no fallback."""
    for device_type in ("cpu", "cuda"):
        if device_type == "cuda" and not torch.cuda.is_available():
            continue
        ok, reason = backend_status(name, device_type)
        if ok:
            continue
        t0, t1, s, c, info = small_composite_inputs(device_type)
        with pytest.raises(BackendUnavailableError, match=rf"composite: backend '{name}' is unavailable: "):
            fastgen.composite(t0, t1, s, c, packed_info=info, backend=name)
        with pytest.raises(BackendUnavailableError) as err:
            fastgen.exclusive_prod(s, packed_info=info, backend=name)
        assert reason in str(err.value)
    assert spy == []


def test_cuda_backend_on_cpu_tensors():
    with pytest.raises(BackendUnavailableError, match=r"backend 'cuda' is unavailable: the cuda backend runs on "
                                                      r"CUDA tensors only, these are on cpu"):
        fastgen.render_weight_from_alpha(torch.rand(2, 5), backend="cuda")


def test_require_backends_fails_session():
    """FASTGEN_REQUIRE_BACKENDS naming an unavailable backend fails the session with the reason."""
    missing = next((b for b in BACKENDS if not backend_available(b)[0]), None)
    env = dict(os.environ)
    env["FASTGEN_REQUIRE_BACKENDS"] = f"reference,{missing or 'no_such_backend'}"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/render/test_backend.py::test_every_render_op_is_registered"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "FASTGEN_REQUIRE_BACKENDS" in out
    if missing:
        assert backend_available(missing)[1] in out
    else:
        assert "no_such_backend" in out


def test_require_backends_passes_when_available():
    env = dict(os.environ)
    env["FASTGEN_REQUIRE_BACKENDS"] = ",".join(b for b in BACKENDS if backend_available(b)[0])
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/render/test_backend.py::test_every_render_op_is_registered"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
