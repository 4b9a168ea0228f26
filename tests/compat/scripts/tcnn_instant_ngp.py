"""An Instant-NGP radiance field written against tiny-cuda-nn's PyTorch bindings, as torch-ngp and
nerfstudio write theirs (instant-ngp's config_base.json: HashGrid 16 x 2 features, 2^19 entries,
base resolution 16, FullyFusedMLP 64 neurons; the colour net on SphericalHarmonics degree 4 in a
Composite). Fits a smooth synthetic field for a few Adam steps; run unchanged on fastgen after
``fastgen.compat.tcnn.install()`` (see tests/compat/test_tcnn_scripts.py)."""
import math
import os

import torch

import tinycudann as tcnn

torch.manual_seed(0)
n_points, n_steps = int(os.environ.get("N_POINTS", 1024)), int(os.environ.get("N_STEPS", 12))
log2_hashmap_size = int(os.environ.get("LOG2_HASHMAP_SIZE", 19))
per_level_scale = math.exp(math.log(2048 / 16) / (16 - 1))  # 1.3819...: finest level 2048

config = {
    "encoding": {"otype": "HashGrid", "n_levels": 16, "n_features_per_level": 2,
                 "log2_hashmap_size": log2_hashmap_size, "base_resolution": 16,
                 "per_level_scale": per_level_scale},
    "network": {"otype": "FullyFusedMLP", "activation": "ReLU", "output_activation": "None",
                "n_neurons": 64, "n_hidden_layers": 1},
    "dir_encoding": {"otype": "Composite", "nested": [
        {"n_dims_to_encode": 3, "otype": "SphericalHarmonics", "degree": 4},
        {"otype": "Identity"}]},
    "rgb_network": {"otype": "FullyFusedMLP", "activation": "ReLU", "output_activation": "None",
                    "n_neurons": 64, "n_hidden_layers": 2},
}


class NGPField(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.geo_feat_dim = 15
        self.density = tcnn.NetworkWithInputEncoding(
            n_input_dims=3, n_output_dims=1 + self.geo_feat_dim,
            encoding_config=config["encoding"], network_config=config["network"])
        self.dir_encoding = tcnn.Encoding(n_input_dims=4, encoding_config=config["dir_encoding"])
        self.rgb = tcnn.Network(n_input_dims=self.dir_encoding.n_output_dims + self.geo_feat_dim,
                                n_output_dims=3, network_config=config["rgb_network"])

    def forward(self, x, d, appearance):
        h = self.density(x)
        sigma = torch.exp(h[:, :1].float())
        d_enc = self.dir_encoding(torch.cat([(d + 1) / 2, appearance], -1))
        rgb = torch.sigmoid(self.rgb(torch.cat([d_enc, h[:, 1:]], -1)).float())
        return sigma, rgb


field = NGPField()
device = field.density.params.device
assert field.density.n_output_dims == 16 and field.dir_encoding.n_output_dims == 17
optimizer = torch.optim.Adam(field.parameters(), lr=1e-2, betas=(0.9, 0.99), eps=1e-15)
x = torch.rand(n_points, 3, device=device)
d = torch.nn.functional.normalize(torch.randn(n_points, 3, device=device), dim=-1)
appearance = torch.rand(n_points, 1, device=device)
target_sigma = 1 + torch.sin(6 * x).prod(-1, keepdim=True)
target_rgb = 0.5 + 0.4 * torch.cos(3 * x + d) * appearance
losses = []
for step in range(n_steps):
    sigma, rgb = field(x, d, appearance)
    loss = (sigma - target_sigma).square().mean() + (rgb - target_rgb).square().mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
tcnn.free_temporary_memory()
assert all(math.isfinite(v) for v in losses), losses
assert losses[-1] < 0.5 * losses[0], losses
print(f"tcnn_instant_ngp ok: loss {losses[0]:.4f} -> {losses[-1]:.4f} in {n_steps} steps")
