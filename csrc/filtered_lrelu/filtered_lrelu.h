// filtered_lrelu: upsample + FIR filter + (bias, gain, leaky ReLU, clamp) + FIR filter +
// downsample in one tiled pass, on each (H, W) plane of a contiguous NCHW tensor. The upsampled
// and filtered image ("mid", mid_h x mid_w per plane) never goes to global memory: each tile
// keeps the part of it that its outputs read in a scratch buffer (shared memory on the GPU, a
// per-thread buffer on the CPU). Optionally one byte per mid pixel (the mask: the sign of the
// pre-activation and whether the clamp cut it) is written, for the backward.
//
// One pass, two modes, parameterised so that the forward, its adjoint (the backward) and the
// backward's adjoint (the double backward) are all this pass (Python sets them up):
//     S[m]   = sum_i k1[i] * U[m + i - pad1],  U = x (+ b per plane) zero-inserted by `up`,
//     M[m]   = act(S[m])  for 0 <= m < mid (else 0),
//     y[o]   = sum_j k2[j] * M[o * down + j - pad2]          (per axis; k1, k2 2D or separable)
// mode 0 (forward): act(s) = clamp(lrelu(s, slope) * gain, -clamp, clamp), mask written if set;
// mode 1 (linear, mask read): act(s) = s * factor(mask[m]) with factor = gain (positive),
// gain * slope (negative) or 0 (clamped): the derivative of mode 0 at the saved point.
// k1 / k2 are correlation kernels in the accumulation type (Python flips the user's filters
// unless flip_filter and folds in the gains).
#pragma once

#include <cstdint>
#include <stdexcept>

#include "../common/common.h"
#include "../gan/upfirdn2d.h"  // floor_div, from GAN ops I

namespace fastgen {
namespace flrelu {

using gan::floor_div;

enum MaskCode : uint8_t { kNegative = 0, kPositive = 1, kClamped = 2 };

struct FilteredLreluArgs {
  const void* x;   // (planes, in_h, in_w) storage
  const void* b;   // null or (channels,) storage: added to x per plane (plane % channels)
  const void* k1;  // stage 1: (k1h, k1w) correlation kernel, or k1h taps if sep1 (k1h == k1w)
  const void* k2;  // stage 2: likewise
  uint8_t* mask;   // (planes, mid_h, mid_w) or null: written in mode 0, read in mode 1
  void* y;         // (planes, out_h, out_w) storage
  int64_t planes, channels, in_h, in_w, mid_h, mid_w, out_h, out_w;
  int k1h, k1w, k2h, k2w, sep1, sep2;
  int up, down, pad1x, pad1y, pad2x, pad2y;
  int mode;
  double gain, slope, clamp;  // clamp < 0: none
  int dtype;
};

// The tile: th x tw outputs of one plane; the mid window (mh x mw) its outputs read, the input
// window (ih x iw) that mid window reads, and the scratch layout (acc_t elements):
//   [filter 1][filter 2][input window][stage-1 rows (sep1)][mid window][stage-2 rows (sep2)]
struct FilteredLreluTile {
  int th, tw, mh, mw, ih, iw;
  int64_t tiles_x, tiles_y, n_tiles;
  int f1, f2, o_win, o_tmp1, o_mid, o_tmp2;
  int64_t scratch;
};

FG_HOST_DEVICE int flrelu_filter_elems(int kh, int kw, int sep) { return sep ? kh : kh * kw; }

constexpr int kFlreluThreads = 256;                      // CUDA threads per block
constexpr int64_t kFlreluScratchBytes = 48 * 1024;       // shared memory without opt-in
constexpr int64_t kFlreluMaxScratchBytes = 96 * 1024;    // opt-in ceiling (sm_80/90 allow more)

// Preferred 32 x 32 outputs (less halo per output), halving the larger side until the scratch
// fits kFlreluScratchBytes; if even 1 x 1 does not, the smallest tile (Python bounds the filter
// sizes and factors so that it fits kFlreluMaxScratchBytes).
inline void flrelu_tile_shape(const FilteredLreluArgs& a, int acc_bytes, FilteredLreluTile& g) {
  if ((a.sep1 && a.k1h != a.k1w) || (a.sep2 && a.k2h != a.k2w)) {
    throw std::invalid_argument("filtered_lrelu: separable taps need kh == kw");
  }
  auto layout = [&](int th, int tw) {
    g.th = th, g.tw = tw;
    g.mh = (th - 1) * a.down + a.k2h, g.mw = (tw - 1) * a.down + a.k2w;
    g.ih = (g.mh - 1 + a.k1h - 1) / a.up + 1, g.iw = (g.mw - 1 + a.k1w - 1) / a.up + 1;
    g.f1 = flrelu_filter_elems(a.k1h, a.k1w, a.sep1);
    g.f2 = flrelu_filter_elems(a.k2h, a.k2w, a.sep2);
    g.o_win = g.f1 + g.f2;
    g.o_tmp1 = g.o_win + g.ih * g.iw;
    g.o_mid = g.o_tmp1 + (a.sep1 ? g.ih * g.mw : 0);
    g.o_tmp2 = g.o_mid + g.mh * g.mw;
    g.scratch = g.o_tmp2 + (a.sep2 ? g.mh * g.tw : 0);
    return g.scratch * acc_bytes;
  };
  int th = a.out_h < 32 ? static_cast<int>(a.out_h) : 32;
  int tw = a.out_w < 32 ? static_cast<int>(a.out_w) : 32;
  th = th < 1 ? 1 : th, tw = tw < 1 ? 1 : tw;
  while (layout(th, tw) > kFlreluScratchBytes && (th > 1 || tw > 1)) {
    if (tw >= th) tw = (tw + 1) / 2;
    else th = (th + 1) / 2;
  }
  g.tiles_x = (a.out_w + g.tw - 1) / g.tw;
  g.tiles_y = (a.out_h + g.th - 1) / g.th;
  g.n_tiles = g.tiles_x * g.tiles_y * a.planes;
}

// Where tile t lies: plane p, first output (oy0, ox0), first mid pixel of its window (my0, mx0),
// first input pixel of its input window (sy0, sx0) and off = my0 - pad1 - sy0 * up in (-up, 0].
struct FlreluOrigin {
  int64_t p, oy0, ox0, my0, mx0, sy0, sx0;
  int off_y, off_x;
};

FG_HOST_DEVICE FlreluOrigin flrelu_origin(const FilteredLreluArgs& a, const FilteredLreluTile& g,
                                          int64_t t) {
  FlreluOrigin o;
  const int64_t tx = t % g.tiles_x, rest = t / g.tiles_x;
  o.p = rest / g.tiles_y;
  o.oy0 = (rest % g.tiles_y) * g.th;
  o.ox0 = tx * g.tw;
  o.my0 = o.oy0 * a.down - a.pad2y;
  o.mx0 = o.ox0 * a.down - a.pad2x;
  const int64_t by = o.my0 - a.pad1y, bx = o.mx0 - a.pad1x;
  o.sy0 = -floor_div(-by, a.up);
  o.sx0 = -floor_div(-bx, a.up);
  o.off_y = static_cast<int>(by - o.sy0 * a.up);
  o.off_x = static_cast<int>(bx - o.sx0 * a.up);
  return o;
}

// The items e = tid, tid + n_threads, ... of a rows x cols phase as (row, col), stepped without a
// division per item (a runtime division costs more than the item's handful of multiply-adds).
struct FlreluWalk {
  int r, c, dr, dc, cols;
  FG_HOST_DEVICE FlreluWalk(int start, int step, int n_cols)
      : r(start / n_cols), c(start % n_cols), dr(step / n_cols), dc(step % n_cols), cols(n_cols) {}
  FG_HOST_DEVICE void next() {
    c += dc;
    r += dr;
    if (c >= cols) c -= cols, ++r;
  }
};

// Phase 0 (once per block): both filters into the scratch.
template <typename T>
FG_HOST_DEVICE void flrelu_stage_filters(const FilteredLreluArgs& a, const FilteredLreluTile& g,
                                         acc_t<T>* s, int tid, int n_threads) {
  const acc_t<T>* k1 = static_cast<const acc_t<T>*>(a.k1);
  const acc_t<T>* k2 = static_cast<const acc_t<T>*>(a.k2);
  for (int e = tid; e < g.f1 + g.f2; e += n_threads) s[e] = e < g.f1 ? k1[e] : k2[e - g.f1];
}

// Phase 1: the input window (+ bias), zeros outside the image; coalesced along x.
template <typename T>
FG_HOST_DEVICE void flrelu_load(const FilteredLreluArgs& a, const FilteredLreluTile& g,
                                const FlreluOrigin& o, acc_t<T>* s, int tid, int n_threads) {
  using A = acc_t<T>;
  A* win = s + g.o_win;
  const T* x = static_cast<const T*>(a.x) + o.p * a.in_h * a.in_w;
  const A bias = a.b ? Cvt<T>::load(static_cast<const T*>(a.b)[o.p % a.channels]) : A(0);
  FlreluWalk it(tid, n_threads, g.iw);
  for (int e = tid; e < g.ih * g.iw; e += n_threads, it.next()) {
    const int64_t sy = o.sy0 + it.r, sx = o.sx0 + it.c;
    const bool inside = sy >= 0 && sy < a.in_h && sx >= 0 && sx < a.in_w;
    win[e] = inside ? Cvt<T>::load(x[sy * a.in_w + sx]) + bias : A(0);
  }
}

// The activation of mid pixel (gy, gx) of plane p with pre-activation v (0 outside the image).
template <typename A>
FG_HOST_DEVICE A flrelu_act(const FilteredLreluArgs& a, int64_t p, int64_t gy, int64_t gx, A v) {
  if (gy < 0 || gy >= a.mid_h || gx < 0 || gx >= a.mid_w) return A(0);
  const int64_t mi = (p * a.mid_h + gy) * a.mid_w + gx;
  const A gain = static_cast<A>(a.gain), slope = static_cast<A>(a.slope);
  if (a.mode == 1) {
    const uint8_t c = a.mask[mi];
    return c == kPositive ? v * gain : (c == kNegative ? v * gain * slope : A(0));
  }
  uint8_t code = v > A(0) ? kPositive : kNegative;
  v = (v > A(0) ? v : v * slope) * gain;
  if (a.clamp >= 0) {
    const A c = static_cast<A>(a.clamp);
    if (v > c || v < -c) {
      v = v > c ? c : -c;
      code = kClamped;
    }
  }
  if (a.mask) a.mask[mi] = code;  // tiles' windows overlap: identical values, written again
  return v;
}

// One axis of stage 1: the taps of k (kstride apart) that land on real pixels of `src` (stride
// apart) for the position `rel` relative to the window (zero-inserted coordinates).
// rel >= -UP + 1 (the window starts at the first input pixel any tap reaches), so rel + UP >= 1
// and the phase is a constant-divisor remainder of a non-negative number. K > 0 fixes the tap
// count at compile time (a multiple of UP: K / UP taps land whatever the phase): the loop unrolls.
template <typename A, int UP, int K = 0>
FG_HOST_DEVICE A flrelu_taps(const A* src, int stride, int rel, int k_taps, const A* k) {
  const int i0 = (UP - (rel + UP) % UP) % UP;
  const A* w = src + ((rel + i0) / UP) * stride;
  const int n = K > 0 ? K / UP : (k_taps - i0 + UP - 1) / UP;
  A acc = A(0);
  FG_UNROLL
  for (int ti = 0; ti < n; ++ti) acc += w[ti * stride] * k[i0 + ti * UP];
  return acc;
}

// Phase 2 (separable stage 1 only): every input window row filtered along x at the mid window's
// columns, into tmp1 (ih x mw).
template <typename T, int UP, int K = 0>
FG_HOST_DEVICE void flrelu_stage1_rows(const FilteredLreluArgs& a, const FilteredLreluTile& g,
                                       const FlreluOrigin& o, acc_t<T>* s, int tid, int n_threads) {
  using A = acc_t<T>;
  const A* win = s + g.o_win;
  A* tmp = s + g.o_tmp1;
  FlreluWalk it(tid, n_threads, g.mw);
  for (int e = tid; e < g.ih * g.mw; e += n_threads, it.next()) {
    tmp[e] = flrelu_taps<A, UP, K>(win + it.r * g.iw, 1, it.c + o.off_x, a.k1w, s);
  }
}

// Phase 3: the mid window (mh x mw): stage 1 (from tmp1 along y, or the 2D kernel from the
// window) and the activation.
template <typename T, int UP, int K = 0>
FG_HOST_DEVICE void flrelu_stage1(const FilteredLreluArgs& a, const FilteredLreluTile& g,
                                  const FlreluOrigin& o, acc_t<T>* s, int tid, int n_threads) {
  using A = acc_t<T>;
  A* mid = s + g.o_mid;
  FlreluWalk it(tid, n_threads, g.mw);
  for (int e = tid; e < g.mh * g.mw; e += n_threads, it.next()) {
    const int my = it.r, mx = it.c;
    const int rel_y = my + o.off_y;
    A v;
    if (a.sep1) {
      v = flrelu_taps<A, UP, K>(s + g.o_tmp1 + mx, g.mw, rel_y, a.k1h, s);
    } else {
      const int rel_x = mx + o.off_x;
      const int i0 = (UP - (rel_y + UP) % UP) % UP, j0 = (UP - (rel_x + UP) % UP) % UP;
      const A* w = s + g.o_win + ((rel_y + i0) / UP) * g.iw + (rel_x + j0) / UP;
      v = A(0);
      int ti = 0;
      for (int i = i0; i < a.k1h; i += UP, ++ti) {
        const A* row = w + ti * g.iw;
        const A* krow = s + i * a.k1w;
        int tj = 0;
        for (int j = j0; j < a.k1w; j += UP, ++tj) v += row[tj] * krow[j];
      }
    }
    mid[e] = flrelu_act<A>(a, o.p, o.my0 + my, o.mx0 + mx, v);
  }
}

// Phase 4 (separable stage 2 only): every mid window row filtered along x at the tile's output
// columns, into tmp2 (mh x tw).
template <typename T, int DOWN, int K = 0>
FG_HOST_DEVICE void flrelu_stage2_rows(const FilteredLreluArgs& a, const FilteredLreluTile& g,
                                       acc_t<T>* s, int tid, int n_threads) {
  using A = acc_t<T>;
  const A* mid = s + g.o_mid;
  const A* k = s + g.f1;
  A* tmp = s + g.o_tmp2;
  FlreluWalk it(tid, n_threads, g.tw);
  for (int e = tid; e < g.mh * g.tw; e += n_threads, it.next()) {
    const A* w = mid + it.r * g.mw + it.c * DOWN;
    const int n = K > 0 ? K : a.k2w;
    A acc = A(0);
    FG_UNROLL
    for (int j = 0; j < n; ++j) acc += w[j] * k[j];
    tmp[e] = acc;
  }
}

// Phase 5: the tile's outputs (stage 2 from tmp2 along y, or the 2D kernel from the mid window).
template <typename T, int DOWN, int K = 0>
FG_HOST_DEVICE void flrelu_stage2(const FilteredLreluArgs& a, const FilteredLreluTile& g,
                                  const FlreluOrigin& o, const acc_t<T>* s, int tid,
                                  int n_threads) {
  using A = acc_t<T>;
  const A* k = s + g.f1;
  T* y = static_cast<T*>(a.y) + o.p * a.out_h * a.out_w;
  FlreluWalk it(tid, n_threads, g.tw);
  for (int e = tid; e < g.th * g.tw; e += n_threads, it.next()) {
    const int ly = it.r, lx = it.c;
    const int64_t oy = o.oy0 + ly, ox = o.ox0 + lx;
    if (oy >= a.out_h || ox >= a.out_w) continue;
    A acc = A(0);
    if (a.sep2) {
      const A* w = s + g.o_tmp2 + ly * DOWN * g.tw + lx;
      const int n = K > 0 ? K : a.k2h;
      FG_UNROLL
      for (int i = 0; i < n; ++i) acc += w[i * g.tw] * k[i];
    } else {
      const A* w = s + g.o_mid + ly * DOWN * g.mw + lx * DOWN;
      for (int i = 0; i < a.k2h; ++i) {
        for (int j = 0; j < a.k2w; ++j) acc += w[i * g.mw + j] * k[i * a.k2w + j];
      }
    }
    y[oy * a.out_w + ox] = Cvt<T>::store(acc);
  }
}

// Calls f(Factors<UP, DOWN, K>{}) for up, down in {1, 2, 4} (Python allows no others): constant
// divisors in the tap arithmetic. K = 12 for StyleGAN3's main configuration (up = down = 2, both
// filters separable with 12 taps): unrolled tap loops; else K = 0. Both launchers share it, so
// the CPU tests run every instantiation the GPU does.
template <int U, int D, int K = 0> struct Factors {
  static constexpr int up = U, down = D, taps = K;
};
template <int U, typename F> void dispatch_down(const FilteredLreluArgs& a, F&& f) {
  const bool taps12 = a.sep1 && a.sep2 && a.k1h == 12 && a.k2h == 12;
  switch (a.down) {
    case 1: return f(Factors<U, 1>{});
    case 2: return U == 2 && taps12 ? f(Factors<U, 2, 12>{}) : f(Factors<U, 2>{});
    case 4: return f(Factors<U, 4>{});
    default: throw std::invalid_argument("filtered_lrelu: down must be 1, 2 or 4");
  }
}
template <typename F> void dispatch_factors(const FilteredLreluArgs& a, F&& f) {
  switch (a.up) {
    case 1: return dispatch_down<1>(a, f);
    case 2: return dispatch_down<2>(a, f);
    case 4: return dispatch_down<4>(a, f);
    default: throw std::invalid_argument("filtered_lrelu: up must be 1, 2 or 4");
  }
}

void filtered_lrelu_cpu(const FilteredLreluArgs& a, int n_threads);
void filtered_lrelu_cuda(const FilteredLreluArgs& a, int device, std::uintptr_t stream);

}  // namespace flrelu
}  // namespace fastgen
