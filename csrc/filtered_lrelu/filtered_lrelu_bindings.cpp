// Python bindings of filtered_lrelu (see csrc/bindings.cpp for the conventions).
#include "common/bindings_util.h"
#include "filtered_lrelu/filtered_lrelu.h"

namespace fastgen {
namespace {

flrelu::FilteredLreluArgs filtered_lrelu_args(
    uintptr_t x, uintptr_t b, uintptr_t k1, uintptr_t k2, uintptr_t mask, uintptr_t y,
    int64_t planes, int64_t channels, int64_t in_h, int64_t in_w, int64_t mid_h, int64_t mid_w,
    int64_t out_h, int64_t out_w, int k1h, int k1w, int k2h, int k2w, int sep1, int sep2, int up,
    int down, int pad1x, int pad1y, int pad2x, int pad2y, int mode, double gain, double slope,
    double clamp, int dtype) {
  return {ptr<const void>(x), ptr<const void>(b), ptr<const void>(k1), ptr<const void>(k2),
          ptr<uint8_t>(mask), ptr<void>(y), planes, channels, in_h, in_w, mid_h, mid_w, out_h,
          out_w, k1h, k1w, k2h, k2w, sep1, sep2, up, down, pad1x, pad1y, pad2x, pad2y, mode,
          gain, slope, clamp, dtype};
}

}  // namespace

void bind_filtered_lrelu(py::module_& m) {
  using py::arg;
  def_launchers(m, "filtered_lrelu", &filtered_lrelu_args, &flrelu::filtered_lrelu_cpu,
                FG_CUDA_LAUNCHER(flrelu::filtered_lrelu_cuda),
                "y = stage2(act(stage1(x + b))) per plane, one tiled pass (see "
                "csrc/filtered_lrelu/filtered_lrelu.h). b, mask may be 0; clamp < 0: none.",
                arg("x"), arg("b"), arg("k1"), arg("k2"), arg("mask"), arg("y"), arg("planes"),
                arg("channels"), arg("in_h"), arg("in_w"), arg("mid_h"), arg("mid_w"),
                arg("out_h"), arg("out_w"), arg("k1h"), arg("k1w"), arg("k2h"), arg("k2w"),
                arg("sep1"), arg("sep2"), arg("up"), arg("down"), arg("pad1x"), arg("pad1y"),
                arg("pad2x"), arg("pad2y"), arg("mode"), arg("gain"), arg("slope"), arg("clamp"),
                arg("dtype"));
}

}  // namespace fastgen
