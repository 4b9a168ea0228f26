// Sample family: the per-ray / per-value math of hierarchical sampling (inverse-CDF sampling,
// searchsorted, merge of sorted sample sets, distortion loss).
//
// Every function is FG_HOST_DEVICE, so the CPU launcher (sample_cpu.cpp, OpenMP) and the CUDA
// kernels (sample_cuda.cu, one thread per ray or per value) run exactly this code. No torch:
// arguments are raw pointers typed by the `dtype` code, and sizes. Ray ranges come from
// segment_bounds() (clamped to the tensor), and ray ids are range-checked, so garbage packing
// never causes an out-of-bounds access; a lookup never reads outside its own ray's segment.
#pragma once

#include <cstdint>

#include "../common/common.h"

namespace fastgen {
namespace sample {

// ---------------------------------------------------------------------------------------------
// sample_pdf: bins (R, B+1), weights (R, B), sorted u (R, n) -> samples (R, n); backward scatters
// grad_samples into grad_bins (R, B+1) (zeroed by Python). One ray per thread.
struct SamplePdfArgs {
  const void* bins;
  const void* weights;
  const void* u;
  void* samples;             // forward output, or nullptr in backward
  const void* grad_samples;  // backward input, or nullptr in forward
  void* grad_bins;           // backward output, or nullptr in forward
  int64_t n_rays, n_bins, n_samples;
  int dtype;
  double eps;
};

// Walks the CDF of the piecewise-constant pdf (weights + eps, normalised; cdf[0] = 0, cdf[B] = 1) and the
// sorted u together, in O(B + n): for each u, count = #{j : cdf[j+1] <= u} (searchsorted right,
// minus the leading 0), below = count, above = min(count + 1, B), and the sample interpolates
// bins[below] .. bins[above] by f = (u - cdf[below]) / (cdf[above] - cdf[below]) (a difference
// below eps counts as 1, as in NeRF). Backward: d sample / d bins[below] = 1 - f, / d bins[above] = f.
template <typename T> FG_HOST_DEVICE void sample_pdf_ray(const SamplePdfArgs& a, int64_t r) {
  using A = acc_t<T>;
  const int64_t B = a.n_bins, n = a.n_samples;
  const T* bins = static_cast<const T*>(a.bins) + r * (B + 1);
  const T* w = static_cast<const T*>(a.weights) + r * B;
  const T* u = static_cast<const T*>(a.u) + r * n;
  const A eps = static_cast<A>(a.eps);
  A total = 0;
  for (int64_t j = 0; j < B; ++j) total += static_cast<A>(w[j]) + eps;
  const A inv = A(1) / total;
  int64_t count = 0;
  A run = static_cast<A>(w[0]) + eps;  // sum of the first count + 1 bins
  // cdf[j] = min(S_j / total, 1) with cdf[B] = 1 exactly, so that u = 1 lands on the last edge.
  auto cdf_at = [&](int64_t j1, A s) { return j1 == B ? A(1) : (s * inv < A(1) ? s * inv : A(1)); };
  A cdf_lo = 0, cdf_hi = cdf_at(1, run);  // cdf[count], cdf[count + 1]
  // 1 / (cdf[above] - cdf[below]) (a step below eps counts as 1), recomputed only when the bin
  // changes: one division per bin instead of one per sample.
  auto inv_step = [&]() {
    const A d = (count < B ? cdf_hi : cdf_lo) - cdf_lo;
    return d < eps ? A(1) : A(1) / d;
  };
  A inv_d = inv_step();
  for (int64_t k = 0; k < n; ++k) {
    const A uk = static_cast<A>(u[k]);
    if (count < B && cdf_hi <= uk) {
      do {
        ++count;
        cdf_lo = cdf_hi;
        if (count < B) {
          run += static_cast<A>(w[count]) + eps;
          cdf_hi = cdf_at(count + 1, run);
        }
      } while (count < B && cdf_hi <= uk);
      inv_d = inv_step();
    }
    const int64_t below = count, above = count < B ? count + 1 : B;
    const A f = (uk - cdf_lo) * inv_d;
    if (a.samples != nullptr) {
      const A lo = static_cast<A>(bins[below]), hi = static_cast<A>(bins[above]);
      static_cast<T*>(a.samples)[r * n + k] = static_cast<T>(lo + f * (hi - lo));
    } else {
      const A g = static_cast<A>(static_cast<const T*>(a.grad_samples)[r * n + k]);
      T* gb = static_cast<T*>(a.grad_bins) + r * (B + 1);
      gb[below] = static_cast<T>(static_cast<A>(gb[below]) + g * (A(1) - f));
      gb[above] = static_cast<T>(static_cast<A>(gb[above]) + g * f);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// searchsorted of packed values in their ray's packed sorted sequence (nerfacc's definition):
// right = clamp(upper_bound, s + 1, e - 1), left = right - 1, both clamped into [s, e) when the
// ray has fewer than two entries. Indices are global (into the flat sequence).
struct SearchsortedArgs {
  const void* seq;             // (N,) sorted within each ray
  const int64_t* seq_info;     // (R, 2)
  const void* values;          // (M,)
  const int64_t* value_rays;   // (M,) ray of each value
  int64_t* ids_left;           // (M,)
  int64_t* ids_right;          // (M,)
  int64_t n_seq, n_values, n_rays;
  int dtype;
};

// First index in [s, e) whose entry is > v (strict = false) or >= v (strict = true).
template <typename T, typename A>
FG_HOST_DEVICE int64_t bound_in(const T* x, int64_t s, int64_t e, A v, bool strict) {
  while (s < e) {
    const int64_t mid = s + (e - s) / 2;
    const A xm = static_cast<A>(x[mid]);
    if (strict ? xm < v : xm <= v) s = mid + 1; else e = mid;
  }
  return s;
}

template <typename T> FG_HOST_DEVICE void searchsorted_value(const SearchsortedArgs& a, int64_t i) {
  using A = acc_t<T>;
  const int64_t r = a.value_rays[i];
  int64_t s = 0, e = 0;
  if (r >= 0 && r < a.n_rays) segment_bounds(a.seq_info, r, a.n_seq, s, e);
  const int64_t ub = bound_in(static_cast<const T*>(a.seq), s, e,
                              static_cast<A>(static_cast<const T*>(a.values)[i]), false);
  int64_t right = ub < s + 1 ? s + 1 : ub;
  right = right > e - 1 ? e - 1 : right;
  right = right < s ? s : right;
  a.ids_left[i] = right - 1 < s ? s : right - 1;
  a.ids_right[i] = right;
}

// ---------------------------------------------------------------------------------------------
// inverse_cdf: the inverse of each ray's piecewise-linear CDF (cdfs at the edges t, normalised to
// [cdf[s], cdf[e-1]]) at u in [0, 1]. A ray whose CDF is flat maps u linearly onto [t[s], t[e-1]].
// Each result is t[lo] + f (t[hi] - t[lo]); with `lo` non-null (lo, hi, f) are written too, so
// that Python can differentiate w.r.t. t (lo = -1 for a ray without edges, whose result is 0).
struct InverseCdfArgs {
  const void* t;               // (N,) edges, sorted within each ray
  const void* cdf;             // (N,) non-decreasing within each ray
  const int64_t* info;         // (R, 2)
  const void* u;               // (M,)
  const int64_t* u_rays;       // (M,)
  void* out;                   // (M,)
  int64_t* lo;                 // (M,) or nullptr
  int64_t* hi;                 // (M,) or nullptr
  void* frac;                  // (M,) or nullptr
  int64_t n_in, n_out, n_rays;
  int dtype;
};

template <typename T> FG_HOST_DEVICE void inverse_cdf_value(const InverseCdfArgs& a, int64_t i) {
  using A = acc_t<T>;
  const int64_t r = a.u_rays[i];
  int64_t s = 0, e = 0;
  if (r >= 0 && r < a.n_rays) segment_bounds(a.info, r, a.n_in, s, e);
  int64_t lo = -1, hi = -1;
  A f = 0, res = 0;
  if (e > s) {
    const T* t = static_cast<const T*>(a.t);
    const T* cdf = static_cast<const T*>(a.cdf);
    const A u = static_cast<A>(static_cast<const T*>(a.u)[i]);
    const A c0 = static_cast<A>(cdf[s]), c1 = static_cast<A>(cdf[e - 1]);
    if (!(c1 > c0)) {
      lo = s;
      hi = e - 1;
      f = u;
    } else {
      const A c = c0 + u * (c1 - c0);
      hi = bound_in(cdf, s, e, c, false);
      hi = hi < s + 1 ? s + 1 : (hi > e - 1 ? e - 1 : hi);
      lo = hi - 1;
      const A dc = static_cast<A>(cdf[hi]) - static_cast<A>(cdf[lo]);
      f = dc > A(0) ? (c - static_cast<A>(cdf[lo])) / dc : A(0);
      f = f < A(0) ? A(0) : (f > A(1) ? A(1) : f);
    }
    const A tl = static_cast<A>(t[lo]), th = static_cast<A>(t[hi]);
    res = tl + f * (th - tl);
  }
  static_cast<T*>(a.out)[i] = static_cast<T>(res);
  if (a.lo != nullptr) {
    a.lo[i] = lo;
    a.hi[i] = hi;
    static_cast<T*>(a.frac)[i] = static_cast<T>(f);
  }
}

// ---------------------------------------------------------------------------------------------
// merge_sorted: per-ray stable two-pointer merge of two sorted sets (ties: a first). perm indexes
// the flat concatenation [a, b] (a[i] -> i, b[j] -> n_a + j) or, with `local` (batched rows),
// the ray's own row of it (a[i] -> i - a_s, b[j] -> count_a + j - b_s).
struct MergeArgs {
  const void* a;
  const void* b;
  const int64_t* a_info;
  const int64_t* b_info;
  const int64_t* out_info;
  void* out;
  int64_t* perm;
  int64_t n_a, n_b, n_out, n_rays;
  int dtype;
  bool local;
};

template <typename T> FG_HOST_DEVICE void merge_ray(const MergeArgs& a, int64_t r) {
  int64_t as, ae, bs, be, os, oe;
  segment_bounds(a.a_info, r, a.n_a, as, ae);
  segment_bounds(a.b_info, r, a.n_b, bs, be);
  segment_bounds(a.out_info, r, a.n_out, os, oe);
  const T* x = static_cast<const T*>(a.a);
  const T* y = static_cast<const T*>(a.b);
  T* out = static_cast<T*>(a.out);
  const int64_t pa = a.local ? -as : 0;
  const int64_t pb = a.local ? (ae - as) - bs : a.n_a;
  int64_t i = as, j = bs;
  for (int64_t k = os; k < oe; ++k) {
    const bool take_a = i < ae && (j >= be || !(y[j] < x[i]));
    if (take_a) {
      out[k] = x[i];
      a.perm[k] = i + pa;
      ++i;
    } else if (j < be) {
      out[k] = y[j];
      a.perm[k] = j + pb;
      ++j;
    } else {
      break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// distortion (mip-NeRF 360): per ray, L = sum_{i,j} w_i w_j |m_i - m_j| + 1/3 sum_i w_i^2 d_i with
// m = (t0 + t1) / 2, d = t1 - t0, samples sorted along the ray. With exclusive prefix sums
// W_i = sum_{j<i} w_j and V_i = sum_{j<i} w_j m_j: L = sum_i 2 w_i (m_i W_i - V_i) + w_i^2 d_i / 3.
struct DistortionArgs {
  const void *w, *t0, *t1;     // (N,)
  const int64_t* info;         // (R, 2)
  void* loss;                  // (R,) forward
  const void* grad_loss;       // (R,) backward
  void *grad_w, *grad_t0, *grad_t1;  // (N,) backward
  int64_t n_samples, n_rays;
  int dtype;
};

template <typename T> FG_HOST_DEVICE void distortion_forward_ray(const DistortionArgs& a, int64_t r) {
  using A = acc_t<T>;
  int64_t s, e;
  segment_bounds(a.info, r, a.n_samples, s, e);
  const T* w = static_cast<const T*>(a.w);
  const T* t0 = static_cast<const T*>(a.t0);
  const T* t1 = static_cast<const T*>(a.t1);
  A W = 0, V = 0, L = 0;
  for (int64_t i = s; i < e; ++i) {
    const A wi = static_cast<A>(w[i]), a0 = static_cast<A>(t0[i]), a1 = static_cast<A>(t1[i]);
    const A m = (a0 + a1) * A(0.5);
    L += A(2) * wi * (m * W - V) + wi * wi * (a1 - a0) / A(3);
    W += wi;
    V += wi * m;
  }
  static_cast<T*>(a.loss)[r] = static_cast<T>(L);
}

// dL/dw_i = 2 (m_i (2 W_i - W) - 2 V_i + V) + 2/3 w_i d_i,  dL/dm_i = 2 w_i (2 W_i + w_i - W)
// (W, V: the ray's totals), dL/dt0 = dL/dm / 2 - w^2 / 3, dL/dt1 = dL/dm / 2 + w^2 / 3.
template <typename T> FG_HOST_DEVICE void distortion_backward_ray(const DistortionArgs& a, int64_t r) {
  using A = acc_t<T>;
  int64_t s, e;
  segment_bounds(a.info, r, a.n_samples, s, e);
  const T* w = static_cast<const T*>(a.w);
  const T* t0 = static_cast<const T*>(a.t0);
  const T* t1 = static_cast<const T*>(a.t1);
  A Wt = 0, Vt = 0;
  for (int64_t i = s; i < e; ++i) {
    const A wi = static_cast<A>(w[i]);
    Wt += wi;
    Vt += wi * (static_cast<A>(t0[i]) + static_cast<A>(t1[i])) * A(0.5);
  }
  const A g = static_cast<A>(static_cast<const T*>(a.grad_loss)[r]);
  A W = 0, V = 0;
  for (int64_t i = s; i < e; ++i) {
    const A wi = static_cast<A>(w[i]), a0 = static_cast<A>(t0[i]), a1 = static_cast<A>(t1[i]);
    const A m = (a0 + a1) * A(0.5);
    const A gw = A(2) * (m * (A(2) * W - Wt) - A(2) * V + Vt) + A(2) / A(3) * wi * (a1 - a0);
    const A gm = A(2) * wi * (A(2) * W + wi - Wt);
    const A gd = wi * wi / A(3);
    static_cast<T*>(a.grad_w)[i] = static_cast<T>(g * gw);
    static_cast<T*>(a.grad_t0)[i] = static_cast<T>(g * (A(0.5) * gm - gd));
    static_cast<T*>(a.grad_t1)[i] = static_cast<T>(g * (A(0.5) * gm + gd));
    W += wi;
    V += wi * m;
  }
}

// Launchers (sample_cpu.cpp / sample_cuda.cu).
void sample_pdf_cpu(const SamplePdfArgs& a, int n_threads);
void searchsorted_cpu(const SearchsortedArgs& a, int n_threads);
void inverse_cdf_cpu(const InverseCdfArgs& a, int n_threads);
void merge_sorted_cpu(const MergeArgs& a, int n_threads);
void distortion_forward_cpu(const DistortionArgs& a, int n_threads);
void distortion_backward_cpu(const DistortionArgs& a, int n_threads);
#if defined(FASTGEN_WITH_CUDA)
void sample_pdf_cuda(const SamplePdfArgs& a, int device, std::uintptr_t stream);
void searchsorted_cuda(const SearchsortedArgs& a, int device, std::uintptr_t stream);
void inverse_cdf_cuda(const InverseCdfArgs& a, int device, std::uintptr_t stream);
void merge_sorted_cuda(const MergeArgs& a, int device, std::uintptr_t stream);
void distortion_forward_cuda(const DistortionArgs& a, int device, std::uintptr_t stream);
void distortion_backward_cuda(const DistortionArgs& a, int device, std::uintptr_t stream);
#endif

}  // namespace sample
}  // namespace fastgen
