// Render family: the per-ray math of the packed-sample primitives (spec: render_kernels.md).
//
// Each `*_ray` / `*_item` function handles one ray (or one (ray, channel) pair) sequentially and
// is FG_HOST_DEVICE, so the CPU launcher (render_cpu.cpp, OpenMP over rays) and the CUDA kernels
// (render_cuda.cu, one thread per ray) run exactly this code. No torch here: arguments are raw
// pointers (typed by the `dtype` code) and sizes, packed in the *Args structs that the bindings
// fill from Python integers.
//
// Every ray's range comes from segment_bounds(), which clamps it to [0, n_samples): garbage
// packed_info never causes an out-of-bounds access. Samples covered by no ray are never written
// (Python allocates per-sample outputs zeroed).
#pragma once

#include <cstdint>

#include "../common/common.h"

namespace fastgen {
namespace render {

// depth = Draw / max(O, kDepthEps): float32's epsilon for every dtype, as the spec requires.
constexpr double kDepthEps = 1.1920928955078125e-07;

// ---------------------------------------------------------------------------------------------
// Arguments (pointer dtypes: "storage" = the `dtype` code; "compute" = acc_t of it).

struct ScanArgs {
  const void* x;               // (N,) storage
  void* out;                   // (N,) storage
  const int64_t* packed_info;  // (R, 2)
  int64_t n_samples, n_rays;
  int dtype;
  bool prod, exclusive, reverse;
};

struct ProdScanBackwardArgs {
  const void* x;               // (N,) storage
  const void* grad_out;        // (N,) storage
  void* grad_x;                // (N,) storage, also the scratch of the reverse pass
  const int64_t* packed_info;  // (R, 2)
  int64_t n_samples, n_rays;
  int dtype;
  bool exclusive;
};

// segment_sum: in = values (N, C), out = (R, C). segment_broadcast: in = grad (R, C), out = (N, C).
struct SegmentArgs {
  const void* in;
  void* out;
  const int64_t* packed_info;  // (R, 2)
  int64_t n_samples, n_rays, n_channels;
  int dtype;
};

// Weighted segment sum (accumulate_along_rays): out[r, c] = sum_i w_i v[i, c]. values == nullptr
// means v = 1 and C = 1 (the sum of the weights).
struct WeightedSegmentSumArgs {
  const void* weights;         // (N,) storage
  const void* values;          // (N, C) storage, or nullptr
  void* out;                   // (R, C) storage
  const int64_t* packed_info;  // (R, 2)
  int64_t n_samples, n_rays, n_channels;
  int dtype;
};

// Its gradient given grad = dL/dout (R, C): grad_w[i] = sum_c grad[r, c] v[i, c] and
// grad_v[i, c] = w_i grad[r, c]. grad_values == nullptr skips grad_v (always without values).
struct WeightedSegmentBroadcastArgs {
  const void* grad;            // (R, C) storage
  const void* weights;         // (N,) storage
  const void* values;          // (N, C) storage, or nullptr
  void* grad_weights;          // (N,) storage
  void* grad_values;           // (N, C) storage, or nullptr (not wanted)
  const int64_t* packed_info;  // (R, 2)
  int64_t n_samples, n_rays, n_channels;
  int dtype;
};

struct CompositeInputs {
  const void *t_starts, *t_ends, *sigmas;  // (N,) storage
  const void* rgbs;                        // (N, 3) storage
  const int64_t* packed_info;              // (R, 2)
  const void* bkgd;                        // (R, 3) compute, or nullptr
  int64_t n_samples, n_rays;
  int dtype;
  double early_stop_eps;
};

struct CompositeForwardArgs {
  CompositeInputs in;
  void *rgb, *opacity, *depth;  // (R, 3), (R,), (R,) compute
};

struct CompositeBackwardArgs {
  CompositeInputs in;
  const void *rgb, *opacity, *depth;            // the forward's outputs, compute
  const void *grad_rgb, *grad_opacity, *grad_depth;  // same shapes, compute
  void* grad_sigmas;                            // (N,) storage
  void* grad_rgbs;                              // (N, 3) storage
};

// ---------------------------------------------------------------------------------------------
// Scans.

// out_i = (x_s op ... op x_i) (inclusive) or the same without x_i (exclusive, identity first);
// reverse scans from the end of the ray.
template <typename T>
FG_HOST_DEVICE void segmented_scan_ray(const ScanArgs& a, int64_t r) {
  using A = acc_t<T>;
  const T* x = static_cast<const T*>(a.x);
  T* out = static_cast<T*>(a.out);
  int64_t s, e;
  segment_bounds(a.packed_info, r, a.n_samples, s, e);
  A acc = a.prod ? A(1) : A(0);
  for (int64_t k = 0; k < e - s; ++k) {
    const int64_t i = a.reverse ? e - 1 - k : s + k;
    const A v = Cvt<T>::load(x[i]);
    if (a.exclusive) out[i] = Cvt<T>::store(acc);
    acc = a.prod ? acc * v : acc + v;
    if (!a.exclusive) out[i] = Cvt<T>::store(acc);
  }
}

// Gradient of the forward prod scan without division (x may hold zeros):
//   inclusive: dx_j = E_j R_j,  R_j = g_j + x_{j+1} R_{j+1}    (R_{e-1} = g_{e-1})
//   exclusive: dx_j = E_j Q_j,  Q_j = g_{j+1} + x_{j+1} Q_{j+1} (Q_{e-1} = 0)
// with E_j = prod_{s<=k<j} x_k. A reverse pass stores R (or Q) in grad_x, a forward pass
// multiplies in E.
template <typename T>
FG_HOST_DEVICE void prod_scan_backward_ray(const ProdScanBackwardArgs& a, int64_t r) {
  using A = acc_t<T>;
  const T* x = static_cast<const T*>(a.x);
  const T* g = static_cast<const T*>(a.grad_out);
  T* dx = static_cast<T*>(a.grad_x);
  int64_t s, e;
  segment_bounds(a.packed_info, r, a.n_samples, s, e);
  A carry = A(0);  // inclusive: x_{j+1} R_{j+1};  exclusive: Q_j
  for (int64_t j = e - 1; j >= s; --j) {
    const A xj = Cvt<T>::load(x[j]);
    const A gj = Cvt<T>::load(g[j]);
    if (a.exclusive) {
      dx[j] = Cvt<T>::store(carry);
      carry = gj + xj * carry;
    } else {
      const A rj = gj + carry;
      dx[j] = Cvt<T>::store(rj);
      carry = xj * rj;
    }
  }
  A prefix = A(1);  // E_j
  for (int64_t j = s; j < e; ++j) {
    dx[j] = Cvt<T>::store(prefix * Cvt<T>::load(dx[j]));
    prefix *= Cvt<T>::load(x[j]);
  }
}

// ---------------------------------------------------------------------------------------------
// Segment reductions, one item = one (ray, channel) pair: item = r * C + c.

template <typename T>
FG_HOST_DEVICE void segment_sum_item(const SegmentArgs& a, int64_t item) {
  using A = acc_t<T>;
  const T* values = static_cast<const T*>(a.in);
  T* out = static_cast<T*>(a.out);
  const int64_t C = a.n_channels, r = item / C, c = item % C;
  int64_t s, e;
  segment_bounds(a.packed_info, r, a.n_samples, s, e);
  A acc = A(0);
  for (int64_t i = s; i < e; ++i) acc += Cvt<T>::load(values[i * C + c]);
  out[item] = Cvt<T>::store(acc);
}

template <typename T>
FG_HOST_DEVICE void segment_broadcast_item(const SegmentArgs& a, int64_t item) {
  const T* grad = static_cast<const T*>(a.in);
  T* out = static_cast<T*>(a.out);
  const int64_t C = a.n_channels, r = item / C, c = item % C;
  int64_t s, e;
  segment_bounds(a.packed_info, r, a.n_samples, s, e);
  const T v = grad[item];
  for (int64_t i = s; i < e; ++i) out[i * C + c] = v;
}

// ---------------------------------------------------------------------------------------------
// Weighted segment sum, one item = one ray: the product w_i v[i, c] is never stored.

// Channels accumulated together in one walk along the ray: their sums are independent
// dependency chains, and each walk reads w once for up to this many channels.
constexpr int kWeightedSumChannels = 4;

template <typename T>
FG_HOST_DEVICE void weighted_segment_sum_ray(const WeightedSegmentSumArgs& a, int64_t r) {
  using A = acc_t<T>;
  const T* w = static_cast<const T*>(a.weights);
  const T* v = static_cast<const T*>(a.values);
  T* out = static_cast<T*>(a.out);
  const int64_t C = a.n_channels;
  int64_t s, e;
  segment_bounds(a.packed_info, r, a.n_samples, s, e);
  if (v == nullptr) {
    A acc = A(0);
    for (int64_t i = s; i < e; ++i) acc += Cvt<T>::load(w[i]);
    out[r] = Cvt<T>::store(acc);
    return;
  }
  for (int64_t c0 = 0; c0 < C; c0 += kWeightedSumChannels) {
    const int64_t nc = C - c0 < kWeightedSumChannels ? C - c0 : kWeightedSumChannels;
    A acc[kWeightedSumChannels] = {};  // zeros
    for (int64_t i = s; i < e; ++i) {
      const A wi = Cvt<T>::load(w[i]);
      const T* vi = v + i * C + c0;
      FG_UNROLL
      for (int k = 0; k < kWeightedSumChannels; ++k)
        if (k < nc) acc[k] += wi * Cvt<T>::load(vi[k]);
    }
    for (int k = 0; k < nc; ++k) out[r * C + c0 + k] = Cvt<T>::store(acc[k]);
  }
}

template <typename T>
FG_HOST_DEVICE void weighted_segment_broadcast_ray(const WeightedSegmentBroadcastArgs& a,
                                                   int64_t r) {
  using A = acc_t<T>;
  const T* g = static_cast<const T*>(a.grad) + r * a.n_channels;
  const T* w = static_cast<const T*>(a.weights);
  const T* v = static_cast<const T*>(a.values);
  T* grad_w = static_cast<T*>(a.grad_weights);
  T* grad_v = static_cast<T*>(a.grad_values);
  const int64_t C = a.n_channels;
  int64_t s, e;
  segment_bounds(a.packed_info, r, a.n_samples, s, e);
  if (v == nullptr) {
    const T g0 = g[0];
    for (int64_t i = s; i < e; ++i) grad_w[i] = g0;
    return;
  }
  for (int64_t i = s; i < e; ++i) {
    A dw = A(0);
    for (int64_t c = 0; c < C; ++c) dw += Cvt<T>::load(g[c]) * Cvt<T>::load(v[i * C + c]);
    grad_w[i] = Cvt<T>::store(dw);
  }
  if (grad_v == nullptr) return;
  for (int64_t i = s; i < e; ++i) {
    const A wi = Cvt<T>::load(w[i]);
    for (int64_t c = 0; c < C; ++c) grad_v[i * C + c] = Cvt<T>::store(wi * Cvt<T>::load(g[c]));
  }
}

// ---------------------------------------------------------------------------------------------
// Compositing.

// One sample of the transmittance recurrence. Forward and backward both walk the ray with this
// function, so T (and with it the early-stop cut) is bit-identical in both passes.
template <typename A> struct Sample {
  A dt, mid, alpha, trans_next;
};

template <typename T>
FG_HOST_DEVICE Sample<acc_t<T>> load_sample(const CompositeInputs& in, int64_t i,
                                            acc_t<T> trans) {
  using A = acc_t<T>;
  const A t0 = Cvt<T>::load(static_cast<const T*>(in.t_starts)[i]);
  const A t1 = Cvt<T>::load(static_cast<const T*>(in.t_ends)[i]);
  const A sigma = Cvt<T>::load(static_cast<const T*>(in.sigmas)[i]);
  Sample<A> smp;
  smp.dt = t1 - t0;
  smp.mid = (t0 + t1) * A(0.5);
  // exp(-tau) - 1 through expm1: alpha = 1 - exp(-tau) stays accurate for tiny tau, and a huge
  // tau (even inf) gives alpha = 1, T_next = 0 without NaN.
  const A em1 = fg_expm1(-(sigma * smp.dt));
  smp.alpha = -em1;
  smp.trans_next = trans * (A(1) + em1);
  return smp;
}

template <typename A>
FG_HOST_DEVICE bool early_stopped(A trans, A early_stop_eps) {
  return early_stop_eps > A(0) && trans < early_stop_eps;
}

template <typename T>
FG_HOST_DEVICE void composite_forward_ray(const CompositeForwardArgs& a, int64_t r) {
  using A = acc_t<T>;
  const CompositeInputs& in = a.in;
  const T* rgbs = static_cast<const T*>(in.rgbs);
  const A eps = static_cast<A>(in.early_stop_eps);
  int64_t s, e;
  segment_bounds(in.packed_info, r, in.n_samples, s, e);

  A trans = A(1), opacity = A(0), depth = A(0), color[3] = {A(0), A(0), A(0)};
  for (int64_t i = s; i < e; ++i) {
    if (early_stopped(trans, eps)) break;
    const Sample<A> smp = load_sample<T>(in, i, trans);
    const A w = trans * smp.alpha;
    opacity += w;
    depth += w * smp.mid;
    for (int k = 0; k < 3; ++k) color[k] += w * Cvt<T>::load(rgbs[3 * i + k]);
    trans = smp.trans_next;
  }

  const A* bkgd = static_cast<const A*>(in.bkgd);
  A* rgb_out = static_cast<A*>(a.rgb);
  for (int k = 0; k < 3; ++k)
    rgb_out[3 * r + k] = bkgd ? color[k] + bkgd[3 * r + k] * (A(1) - opacity) : color[k];
  static_cast<A*>(a.opacity)[r] = opacity;
  const A depth_eps = static_cast<A>(kDepthEps);
  // `opacity < eps ? eps : opacity`, not `opacity > eps ? ...`: a NaN opacity stays NaN (as
  // torch's clamp_min in the reference), rather than turning the depth into +-inf.
  static_cast<A*>(a.depth)[r] = depth / (opacity < depth_eps ? depth_eps : opacity);
}

// One pass along the ray, recomputing w_i; with q_i = dL/dw_i and S = sum_i q_i w_i (from the
// saved outputs), dL/dtau_i = q_i T_{i+1} - sum_{j>i} q_j w_j = q_i T_{i+1} - (S - P_i).
template <typename T>
FG_HOST_DEVICE void composite_backward_ray(const CompositeBackwardArgs& a, int64_t r) {
  using A = acc_t<T>;
  const CompositeInputs& in = a.in;
  const T* rgbs = static_cast<const T*>(in.rgbs);
  const A* bkgd = static_cast<const A*>(in.bkgd);
  T* grad_sigmas = static_cast<T*>(a.grad_sigmas);
  T* grad_rgbs = static_cast<T*>(a.grad_rgbs);
  const A eps = static_cast<A>(in.early_stop_eps);
  const A depth_eps = static_cast<A>(kDepthEps);
  int64_t s, e;
  segment_bounds(in.packed_info, r, in.n_samples, s, e);

  const A opacity = static_cast<const A*>(a.opacity)[r];
  const A opacity_c = opacity < depth_eps ? depth_eps : opacity;  // NaN stays NaN, as in the forward
  const A depth_raw = static_cast<const A*>(a.depth)[r] * opacity_c;
  const A g_depth = static_cast<const A*>(a.grad_depth)[r];
  const A g_depth_raw = g_depth / opacity_c;
  A g_rgb[3], color_raw[3];
  A g_opacity = static_cast<const A*>(a.grad_opacity)[r];
  for (int k = 0; k < 3; ++k) {
    g_rgb[k] = static_cast<const A*>(a.grad_rgb)[3 * r + k];
    color_raw[k] = static_cast<const A*>(a.rgb)[3 * r + k];
    if (bkgd) {
      color_raw[k] -= bkgd[3 * r + k] * (A(1) - opacity);
      g_opacity -= g_rgb[k] * bkgd[3 * r + k];
    }
  }
  // depth = depth_raw / opacity depends on opacity only where opacity > depth_eps.
  if (opacity > depth_eps) g_opacity -= g_depth * depth_raw / (opacity * opacity);
  const A total = g_rgb[0] * color_raw[0] + g_rgb[1] * color_raw[1] + g_rgb[2] * color_raw[2] +
                  g_opacity * opacity + g_depth_raw * depth_raw;

  A trans = A(1), partial = A(0);
  for (int64_t i = s; i < e; ++i) {
    if (early_stopped(trans, eps)) break;  // the cut samples keep their zero gradients
    const Sample<A> smp = load_sample<T>(in, i, trans);
    const A w = trans * smp.alpha;
    A q = g_opacity + g_depth_raw * smp.mid;
    for (int k = 0; k < 3; ++k) {
      q += g_rgb[k] * Cvt<T>::load(rgbs[3 * i + k]);
      grad_rgbs[3 * i + k] = Cvt<T>::store(w * g_rgb[k]);
    }
    partial += q * w;
    grad_sigmas[i] = Cvt<T>::store((q * smp.trans_next - (total - partial)) * smp.dt);
    trans = smp.trans_next;
  }
}

// ---------------------------------------------------------------------------------------------
// Launchers. CPU (render_cpu.cpp): n_threads <= 0 means the OpenMP default. CUDA
// (render_cuda.cu, only with FASTGEN_WITH_CUDA): asynchronous on `stream` (a cudaStream_t as an
// integer) of `device`. All throw std::invalid_argument on an unsupported dtype code.

void segmented_scan_cpu(const ScanArgs& a, int n_threads);
void prod_scan_backward_cpu(const ProdScanBackwardArgs& a, int n_threads);
void segment_sum_cpu(const SegmentArgs& a, int n_threads);
void segment_broadcast_cpu(const SegmentArgs& a, int n_threads);
void weighted_segment_sum_cpu(const WeightedSegmentSumArgs& a, int n_threads);
void weighted_segment_broadcast_cpu(const WeightedSegmentBroadcastArgs& a, int n_threads);
void composite_forward_cpu(const CompositeForwardArgs& a, int n_threads);
void composite_backward_cpu(const CompositeBackwardArgs& a, int n_threads);

void segmented_scan_cuda(const ScanArgs& a, int device, std::uintptr_t stream);
void prod_scan_backward_cuda(const ProdScanBackwardArgs& a, int device,
                             std::uintptr_t stream);
void segment_sum_cuda(const SegmentArgs& a, int device, std::uintptr_t stream);
void segment_broadcast_cuda(const SegmentArgs& a, int device, std::uintptr_t stream);
void weighted_segment_sum_cuda(const WeightedSegmentSumArgs& a, int device,
                               std::uintptr_t stream);
void weighted_segment_broadcast_cuda(const WeightedSegmentBroadcastArgs& a, int device,
                                     std::uintptr_t stream);
void composite_forward_cuda(const CompositeForwardArgs& a, int device,
                            std::uintptr_t stream);
void composite_backward_cuda(const CompositeBackwardArgs& a, int device,
                             std::uintptr_t stream);

}  // namespace render
}  // namespace fastgen
