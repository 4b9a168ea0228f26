"""Drop-in replacements for StyleGAN2-ADA / StyleGAN3's ``torch_utils.ops`` modules.

``from fastgen.compat.stylegan import bias_act, upfirdn2d, conv2d_resample, filtered_lrelu`` gives modules with
StyleGAN's function names and signatures, computing the same results on fastgen's kernels. Their
``impl`` argument maps to fastgen backends: ``'cuda'`` (StyleGAN's default) -> ``"auto"`` (the
fastest backend for the tensors' device), ``'ref'`` -> ``"reference"``. No ``conv2d_gradfix``
is needed: torch's convolutions support double backward.
"""
from fastgen.compat.stylegan import bias_act, conv2d_resample, filtered_lrelu, upfirdn2d  # noqa: F401

__all__ = ["bias_act", "upfirdn2d", "conv2d_resample", "filtered_lrelu"]


def impl_to_backend(impl: str) -> str:
    """StyleGAN's ``impl`` ('cuda' or 'ref') as a fastgen backend name."""
    if impl == "ref":
        return "reference"
    if impl == "cuda":
        return "auto"
    raise ValueError(f"impl must be 'cuda' or 'ref', got {impl!r}")
