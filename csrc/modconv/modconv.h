// modconv: the implicit-GEMM convolution of StyleGAN2's synthesis layer and its epilogue.
//
// The convolution (the "kernel layout" of fastgen/ops/modconv/_library.py):
//   c[n, co, oy, ox] = sum_{ci, ky, kx} xz[n, ci, oy * DOWN + ky - pad_y, ox * DOWN + kx - pad_x]
//                                       * pre[n, ci] * wk[ky, kx, ci, co]
// with xz = x with UP - 1 zeros inserted after every pixel (UP or DOWN is 1), wk the
// (KH, KW, CI, CO) weight shared by the batch: the per-sample modulated weights are never formed;
// the styles (pre) scale x as it is loaded. Epilogue 0 stores c * post (+ the per-sample sums of
// c * red: the dx pass's d pre); epilogue 1 is the block:
//   y = clamp(act(c * post[n, co] + noise + bias[co]) * gain, +-clamp).
//
// A block (or, on the CPU, one loop iteration) owns a tile of kBM output pixels x kBN output
// channels of one sample; for UP > 1 the tile's pixels share one phase (oy % UP, ox % UP), so
// only the taps that land on input pixels run. The tile's K loop stages kBK input channels of x
// (times pre) and of wk into "shared" memory and multiplies them in kTM x kTN micro-tiles. Every
// phase takes (tid, n_threads): the GPU's 256 threads share out the items, the CPU runs them all
// with (0, 1), so the CPU tests execute this exact code. The weight gradient (dweight) reuses
// the micro-tile product with K = batch x pixels.
#pragma once

#include <cstdint>

#include "../common/common.h"
#include "../gan/bias_act.h"

namespace fastgen {
namespace modconv {

constexpr int kBM = 64, kBN = 64, kBK = 16, kTM = 4, kTN = 4;
constexpr int kRowThreads = kBM / kTM;                   // 16 micro-tile rows
constexpr int kConvThreads = kRowThreads * (kBN / kTN);  // 256 micro-tiles = GPU threads
constexpr int kOutside = -(1 << 29);  // a pixel coordinate that fails every bounds check
constexpr int kPlaneThreads = 256;    // the epilogue-gradient block: one (n, co) plane

// The block's epilogue operands (shared by the fused conv and the stand-alone epilogue passes).
struct Epilogue {
  const void* post;   // (N, CO) acc_t<T>, or nullptr
  const void* noise;  // (1|N, 1|CO, OH, OW) T, or nullptr; strides 0 where broadcast
  const void* bias;   // (CO,) T, or nullptr
  int64_t co, noise_sn, noise_so;
  int act;
  double alpha, gain, clamp;  // clamp < 0: none
};

struct ConvArgs {
  const void* x;     // (N, CI, H, W) T
  const void* wk;    // (KH, KW, CI, CO) T
  const void* pre;   // (N, CI) acc_t<T>, or nullptr
  const void* red;   // epi 0: (N, CO, OH, OW) T, or nullptr
  void* red_out;     // epi 0 with red: (N, CO) acc_t<T>, zeroed: += sum_p c * red
  void* y;           // (N, CO, OH, OW) T
  void* c;           // epi 1: (N, CO, OH, OW) T, the raw convolution, or nullptr
  int64_t n, ci, co, h, w, oh, ow;
  int kh, kw, up, down, pad_x, pad_y, epi, dtype;
  Epilogue e;        // epi 0 reads only e.post
};

struct DweightArgs {
  const void* x;    // (N, CI, H, W) T
  const void* pre;  // (N, CI) acc_t<T>, or nullptr
  const void* g;    // (N, CO, OH, OW) T
  const void* gs;   // (N, CO) acc_t<T>, or nullptr (scales g)
  void* out;        // (n_split, KH, KW, CI, CO) acc_t<T>: one partial sum per batch split
  int64_t n, ci, co, h, w, oh, ow, n_per_split, n_split;
  int kh, kw, up, down, pad_x, pad_y, dtype;
};

struct EpilogueArgs {
  const void* c;   // (N, CO, P) T
  const void* dy;  // gradient pass: (N, CO, P) T
  void* out;       // (N, CO, P) T: y, or dz for the gradient pass
  void* part;      // gradient pass: (N * CO, 2) acc_t<T>: [sum_p dz * c, sum_p dz]
  int64_t n, p;
  int dtype;
  Epilogue e;
};

FG_HOST_DEVICE int64_t cdiv(int64_t a, int64_t b) { return a <= 0 ? 0 : (a + b - 1) / b; }
FG_HOST_DEVICE int floor_mod(int a, int b) { return ((a % b) + b) % b; }

// ---------------------------------------------------------------------------- index math
// One output pixel of a phase: the sub-grid entry m of phase (ry, rx) of an UP-strided grid.
struct Pixel {
  int64_t my, mx, oy, ox;
  bool ok;
};

FG_HOST_DEVICE Pixel phase_pixel(int64_t m, int64_t oh, int64_t ow, int up, int ry, int rx) {
  const int64_t mh = cdiv(oh - ry, up), mw = cdiv(ow - rx, up);
  Pixel p;
  p.my = mw > 0 ? m / mw : 0;
  p.mx = mw > 0 ? m % mw : 0;
  p.oy = p.my * up + ry;
  p.ox = p.mx * up + rx;
  p.ok = m >= 0 && m < mh * mw;
  return p;
}

// Whether tap k of phase r lands on an input pixel (always for UP = 1), and then the offset of
// the input index from the pixel's base (base: o * DOWN - pad for UP = 1, the sub-grid index
// om for UP > 1; see pixel_base).
FG_HOST_DEVICE bool tap_offset(int k, int pad, int r, int up, int& offset) {
  if (up == 1) {
    offset = k;
    return true;
  }
  const int t = r + k - pad;
  if (floor_mod(t, up) != 0) return false;
  offset = (t - floor_mod(t, up)) / up;  // exact: t is a multiple of up
  return true;
}

FG_HOST_DEVICE int64_t pixel_base(int64_t om, int64_t o, int pad, int up, int down) {
  return up == 1 ? o * down - pad : om;
}

// The input index along one axis of output o (sub-grid index om, phase r) at tap k, or
// kOutside where the tap hits an inserted zero.
FG_HOST_DEVICE int64_t input_index(int64_t om, int64_t o, int k, int pad, int r, int up, int down) {
  int offset = 0;
  if (!tap_offset(k, pad, r, up, offset)) return kOutside;
  return pixel_base(om, o, pad, up, down) + offset;
}

// ---------------------------------------------------------------------------- epilogue math
template <typename T>
FG_HOST_DEVICE acc_t<T> epilogue_z(const Epilogue& e, acc_t<T> c, int64_t n, int64_t co, int64_t pix) {
  using A = acc_t<T>;
  A z = c;
  if (e.post != nullptr) z *= static_cast<const A*>(e.post)[n * e.co + co];
  if (e.noise != nullptr) z += Cvt<T>::load(static_cast<const T*>(e.noise)[n * e.noise_sn + co * e.noise_so + pix]);
  if (e.bias != nullptr) z += Cvt<T>::load(static_cast<const T*>(e.bias)[co]);
  return z;
}

template <typename A> FG_HOST_DEVICE A epilogue_y(const Epilogue& e, A z) {
  A y = gan::activation(e.act, z, A(e.alpha), 0) * A(e.gain);
  if (e.clamp >= 0) {
    const A cl = A(e.clamp);
    y = y > cl ? cl : (y < -cl ? -cl : y);
  }
  return y;
}

// dz = dy * gain * act'(z), 0 where the clamp is active (|act(z) * gain| > clamp).
template <typename A> FG_HOST_DEVICE A epilogue_dz(const Epilogue& e, A z, A dy) {
  if (e.clamp >= 0 && gan::fg_abs(gan::activation(e.act, z, A(e.alpha), 0) * A(e.gain)) > A(e.clamp)) return A(0);
  return dy * A(e.gain) * gan::activation(e.act, z, A(e.alpha), 1);
}

template <typename T> FG_HOST_DEVICE void epilogue_item(const EpilogueArgs& a, int64_t i) {
  const int64_t plane = i / a.p, pix = i % a.p;
  const acc_t<T> z = epilogue_z<T>(a.e, Cvt<T>::load(static_cast<const T*>(a.c)[i]), plane / a.e.co,
                                   plane % a.e.co, pix);
  static_cast<T*>(a.out)[i] = Cvt<T>::store(epilogue_y(a.e, z));
}

// The gradient pass over this thread's share of one (n, co) plane: stores dz, returns its
// partial sums of dz * c and dz.
template <typename T>
FG_HOST_DEVICE void epilogue_grad_plane(const EpilogueArgs& a, int64_t plane, int tid, int n_threads,
                                        acc_t<T>& sum_dzc, acc_t<T>& sum_dz) {
  using A = acc_t<T>;
  const int64_t n = plane / a.e.co, co = plane % a.e.co;
  sum_dzc = sum_dz = A(0);
  for (int64_t pix = tid; pix < a.p; pix += n_threads) {
    const int64_t i = plane * a.p + pix;
    const A c = Cvt<T>::load(static_cast<const T*>(a.c)[i]);
    const A dz = epilogue_dz(a.e, epilogue_z<T>(a.e, c, n, co, pix), Cvt<T>::load(static_cast<const T*>(a.dy)[i]));
    static_cast<T*>(a.out)[i] = Cvt<T>::store(dz);
    sum_dzc += dz * c;
    sum_dz += dz;
  }
}

// ---------------------------------------------------------------------------- the tiles
// The staging buffers of one tile (GPU: shared memory; CPU: a per-thread buffer).
template <typename A> struct Smem {
  A a[kBK * kBM];  // [k][m]
  A b[kBK * kBN];  // [k][co]
  int64_t base_y[kBM], base_x[kBM];
};

struct ConvTile {
  int64_t n, m0, co0;
  int ry, rx;
};

FG_HOST_DEVICE int64_t conv_pixel_tiles(const ConvArgs& a) {
  return cdiv(cdiv(a.oh, a.up) * cdiv(a.ow, a.up), kBM);
}

// Tiles are numbered pixel tile fastest, then phase, then channel tile, then sample: the tiles of
// one (sample, channel tile) are consecutive (the CPU launcher gives each such group to one
// thread, so that its red_out entries have one writer).
FG_HOST_DEVICE int64_t conv_tiles_per_group(const ConvArgs& a) { return conv_pixel_tiles(a) * a.up * a.up; }
FG_HOST_DEVICE int64_t conv_n_tiles(const ConvArgs& a) { return conv_tiles_per_group(a) * cdiv(a.co, kBN) * a.n; }

FG_HOST_DEVICE ConvTile conv_tile(const ConvArgs& a, int64_t t) {
  const int64_t pt = conv_pixel_tiles(a), co_tiles = cdiv(a.co, kBN);
  ConvTile tile;
  tile.m0 = (t % pt) * kBM;
  t /= pt;
  const int phase = static_cast<int>(t % (a.up * a.up));
  t /= a.up * a.up;
  tile.ry = phase / a.up;
  tile.rx = phase % a.up;
  tile.co0 = (t % co_tiles) * kBN;
  tile.n = t / co_tiles;
  return tile;
}

// Phase 1 of a tile: the base input coordinates of its pixels (kOutside for pixels past the end).
template <typename A>
FG_HOST_DEVICE void conv_stage_pixels(const ConvArgs& a, const ConvTile& t, Smem<A>& s, int tid, int n_threads) {
  for (int m = tid; m < kBM; m += n_threads) {
    const Pixel p = phase_pixel(t.m0 + m, a.oh, a.ow, a.up, t.ry, t.rx);
    s.base_y[m] = p.ok ? pixel_base(p.my, p.oy, a.pad_y, a.up, a.down) : kOutside;
    s.base_x[m] = p.ok ? pixel_base(p.mx, p.ox, a.pad_x, a.up, a.down) : kOutside;
  }
}

// Phase 2: stage input channels [c0, c0 + kBK) of x * pre at input offsets (dy, dx) from the
// pixel bases, and of the weight tap `tap`; zeros outside.
template <typename T>
FG_HOST_DEVICE void conv_load(const ConvArgs& a, const ConvTile& t, Smem<acc_t<T>>& s, int tap, int dy, int dx,
                              int64_t c0, int tid, int n_threads) {
  using A = acc_t<T>;
  const T* x = static_cast<const T*>(a.x) + t.n * a.ci * a.h * a.w;
  const A* pre = a.pre == nullptr ? nullptr : static_cast<const A*>(a.pre) + t.n * a.ci;
  for (int e = tid; e < kBK * kBM; e += n_threads) {
    const int k = e / kBM, m = e % kBM;
    const int64_t ci = c0 + k, iy = s.base_y[m] + dy, ix = s.base_x[m] + dx;
    A v = A(0);
    if (ci < a.ci && iy >= 0 && iy < a.h && ix >= 0 && ix < a.w) {
      v = Cvt<T>::load(x[(ci * a.h + iy) * a.w + ix]);
      if (pre != nullptr) v *= pre[ci];
    }
    s.a[e] = v;
  }
  const T* wk = static_cast<const T*>(a.wk) + static_cast<int64_t>(tap) * a.ci * a.co;
  for (int e = tid; e < kBK * kBN; e += n_threads) {
    const int k = e / kBN, j = e % kBN;
    const int64_t ci = c0 + k, co = t.co0 + j;
    s.b[e] = ci < a.ci && co < a.co ? Cvt<T>::load(wk[ci * a.co + co]) : A(0);
  }
}

// Phase 3: acc += a^T b for this thread's REPS micro-tiles (GPU: 1; CPU: all kConvThreads).
// Micro-tile (tm, tn) holds rows tm + i * kRowThreads and columns tn + j * (kBN / kTN), so that
// neighbouring threads read neighbouring shared-memory words and store neighbouring pixels.
template <typename A, int REPS>
FG_HOST_DEVICE void tile_mma(const Smem<A>& s, A* acc, int tid, int n_threads) {
  for (int r = 0; r < REPS; ++r) {
    const int t = tid + r * n_threads, tm = t % kRowThreads, tn = t / kRowThreads;
    A* c = acc + r * kTM * kTN;
    FG_UNROLL
    for (int k = 0; k < kBK; ++k) {
      A av[kTM], bv[kTN];
      FG_UNROLL
      for (int i = 0; i < kTM; ++i) av[i] = s.a[k * kBM + tm + i * kRowThreads];
      FG_UNROLL
      for (int j = 0; j < kTN; ++j) bv[j] = s.b[k * kBN + tn + j * (kBN / kTN)];
      FG_UNROLL
      for (int i = 0; i < kTM; ++i) {
        FG_UNROLL
        for (int j = 0; j < kTN; ++j) c[i * kTN + j] += av[i] * bv[j];
      }
    }
  }
}

// Adds v to *p: an atomic on the GPU (tiles of one sample run in parallel); the CPU launcher
// gives all tiles of a sample and channel tile to one thread.
template <typename A> FG_HOST_DEVICE void accumulate(A* p, A v) {
#if defined(__CUDA_ARCH__)
  atomicAdd(p, v);
#else
  *p += v;
#endif
}

// Phase 4: the epilogue of this thread's micro-tiles.
template <typename T, int REPS>
FG_HOST_DEVICE void conv_store(const ConvArgs& a, const ConvTile& t, const acc_t<T>* acc, int tid, int n_threads) {
  using A = acc_t<T>;
  const int64_t plane = a.oh * a.ow;
  for (int r = 0; r < REPS; ++r) {
    const int tt = tid + r * n_threads, tm = tt % kRowThreads, tn = tt / kRowThreads;
    const A* c = acc + r * kTM * kTN;
    A red[kTN] = {};
    FG_UNROLL
    for (int i = 0; i < kTM; ++i) {
      const Pixel p = phase_pixel(t.m0 + tm + i * kRowThreads, a.oh, a.ow, a.up, t.ry, t.rx);
      if (!p.ok) continue;
      const int64_t pix = p.oy * a.ow + p.ox;
      FG_UNROLL
      for (int j = 0; j < kTN; ++j) {
        const int64_t co = t.co0 + tn + j * (kBN / kTN);
        if (co >= a.co) continue;
        const int64_t off = (t.n * a.co + co) * plane + pix;
        A v = c[i * kTN + j];
        if (a.epi == 0) {
          if (a.red != nullptr) red[j] += v * Cvt<T>::load(static_cast<const T*>(a.red)[off]);
          if (a.e.post != nullptr) v *= static_cast<const A*>(a.e.post)[t.n * a.co + co];
        } else {
          if (a.c != nullptr) static_cast<T*>(a.c)[off] = Cvt<T>::store(v);
          v = epilogue_y(a.e, epilogue_z<T>(a.e, v, t.n, co, pix));
        }
        static_cast<T*>(a.y)[off] = Cvt<T>::store(v);
      }
    }
    if (a.red != nullptr) {
      FG_UNROLL
      for (int j = 0; j < kTN; ++j) {
        const int64_t co = t.co0 + tn + j * (kBN / kTN);
        if (co < a.co) accumulate(static_cast<A*>(a.red_out) + t.n * a.co + co, red[j]);
      }
    }
  }
}

// ---------------------------------------------------------------------------- dweight tiles
// d wk[tap, ci, co] = sum_{n, p} x[n, ci, in(p)] pre[n, ci] * g[n, co, p] gs[n, co] over the output
// pixels p the tap reaches from input pixels (one phase for UP > 1). Tiles: kBM input channels
// x kBN output channels of one tap and one batch split; K = (sample, pixel) in steps of kBK.
struct DweightTile {
  int64_t ci0, co0, split;
  int ky, kx, ry, rx;
  int64_t mh, mw;
};

FG_HOST_DEVICE int64_t dweight_n_tiles(const DweightArgs& a) {
  return cdiv(a.ci, kBM) * cdiv(a.co, kBN) * a.kh * a.kw * a.n_split;
}

FG_HOST_DEVICE DweightTile dweight_tile(const DweightArgs& a, int64_t t) {
  const int64_t ci_tiles = cdiv(a.ci, kBM), co_tiles = cdiv(a.co, kBN);
  DweightTile d;
  d.ci0 = (t % ci_tiles) * kBM;
  t /= ci_tiles;
  d.co0 = (t % co_tiles) * kBN;
  t /= co_tiles;
  const int tap = static_cast<int>(t % (a.kh * a.kw));
  d.split = t / (a.kh * a.kw);
  d.ky = tap / a.kw;
  d.kx = tap % a.kw;
  d.ry = floor_mod(a.pad_y - d.ky, a.up);
  d.rx = floor_mod(a.pad_x - d.kx, a.up);
  d.mh = cdiv(a.oh - d.ry, a.up);
  d.mw = cdiv(a.ow - d.rx, a.up);
  return d;
}

// Stage K entries [p0, p0 + kBK) (pixels of sample n) of x * pre and of g * gs.
template <typename T>
FG_HOST_DEVICE void dweight_load(const DweightArgs& a, const DweightTile& d, Smem<acc_t<T>>& s, int64_t n,
                                 int64_t p0, int tid, int n_threads) {
  using A = acc_t<T>;
  const T* x = static_cast<const T*>(a.x) + n * a.ci * a.h * a.w;
  const T* g = static_cast<const T*>(a.g) + n * a.co * a.oh * a.ow;
  for (int e = tid; e < kBK * kBM; e += n_threads) {
    const int k = e % kBK, m = e / kBK;  // pixels fastest: neighbouring threads, neighbouring x
    const int64_t ci = d.ci0 + m;
    const Pixel p = phase_pixel(p0 + k, a.oh, a.ow, a.up, d.ry, d.rx);
    const int64_t iy = input_index(p.my, p.oy, d.ky, a.pad_y, d.ry, a.up, a.down);
    const int64_t ix = input_index(p.mx, p.ox, d.kx, a.pad_x, d.rx, a.up, a.down);
    A v = A(0);
    if (p.ok && ci < a.ci && iy >= 0 && iy < a.h && ix >= 0 && ix < a.w) {
      v = Cvt<T>::load(x[(ci * a.h + iy) * a.w + ix]);
      if (a.pre != nullptr) v *= static_cast<const A*>(a.pre)[n * a.ci + ci];
    }
    s.a[k * kBM + m] = v;
  }
  for (int e = tid; e < kBK * kBN; e += n_threads) {
    const int k = e % kBK, j = e / kBK;
    const int64_t co = d.co0 + j;
    const Pixel p = phase_pixel(p0 + k, a.oh, a.ow, a.up, d.ry, d.rx);
    A v = A(0);
    if (p.ok && co < a.co) {
      v = Cvt<T>::load(g[co * a.oh * a.ow + p.oy * a.ow + p.ox]);
      if (a.gs != nullptr) v *= static_cast<const A*>(a.gs)[n * a.co + co];
    }
    s.b[k * kBN + j] = v;
  }
}

template <typename A, int REPS>
FG_HOST_DEVICE void dweight_store(const DweightArgs& a, const DweightTile& d, const A* acc, int tid, int n_threads) {
  const int tap = d.ky * a.kw + d.kx;
  A* out = static_cast<A*>(a.out) + (d.split * a.kh * a.kw + tap) * a.ci * a.co;
  for (int r = 0; r < REPS; ++r) {
    const int t = tid + r * n_threads, tm = t % kRowThreads, tn = t / kRowThreads;
    FG_UNROLL
    for (int i = 0; i < kTM; ++i) {
      const int64_t ci = d.ci0 + tm + i * kRowThreads;
      FG_UNROLL
      for (int j = 0; j < kTN; ++j) {
        const int64_t co = d.co0 + tn + j * (kBN / kTN);
        if (ci < a.ci && co < a.co) out[ci * a.co + co] = acc[r * kTM * kTN + i * kTN + j];
      }
    }
  }
}

void conv_cpu(const ConvArgs& a, int n_threads);
void dweight_cpu(const DweightArgs& a, int n_threads);
void epilogue_cpu(const EpilogueArgs& a, int n_threads);
void epilogue_grad_cpu(const EpilogueArgs& a, int n_threads);
void conv_cuda(const ConvArgs& a, int device, std::uintptr_t stream);
void dweight_cuda(const DweightArgs& a, int device, std::uintptr_t stream);
void epilogue_cuda(const EpilogueArgs& a, int device, std::uintptr_t stream);
void epilogue_grad_cuda(const EpilogueArgs& a, int device, std::uintptr_t stream);

}  // namespace modconv
}  // namespace fastgen
