"""bias_act registers no "cpu" backend, but its C++ launcher runs the CUDA kernel's math: test it."""
import fastgen.gan  # noqa: F401  (registers the ops)
from tests.conftest import allow_cpu_launcher

_allow_cpu_launcher = allow_cpu_launcher("bias_act")
