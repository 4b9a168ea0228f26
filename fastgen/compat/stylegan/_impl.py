"""What the StyleGAN compat modules share: ``impl`` -> fastgen backend, and dnnlib's EasyDict."""
from __future__ import annotations


def backend_of(impl: str) -> str:
    """StyleGAN's ``impl`` ('cuda' or 'ref') as a fastgen backend name: 'cuda' means the fastest
    available backend for the tensors' device (CPU included), 'ref' the reference."""
    if impl == "ref":
        return "reference"
    if impl == "cuda":
        return "auto"
    raise ValueError(f"impl must be 'cuda' or 'ref', got {impl!r}")


class EasyDict(dict):
    """A dict whose keys are also attributes (StyleGAN's ``dnnlib.EasyDict``)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value
