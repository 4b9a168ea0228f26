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
// sample_pdf: bins (R, B+1), weights (R, B), sorted u (R, n) or one row (1, n) shared by every ray
// -> samples (R, n); backward writes grad_bins (R, B+1), whole rows (no zeroing needed). One ray
// per thread. With `error` non-null the forward also checks the ray's data (bins non-decreasing,
// weights >= 0 and not NaN) and sets SamplePdfError bits there: the checks read the data the
// kernel reads anyway, instead of extra passes over it in Python.
enum SamplePdfError : int { kBinsDecreasing = 1, kBadWeights = 2 };

struct SamplePdfArgs {
  const void* bins;
  const void* weights;
  const void* u;
  void* samples;             // forward output, or nullptr in backward
  const void* grad_samples;  // backward input, or nullptr in forward
  void* grad_bins;           // backward output, or nullptr in forward
  int* error;                // forward with data checks: SamplePdfError bits; else nullptr
  int32_t* below;            // forward, optional (R, n): each sample's bin, for sample_pdf_grad_ray
  void* frac;                // forward, optional (R, n): each sample's f
  int64_t n_rays, n_bins, n_samples;
  int64_t u_stride;          // n_samples, or 0: every ray uses the one row of u (det=True)
  int dtype;
  double eps;
};

// The data checks of one ray: bins non-decreasing, weights >= 0 and not NaN (SamplePdfError bits).
template <typename T> FG_HOST_DEVICE void sample_pdf_check_ray(const T* bins, const T* w, int64_t B, int* error) {
  using A = acc_t<T>;
  int bits = 0;
  for (int64_t j = 0; j < B; ++j) {
    bits |= static_cast<A>(w[j]) >= A(0) ? 0 : kBadWeights;  // NaN compares false
    bits |= static_cast<A>(bins[j + 1]) < static_cast<A>(bins[j]) ? kBinsDecreasing : 0;
  }
  if (bits != 0) set_error_bits(error, bits);
}

// Walks the CDF of the piecewise-constant pdf (weights + eps, normalised; cdf[0] = 0, cdf[B] = 1) and the
// sorted u together, in O(B + n): for each u, count = #{j : cdf[j+1] <= u} (searchsorted right,
// minus the leading 0), below = count, above = min(count + 1, B), and the sample interpolates
// bins[below] .. bins[above] by f = (u - cdf[below]) / (cdf[above] - cdf[below]) (a difference
// below eps counts as 1, as in NeRF). Backward: d sample / d bins[below] = 1 - f, / d bins[above] = f,
// summed in registers while the bin stays the same and added to the row when it changes.
// (A bin-by-bin walk that finds each bin's run of samples from an estimate measured slower on the
// CPU: the per-bin work outweighs the per-sample branch it saves.)
template <typename T> FG_HOST_DEVICE void sample_pdf_ray(const SamplePdfArgs& a, int64_t r) {
  using A = acc_t<T>;
  const int64_t B = a.n_bins, n = a.n_samples;
  const T* bins = static_cast<const T*>(a.bins) + r * (B + 1);
  const T* w = static_cast<const T*>(a.weights) + r * B;
  const T* u = static_cast<const T*>(a.u) + r * a.u_stride;
  const bool backward = a.samples == nullptr;
  const A eps = static_cast<A>(a.eps);
  if (a.error != nullptr) sample_pdf_check_ray(bins, w, B, a.error);
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
  T* out = backward ? nullptr : static_cast<T*>(a.samples) + r * n;
  const T* gs = backward ? static_cast<const T*>(a.grad_samples) + r * n : nullptr;
  T* gb = backward ? static_cast<T*>(a.grad_bins) + r * (B + 1) : nullptr;
  if (backward) {
    for (int64_t j = 0; j <= B; ++j) gb[j] = T(0);
  }
  A g_lo = 0, g_hi = 0;  // backward: gradient of bins[below] and bins[above] not yet in gb
  auto flush = [&]() {
    const int64_t above = count < B ? count + 1 : B;
    gb[count] = static_cast<T>(static_cast<A>(gb[count]) + g_lo);
    gb[above] = static_cast<T>(static_cast<A>(gb[above]) + g_hi);
    g_lo = g_hi = 0;
  };
  for (int64_t k = 0; k < n; ++k) {
    const A uk = static_cast<A>(u[k]);
    if (count < B && cdf_hi <= uk) {
      if (backward) flush();
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
    const A f = (uk - cdf_lo) * inv_d;
    if (!backward) {
      const int64_t above = count < B ? count + 1 : B;
      const A lo = static_cast<A>(bins[count]), hi = static_cast<A>(bins[above]);
      out[k] = static_cast<T>(lo + f * (hi - lo));
      if (a.below != nullptr) {
        a.below[r * n + k] = static_cast<int32_t>(count);
        static_cast<T*>(a.frac)[r * n + k] = static_cast<T>(f);
      }
    } else {
      const A g = static_cast<A>(gs[k]);
      g_lo += g * (A(1) - f);
      g_hi += g * f;
    }
  }
  if (backward) flush();
}

// sample_pdf's backward from the forward's record (each sample's bin `below` and f), without
// walking the CDF again: edge e of the row gets sum_{below = e} g (1 - f) + sum_{above = e} g f.
// The samples are sorted, so `below` is non-decreasing along the ray: the sums run over runs of
// equal `below`, kept in registers and stored after every sample (the last store of a run holds
// its total), so the loop has no branch on where the runs end. Writes whole rows.
struct SamplePdfGradArgs {
  const int32_t* below;      // (R, n)
  const void* frac;          // (R, n)
  const void* grad_samples;  // (R, n)
  void* grad_bins;           // (R, B+1)
  int64_t n_rays, n_bins, n_samples;
  int dtype;
};

template <typename T> FG_HOST_DEVICE void sample_pdf_grad_ray(const SamplePdfGradArgs& a, int64_t r) {
  using A = acc_t<T>;
  const int64_t B = a.n_bins, n = a.n_samples;
  const int32_t* below = a.below + r * n;
  const T* frac = static_cast<const T*>(a.frac) + r * n;
  const T* g = static_cast<const T*>(a.grad_samples) + r * n;
  T* gb = static_cast<T*>(a.grad_bins) + r * (B + 1);
  for (int64_t j = 0; j <= B; ++j) gb[j] = T(0);
  A s_lo = 0, s_hi = 0;  // this run's sums of g (1 - f) (plus the edge's share from the run
  int64_t prev = -2;     // before, when that run was in the bin just below) and of g f
  for (int64_t k = 0; k < n; ++k) {
    int64_t b = below[k];
    b = b < 0 ? 0 : (b > B ? B : b);  // never write outside the row
    const A gk = static_cast<A>(g[k]), fk = static_cast<A>(frac[k]);
    const bool same = b == prev;
    const A start = b == prev + 1 ? s_hi : A(0);  // edge b holds the previous run's g f sum
    s_lo = (same ? s_lo : start) + gk * (A(1) - fk);
    s_hi = (same ? s_hi : A(0)) + gk * fk;
    const int64_t above = b < B ? b + 1 : B;
    gb[above] = static_cast<T>(s_hi);
    gb[b] = static_cast<T>(b < B ? s_lo : s_lo + s_hi);  // below = above = B: both shares
    prev = b;
  }
}

// ---------------------------------------------------------------------------------------------
// searchsorted of packed values in their ray's packed sorted sequence (nerfacc's definition): over the
// ray's segment [s, e), p = upper_bound(seq, s, e - 1, v) (the first index in [s, e - 1) whose
// entry is > v, else e - 1: the LAST entry is never searched), ids_left = clamp(p - 1, s, e - 1),
// ids_right = clamp(p, s, e - 1) (clamp(x, s, e - 1) = max(min(x, e - 1), s)). So a value below the
// ray's first entry gets (s, s), one at or above its second-to-last (e - 2, e - 1), and an empty ray
// (s, s). Indices are global (into the flat sequence).
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

// First index in [s, e) whose entry is > v (strict = false) or >= v (strict = true); s if e <= s.
template <typename T, typename A>
FG_HOST_DEVICE int64_t bound_in(const T* x, int64_t s, int64_t e, A v, bool strict) {
  while (s < e) {
    const int64_t mid = s + (e - s) / 2;
    const A xm = static_cast<A>(x[mid]);
    if (strict ? xm < v : xm <= v) s = mid + 1; else e = mid;
  }
  return s;
}

// max(min(i, e - 1), s): nerfacc's clamp of an index into the segment [s, e) (s when it is empty).
FG_HOST_DEVICE int64_t clamp_to_segment(int64_t i, int64_t s, int64_t e) {
  i = i > e - 1 ? e - 1 : i;
  return i < s ? s : i;
}

template <typename T> FG_HOST_DEVICE void searchsorted_value(const SearchsortedArgs& a, int64_t i) {
  using A = acc_t<T>;
  const int64_t r = a.value_rays[i];
  int64_t s = 0, e = 0;
  if (r >= 0 && r < a.n_rays) segment_bounds(a.seq_info, r, a.n_seq, s, e);
  const int64_t p = bound_in(static_cast<const T*>(a.seq), s, e - 1,
                             static_cast<A>(static_cast<const T*>(a.values)[i]), false);
  a.ids_left[i] = clamp_to_segment(p - 1, s, e);
  a.ids_right[i] = clamp_to_segment(p, s, e);
}

// ---------------------------------------------------------------------------------------------
// inverse_cdf: the inverse of each ray's piecewise-linear CDF (cdfs at the edges t) at the fraction
// q in [0, 1] of its range, nerfacc's importance_sampling per sample: u = cdf[s] + q (cdf[e-1] -
// cdf[s]), p = upper_bound(cdf, s, e - 1, u) (last entry excluded), lo = clamp(p - 1, s, e - 1),
// hi = clamp(p, s, e - 1), and the result t[lo] + f (t[hi] - t[lo]) with f = (u - cdf[lo]) /
// (cdf[hi] - cdf[lo]) clamped into [0, 1], or f = 1/2 (the midpoint) where that step is below 1e-10.
// So a flat CDF gives the midpoint of the ray's last interval and a one-edge ray its edge. With
// `lo` non-null (lo, hi, f) are written too, so that Python can differentiate w.r.t. t (lo = -1
// for a ray without edges, whose result is 0).
struct InverseCdfArgs {
  const void* t;               // (N,) edges, sorted within each ray
  const void* cdf;             // (N,) non-decreasing within each ray
  const int64_t* info;         // (R, 2)
  const void* u;               // (M,) the fractions q
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
    const A q = static_cast<A>(static_cast<const T*>(a.u)[i]);
    const A c0 = static_cast<A>(cdf[s]), c1 = static_cast<A>(cdf[e - 1]);
    const A u = c0 + q * (c1 - c0);
    const int64_t p = bound_in(cdf, s, e - 1, u, false);
    lo = clamp_to_segment(p - 1, s, e);
    hi = clamp_to_segment(p, s, e);
    const A clo = static_cast<A>(cdf[lo]), dc = static_cast<A>(cdf[hi]) - clo;
    if (dc < A(1e-10)) {
      f = A(0.5);
    } else {
      f = (u - clo) / dc;
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
// merge_sorted: per-ray stable two-pointer merge of two sorted sets (ties: a first). Packed: rays
// (start, count) in a_info / b_info, listed in order, so ray r's output starts at a_s + b_s; perm
// indexes the flat concatenation [a, b] (a[i] -> i, b[j] -> n_a + j). Batched (a_info = nullptr):
// rows (R, Sa) and (R, Sb), output rows (R, Sa + Sb), and perm indexes the ray's own row [a_r, b_r].
// With `error` non-null the forward also checks that a and b are sorted within each ray
// (MergeError bits). The backward sends each output's gradient back through perm.
enum MergeError : int { kANotSorted = 1, kBNotSorted = 2 };

struct MergeArgs {
  const void* a;
  const void* b;
  const int64_t* a_info;     // (R, 2), or nullptr: batched
  const int64_t* b_info;     // (R, 2), or nullptr: batched
  void* out;                 // forward output (n_a + n_b)
  int64_t* perm;             // forward output, backward input (n_a + n_b)
  int* error;                // forward with data checks: MergeError bits; else nullptr
  const void* grad_out;      // backward input (n_a + n_b)
  void* grad_a;              // backward outputs (n_a), (n_b)
  void* grad_b;
  int64_t n_a, n_b, n_rays;
  int dtype;
};

// Ray r's segments [as, ae) of a, [bs, be) of b, the start of its output, and the offsets that
// turn an index into a (pa) or b (pb) into its perm value.
struct MergeRay {
  int64_t as, ae, bs, be, os, pa, pb;
};

FG_HOST_DEVICE MergeRay merge_segments(const MergeArgs& a, int64_t r) {
  MergeRay m;
  if (a.a_info == nullptr) {
    const int64_t sa = a.n_rays > 0 ? a.n_a / a.n_rays : 0, sb = a.n_rays > 0 ? a.n_b / a.n_rays : 0;
    m.as = r * sa, m.ae = m.as + sa, m.bs = r * sb, m.be = m.bs + sb;
    m.pa = -m.as, m.pb = sa - m.bs;
  } else {
    segment_bounds(a.a_info, r, a.n_a, m.as, m.ae);
    segment_bounds(a.b_info, r, a.n_b, m.bs, m.be);
    m.pa = 0, m.pb = a.n_a;
  }
  m.os = m.as + m.bs;
  return m;
}

template <typename T> FG_HOST_DEVICE void merge_ray(const MergeArgs& a, int64_t r) {
  using A = acc_t<T>;
  const MergeRay m = merge_segments(a, r);
  const T* x = static_cast<const T*>(a.a);
  const T* y = static_cast<const T*>(a.b);
  T* out = static_cast<T*>(a.out);
  int64_t* perm = a.perm;
  if (a.error != nullptr) {
    int bits = 0;
    for (int64_t i = m.as + 1; i < m.ae; ++i)
      bits |= static_cast<A>(x[i]) < static_cast<A>(x[i - 1]) ? kANotSorted : 0;
    for (int64_t j = m.bs + 1; j < m.be; ++j)
      bits |= static_cast<A>(y[j]) < static_cast<A>(y[j - 1]) ? kBNotSorted : 0;
    if (bits != 0) set_error_bits(a.error, bits);
  }
  const int64_t na = m.ae - m.as, nb = m.be - m.bs;
  if (na == 0 || nb == 0) {
    int64_t k = m.os;
    for (int64_t i = m.as; i < m.ae; ++i, ++k) out[k] = x[i], perm[k] = i + m.pa;
    for (int64_t j = m.bs; j < m.be; ++j, ++k) out[k] = y[j], perm[k] = j + m.pb;
    return;
  }
  // Two merges at once: the front one takes the smallest half of the outputs (ties: a first),
  // the back one the rest, largest first (ties: b last). Each step's next load depends on its
  // comparison; two independent chains let the core overlap them (measured 1.4x faster on the
  // CPU than one). Indices are clamped into the segments, so a set running out never makes a
  // read leave the ray.
  const int64_t total = na + nb, half = total / 2;
  int64_t i = m.as, j = m.bs, k = m.os;                      // front
  int64_t i2 = m.ae - 1, j2 = m.be - 1, k2 = m.os + total - 1;  // back
  for (int64_t t = 0; t < half; ++t) {
    const T xi = x[i < m.ae ? i : m.ae - 1], yj = y[j < m.be ? j : m.be - 1];
    const bool take_a = j >= m.be || (i < m.ae && !(static_cast<A>(yj) < static_cast<A>(xi)));
    out[k] = take_a ? xi : yj;
    perm[k] = take_a ? i + m.pa : j + m.pb;
    i += take_a;
    j += !take_a;
    ++k;
    const T xb = x[i2 >= m.as ? i2 : m.as], yb = y[j2 >= m.bs ? j2 : m.bs];
    const bool take_b = i2 < m.as || (j2 >= m.bs && !(static_cast<A>(yb) < static_cast<A>(xb)));
    out[k2] = take_b ? yb : xb;
    perm[k2] = take_b ? j2 + m.pb : i2 + m.pa;
    j2 -= take_b;
    i2 -= !take_b;
    --k2;
  }
  if (k <= k2) {  // odd total: the middle output
    const T xi = x[i < m.ae ? i : m.ae - 1], yj = y[j < m.be ? j : m.be - 1];
    const bool take_a = j >= m.be || (i < m.ae && !(static_cast<A>(yj) < static_cast<A>(xi)));
    out[k] = take_a ? xi : yj;
    perm[k] = take_a ? i + m.pa : j + m.pb;
  }
}

// grad_a[i] = grad_out[k] where perm[k] names a[i] (likewise b); a perm value outside the ray's own
// segments (garbage input on an unchecked device) is skipped, never written elsewhere.
template <typename T> FG_HOST_DEVICE void merge_backward_ray(const MergeArgs& a, int64_t r) {
  const MergeRay m = merge_segments(a, r);
  const T* g = static_cast<const T*>(a.grad_out);
  T* ga = static_cast<T*>(a.grad_a);
  T* gb = static_cast<T*>(a.grad_b);
  const int64_t oe = m.os + (m.ae - m.as) + (m.be - m.bs);
  const int64_t a_end = m.ae + m.pa;  // perm values below this name entries of a
  for (int64_t k = m.os; k < oe; ++k) {
    const int64_t p = a.perm[k];
    const bool in_a = p < a_end;
    const int64_t idx = in_a ? p - m.pa : p - m.pb;
    if (in_a ? idx >= m.as : (idx >= m.bs && idx < m.be)) (in_a ? ga : gb)[idx] = g[k];
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
  A W = 0, V = 0, L = 0, Q = 0;  // Q = sum_i w_i^2 d_i: divided by 3 once, not per sample
  for (int64_t i = s; i < e; ++i) {
    const A wi = static_cast<A>(w[i]), a0 = static_cast<A>(t0[i]), a1 = static_cast<A>(t1[i]);
    const A m = (a0 + a1) * A(0.5);
    L += A(2) * wi * (m * W - V);
    Q += wi * wi * (a1 - a0);
    W += wi;
    V += wi * m;
  }
  static_cast<T*>(a.loss)[r] = static_cast<T>(L + Q / A(3));
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
    const A gd = wi * wi * (A(1) / A(3));  // a product: a division per sample cost a third of the loop
    static_cast<T*>(a.grad_w)[i] = static_cast<T>(g * gw);
    static_cast<T*>(a.grad_t0)[i] = static_cast<T>(g * (A(0.5) * gm - gd));
    static_cast<T*>(a.grad_t1)[i] = static_cast<T>(g * (A(0.5) * gm + gd));
    W += wi;
    V += wi * m;
  }
}

// Launchers (sample_cpu.cpp / sample_cuda.cu).
void sample_pdf_cpu(const SamplePdfArgs& a, int n_threads);
void sample_pdf_grad_cpu(const SamplePdfGradArgs& a, int n_threads);
void searchsorted_cpu(const SearchsortedArgs& a, int n_threads);
void inverse_cdf_cpu(const InverseCdfArgs& a, int n_threads);
void merge_sorted_cpu(const MergeArgs& a, int n_threads);
void merge_sorted_backward_cpu(const MergeArgs& a, int n_threads);
void distortion_forward_cpu(const DistortionArgs& a, int n_threads);
void distortion_backward_cpu(const DistortionArgs& a, int n_threads);
#if defined(FASTGEN_WITH_CUDA)
void sample_pdf_cuda(const SamplePdfArgs& a, int device, std::uintptr_t stream);
void sample_pdf_grad_cuda(const SamplePdfGradArgs& a, int device, std::uintptr_t stream);
void searchsorted_cuda(const SearchsortedArgs& a, int device, std::uintptr_t stream);
void inverse_cdf_cuda(const InverseCdfArgs& a, int device, std::uintptr_t stream);
void merge_sorted_cuda(const MergeArgs& a, int device, std::uintptr_t stream);
void merge_sorted_backward_cuda(const MergeArgs& a, int device, std::uintptr_t stream);
void distortion_forward_cuda(const DistortionArgs& a, int device, std::uintptr_t stream);
void distortion_backward_cuda(const DistortionArgs& a, int device, std::uintptr_t stream);
#endif

}  // namespace sample
}  // namespace fastgen
