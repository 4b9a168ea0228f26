"""Fuzzed GAN ops: bias_act, upfirdn2d (and filter2d / upsample2d / downsample2d), conv2d_resample."""
import pytest
import torch
from hypothesis import strategies as st

from fastgen import gan
from tests.conftest import allow_cpu_launcher
from tests.fuzz._harness import FLOAT_DTYPES, FUZZ_BACKENDS, check_case, corruptions, layouts, run, values

# bias_act and upfirdn2d register no "cpu" backend; their C++ launchers run the CUDA kernels' math
_allow_cpu_launcher = allow_cpu_launcher("bias_act", "upfirdn2d")

IMAGE_SHAPES = ((0, 3, 4, 4), (1, 1, 1, 1), (2, 3, 5, 7), (1, 2, 33, 9), (1, 64, 4, 4), (3, 1, 0, 6))


def call_op(fn):
    return lambda be, **kw: fn(**kw, backend=be)


@st.composite
def bias_act_cases(draw):
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    shape = draw(st.sampled_from(IMAGE_SHAPES + ((5, 17), (4,), (3000, 2))))
    dim = draw(st.sampled_from((1, 1, 0, -1, 7)))
    bad = ("dim",) if dim == 7 or (dim == 1 and len(shape) < 2) or (dim == -1 and not shape) else ()
    x = draw(layouts(draw(values(shape, -3.0, 3.0, dtype))))
    inputs = dict(x=x, dim=dim, act=draw(st.sampled_from(tuple(gan.ACTIVATIONS) + ("nope",))))
    if inputs["act"] == "nope":
        bad = bad + ("act",)
    if not bad and draw(st.booleans()):
        n = shape[dim] if shape else 0
        wrong = draw(st.integers(0, 7)) == 0
        inputs["b"] = draw(values((n + (1 if wrong else 0),), -1.0, 1.0, dtype))
        bad = bad + (("b",) if wrong else ())
    if draw(st.booleans()):
        inputs["clamp"] = draw(st.sampled_from((0.5, 256.0, -1.0, float("nan"))))
        bad = bad + (("clamp",) if not inputs["clamp"] >= 0 else ())
    if draw(st.booleans()):
        inputs["gain"] = draw(st.sampled_from((1.0, 0.0, 3.0, float("inf"))))
        bad = bad + (("gain",) if inputs["gain"] == float("inf") else ())
    return inputs, dtype, bad + draw(corruptions(inputs, ["x", "b"]))


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_bias_act(backend):
    run(backend, bias_act_cases(), lambda c: check_case(
        "bias_act", call_op(gan.bias_act), backend, c[0], c[1], c[2], grad=("x", "b"), factor=5.0))


@st.composite
def upfirdn_cases(draw):
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    shape = draw(st.sampled_from(IMAGE_SHAPES))
    x = draw(layouts(draw(values(shape, -1.0, 1.0, dtype))))
    fshape = draw(st.sampled_from(((4,), (1,), (12,), (3, 3), (2, 5), (0,), (2, 2, 2))))
    f = draw(values(fshape, -1.0, 1.0, torch.float32, specials=False))
    up, down = draw(st.sampled_from((1, 2, 3, 0))), draw(st.sampled_from((1, 2, 4)))
    padding = draw(st.sampled_from((0, 1, 3, -1, [2, 1, 0, 3], [1, 2], [1, 2, 3])))
    inputs = dict(x=x, f=f, up=up, down=down, padding=padding, flip_filter=draw(st.booleans()),
                  gain=draw(st.sampled_from((1, 4.0))))
    bad = ("up",) if up == 0 else ()
    bad = bad + (("f", "filter") if len(fshape) == 3 or 0 in fshape else ())
    bad = bad + (("padding",) if padding == [1, 2, 3] else ())
    return inputs, dtype, bad + draw(corruptions(inputs, ["x"]))


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_upfirdn2d(backend):
    # crops that leave no output pixel are rejected ("padding"): allowed on any case
    run(backend, upfirdn_cases(), lambda c: check_case(
        "upfirdn2d", call_op(gan.upfirdn2d), backend, c[0], c[1], c[2], maybe=("padding",), grad=("x",),
        factor=5.0, keep=("f",)))


@st.composite
def resample_cases(draw):
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    n, c, h, w = draw(st.sampled_from(((1, 2, 8, 8), (2, 4, 5, 7), (0, 2, 4, 4), (1, 1, 1, 1))))
    groups = draw(st.sampled_from((1, 2, 3)))
    oc, k = draw(st.sampled_from((2, 4))), draw(st.sampled_from((1, 3)))
    x = draw(layouts(draw(values((n, c, h, w), -1.0, 1.0, dtype))))
    weight = draw(values((oc, c // groups if c % groups == 0 else 1, k, k), -1.0, 1.0, dtype))
    up, down = draw(st.sampled_from(((1, 1), (2, 1), (1, 2)))), None
    up, down = up
    f = draw(st.sampled_from((None, "box", "long")))
    f = None if f is None else gan.setup_filter([1, 3, 3, 1] if f == "box" else [1, 2, 3, 4, 3, 2, 1])
    inputs = dict(x=x, w=weight, f=f, up=up, down=down, padding=draw(st.sampled_from((0, 1))), groups=groups,
                  flip_weight=draw(st.booleans()))
    bad = ("groups", "w") if c % groups or oc % groups else ()
    return inputs, dtype, bad + draw(corruptions(inputs, ["x", "w"]))


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_conv2d_resample(backend):
    run(backend, resample_cases(), lambda c: check_case(
        "conv2d_resample", call_op(gan.conv2d_resample), backend, c[0], c[1], c[2], maybe=("padding", "x"),
        grad=("x", "w"), factor=10.0, keep=("f",), nonfinite="subset"))
