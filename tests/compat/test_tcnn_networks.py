"""fastgen.compat.tcnn's Network and NetworkWithInputEncoding against a float64 reference written
here (bias-free matmuls with tiny-cuda-nn's activations on the weights read from ``params`` in the
documented layout), forward and backward, ragged batch sizes."""
from __future__ import annotations

import math
import pickle

import pytest
import torch

import fastgen.compat.tcnn as tcnn
from tests.conftest import assert_close_rel

F32 = torch.float32
ACT = {"None": lambda z: z, "ReLU": torch.relu, "LeakyReLU": lambda z: torch.where(z > 0, z, 0.01 * z),
       "Exponential": torch.exp, "Sigmoid": torch.sigmoid, "Softplus": lambda z: torch.log1p(torch.exp(z)),
       "Tanh": torch.tanh}


def _reference(x, params, dims, activation, output_activation):
    """The MLP of ``params`` (float64): layer matrices (out, in), row-major, one after another."""
    h, offset = x, 0
    for i in range(len(dims) - 1):
        w = params[offset:offset + dims[i + 1] * dims[i]].view(dims[i + 1], dims[i])
        offset += w.numel()
        h = ACT[activation if i < len(dims) - 2 else output_activation](h @ w.T)
    assert offset == params.numel()
    return h


@pytest.mark.parametrize("otype,width,depth,activation,output_activation,batch", [
    ("FullyFusedMLP", 64, 2, "ReLU", "None", 37),
    ("CutlassMLP", 16, 1, "LeakyReLU", "Sigmoid", 5),
    ("FullyFusedMLP", 32, 3, "Tanh", "Exponential", 130),
    ("fullyfusedmlp", 128, 1, "Softplus", "ReLU", 1),
    ("CutlassMLP", 16, 2, "Sigmoid", "Softplus", 0),
])
def test_network_matches_float64_reference(otype, width, depth, activation, output_activation, batch):
    config = {"otype": otype, "activation": activation, "output_activation": output_activation,
              "n_neurons": width, "n_hidden_layers": depth}
    net = tcnn.Network(13, 3, config, seed=3)
    dims = [13] + [width] * depth + [3]
    assert net.params.numel() == sum(dims[i] * dims[i + 1] for i in range(len(dims) - 1))
    x = torch.randn(batch, 13, generator=torch.Generator().manual_seed(1))
    out = net(x)
    assert out.dtype == torch.float32 and out.shape == (batch, 3)
    p64 = net.params.detach().double().requires_grad_()
    x64 = x.double()
    expected = _reference(x64, p64, dims, activation, output_activation)
    assert_close_rel(out, expected, F32, factor=5)
    if batch:
        g = torch.randn(batch, 3, generator=torch.Generator().manual_seed(2))
        out.backward(g)
        expected.backward(g.double())
        assert_close_rel(net.params.grad, p64.grad, F32, factor=5)


def test_initialisation_is_xavier_uniform_on_padded_widths():
    net = tcnn.Network(5, 3, {"otype": "FullyFusedMLP", "n_neurons": 64, "n_hidden_layers": 2})
    weights = net._network.weights(net.params.detach())
    for w, (fan_out, fan_in) in zip(weights, [(64, 16), (64, 64), (16, 64)]):  # tcnn pads 5 and 3 to 16
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert w.abs().max() <= bound and w.abs().max() > 0.8 * bound


def test_network_with_input_encoding_is_encoding_then_network():
    encoding = {"otype": "Composite", "nested": [{"otype": "HashGrid", "n_levels": 4, "log2_hashmap_size": 8,
                                                  "n_dims_to_encode": 3},
                                                 {"otype": "Frequency", "n_frequencies": 2}]}
    network = {"otype": "FullyFusedMLP", "n_neurons": 32, "n_hidden_layers": 2, "output_activation": "Sigmoid"}
    model = tcnn.NetworkWithInputEncoding(4, 2, encoding, network, seed=5)
    enc = tcnn.Encoding(4, encoding, dtype=torch.float32)
    net = tcnn.Network(enc.n_output_dims, 2, network)
    n_net = net.params.numel()
    assert model.params.numel() == n_net + enc.params.numel()
    with torch.no_grad():  # tiny-cuda-nn's order: the network's weights, then the encoding's
        model.params[n_net:].uniform_(-1, 1)
        net.params.copy_(model.params[:n_net])
        enc.params.copy_(model.params[n_net:])
    x = torch.rand(45, 4, generator=torch.Generator().manual_seed(0))
    out = model(x)
    assert out.shape == (45, 2) and out.dtype == model.dtype
    assert_close_rel(out, net(enc(x)), F32)
    out.sum().backward()
    assert model.params.grad[:n_net].abs().sum() > 0 and model.params.grad[n_net:].abs().sum() > 0


def test_state_dict_round_trip():
    config = {"otype": "FullyFusedMLP", "n_neurons": 16, "n_hidden_layers": 1}
    a, b = tcnn.Network(4, 2, config, seed=1), tcnn.Network(4, 2, config, seed=2)
    assert list(a.state_dict()) == ["params"]
    b.load_state_dict(a.state_dict())
    x = torch.rand(7, 4)
    assert torch.equal(a(x), b(x))


def test_pickle_round_trip():
    model = tcnn.NetworkWithInputEncoding(3, 2, {"otype": "HashGrid", "n_levels": 2, "log2_hashmap_size": 6},
                                          {"otype": "CutlassMLP", "n_neurons": 16, "n_hidden_layers": 1})
    copy = pickle.loads(pickle.dumps(model))
    x = torch.rand(9, 3)
    assert torch.equal(copy(x), model(x)) and copy.encoding_config == model.encoding_config


def test_torch_compile_fullgraph():
    """The whole module traces without graph breaks (aot_eager: the tracing, not inductor's codegen,
    is what a graph break would fail)."""
    model = tcnn.NetworkWithInputEncoding(
        3, 4, {"otype": "Composite", "nested": [{"otype": "HashGrid", "n_levels": 2, "log2_hashmap_size": 6,
                                                 "n_dims_to_encode": 2}, {"otype": "OneBlob", "n_bins": 4}]},
        {"otype": "FullyFusedMLP", "n_neurons": 16, "n_hidden_layers": 1})
    x = torch.rand(33, 3)
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    out = compiled(x)
    out.square().sum().backward()
    grad = model.params.grad.clone()
    model.params.grad = None
    expected = model(x)
    expected.square().sum().backward()
    assert_close_rel(out, expected, F32)
    assert_close_rel(grad, model.params.grad, F32)


def test_neural_radiance_caching_config_from_the_documentation():
    """tiny-cuda-nn DOCUMENTATION.md's Composite example (TriangleWave, OneBlob, Identity for the rest)."""
    encoding = {"otype": "Composite", "nested": [
        {"n_dims_to_encode": 3, "otype": "TriangleWave", "n_frequencies": 12},
        {"n_dims_to_encode": 5, "otype": "OneBlob", "n_bins": 4},
        {"otype": "Identity"}]}
    network = {"otype": "FullyFusedMLP", "activation": "ReLU", "output_activation": "None",
               "n_neurons": 64, "n_hidden_layers": 2}
    model = tcnn.NetworkWithInputEncoding(14, 3, encoding, network)
    assert model._encoding.n_output_dims == 3 * 12 + 5 * 4 + 6
    out = model(torch.rand(50, 14))
    assert out.shape == (50, 3) and bool(torch.isfinite(out).all())
