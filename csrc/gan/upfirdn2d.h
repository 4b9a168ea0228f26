// upfirdn2d: upsample by zero insertion, pad (negative = crop), FIR-filter, downsample, on each
// (H, W) plane of a contiguous NCHW tensor. Two paths share the tap arithmetic below: the tiled
// one (upfirdn2d_tile_*: a block stages an input window in shared memory and computes an output
// tile from it), which both launchers use, and the direct one (upfirdn2d_pixel: every output
// reads its taps from global memory), kept for kernels too large for a tile's scratch buffer.
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
#include <stdexcept>

#include "../common/common.h"

namespace fastgen {
namespace gan {

struct Upfirdn2dArgs {
  const void* x;   // (planes, in_h, in_w) storage
  const void* k;   // (kh, kw) correlation kernel in acc_t<storage dtype>
  const void* k1;  // null, or (kh,) with k = outer(k1, k1) (kh == kw): the tiles run two passes
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

// ---------------------------------------------------------------------------- tiled path
// One block computes an output tile of tp planes x th rows x tw columns. It first stages the
// correlation kernel and, per plane, the input window the tile reads into a scratch buffer
// (shared memory on the GPU, a per-thread std::vector on the CPU), zeros where the window lies
// outside the image, then computes every output of the tile from the scratch buffer with the
// polyphase tap arithmetic of upfirdn2d_pixel. The window of output rows [oy0, oy0 + th) is
// the input rows [sy_lo, sy_lo + in_th) with
//     sy_lo = ceil((oy0 * down - pad0) / up),  in_th = ((th - 1) * down + kh - 1) / up + 1,
// which holds every tap: the taps of the tile span the zero-inserted rows
// [oy0 * down - pad0, oy0 * down - pad0 + (th - 1) * down + kh - 1], and an interval of length
// L + 1 starting at B holds at most floor(L / up) + 1 multiples of up, the first being
// sy_lo * up. The window's size does not depend on the padding, so huge padding or crops are
// no special case, and the compute loop needs no bounds checks (zeros stand for the outside).
//
// A separable kernel (k1 set, k = outer(k1, k1)) takes two passes through the scratch instead of
// one: hpass filters every window row along x into an intermediate (in_th rows x tw columns per
// plane), vpass filters that along y into the outputs. Per output that is about
// (in_th / th + 1) * taps / up multiply-adds instead of (taps / up)^2: ~40 against 144 for
// StyleGAN3's 12-tap down=2 filter.
//
// Both launchers run the same functions with the same phases: stage the filter, then per tile
// {load the window; barrier; compute; barrier} (2D kernel) or {load; barrier; hpass; barrier;
// vpass; barrier} (separable). A "thread" tid of n_threads takes the items tid, tid +
// n_threads, ... of each phase; the CPU loops tid over 0..n_threads-1 with the GPU's block
// size, so the CPU tests walk the exact index sets the GPU threads do.

// Tile shape and scratch layout, computed once on the host by upfirdn2d_tile_shape.
struct Upfirdn2dTile {
  int tw, th, tp;                       // outputs per tile: tp planes x th rows x tw columns
  int in_tw, in_th;                     // the input window per plane
  int64_t tiles_x, tiles_y, n_tiles;    // tiles per row, per column, in all
  int64_t scratch;                      // acc_t elements: filter, windows (+ intermediates)
};

// Scratch layout: the filter (kh * kw, or kh separable taps), then tp windows of in_th * in_tw,
// then, when separable, tp intermediates of in_th * tw.
FG_HOST_DEVICE int upfirdn2d_filter_elems(const Upfirdn2dArgs& a) {
  return a.k1 ? a.kh : a.kh * a.kw;
}

// Taps per output along an axis when UP and KSIZE are fixed and KSIZE is a multiple of UP (every
// StyleGAN fast path): KSIZE / UP whatever the phase, so the tap loops unroll. Else 0: count them.
template <int UP, int KSIZE> struct FixedTaps {
  static constexpr int value =
      (UP > 0 && KSIZE > 0 && KSIZE % (UP > 0 ? UP : 1) == 0) ? KSIZE / (UP > 0 ? UP : 1) : 0;
};

constexpr int kUpfirdn2dThreads = 256;                // threads per block (CUDA and CPU)
constexpr int64_t kUpfirdn2dScratchBytes = 48 * 1024;  // shared memory per block, no opt-in

FG_HOST_DEVICE int64_t floor_div(int64_t a, int64_t b) {  // b > 0
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// The tile shape for `a` whose scratch (acc_bytes per element) fits kUpfirdn2dScratchBytes, or
// false when none of at least 8 x 8 outputs (or the whole output, if smaller) does: then the
// launchers run the direct per-pixel path (filters of more than ~70 x 70 float / 50 x 50 double
// taps, or long filters with down >= 8, where a window holds few outputs anyway).
// Preferred: 64 x 32 outputs when upsampling (the window is a quarter as large), else 32 x 32,
// halving the larger side until the scratch fits; outputs smaller than the tile shrink it, and
// then several planes share a block so that a block still has ~1024 outputs (StyleGAN's 4x4 and
// 8x8 layers with hundreds of channels).
inline bool upfirdn2d_tile_shape(const Upfirdn2dArgs& a, int acc_bytes, Upfirdn2dTile& g) {
  if (a.k1 && a.kh != a.kw) throw std::invalid_argument("upfirdn2d: separable taps need kh == kw");
  const int64_t budget = kUpfirdn2dScratchBytes / acc_bytes;
  const int64_t filter = upfirdn2d_filter_elems(a);
  auto window = [&](int64_t outs, int down, int k, int up) {
    return ((outs - 1) * down + k - 1) / up + 1;
  };
  const int64_t pref_w = (a.up_x > 1 || a.up_y > 1) ? 64 : 32, pref_h = 32;
  int64_t tw = a.out_w < pref_w ? a.out_w : pref_w, th = a.out_h < pref_h ? a.out_h : pref_h;
  const int64_t min_w = a.out_w < 8 ? a.out_w : 8, min_h = a.out_h < 8 ? a.out_h : 8;
  auto per_plane = [&](int64_t w, int64_t h) {
    const int64_t in_h = window(h, a.down_y, a.kh, a.up_y);
    return in_h * window(w, a.down_x, a.kw, a.up_x) + (a.k1 ? in_h * w : 0);
  };
  auto need = [&](int64_t w, int64_t h, int64_t p) { return filter + p * per_plane(w, h); };
  while (need(tw, th, 1) > budget) {
    if (tw >= th && tw > min_w) tw = (tw + 1) / 2 > min_w ? (tw + 1) / 2 : min_w;
    else if (th > min_h) th = (th + 1) / 2 > min_h ? (th + 1) / 2 : min_h;
    else if (tw > min_w) tw = (tw + 1) / 2 > min_w ? (tw + 1) / 2 : min_w;
    else return false;
  }
  const int64_t in_w = window(tw, a.down_x, a.kw, a.up_x);
  const int64_t in_h = window(th, a.down_y, a.kh, a.up_y);
  int64_t tp = (pref_w * pref_h) / (tw * th);
  const int64_t fit = (budget - filter) / per_plane(tw, th);
  tp = tp < fit ? tp : fit;
  tp = tp < a.planes ? tp : a.planes;
  tp = tp < 1 ? 1 : tp;
  g.tw = static_cast<int>(tw);
  g.th = static_cast<int>(th);
  g.tp = static_cast<int>(tp);
  g.in_tw = static_cast<int>(in_w);
  g.in_th = static_cast<int>(in_h);
  g.tiles_x = (a.out_w + tw - 1) / tw;
  g.tiles_y = (a.out_h + th - 1) / th;
  g.n_tiles = g.tiles_x * g.tiles_y * ((a.planes + tp - 1) / tp);
  g.scratch = need(tw, th, tp);
  return true;
}

// Where tile `t` lies: planes [p0, p0 + np), output rows from oy0, columns from ox0, and its
// windows' first input row / column (sy_lo, sx_lo, possibly outside the image); off_y =
// oy0 * down_y - pad_y0 - sy_lo * up_y in (-up_y, 0] (likewise off_x) places output row
// oy0 + ly's first zero-inserted row at ly * down_y + off_y relative to the window.
struct Upfirdn2dTileOrigin {
  int64_t p0, oy0, ox0, sy_lo, sx_lo;
  int np, off_y, off_x;
};

FG_HOST_DEVICE Upfirdn2dTileOrigin upfirdn2d_tile_origin(const Upfirdn2dArgs& a,
                                                         const Upfirdn2dTile& g, int64_t t) {
  Upfirdn2dTileOrigin o;
  const int64_t tx = t % g.tiles_x, rest = t / g.tiles_x;
  const int64_t ty = rest % g.tiles_y, tpl = rest / g.tiles_y;
  o.p0 = tpl * g.tp;
  o.oy0 = ty * g.th;
  o.ox0 = tx * g.tw;
  o.np = static_cast<int>(a.planes - o.p0 < g.tp ? a.planes - o.p0 : g.tp);
  const int64_t by = o.oy0 * a.down_y - a.pad_y0, bx = o.ox0 * a.down_x - a.pad_x0;
  o.sy_lo = -floor_div(-by, a.up_y);
  o.sx_lo = -floor_div(-bx, a.up_x);
  o.off_y = static_cast<int>(by - o.sy_lo * a.up_y);
  o.off_x = static_cast<int>(bx - o.sx_lo * a.up_x);
  return o;
}

// Phase 0 (once per block): the kh * kw kernel, or the kh separable taps, into the scratch.
template <typename T>
FG_HOST_DEVICE void upfirdn2d_stage_filter(const Upfirdn2dArgs& a, acc_t<T>* s, int tid,
                                           int n_threads) {
  const acc_t<T>* k = static_cast<const acc_t<T>*>(a.k1 ? a.k1 : a.k);
  for (int e = tid; e < upfirdn2d_filter_elems(a); e += n_threads) s[e] = k[e];
}

// Phase 1: tile t's windows after the filter, plane-major, row-major; consecutive threads read
// consecutive input columns (coalesced).
template <typename T>
FG_HOST_DEVICE void upfirdn2d_tile_load(const Upfirdn2dArgs& a, const Upfirdn2dTile& g, int64_t t,
                                        acc_t<T>* s, int tid, int n_threads) {
  const Upfirdn2dTileOrigin o = upfirdn2d_tile_origin(a, g, t);
  acc_t<T>* win = s + upfirdn2d_filter_elems(a);
  const int per_plane = g.in_th * g.in_tw;
  const T* x = static_cast<const T*>(a.x);
  for (int e = tid; e < o.np * per_plane; e += n_threads) {
    const int pl = e / per_plane, r = e - pl * per_plane;
    const int ly = r / g.in_tw, lx = r - ly * g.in_tw;
    const int64_t sy = o.sy_lo + ly, sx = o.sx_lo + lx;
    const bool inside = sy >= 0 && sy < a.in_h && sx >= 0 && sx < a.in_w;
    win[e] = inside ? Cvt<T>::load(x[((o.p0 + pl) * a.in_h + sy) * a.in_w + sx]) : acc_t<T>(0);
  }
}

// Output q of tile t (plane-major, row-major over the tile's th x tw outputs): its plane and
// position in the tile, and its flat index in y, or out = -1 past the image's edge.
struct Upfirdn2dTileItem {
  int pl, ly, lx;
  int64_t out;
};

FG_HOST_DEVICE Upfirdn2dTileItem upfirdn2d_tile_item(const Upfirdn2dArgs& a, const Upfirdn2dTile& g,
                                                     const Upfirdn2dTileOrigin& o, int q) {
  Upfirdn2dTileItem it;
  const int per_tile_plane = g.th * g.tw;
  it.pl = q / per_tile_plane;
  const int r = q - it.pl * per_tile_plane;
  it.ly = r / g.tw;
  it.lx = r - it.ly * g.tw;
  const int64_t oy = o.oy0 + it.ly, ox = o.ox0 + it.lx;
  it.out = oy < a.out_h && ox < a.out_w ? ((o.p0 + it.pl) * a.out_h + oy) * a.out_w + ox : -1;
  return it;
}

// Phase 2: tile t's outputs from the scratch buffer; consecutive threads write consecutive
// output columns (coalesced). UP / DOWN / KSIZE > 0 fix those at compile time as in
// upfirdn2d_pixel; the tap counts are then constants (KSIZE is a multiple of UP in every fast
// path) and the loops unroll.
template <typename T, int UP = 0, int DOWN = 0, int KSIZE = 0>
FG_HOST_DEVICE void upfirdn2d_tile_compute(const Upfirdn2dArgs& a, const Upfirdn2dTile& g,
                                           int64_t t, const acc_t<T>* s, int tid, int n_threads) {
  using A = acc_t<T>;
  const int up_x = UP ? UP : a.up_x, up_y = UP ? UP : a.up_y;
  const int down_x = DOWN ? DOWN : a.down_x, down_y = DOWN ? DOWN : a.down_y;
  const int kh = KSIZE ? KSIZE : a.kh, kw = KSIZE ? KSIZE : a.kw;
  constexpr int kFixedTaps = FixedTaps<UP, KSIZE>::value;
  const Upfirdn2dTileOrigin o = upfirdn2d_tile_origin(a, g, t);
  const A* win = s + kh * kw;
  const int per_plane = g.in_th * g.in_tw, per_tile_plane = g.th * g.tw;
  T* y = static_cast<T*>(a.y);
  for (int q = tid; q < o.np * per_tile_plane; q += n_threads) {
    const Upfirdn2dTileItem it = upfirdn2d_tile_item(a, g, o, q);
    if (it.out < 0) continue;
    const int pl = it.pl, ly = it.ly, lx = it.lx;
    // Zero-inserted row of tap i, relative to the window: rel_y + i (>= 0 from the first tap on).
    const int rel_y = ly * down_y + o.off_y, rel_x = lx * down_x + o.off_x;
    const int i0 = first_tap(rel_y, up_y), j0 = first_tap(rel_x, up_x);
    const int n_i = kFixedTaps ? kFixedTaps : (kh - i0 + up_y - 1) / up_y;
    const int n_j = kFixedTaps ? kFixedTaps : (kw - j0 + up_x - 1) / up_x;
    const A* w = win + pl * per_plane + ((rel_y + i0) / up_y) * g.in_tw + (rel_x + j0) / up_x;
    const A* k = s + i0 * kw + j0;
    A acc = A(0);
    FG_UNROLL
    for (int ti = 0; ti < n_i; ++ti) {
      const A* row = w + ti * g.in_tw;
      const A* krow = k + ti * up_y * kw;
      FG_UNROLL
      for (int tj = 0; tj < n_j; ++tj) acc += row[tj] * krow[tj * up_x];
    }
    y[it.out] = Cvt<T>::store(acc);
  }
}

// Separable phase 2: every window row filtered along x by k1 at the tile's tw output columns,
// into the intermediate (plane, window row, column). Columns past the output's edge are computed
// too (from zeros or real pixels, never outside the window) and never read.
template <typename T, int UP = 0, int DOWN = 0, int KSIZE = 0>
FG_HOST_DEVICE void upfirdn2d_tile_hpass(const Upfirdn2dArgs& a, const Upfirdn2dTile& g, int64_t t,
                                         acc_t<T>* s, int tid, int n_threads) {
  using A = acc_t<T>;
  const int up_x = UP ? UP : a.up_x, down_x = DOWN ? DOWN : a.down_x, kw = KSIZE ? KSIZE : a.kw;
  constexpr int kFixedTaps = FixedTaps<UP, KSIZE>::value;
  const Upfirdn2dTileOrigin o = upfirdn2d_tile_origin(a, g, t);
  const int per_plane = g.in_th * g.in_tw, mid_plane = g.in_th * g.tw;
  const A* win = s + kw;
  A* mid = s + kw + g.tp * per_plane;
  for (int q = tid; q < o.np * mid_plane; q += n_threads) {
    const int pl = q / mid_plane, r = q - pl * mid_plane;
    const int row = r / g.tw, lx = r - row * g.tw;
    const int rel_x = lx * down_x + o.off_x;
    const int j0 = first_tap(rel_x, up_x);
    const int n_j = kFixedTaps ? kFixedTaps : (kw - j0 + up_x - 1) / up_x;
    const A* w = win + pl * per_plane + row * g.in_tw + (rel_x + j0) / up_x;
    const A* k = s + j0;
    A acc = A(0);
    FG_UNROLL
    for (int tj = 0; tj < n_j; ++tj) acc += w[tj] * k[tj * up_x];
    mid[q] = acc;
  }
}

// Separable phase 3: the intermediate filtered along y by k1 into tile t's outputs.
template <typename T, int UP = 0, int DOWN = 0, int KSIZE = 0>
FG_HOST_DEVICE void upfirdn2d_tile_vpass(const Upfirdn2dArgs& a, const Upfirdn2dTile& g, int64_t t,
                                         const acc_t<T>* s, int tid, int n_threads) {
  using A = acc_t<T>;
  const int up_y = UP ? UP : a.up_y, down_y = DOWN ? DOWN : a.down_y, kh = KSIZE ? KSIZE : a.kh;
  constexpr int kFixedTaps = FixedTaps<UP, KSIZE>::value;
  const Upfirdn2dTileOrigin o = upfirdn2d_tile_origin(a, g, t);
  const int mid_plane = g.in_th * g.tw, per_tile_plane = g.th * g.tw;
  const A* mid = s + kh + g.tp * g.in_th * g.in_tw;
  T* y = static_cast<T*>(a.y);
  for (int q = tid; q < o.np * per_tile_plane; q += n_threads) {
    const Upfirdn2dTileItem it = upfirdn2d_tile_item(a, g, o, q);
    if (it.out < 0) continue;
    const int pl = it.pl, ly = it.ly, lx = it.lx;
    const int rel_y = ly * down_y + o.off_y;
    const int i0 = first_tap(rel_y, up_y);
    const int n_i = kFixedTaps ? kFixedTaps : (kh - i0 + up_y - 1) / up_y;
    const A* m = mid + pl * mid_plane + ((rel_y + i0) / up_y) * g.tw + lx;
    const A* k = s + i0;
    A acc = A(0);
    FG_UNROLL
    for (int ti = 0; ti < n_i; ++ti) acc += m[ti * g.tw] * k[ti * up_y];
    y[it.out] = Cvt<T>::store(acc);
  }
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
