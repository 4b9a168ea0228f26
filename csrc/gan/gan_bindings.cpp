// Python bindings of the GAN families bias_act and upfirdn2d (see csrc/bindings.cpp for the
// conventions).
#include "common/bindings_util.h"
#include "gan/bias_act.h"
#include "gan/upfirdn2d.h"

namespace fastgen {
namespace {

gan::BiasActArgs bias_act_args(uintptr_t x, uintptr_t b, uintptr_t dy, uintptr_t ddx,
                               uintptr_t out, int64_t n, int64_t n_channels, int64_t inner,
                               int dtype, int act, int order, double alpha, double gain,
                               double clamp) {
  return {ptr<const void>(x), ptr<const void>(b), ptr<const void>(dy), ptr<const void>(ddx),
          ptr<void>(out), n, n_channels, inner, dtype, act, order, alpha, gain, clamp};
}

gan::Upfirdn2dArgs upfirdn2d_args(uintptr_t x, uintptr_t k, uintptr_t k1, uintptr_t y,
                                  int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h,
                                  int64_t out_w, int kh, int kw, int up_x, int up_y, int down_x,
                                  int down_y, int pad_x0, int pad_y0, int dtype) {
  return {ptr<const void>(x), ptr<const void>(k), ptr<const void>(k1), ptr<void>(y), planes,
          in_h, in_w, out_h, out_w, kh, kw, up_x, up_y, down_x, down_y, pad_x0, pad_y0, dtype};
}

}  // namespace

void bind_gan(py::module_& m) {
  using py::arg;
  def_launchers(m, "bias_act", &bias_act_args, &gan::bias_act_cpu,
                FG_CUDA_LAUNCHER(gan::bias_act_cuda),
                "order 0: out = clamp(act(x + b) * gain); 1: dy * gain * act'(x + b) (0 where "
                "clamped); 2: ddx * dy * gain * act''(x + b). b, dy, ddx may be 0 (absent); "
                "clamp < 0 means none.",
                arg("x"), arg("b"), arg("dy"), arg("ddx"), arg("out"), arg("n"),
                arg("n_channels"), arg("inner"), arg("dtype"), arg("act"), arg("order"),
                arg("alpha"), arg("gain"), arg("clamp"));
  // For the tests: the CUDA kernel's 16-byte pack path on float32 / float64 CPU tensors (the
  // packed path runs for aligned float16 / bfloat16 on the GPU; unaligned arrays fall back to
  // element by element, as there).
  def_launchers(m, "bias_act_packed", &bias_act_args, &gan::bias_act_packed_cpu, nullptr,
                "bias_act_cpu through bias_act_pack (see csrc/gan/bias_act.h).", arg("x"),
                arg("b"), arg("dy"), arg("ddx"), arg("out"), arg("n"), arg("n_channels"),
                arg("inner"), arg("dtype"), arg("act"), arg("order"), arg("alpha"), arg("gain"),
                arg("clamp"));
  def_launchers(m, "upfirdn2d", &upfirdn2d_args, &gan::upfirdn2d_cpu,
                FG_CUDA_LAUNCHER(gan::upfirdn2d_cuda),
                "Upsample, pad, correlate with the kernel k (kh, kw; float64 for float64 x, else "
                "float32), downsample each plane of x (planes, in_h, in_w) into y (planes, out_h, "
                "out_w). k1: 0, or the separable taps (kh,) with k = outer(k1, k1), which the "
                "tiled kernel then applies in two passes.",
                arg("x"), arg("k"), arg("k1"), arg("y"), arg("planes"), arg("in_h"), arg("in_w"),
                arg("out_h"), arg("out_w"), arg("kh"), arg("kw"), arg("up_x"), arg("up_y"),
                arg("down_x"), arg("down_y"), arg("pad_x0"), arg("pad_y0"), arg("dtype"));
  // For the tests: the tile both launchers pick, or None where they run the direct path.
  m.def("upfirdn2d_tile_shape",
        [](int64_t planes, int64_t out_h, int64_t out_w, int kh, int kw, int up_x, int up_y,
           int down_x, int down_y, int acc_bytes, bool separable) -> py::object {
          gan::Upfirdn2dArgs a{};
          static const double dummy = 0;
          a.k1 = separable ? &dummy : nullptr;  // only tested for null here
          a.planes = planes;
          a.out_h = out_h;
          a.out_w = out_w;
          a.kh = kh;
          a.kw = kw;
          a.up_x = up_x;
          a.up_y = up_y;
          a.down_x = down_x;
          a.down_y = down_y;
          gan::Upfirdn2dTile g;
          if (!gan::upfirdn2d_tile_shape(a, acc_bytes, g)) return py::none();
          py::dict d;
          d["tp"] = g.tp, d["th"] = g.th, d["tw"] = g.tw;
          d["in_th"] = g.in_th, d["in_tw"] = g.in_tw;
          d["n_tiles"] = g.n_tiles, d["scratch_bytes"] = g.scratch * acc_bytes;
          d["max_scratch_bytes"] = gan::kUpfirdn2dScratchBytes;
          return d;
        },
        "The tile (planes tp x rows th x columns tw, input window in_th x in_tw, n_tiles, "
        "scratch_bytes of shared memory) the upfirdn2d launchers use for this shape (separable: "
        "with the two-pass intermediate), or None when they run the direct per-pixel path.",
        arg("planes"), arg("out_h"), arg("out_w"), arg("kh"), arg("kw"), arg("up_x"), arg("up_y"),
        arg("down_x"), arg("down_y"), arg("acc_bytes"), arg("separable") = false);
}

}  // namespace fastgen
