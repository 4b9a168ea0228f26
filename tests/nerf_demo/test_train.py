"""Short training runs of the NeRF demo on a tiny procedural scene, per CPU-side backend."""
import json
import os

import pytest
import torch

from fastgen.backend import backend_status
from fastgen.demo import nerf

TINY = ["--resolution", "16", "--levels", "8", "--log2-hashmap-size", "12", "--grid-resolution", "16",
        "--rays", "1024", "--target-samples", "16384", "--turntable-frames", "3", "--threads", "1", "--quiet"]


def run(out, cache, *extra):
    rc = nerf.main([*TINY, "--cache", cache, "--out", str(out), *extra])
    assert rc == 0
    return json.loads((out / "summary.json").read_text())


# (backend, steps, dB gained at least): untrained ~11 dB (a grey fog); 100 steps of 1024 rays reach
# ~17 dB on this 16x16 scene, 60 steps ~14.5 dB. The reference backend (brute-force marching) is ~4x
# slower per step, so it trains for fewer. Triton is not run: under the interpreter even this tiny
# run would take minutes (its kernels are tested op by op in tests/<family>).
@pytest.mark.parametrize("backend,steps,gain", [("reference", 60, 3.0), ("cpu", 100, 5.0)])
def test_training_raises_test_psnr(backend, steps, gain, cache, tmp_path):
    ok, reason = backend_status(backend, "cpu")
    if not ok:
        pytest.skip(reason)
    args = ("--backend", backend, "--eval-every", "0", "--test-views", "4")
    untrained = run(tmp_path / "untrained", cache, *args, "--steps", "1")
    trained = run(tmp_path / "trained", cache, *args, "--steps", str(steps))
    assert trained["backend"] == backend and trained["steps"] == steps
    assert trained["psnr"] > untrained["psnr"] + gain, (untrained["psnr"], trained["psnr"])
    assert trained["ssim"] > untrained["ssim"]


def test_cli_writes_every_file_and_resumes(cache, tmp_path):
    out = tmp_path / "out"
    first = run(out, cache, "--steps", "20", "--eval-every", "10")
    for name in ("checkpoint.pt", "summary.json", "psnr_vs_time.png", "turntable.gif", "test_views/000.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert len(os.listdir(out / "test_views")) == first["test_views"] == 16
    for key in ("device", "backend", "steps", "wall_time_s", "time_to_psnr", "psnr", "ssim", "peak_memory_bytes",
                "rays_per_s", "samples_per_s"):
        assert key in first
    assert [h["step"] for h in first["history"]] == [10, 20]
    second = run(out, cache, "--steps", "30", "--eval-every", "10")
    assert second["steps"] == 30
    assert [h["step"] for h in second["history"]] == [10, 20, 30]  # continued, not restarted
    assert second["wall_time_s"] > first["wall_time_s"]


def test_missing_dataset_is_a_clear_error(tmp_path, capsys):
    assert nerf.main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().out


def test_ctrl_c_leaves_a_usable_checkpoint(cache, tmp_path, monkeypatch):
    from fastgen.models.ngp import NGPModel

    update = NGPModel.update_grid

    def interrupted(self, step, generator=None):
        if step == 5:
            raise KeyboardInterrupt
        return update(self, step, generator)

    monkeypatch.setattr(NGPModel, "update_grid", interrupted)
    out = tmp_path / "out"
    assert nerf.main([*TINY, "--cache", cache, "--out", str(out), "--steps", "10", "--eval-every", "0"]) == 130
    assert not (out / "summary.json").exists()
    assert torch.load(out / "checkpoint.pt", weights_only=False)["run"]["step"] == 5  # steps 0-4 done
    monkeypatch.setattr(NGPModel, "update_grid", update)
    assert run(out, cache, "--steps", "10", "--eval-every", "0", "--test-views", "1")["steps"] == 10


def test_nerfacc_variant_swaps_estimator_and_rendering(cache, tmp_path):
    """The nerfacc side-by-side (``--nerfacc``) with fastgen.compat.nerfacc, which has nerfacc
    0.5.3's API and runs on CPU: the swap trains, and the model holds that module's estimator
    (nerfacc itself marches only on CUDA tensors)."""
    import fastgen.compat.nerfacc as compat
    from fastgen.models.ngp import NGPModel

    args = ("--backend", "cpu", "--eval-every", "0", "--test-views", "2", "--nerfacc", "fastgen.compat.nerfacc")
    untrained = run(tmp_path / "untrained", cache, *args, "--steps", "1")
    trained = run(tmp_path / "trained", cache, *args, "--steps", "60")
    assert trained["backend"] == "cpu via fastgen.compat.nerfacc"
    assert trained["psnr"] > untrained["psnr"] + 2.0, (untrained["psnr"], trained["psnr"])
    model = NGPModel(torch.tensor([-1.0, -1, -1, 1, 1, 1]), grid_resolution=8, nerfacc=compat)
    assert isinstance(model.estimator, compat.OccGridEstimator)
