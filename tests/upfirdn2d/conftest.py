"""upfirdn2d and conv2d_resample register no "cpu" backend, but the C++ launcher runs the CUDA
kernel's tile code (csrc/gan/upfirdn2d.h): test it."""
import fastgen.gan  # noqa: F401  (registers the ops)
from tests.conftest import allow_cpu_launcher

_allow_cpu_launcher = allow_cpu_launcher("upfirdn2d")
