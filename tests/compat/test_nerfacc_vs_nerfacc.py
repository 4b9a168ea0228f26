"""fastgen.compat.nerfacc against nerfacc 0.5.3 itself, on CPU tensors, on every CPU-side backend.

Which parts of nerfacc 0.5.3 run on CPU tensors (plain torch) and are compared here:

* the scans on batched input (``packed_info=None``: torch.cumsum / cumprod);
* ``render_transmittance_* / render_weight_* / render_visibility_*`` on batched input;
* ``accumulate_along_rays`` (batched and packed: ``index_add_``) and ``accumulate_along_rays_``;
* ``rendering`` on batched samples (``ray_indices=None``), with ``rgb_sigma_fn`` and ``rgb_alpha_fn``;
* ``OccGridEstimator``: construction, buffers, state_dict, and ``_update`` /
  ``update_every_n_steps`` (the occupancy EMA is torch code);
* ``PropNetEstimator`` construction and state_dict; ``get_proposal_requires_grad_fn``.

What needs nerfacc's CUDA extension (``nerfacc.cuda._C``, JIT-built on first use; never called
here, so no build is triggered): the scans and render functions on packed input (``packed_info``
or ``ray_indices``, through ``pack_info``, which raises NotImplementedError on CPU),
``rendering`` with ``ray_indices``, ``ray_aabb_intersect``, ``traverse_grids``,
``OccGridEstimator.sampling``, ``importance_sampling``, ``searchsorted``,
``PropNetEstimator.sampling`` / ``compute_loss`` and ``nerfacc.cameras``. Those are compared on a
GPU only (the issue's device script), and on CPU with fastgen's own reference in the family tests.
"""
from __future__ import annotations

import pytest
import torch

from fastgen.compat import nerfacc as compat
from tests.conftest import assert_close_rel

nerfacc = pytest.importorskip("nerfacc", reason="nerfacc 0.5.3 is not installed (pip install nerfacc==0.5.3)")
F64 = torch.float64
CPU_BACKENDS = ["reference", "cpu", "triton"]


@pytest.fixture(params=CPU_BACKENDS)
def cpu_backend(request, monkeypatch):
    """A CPU-side backend, selected the way a user of the drop-in selects it: FASTGEN_BACKEND."""
    from tests.conftest import backend_device, skip_unless_available

    skip_unless_available(request.param)
    if backend_device(request.param).type != "cpu":
        pytest.skip(f"{request.param} runs on CUDA tensors here")
    monkeypatch.setenv("FASTGEN_BACKEND", request.param)
    return request.param


def _both(fn_name, module, *tensors, kwargs=None, backward=True):
    """Call ``module.fn_name`` of nerfacc and of fastgen.compat on copies of ``tensors`` (leaves
    with grad for the float ones); compare every output and, with ``backward``, every input
    gradient of a random linear function of the float outputs."""
    kwargs = kwargs or {}
    results = []
    for lib in (nerfacc, compat):
        ins = [t if t is None else t.detach().clone().requires_grad_(t.is_floating_point() and backward)
               for t in tensors]
        out = getattr(getattr(lib, module), fn_name)(*ins, **kwargs)
        outs = out if isinstance(out, tuple) else (out,)
        grads = []
        if backward:
            floats = [o for o in outs if o.is_floating_point() and o.requires_grad]
            torch.manual_seed(0)
            loss = sum((o * torch.randn_like(o)).sum() for o in floats)
            grads = torch.autograd.grad(loss, [t for t in ins if t is not None and t.requires_grad], allow_unused=True)
        results.append((outs, grads))
    (ref_out, ref_grads), (out, grads) = results
    assert len(out) == len(ref_out)
    for i, (a, e) in enumerate(zip(out, ref_out)):
        if e.dtype == torch.bool:
            assert torch.equal(a, e), f"{fn_name} output {i}"
        else:
            assert_close_rel(a, e, F64, f"{fn_name} output {i}")
    for i, (a, e) in enumerate(zip(grads, ref_grads)):
        if e is not None:
            assert a is not None, f"{fn_name}: no gradient for input {i}"
            assert_close_rel(a, e, F64, f"{fn_name} grad {i}")


def _intervals(gen, n_rays=5, s=9):
    edges = torch.rand(n_rays, s + 1, generator=gen, dtype=F64).cumsum(1)
    return edges[:, :-1].contiguous(), edges[:, 1:].contiguous()


@pytest.mark.parametrize("name", ["inclusive_sum", "exclusive_sum", "inclusive_prod", "exclusive_prod"])
def test_scans_batched(cpu_backend, gen, name):
    _both(name, "scan", torch.rand(3, 4, 13, generator=gen, dtype=F64) + 0.1)


def test_render_batched(cpu_backend, gen):
    t0, t1 = _intervals(gen)
    sigmas = torch.rand(t0.shape, generator=gen, dtype=F64) * 3
    alphas = torch.rand(t0.shape, generator=gen, dtype=F64) * 0.9
    alphas[1] = 0.0  # an all-transparent ray
    alphas[2, 3] = 1.0  # an opaque sample
    prefix = torch.rand(t0.shape, generator=gen, dtype=F64)
    # With prefix_trans, nerfacc's ``trans *= prefix_trans`` (in place on exp's output) cannot be
    # differentiated (it modifies a saved exp / cumprod output): compare forwards only there.
    for name in ("render_transmittance_from_density", "render_weight_from_density"):
        _both(name, "volrend", t0, t1, sigmas)
        _both(name, "volrend", t0, t1, sigmas, kwargs={"prefix_trans": prefix}, backward=False)
    for name in ("render_transmittance_from_alpha", "render_weight_from_alpha"):
        _both(name, "volrend", alphas)
        _both(name, "volrend", alphas, kwargs={"prefix_trans": prefix}, backward=False)
    _both("render_visibility_from_alpha", "volrend", alphas, kwargs={"early_stop_eps": 0.3, "alpha_thre": 0.2},
          backward=False)
    _both("render_visibility_from_density", "volrend", t0, t1, sigmas, kwargs={"early_stop_eps": 0.2},
          backward=False)


def test_accumulate_along_rays(cpu_backend, gen):
    w = torch.rand(4, 6, generator=gen, dtype=F64)
    v = torch.rand(4, 6, 3, generator=gen, dtype=F64)
    _both("accumulate_along_rays", "volrend", w, v)
    _both("accumulate_along_rays", "volrend", w)
    ids = torch.tensor([0, 0, 0, 2, 2, 3, 5])  # rays 1 and 4 are empty
    wp, vp = torch.rand(7, generator=gen, dtype=F64), torch.rand(7, 2, generator=gen, dtype=F64)
    _both("accumulate_along_rays", "volrend", wp, vp, ids, kwargs={"n_rays": 6})
    _both("accumulate_along_rays", "volrend", wp, None, ids, kwargs={"n_rays": 6})
    outs = [torch.ones(6, 2, dtype=F64) for _ in range(2)]
    for lib, out in zip((nerfacc, compat), outs):
        lib.volrend.accumulate_along_rays_(wp, vp, ids, out)
    assert_close_rel(outs[1], outs[0], F64, "accumulate_along_rays_")


@pytest.mark.parametrize("field", ["rgb_sigma_fn", "rgb_alpha_fn"])
def test_rendering_batched(cpu_backend, gen, field):
    t0, t1 = _intervals(gen)
    rgbs = torch.rand(*t0.shape, 3, generator=gen, dtype=F64)
    dens = torch.rand(t0.shape, generator=gen, dtype=F64) * (2.0 if field == "rgb_sigma_fn" else 0.5)
    bkgd = torch.tensor([0.2, 0.5, 1.0], dtype=F64)
    results = []
    for lib in (nerfacc, compat):
        r, d = rgbs.clone().requires_grad_(), dens.clone().requires_grad_()
        color, opacity, depth, extras = lib.rendering(t0, t1, n_rays=None, render_bkgd=bkgd,
                                                      **{field: lambda *_: (r, d)})
        (color.sum() + 2 * opacity.sum() + 0.1 * depth.sum()).backward()
        results.append(((color, opacity, depth), extras, (r.grad, d.grad)))
    (ref, ref_extras, ref_grads), (out, extras, grads) = results
    for name, a, e in zip(("color", "opacity", "depth"), out, ref):
        assert_close_rel(a, e, F64, name)
    assert set(extras) == set(ref_extras)
    for key in ref_extras:
        assert_close_rel(extras[key], ref_extras[key], F64, f"extras[{key!r}]")
    for name, a, e in zip(("rgbs grad", "density grad"), grads, ref_grads):
        assert_close_rel(a, e, F64, name)


def _occ_fn(x):
    """A density blob at (0.2, -0.1, 0.3): occupied near it, empty elsewhere."""
    return 50.0 * torch.exp(-20.0 * ((x - torch.tensor([0.2, -0.1, 0.3])) ** 2).sum(-1, keepdim=True))


def _estimators(**kwargs):
    return nerfacc.OccGridEstimator(**kwargs), compat.OccGridEstimator(**kwargs)


def test_occ_grid_buffers_and_update(cpu_backend):
    theirs, ours = _estimators(roi_aabb=[-1.0, -1.0, -1.0, 1.0, 1.0, 1.0], resolution=[6, 4, 5], levels=2)
    for name, buf in theirs.named_buffers():
        assert torch.equal(getattr(ours, name), buf) and getattr(ours, name).dtype == buf.dtype, name
    assert ours.cells_per_lvl == theirs.cells_per_lvl and ours.levels == theirs.levels
    for step in (0, 16):  # warm-up: every cell once (same random jitter from the same seed)
        for est in (theirs, ours):
            torch.manual_seed(step)
            est.update_every_n_steps(step, _occ_fn, occ_thre=0.5, warmup_steps=256)
        assert_close_rel(ours.occs, theirs.occs, torch.float32, f"occs after step {step}")
        assert torch.equal(ours.binaries, theirs.binaries)
    assert 0 < int(ours.binaries.sum()) < ours.binaries.numel()
    for est in (theirs, ours):
        est.eval()
        with pytest.raises(RuntimeError):
            est.update_every_n_steps(32, _occ_fn)
    with pytest.raises(ValueError, match="contraction_type"):
        compat.OccGridEstimator([0, 0, 0, 1, 1, 1], contraction_type="aabb")


def test_occ_grid_checkpoints_load_both_ways():
    theirs, ours = _estimators(roi_aabb=[-1.5, -1.0, -0.5, 1.5, 1.0, 0.5], resolution=8, levels=3)
    torch.manual_seed(0)
    theirs._update(0, _occ_fn, occ_thre=0.5)
    assert set(ours.state_dict()) == set(theirs.state_dict()) == {"resolution", "aabbs", "occs", "binaries"}
    ours.load_state_dict(theirs.state_dict())  # strict: same keys, shapes and dtypes
    for name, t in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[name], t), name
    torch.manual_seed(1)
    ours._update(0, lambda x: _occ_fn(-x), occ_thre=0.5)
    back = nerfacc.OccGridEstimator([-1.5, -1.0, -0.5, 1.5, 1.0, 0.5], resolution=8, levels=3)
    back.load_state_dict(ours.state_dict())
    for name, t in ours.state_dict().items():
        assert torch.equal(back.state_dict()[name], t), name


def test_prop_net_checkpoints_and_schedule():
    theirs, ours = nerfacc.PropNetEstimator(), compat.PropNetEstimator()
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    ours.load_state_dict(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict())
    assert ours.update_every_n_steps(torch.zeros(2, 3), requires_grad=False) == 0.0  # no optimizer: fine
    a = nerfacc.estimators.prop_net.get_proposal_requires_grad_fn(target=3.0, num_steps=40)
    b = compat.estimators.prop_net.get_proposal_requires_grad_fn(target=3.0, num_steps=40)
    assert [a(s) for s in range(100)] == [b(s) for s in range(100)]
