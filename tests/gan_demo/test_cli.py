"""``python -m fastgen.demo gan``: every promised file, and resuming from the checkpoint's kimg."""
import json

import pytest

from fastgen.data.procedural_shapes import write_shapes
from fastgen.demo import gan as demo

FILES = ["checkpoint.pt", "interpolation.png", "loss.png", "reals.png", "samples.png", "stats.jsonl",
         "summary.json", "truncation.png"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_shapes(tmp_path_factory.mktemp("shapes"), count=8, resolution=32, seed=0)


def _run(data, out, kimg):
    # 32x32 shapes read at 16x16: a tiny model, 4 images per step, SWD on 8 images
    args = ["--data", str(data), "--out", str(out), "--resolution", "16", "--kimg", str(kimg), "--batch", "4",
            "--channel-base", "64", "--channel-max", "8", "--snap-kimg", "0.004", "--swd-images", "8",
            "--workers", "0", "--no-progress", "--seed", "1"]
    assert demo.main(args) == 0
    return json.loads((out / "summary.json").read_text())


def test_cli_writes_every_file_and_resumes(data, tmp_path):
    out = tmp_path / "run"
    first = _run(data, out, 0.008)
    for name in FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert sorted(p.name for p in (out / "grids").iterdir()) == ["fakes_00000004.png", "fakes_00000008.png"]
    assert first["start_kimg"] == 0 and first["kimg"] == 0.008 and first["steps"] == 2
    assert first["swd_untrained"] > 0 and len(first["swd_history"]) == 3  # untrained + two snapshots
    assert first["data"]["images"] == 8 and first["images_per_second"] > 0

    second = _run(data, out, 0.016)
    assert second["start_kimg"] == 0.008 and second["kimg"] == 0.016 and second["steps"] == 4
    assert second["swd_untrained"] == first["swd_untrained"] and len(second["swd_history"]) == 5
    assert len((out / "stats.jsonl").read_text().splitlines()) == 4
    assert (out / "grids" / "fakes_00000016.png").is_file()


def test_cli_rejects_an_indivisible_batch(data, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="path-length batch shrink"):
        demo.main(["--data", str(data), "--out", str(tmp_path), "--resolution", "16", "--batch", "1",
                   "--channel-base", "64", "--channel-max", "8", "--workers", "0"])
