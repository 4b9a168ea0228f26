"""fastgen.compat.tcnn has tinycudann's public names and signatures, its module attributes, install(),
and clear errors naming the key for configs it cannot run."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import fastgen.compat.tcnn as tcnn
from tests.compat._signatures import mismatches

ROOT = Path(__file__).parents[2]

# tinycudann/modules.py's signatures (facts from tiny-cuda-nn's bindings/torch; read, not imported)
TINYCUDANN = {"": {
    "Encoding": "(n_input_dims, encoding_config, seed=1337, dtype=None)",
    "Network": "(n_input_dims, n_output_dims, network_config, seed=1337)",
    "NetworkWithInputEncoding": "(n_input_dims, n_output_dims, encoding_config, network_config, seed=1337)",
    "free_temporary_memory": "()",
    "supports_jit_fusion": "()",
}}
HASH = {"otype": "HashGrid", "n_levels": 2, "log2_hashmap_size": 6}
MLP = {"otype": "FullyFusedMLP", "n_neurons": 16, "n_hidden_layers": 1}


def test_signatures_match_tinycudann():
    assert mismatches("fastgen.compat.tcnn", TINYCUDANN) == []


def test_module_attributes():
    enc = tcnn.Encoding(3, HASH, seed=7)
    assert (enc.n_input_dims, enc.n_output_dims, enc.seed) == (3, 4, 7)
    assert isinstance(enc.params, torch.nn.Parameter) and enc.params.dim() == 1
    assert enc.params.dtype == torch.float32 and list(enc.parameters()) == [enc.params]
    assert enc.dtype == (torch.float16 if torch.cuda.is_available() else torch.float32)
    assert enc.loss_scale == (128.0 if enc.dtype == torch.float16 else 1.0)
    assert enc.encoding_config is HASH and "hyperparams" in repr(enc)
    same = tcnn.Encoding(3, HASH, seed=7)
    other = tcnn.Encoding(3, HASH, seed=8)
    assert torch.equal(enc.params, same.params) and not torch.equal(enc.params, other.params)
    assert tcnn.supports_jit_fusion() is False and tcnn.free_temporary_memory() is None


def test_install_makes_import_tinycudann_fastgen():
    code = ("import fastgen.compat.tcnn as f; f.install(); f.install(); import tinycudann as tcnn; "
            "from tinycudann.modules import Encoding; assert tcnn is f and Encoding is f.Encoding; "
            "print(tcnn.Encoding(3, {'otype': 'Frequency', 'n_frequencies': 2}).n_output_dims)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "12"


BAD_ENCODINGS = [
    (3, {"n_levels": 2}, "'otype' is missing"),
    (3, {"otype": "Wavelet"}, "otype 'Wavelet' is not supported"),
    (3, {"otype": "HashGrid", "n_level": 4}, "unknown key 'n_level'"),
    (3, {"otype": "HashGrid", "n_features_per_level": 3}, "'n_features_per_level' must be one of"),
    (3, {"otype": "HashGrid", "log2_hashmap_size": 40}, "'log2_hashmap_size' must be an int in [4, 30]"),
    (3, {"otype": "HashGrid", "per_level_scale": 0.5}, "'per_level_scale' must be a finite number >= 1"),
    (3, {"otype": "HashGrid", "interpolation": "Smoothstep"}, "'interpolation' = 'Smoothstep' is a tiny-cuda-nn"),
    (3, {"otype": "Grid", "type": "Tiled"}, "'type' = 'Tiled'"),
    (3, {"otype": "TiledGrid"}, "'TiledGrid'"),
    (3, {"otype": "HashGrid", "hash": "Prime"}, "'hash' = 'Prime'"),
    (4, {"otype": "HashGrid"}, "2 or 3 input dims"),
    (3, {"otype": "DenseGrid", "n_levels": 16, "per_level_scale": 2.0}, "more than 2^30"),
    (2, {"otype": "SphericalHarmonics"}, "encodes 3 dims"),
    (3, {"otype": "SphericalHarmonics", "degree": 9}, "'degree' must be an int in [1, 8]"),
    (1, {"otype": "OneBlob", "n_bins": 12}, "'n_bins' must be a power of two"),
    (1, {"otype": "Frequency", "n_frequencies": 0}, "'n_frequencies' must be an int"),
    (1, {"otype": "Identity", "scale": "2"}, "'scale' must be a finite number"),
    (3, {"otype": "Composite", "nested": []}, "'nested' must be a non-empty list"),
    (3, {"otype": "Composite", "nested": [{"otype": "Identity", "n_dims_to_encode": 4}]}, "'n_dims_to_encode' must be"),
    (3, {"otype": "Composite", "nested": [{"otype": "Identity", "n_dims_to_encode": 2}]}, "leaves 1 of the 3"),
    (3, {"otype": "Composite", "reduction": "Mean", "nested": [{"otype": "Identity"}]}, "'reduction' must be one of"),
    (3, {"otype": "Composite", "reduction": "Sum", "nested": [{"otype": "Identity", "n_dims_to_encode": 1},
                                                             {"otype": "Identity"}]}, "one output width"),
    (3, {"otype": "Composite", "nested": [{"otype": "Frequency", "n_bins": 2}]}, "['nested'][0]: unknown key 'n_bins'"),
    (3, {"otype": "Frequency", "n_dims_to_encode": 2}, "split dims with a Composite"),
    (0, {"otype": "Identity"}, "n_input_dims must be a positive int"),
]


@pytest.mark.parametrize("dims,config,message", BAD_ENCODINGS)
def test_bad_encoding_configs_name_the_key(dims, config, message):
    with pytest.raises(ValueError) as info:
        tcnn.Encoding(dims, config)
    assert message in str(info.value) and str(info.value).startswith("encoding_config")


BAD_NETWORKS = [
    ({"otype": "CutlassResNet"}, "otype 'CutlassResNet' is not supported"),
    ({**MLP, "n_neurons": 48}, "'n_neurons' must be one of (16, 32, 64, 128)"),
    ({**MLP, "n_hidden_layers": 0}, "'n_hidden_layers' must be an int in [1, 8]"),
    ({**MLP, "activation": "Sine"}, "'activation' = 'Sine' is a tiny-cuda-nn option"),
    ({**MLP, "output_activation": "Swish"}, "'output_activation' must be one of"),
    ({**MLP, "feedback_alignment": True}, "'feedback_alignment'"),
    ({**MLP, "n_neuron": 64}, "unknown key 'n_neuron'"),
]


@pytest.mark.parametrize("config,message", BAD_NETWORKS)
def test_bad_network_configs_name_the_key(config, message):
    with pytest.raises(ValueError) as info:
        tcnn.Network(8, 3, config)
    assert message in str(info.value) and str(info.value).startswith("network_config")
    with pytest.raises(ValueError, match="network_config"):
        tcnn.NetworkWithInputEncoding(3, 3, HASH, config)


def test_bad_arguments():
    with pytest.raises(ValueError, match="fp32 or fp16"):
        tcnn.Encoding(3, HASH, dtype=torch.float64)
    with pytest.raises(TypeError, match="must be a dict"):
        tcnn.Encoding(3, "HashGrid")
    enc = tcnn.Encoding(3, HASH)
    with pytest.raises(ValueError, match=r"shape \(batch, n_input_dims=3\)"):
        enc(torch.rand(4, 2))
    with pytest.raises(TypeError, match="floating-point"):
        enc(torch.ones(4, 3, dtype=torch.int64))
