// CPU launchers of the sample family: OpenMP over rays (or values), calling the shared math.
// float32 / float64 only (Python widens float16 / bfloat16 to float32).
//
// sample_pdf (forward and backward) and merge_sorted (forward and backward) have CPU row kernels
// here: the same formulas, in the same order of operations as the shared per-ray functions of
// sample.h (which the CUDA kernels run, one thread per ray), but with loops laid out for a CPU
// core. The shared versions branch on the data (which bin a sample falls in, which set the next
// merged value comes from), and those branches mispredict about every other step; the row
// kernels below keep a ray's rows in stack buffers and turn each such decision into arithmetic,
// so a step costs a few cycles instead of a pipeline flush, and compare integers on the chains
// that decide the next loads. They also prefetch the next ray's output rows. Rows longer than the
// buffers (and, for the merge, rows holding inf, NaN or -0, which the order keys below cannot
// take) go to the shared per-ray functions; tests cover both paths (tests/sample/test_long_rows.py).
#include <algorithm>
#include <cstring>
#include <limits>

#include "../common/dispatch.h"
#include "sample.h"

namespace fastgen {
namespace sample {
namespace {

// Largest rows the row kernels keep on the stack (elements).
constexpr int64_t kRowBins = 1024;     // sample_pdf: bins per ray
constexpr int64_t kRowSamples = 4096;  // sample_pdf: samples per ray without a record buffer
constexpr int64_t kRowMerge = 2048;    // merge_sorted: entries per ray of a and of b

// The bits of a float or double as a signed integer: for values >= +0 (and +inf) they order as the
// values do.
inline int32_t bits_of(float v) {
  int32_t k;
  std::memcpy(&k, &v, sizeof k);
  return k;
}
inline int64_t bits_of(double v) {
  int64_t k;
  std::memcpy(&k, &v, sizeof k);
  return k;
}

// An integer that orders as the value does, for finite values other than -0 (sign-magnitude bits
// turned into two's complement order: the magnitude bits of negative values are flipped).
// Returns false, with the key undefined, for inf, NaN and -0. value_of_key inverts it.
template <typename T> inline bool sortable_key(T v, decltype(bits_of(T(0)))& key) {
  using K = decltype(bits_of(T(0)));
  const K b = bits_of(v);
  key = b ^ ((b >> (8 * sizeof(K) - 1)) & std::numeric_limits<K>::max());
  return std::isfinite(v) & (b != std::numeric_limits<K>::min());
}
template <typename T> inline T value_of_key(decltype(bits_of(T(0))) key) {
  using K = decltype(bits_of(T(0)));
  const K b = key ^ ((key >> (8 * sizeof(K) - 1)) & std::numeric_limits<K>::max());
  T v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}

// Asks for the cache lines of [p, p + bytes) in a writable state, without waiting for them.
inline void prefetch_for_write(const void* p, int64_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (int64_t o = 0; o < bytes; o += 64) FG_PREFETCH_FOR_WRITE(c + o);
}

// c ? x : y on the bits, so that the compiler cannot turn the choice into a branch.
inline int64_t select(bool c, int64_t x, int64_t y) { return y ^ ((x ^ y) & -int64_t(c)); }

// ---------------------------------------------------------------------------- sample_pdf
// inv[j] = d < eps ? 1 : 1 / d with d = cdf[j + 1] - cdf[j], for j in [j0, B). GCC keeps this loop
// scalar (under -ftrapping-math it will not if-convert a select next to a division), and B scalar
// divisions are about a tenth of a ray's time: 16-byte vectors do 4 floats or 2 doubles at once.
// The small steps divide 1 by 1, so every value is the scalar loop's.
template <typename A> inline void reciprocal_steps_tail(const A* cdf, A* inv, int64_t j0, int64_t B, A eps) {
  for (int64_t j = j0; j < B; ++j) {
    const A d = cdf[j + 1] - cdf[j];
    inv[j] = d < eps ? A(1) : A(1) / d;
  }
}
#if defined(__GNUC__)  // GCC and clang vector extensions: 16 bytes, SSE2 on every x86-64
template <typename A> inline void reciprocal_steps(const A* cdf, A* inv, int64_t B, A eps) {
  typedef A V __attribute__((vector_size(16)));
  constexpr int64_t W = 16 / sizeof(A);
  const V one = V{} + A(1), e = V{} + eps;
  int64_t j = 0;
  for (; j + W <= B; j += W) {
    V lo, hi;
    std::memcpy(&lo, cdf + j, sizeof(V));
    std::memcpy(&hi, cdf + j + 1, sizeof(V));
    const V d = hi - lo, q = one / (d < e ? one : d);
    std::memcpy(inv + j, &q, sizeof(V));
  }
  reciprocal_steps_tail(cdf, inv, j, B, eps);
}
#else
template <typename A> inline void reciprocal_steps(const A* cdf, A* inv, int64_t B, A eps) {
  reciprocal_steps_tail(cdf, inv, int64_t(0), B, eps);
}
#endif

// Forward of one ray (sample_pdf_ray's definition): cdf[0..B] and the reciprocal step of every bin
// into buffers first, then each sample's bin count_k = #{j in 1..B : cdf[j] <= u_k} by a
// branch-free merge of the sorted u with the cdf, run as two independent chains (from the first
// sample up and from the last one down) so that the core overlaps their load latencies. Each step
// also writes its sample's result; a step that moves to the next bin writes a result that a later
// step of the same sample overwrites.
template <typename T> void sample_pdf_row(const SamplePdfArgs& a, int64_t r) {
  using A = acc_t<T>;
  const int64_t B = a.n_bins, n = a.n_samples;
  const T* bins = static_cast<const T*>(a.bins) + r * (B + 1);
  const T* w = static_cast<const T*>(a.weights) + r * B;
  const T* u = static_cast<const T*>(a.u) + r * a.u_stride;
  const A eps = static_cast<A>(a.eps);
  if (a.error != nullptr) sample_pdf_check_ray(bins, w, B, a.error);
  A cdf[kRowBins + 2], inv_step[kRowBins + 1], edge[kRowBins + 2];
  A run = 0;  // the running sums of sample_pdf_ray, in its order; the last one is the total
  for (int64_t j = 0; j < B; ++j) {
    run += static_cast<A>(w[j]) + eps;
    cdf[j + 1] = run;
  }
  const A inv = A(1) / run;
  cdf[0] = 0;
  for (int64_t j = 1; j < B; ++j) {
    const A c = cdf[j] * inv;
    cdf[j] = c < A(1) ? c : A(1);
  }
  cdf[B] = 1;
  cdf[B + 1] = A(INFINITY);  // read (not used) when the up chain is at count B
  reciprocal_steps(cdf, inv_step, B, eps);
  inv_step[B] = A(1);  // count B: below = above = B, a zero step
  for (int64_t j = 0; j <= B; ++j) edge[j] = static_cast<A>(bins[j]);
  edge[B + 1] = edge[B];  // above = min(count + 1, B)
  int32_t count_buf[kRowSamples];
  int32_t* count = a.below != nullptr ? a.below + r * n : count_buf;
  T* out = static_cast<T*>(a.samples) + r * n;
  if (r + 1 < a.n_rays) {  // the next ray's output rows: their write misses overlap this ray's work
    prefetch_for_write(out + n, n * sizeof(T));
    if (a.below != nullptr) {
      prefetch_for_write(count + n, n * sizeof(int32_t));
      prefetch_for_write(static_cast<T*>(a.frac) + (r + 1) * n, n * sizeof(T));
    }
  }
  T* frac = a.below != nullptr ? static_cast<T*>(a.frac) + r * n : nullptr;
  auto emit = [&](int64_t c, int64_t k, A uk) {
    const A f = (uk - cdf[c]) * inv_step[c];
    const A lo = edge[c], hi = edge[c + 1];
    out[k] = static_cast<T>(lo + f * (hi - lo));
    count[k] = static_cast<int32_t>(c);
    if (frac != nullptr) frac[k] = static_cast<T>(f);
  };
  // up: (j, k) from (0, 0), j counts the cdf entries <= u_k; down: from (B, n - 1), j is the
  // count while cdf[j] > u_k says it is too large. Samples [0, h) go up, [h, n) down. The count
  // stays in [0, B] whatever u holds (u is ours, in [0, 1], but the buffers must never overflow).
  // The comparisons on each chain's critical path run on integers: cdf and u lie in [0, 1] (cdf
  // also +inf), where the bit patterns order as the values do (u's sign bit is cleared first, so
  // -0 is 0); an integer compare is a cycle where a float one takes several.
  const int64_t h = n / 2;
  int64_t k_up = 0, j_up = 0, k_dn = n - 1, j_dn = B;
  auto key_at = [&](int64_t j) { return bits_of(cdf[j]); };
  auto u_key = [](A v) { const auto k = bits_of(v); return k < 0 ? decltype(k)(0) : k; };
  auto step_up = [&]() {
    const A uk = static_cast<A>(u[k_up]);
    const bool next_bin = (key_at(j_up + 1) <= u_key(uk)) & (j_up < B);
    emit(j_up, k_up, uk);
    j_up += next_bin;
    k_up += !next_bin;
  };
  auto step_down = [&]() {
    const A uk = static_cast<A>(u[k_dn]);
    const bool prev_bin = (key_at(j_dn) > u_key(uk)) & (j_dn > 0);
    emit(j_dn, k_dn, uk);
    j_dn -= prev_bin;
    k_dn -= !prev_bin;
  };
  while (k_up < h && k_dn >= h) step_up(), step_down();
  while (k_up < h) step_up();
  while (k_dn >= h) step_down();
}

// Backward from the forward's record: sums of g (1 - f) and g f per bin in stack buffers, then
// edge e = lo[e] + hi[e - 1] (edge B also takes hi[B]: below = above = B). Whole rows written.
template <typename T> void sample_pdf_grad_row(const SamplePdfGradArgs& a, int64_t r) {
  using A = acc_t<T>;
  const int64_t B = a.n_bins, n = a.n_samples;
  const int32_t* below = a.below + r * n;
  const T* frac = static_cast<const T*>(a.frac) + r * n;
  const T* g = static_cast<const T*>(a.grad_samples) + r * n;
  T* gb = static_cast<T*>(a.grad_bins) + r * (B + 1);
  if (B < 1) {  // one edge: it takes every sample's whole gradient (not reachable from Python)
    A s = 0;
    for (int64_t k = 0; k < n; ++k) s += static_cast<A>(g[k]);
    if (B == 0) gb[0] = static_cast<T>(s);
    return;
  }
  A lo[kRowBins + 1], hi[kRowBins + 1];
  for (int64_t j = 0; j <= B; ++j) lo[j] = 0, hi[j] = 0;
  for (int64_t k = 0; k < n; ++k) {
    uint32_t b = static_cast<uint32_t>(below[k]);
    b = b > static_cast<uint32_t>(B) ? static_cast<uint32_t>(B) : b;  // never outside the row
    const A gk = static_cast<A>(g[k]), fk = static_cast<A>(frac[k]);
    lo[b] += gk * (A(1) - fk);
    hi[b] += gk * fk;
  }
  gb[0] = static_cast<T>(lo[0]);
  for (int64_t e = 1; e < B; ++e) gb[e] = static_cast<T>(lo[e] + hi[e - 1]);
  gb[B] = static_cast<T>(lo[B] + hi[B - 1] + hi[B]);
}

// ---------------------------------------------------------------------------- merge_sorted
// Forward of one ray (merge_ray's definition: stable, ties take a first). The rows are copied as
// order keys (sortable_key: integers that compare as the values do) between sentinels, the
// smallest key before and the largest after, so that a set running out needs no test: with
// finite data a sentinel always loses the comparison. The front chain makes the first half of
// the outputs, the back chain (largest first) the rest; each step compares two integers (a
// cycle, where a float comparison takes several, on the chain that decides the next loads) and
// writes the key turned back into the value. Rays holding inf, NaN or -0 (whose key would order
// it below +0, which it ties with) or longer than the buffers take merge_ray.
template <typename T> void merge_row(const MergeArgs& a, int64_t r) {
  using K = decltype(bits_of(T(0)));
  const MergeRay m = merge_segments(a, r);
  const int64_t na = m.ae - m.as, nb = m.be - m.bs;
  const T* x = static_cast<const T*>(a.a) + m.as;
  const T* y = static_cast<const T*>(a.b) + m.bs;
  if (na == 0 || nb == 0 || na > kRowMerge || nb > kRowMerge) return merge_ray<T>(a, r);
  K xk[kRowMerge + 2], yk[kRowMerge + 2];
  int64_t bad = 0;  // entries that are not finite or are -0 (a count: the loops vectorise)
  for (int64_t i = 0; i < na; ++i) bad += !sortable_key(x[i], xk[i + 1]);
  for (int64_t j = 0; j < nb; ++j) bad += !sortable_key(y[j], yk[j + 1]);
  if (bad != 0) return merge_ray<T>(a, r);
  if (a.error != nullptr) {
    int64_t a_bad = 0, b_bad = 0;
    for (int64_t i = 2; i <= na; ++i) a_bad += xk[i] < xk[i - 1];
    for (int64_t j = 2; j <= nb; ++j) b_bad += yk[j] < yk[j - 1];
    if (a_bad | b_bad) set_error_bits(a.error, (a_bad ? kANotSorted : 0) | (b_bad ? kBNotSorted : 0));
  }
  const K lowest = std::numeric_limits<K>::min(), highest = std::numeric_limits<K>::max();
  xk[0] = yk[0] = lowest;
  xk[na + 1] = yk[nb + 1] = highest;
  T* out = static_cast<T*>(a.out) + m.os;
  int64_t* perm = a.perm + m.os;
  const int64_t total = na + nb, half = total / 2;
  if (r + 1 < a.n_rays) {  // the next ray's rows (guessed as long as this one's; prefetches never fault)
    prefetch_for_write(out + total, total * sizeof(T));
    prefetch_for_write(perm + total, total * sizeof(int64_t));
  }
  const int64_t pa = m.as + m.pa - 1, pb = m.bs + m.pb - 1;  // perm value of buffer index i: i + pa
  int64_t i = 1, j = 1, i2 = na, j2 = nb;
  auto front = [&](int64_t k) {
    const K xi = xk[i], yj = yk[j];
    const bool take_a = !(yj < xi);
    out[k] = value_of_key<T>(std::min(xi, yj));  // take_a ? xi : yj
    perm[k] = select(take_a, i + pa, j + pb);
    i += take_a;
    j += !take_a;
  };
  for (int64_t t = 0; t < half; ++t) {
    front(t);
    const K xb = xk[i2], yb = yk[j2];
    const bool take_b = !(yb < xb);
    out[total - 1 - t] = value_of_key<T>(std::max(yb, xb));  // take_b ? yb : xb
    perm[total - 1 - t] = select(take_b, j2 + pb, i2 + pa);
    j2 -= take_b;
    i2 -= !take_b;
  }
  if (total & 1) front(half);
}

// Backward of one ray (merge_backward_ray's definition): the destination array is chosen with
// integer arithmetic instead of a branch; a perm value outside the ray's segments (only possible
// with garbage packing on an unchecked device) is still skipped.
template <typename T> void merge_backward_row(const MergeArgs& a, int64_t r) {
  const MergeRay m = merge_segments(a, r);
  const T* g = static_cast<const T*>(a.grad_out);
  const int64_t na = m.ae - m.as, nb = m.be - m.bs, oe = m.os + na + nb;
  const int64_t lo_a = m.as + m.pa, lo_b = m.bs + m.pb;
  // perm value p names grad_a[p - pa] or grad_b[p - pb]: base addresses for index p
  const uintptr_t base_a = reinterpret_cast<uintptr_t>(a.grad_a) - static_cast<uintptr_t>(m.pa) * sizeof(T);
  const uintptr_t base_b = reinterpret_cast<uintptr_t>(a.grad_b) - static_cast<uintptr_t>(m.pb) * sizeof(T);
  for (int64_t k = m.os; k < oe; ++k) {
    const int64_t p = a.perm[k];
    const bool in_a = static_cast<uint64_t>(p - lo_a) < static_cast<uint64_t>(na);
    const bool in_b = static_cast<uint64_t>(p - lo_b) < static_cast<uint64_t>(nb);
    const uintptr_t base = base_b ^ ((base_a ^ base_b) & (uintptr_t(0) - uintptr_t(in_a)));
    if (FG_LIKELY(int(in_a) + int(in_b)))
      *reinterpret_cast<T*>(base + static_cast<uintptr_t>(p) * sizeof(T)) = g[k];
  }
}

// ---------------------------------------------------------------------------- distortion
// Forward of rays r0 .. r0 + 3 (distortion_forward_ray's definition). A ray's loss is four running
// sums, each step waiting on the last; four rays of the same length, back to back (every batched
// input), step in lockstep so that the core overlaps their four chains. Each ray's sums run in
// the same order as in distortion_forward_ray, so the losses are the same bits.
template <typename T> void distortion_forward_group(const DistortionArgs& a, int64_t r0) {
  using A = acc_t<T>;
  constexpr int P = 4;
  int64_t s[P], e[P];
  bool lockstep = r0 + P <= a.n_rays;
  for (int p = 0; p < P && lockstep; ++p) {
    segment_bounds(a.info, r0 + p, a.n_samples, s[p], e[p]);
    lockstep = e[p] - s[p] == e[0] - s[0] && (p == 0 || s[p] == e[p - 1]);
  }
  if (!lockstep) {
    for (int64_t r = r0; r < r0 + P && r < a.n_rays; ++r) distortion_forward_ray<T>(a, r);
    return;
  }
  const int64_t S = e[0] - s[0];
  const T* w = static_cast<const T*>(a.w) + s[0];
  const T* t0 = static_cast<const T*>(a.t0) + s[0];
  const T* t1 = static_cast<const T*>(a.t1) + s[0];
  A W[P] = {}, V[P] = {}, L[P] = {}, Q[P] = {};
  for (int64_t i = 0; i < S; ++i) {
    for (int p = 0; p < P; ++p) {
      const int64_t q = p * S + i;
      const A wi = static_cast<A>(w[q]), a0 = static_cast<A>(t0[q]), a1 = static_cast<A>(t1[q]);
      const A m = (a0 + a1) * A(0.5);
      L[p] += A(2) * wi * (m * W[p] - V[p]);
      Q[p] += wi * wi * (a1 - a0);
      W[p] += wi;
      V[p] += wi * m;
    }
  }
  for (int p = 0; p < P; ++p) static_cast<T*>(a.loss)[r0 + p] = static_cast<T>(L[p] + Q[p] / A(3));
}

}  // namespace

#define FG_SAMPLE_CPU(NAME, ARGS, COUNT, FN)                                    \
  void NAME##_cpu(const ARGS& a, int n_threads) {                               \
    dispatch_float(a.dtype, #NAME, [&](auto tag) {                              \
      using T = typename decltype(tag)::type;                                   \
      parallel_for(COUNT, n_threads, [&](int64_t i) { FN<T>(a, i); });          \
    });                                                                         \
  }

FG_SAMPLE_CPU(searchsorted, SearchsortedArgs, a.n_values, searchsorted_value)
FG_SAMPLE_CPU(inverse_cdf, InverseCdfArgs, a.n_out, inverse_cdf_value)
FG_SAMPLE_CPU(merge_sorted, MergeArgs, a.n_rays, merge_row)
FG_SAMPLE_CPU(merge_sorted_backward, MergeArgs, a.n_rays, merge_backward_row)
FG_SAMPLE_CPU(distortion_backward, DistortionArgs, a.n_rays, distortion_backward_ray)

#undef FG_SAMPLE_CPU

// The row kernels where the rows fit their buffers; the walk of sample_pdf_ray otherwise, and for
// the backward without a record (which walks the CDF again).
void sample_pdf_cpu(const SamplePdfArgs& a, int n_threads) {
  const bool rows = a.samples != nullptr && a.n_bins <= kRowBins && (a.below != nullptr || a.n_samples <= kRowSamples);
  dispatch_float(a.dtype, "sample_pdf", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (rows) parallel_for(a.n_rays, n_threads, [&](int64_t i) { sample_pdf_row<T>(a, i); });
    else parallel_for(a.n_rays, n_threads, [&](int64_t i) { sample_pdf_ray<T>(a, i); });
  });
}

void distortion_forward_cpu(const DistortionArgs& a, int n_threads) {
  dispatch_float(a.dtype, "distortion_forward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    parallel_for((a.n_rays + 3) / 4, n_threads, [&](int64_t q) { distortion_forward_group<T>(a, 4 * q); });
  });
}

void sample_pdf_grad_cpu(const SamplePdfGradArgs& a, int n_threads) {
  const bool rows = a.n_bins <= kRowBins;
  dispatch_float(a.dtype, "sample_pdf_grad", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (rows) parallel_for(a.n_rays, n_threads, [&](int64_t i) { sample_pdf_grad_row<T>(a, i); });
    else parallel_for(a.n_rays, n_threads, [&](int64_t i) { sample_pdf_grad_ray<T>(a, i); });
  });
}

}  // namespace sample
}  // namespace fastgen
