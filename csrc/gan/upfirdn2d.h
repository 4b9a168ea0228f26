// upfirdn2d: upsample by zero insertion, pad (negative = crop), FIR-filter, downsample, on each
// (H, W) plane of a contiguous NCHW tensor, computed directly per output pixel.
//
// With U the zero-inserted, padded image (U[u] = x[(u - pad0) / up] when u - pad0 is a
// non-negative multiple of up inside the image, else 0) and k the (kh, kw) correlation kernel
// (Python flips the user's filter unless flip_filter, folds in the gain and expands separable
// filters, in the accumulation dtype so that float64 results are not rounded to float32),
// output pixel (oy, ox) is
//     y[oy, ox] = sum_{i, j} U[oy * down_y + i, ox * down_x + j] * k[i, j].
// Only the taps that land on a real input pixel are visited (the polyphase decomposition: every
// up-th tap starting at i0), so nothing zero-inserted or padded is ever materialised or read.
// The backward is the same operation on dy with the kernel flipped, up and down swapped and the
// padding transposed (done in Python), so one kernel serves every derivative order.
#pragma once

#include <cstdint>

#include "../common/common.h"

namespace fastgen {
namespace gan {

struct Upfirdn2dArgs {
  const void* x;   // (planes, in_h, in_w) storage
  const void* k;   // (kh, kw) correlation kernel in acc_t<storage dtype>
  void* y;         // (planes, out_h, out_w) storage
  int64_t planes, in_h, in_w, out_h, out_w;
  int kh, kw, up_x, up_y, down_x, down_y, pad_x0, pad_y0;
  int dtype;
};

// The first tap index i >= 0 for which base + i is a multiple of up (base may be negative).
FG_HOST_DEVICE int first_tap(int64_t base, int up) {
  const int64_t r = (-base) % up;
  return static_cast<int>(r < 0 ? r + up : r);
}

// Output pixel (oy, ox) of plane p, accumulated in acc_t<T>. Template arguments > 0 fix the
// up/down factors and the kernel size at compile time (the StyleGAN fast paths, see
// dispatch_upfirdn2d): the tap loops unroll and the phase arithmetic divides by constants. 0
// reads them from `a` (the generic path).
template <typename T, int UP = 0, int DOWN = 0, int KSIZE = 0>
FG_HOST_DEVICE acc_t<T> upfirdn2d_pixel(const Upfirdn2dArgs& a, int64_t p, int64_t oy, int64_t ox) {
  using A = acc_t<T>;
  const int up_x = UP ? UP : a.up_x, up_y = UP ? UP : a.up_y;
  const int down_x = DOWN ? DOWN : a.down_x, down_y = DOWN ? DOWN : a.down_y;
  const int kh = KSIZE ? KSIZE : a.kh, kw = KSIZE ? KSIZE : a.kw;
  const T* x = static_cast<const T*>(a.x) + p * a.in_h * a.in_w;
  const int64_t base_y = oy * down_y - a.pad_y0;  // U row of tap i is base_y + i
  const int64_t base_x = ox * down_x - a.pad_x0;
  const int i0 = first_tap(base_y, up_y), j0 = first_tap(base_x, up_x);
  A acc = A(0);
  for (int i = i0; i < kh; i += up_y) {
    const int64_t sy = (base_y + i) / up_y;  // exact: base_y + i is a multiple of up_y
    if (sy < 0 || sy >= a.in_h) continue;
    const T* row = x + sy * a.in_w;
    const A* krow = static_cast<const A*>(a.k) + static_cast<int64_t>(i) * kw;
    for (int j = j0; j < kw; j += up_x) {
      const int64_t sx = (base_x + j) / up_x;
      if (sx < 0 || sx >= a.in_w) continue;
      acc += Cvt<T>::load(row[sx]) * krow[j];
    }
  }
  return acc;
}

// Calls f(Fixed<UP, DOWN, KSIZE>{}) for the StyleGAN cases (square kernels of 4 taps, as
// [1, 3, 3, 1], or 12, as StyleGAN3's, with up = 2 or down = 2 or neither, the same along both
// axes), else f(Fixed<0, 0, 0>{}): the generic path. The CPU and CUDA launchers share it, so
// the CPU tests exercise every fast path the GPU runs.
template <int U, int D, int K> struct Fixed {
  static constexpr int up = U, down = D, ksize = K;
};
template <typename F> void dispatch_upfirdn2d(const Upfirdn2dArgs& a, F&& f) {
  const bool square = a.kh == a.kw && a.up_x == a.up_y && a.down_x == a.down_y;
  const int up = square ? a.up_x : 0, down = square ? a.down_x : 0, k = square ? a.kh : 0;
  if (k == 4 && up == 2 && down == 1) return f(Fixed<2, 1, 4>{});
  if (k == 4 && up == 1 && down == 2) return f(Fixed<1, 2, 4>{});
  if (k == 4 && up == 1 && down == 1) return f(Fixed<1, 1, 4>{});
  if (k == 12 && up == 2 && down == 1) return f(Fixed<2, 1, 12>{});
  if (k == 12 && up == 1 && down == 2) return f(Fixed<1, 2, 12>{});
  return f(Fixed<0, 0, 0>{});
}

void upfirdn2d_cpu(const Upfirdn2dArgs& a, int n_threads);
void upfirdn2d_cuda(const Upfirdn2dArgs& a, int device, std::uintptr_t stream);

}  // namespace gan
}  // namespace fastgen
