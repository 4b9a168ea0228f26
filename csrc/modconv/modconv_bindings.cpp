// Python bindings of modconv (see csrc/bindings.cpp for the conventions). Optional pointers are 0.
#include "common/bindings_util.h"
#include "modconv/modconv.h"

namespace fastgen {
namespace {

using modconv::ConvArgs;
using modconv::DweightArgs;
using modconv::Epilogue;
using modconv::EpilogueArgs;

Epilogue epilogue_of(uintptr_t post, uintptr_t noise, uintptr_t bias, int64_t co, int64_t noise_sn,
                     int64_t noise_so, int act, double alpha, double gain, double clamp) {
  return {ptr<const void>(post), ptr<const void>(noise), ptr<const void>(bias), co, noise_sn, noise_so, act, alpha,
          gain, clamp};
}

ConvArgs conv_args(uintptr_t x, uintptr_t wk, uintptr_t pre, uintptr_t post, uintptr_t noise, uintptr_t bias,
                   uintptr_t red, uintptr_t red_out, uintptr_t y, uintptr_t c, int64_t n, int64_t ci, int64_t co,
                   int64_t h, int64_t w, int64_t oh, int64_t ow, int kh, int kw, int up, int down, int pad_x,
                   int pad_y, int64_t noise_sn, int64_t noise_so, int epi, int act, double alpha, double gain,
                   double clamp, int dtype) {
  return {ptr<const void>(x), ptr<const void>(wk), ptr<const void>(pre), ptr<const void>(red), ptr<void>(red_out),
          ptr<void>(y), ptr<void>(c), n, ci, co, h, w, oh, ow, kh, kw, up, down, pad_x, pad_y, epi, dtype,
          epilogue_of(post, noise, bias, co, noise_sn, noise_so, act, alpha, gain, clamp)};
}

DweightArgs dweight_args(uintptr_t x, uintptr_t pre, uintptr_t g, uintptr_t gs, uintptr_t out, int64_t n, int64_t ci,
                         int64_t co, int64_t h, int64_t w, int64_t oh, int64_t ow, int64_t n_per_split,
                         int64_t n_split, int kh, int kw, int up, int down, int pad_x, int pad_y, int dtype) {
  return {ptr<const void>(x), ptr<const void>(pre), ptr<const void>(g), ptr<const void>(gs), ptr<void>(out), n, ci,
          co, h, w, oh, ow, n_per_split, n_split, kh, kw, up, down, pad_x, pad_y, dtype};
}

EpilogueArgs epilogue_args(uintptr_t c, uintptr_t dy, uintptr_t out, uintptr_t part, uintptr_t post, uintptr_t noise,
                           uintptr_t bias, int64_t n, int64_t co, int64_t p, int64_t noise_sn, int64_t noise_so,
                           int act, double alpha, double gain, double clamp, int dtype) {
  return {ptr<const void>(c), ptr<const void>(dy), ptr<void>(out), ptr<void>(part), n, p, dtype,
          epilogue_of(post, noise, bias, co, noise_sn, noise_so, act, alpha, gain, clamp)};
}

}  // namespace

void bind_modconv(py::module_& m) {
  using py::arg;
  def_launchers(m, "modconv_conv", &conv_args, &modconv::conv_cpu, FG_CUDA_LAUNCHER(modconv::conv_cuda),
                "The implicit-GEMM modulated convolution of csrc/modconv/modconv.h; epi 0: y = c * post "
                "(red_out += sum_p c * red), epi 1: the block's epilogue (c stored when non-zero).",
                arg("x"), arg("wk"), arg("pre"), arg("post"), arg("noise"), arg("bias"), arg("red"),
                arg("red_out"), arg("y"), arg("c"), arg("n"), arg("ci"), arg("co"), arg("h"), arg("w"), arg("oh"),
                arg("ow"), arg("kh"), arg("kw"), arg("up"), arg("down"), arg("pad_x"), arg("pad_y"),
                arg("noise_sn"), arg("noise_so"), arg("epi"), arg("act"), arg("alpha"), arg("gain"),
                arg("clamp"), arg("dtype"));
  def_launchers(m, "modconv_dweight", &dweight_args, &modconv::dweight_cpu,
                FG_CUDA_LAUNCHER(modconv::dweight_cuda),
                "Per batch split: d wk[tap, ci, co] = sum_{n, p} x * pre * g * gs (csrc/modconv/modconv.h).",
                arg("x"), arg("pre"), arg("g"), arg("gs"), arg("out"), arg("n"), arg("ci"), arg("co"), arg("h"),
                arg("w"), arg("oh"), arg("ow"), arg("n_per_split"), arg("n_split"), arg("kh"), arg("kw"),
                arg("up"), arg("down"), arg("pad_x"), arg("pad_y"), arg("dtype"));
  def_launchers(m, "modconv_epilogue", &epilogue_args, &modconv::epilogue_cpu,
                FG_CUDA_LAUNCHER(modconv::epilogue_cuda),
                "y = clamp(act(c * post + noise + bias) * gain) (csrc/modconv/modconv.h).", arg("c"), arg("dy"),
                arg("out"), arg("part"), arg("post"), arg("noise"), arg("bias"), arg("n"), arg("co"), arg("p"),
                arg("noise_sn"), arg("noise_so"), arg("act"), arg("alpha"), arg("gain"), arg("clamp"),
                arg("dtype"));
  def_launchers(m, "modconv_epilogue_grad", &epilogue_args, &modconv::epilogue_grad_cpu,
                FG_CUDA_LAUNCHER(modconv::epilogue_grad_cuda),
                "dz = dy * d y / d z and per-plane [sum dz * c, sum dz] (csrc/modconv/modconv.h).", arg("c"),
                arg("dy"), arg("out"), arg("part"), arg("post"), arg("noise"), arg("bias"), arg("n"), arg("co"),
                arg("p"), arg("noise_sn"), arg("noise_so"), arg("act"), arg("alpha"), arg("gain"), arg("clamp"),
                arg("dtype"));
}

}  // namespace fastgen
