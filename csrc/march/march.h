// March family: ray/AABB intersection and ray marching through occupancy grids with empty-space
// skipping (a 3D DDA over the cells of one or more binary grids).
//
// Every function is FG_HOST_DEVICE, so the CPU launcher (march_cpu.cpp, OpenMP over rays) and
// the CUDA kernels (march_cuda.cu, one thread per ray) run exactly this code, and the Triton
// kernels and the PyTorch reference (fastgen/ops/march/) follow the same operations in the same
// order, so all backends produce the same samples bit for bit (up to the FMA contraction a GPU
// compiler may apply; products here go through mul_rn, which forbids it in CUDA).
//
// Definition of the samples (the reference computes it by brute force, the kernels by DDA):
//   * per ray, [t_lo, t_hi] = [max(near, min_l entry_l), min(far, max_l exit_l)] over the grids'
//     boxes l that the ray crosses (slab test, an axis with d = 0 handled exactly);
//   * candidate intervals [t_k, t_k + dt_k]: with cone_angle = 0, t_k = t_0 + k * step (a fixed
//     lattice, so skipping never shifts a sample); with cone_angle > 0, t_{k+1} = t_k + dt_k and
//     dt_k = clamp(t_k * cone_angle, step, max_step). t_0 = t_lo + jitter * dt(t_lo). Candidates
//     end at t_k + dt_k <= t_hi;
//   * a candidate is kept iff the cell containing its midpoint t_k + dt_k / 2 is occupied, in the
//     first grid (in level order) whose closed box contains that point.
// The DDA looks a cell up once, then emits or skips every following candidate whose midpoint
// lies before the cell's exit, shrunk by a margin (kMargin relative) so that float rounding can
// never attribute a skipped candidate to the wrong cell; a candidate near the exit is simply
// looked up again. Candidates are therefore decided exactly as the brute-force definition says.
#pragma once

#include <cstdint>

#include "../common/common.h"

namespace fastgen {
namespace march {

// Relative margin (of the coordinates' magnitude) by which a cell is shrunk before its exit is
// used to skip candidates; far above float32 rounding, far below any sensible cell size.
constexpr double kMargin = 1e-5;

template <typename T> FG_HOST_DEVICE T mul_rn(T a, T b) {
#if defined(__CUDA_ARCH__)
  return a * b;  // specialised below: __fmul_rn / __dmul_rn are never contracted into an FMA
#else
  return a * b;
#endif
}
#if defined(__CUDA_ARCH__)
template <> __device__ __forceinline__ float mul_rn<float>(float a, float b) { return __fmul_rn(a, b); }
template <> __device__ __forceinline__ double mul_rn<double>(double a, double b) { return __dmul_rn(a, b); }
#endif

template <typename T> FG_HOST_DEVICE T fg_min(T a, T b) { return b < a ? b : a; }
template <typename T> FG_HOST_DEVICE T fg_max(T a, T b) { return b > a ? b : a; }
template <typename T> FG_HOST_DEVICE T fg_inf() { return static_cast<T>(INFINITY); }
template <typename T> FG_HOST_DEVICE T fg_abs(T a) { return a < T(0) ? -a : a; }

// Slab test of the ray o + t d against box (lo[3], hi[3]) = box[0..5]: the parameter interval
// [t0, t1] inside the box. An axis with d = 0 is the whole line if lo <= o <= hi, else empty
// (t0 = +inf, t1 = -inf), never NaN. The box is grown by `grow` on every side.
template <typename T>
FG_HOST_DEVICE void slab(const T* o, const T* d, const T* box, T grow, T& t0, T& t1) {
  t0 = -fg_inf<T>();
  t1 = fg_inf<T>();
  for (int a = 0; a < 3; ++a) {
    const T lo = box[a] - grow, hi = box[a + 3] + grow;
    if (d[a] == T(0)) {
      if (o[a] < lo || o[a] > hi) {
        t0 = fg_inf<T>();
        t1 = -fg_inf<T>();
        return;
      }
      continue;
    }
    const T ta = (lo - o[a]) / d[a], tb = (hi - o[a]) / d[a];
    t0 = fg_max(t0, fg_min(ta, tb));
    t1 = fg_min(t1, fg_max(ta, tb));
  }
}

// ---------------------------------------------------------------------------------------------
// ray_aabb_intersect: nerfacc's definition, for every (ray, box) pair i = ray * n_aabbs + box:
// hit = t_max > t_min and t_max > 0; then both are clamped to [near, far]; a miss gets miss_value.
struct RayAabbArgs {
  const void* rays_o;  // (R, 3)
  const void* rays_d;  // (R, 3)
  const void* aabbs;   // (M, 6)
  void* t_mins;        // (R, M)
  void* t_maxs;        // (R, M)
  bool* hits;          // (R, M)
  int64_t n_rays, n_aabbs;
  double near_plane, far_plane, miss_value;
  int dtype;
};

template <typename T> FG_HOST_DEVICE void ray_aabb_pair(const RayAabbArgs& a, int64_t i) {
  const int64_t r = i / a.n_aabbs, m = i - r * a.n_aabbs;
  const T* o = static_cast<const T*>(a.rays_o) + 3 * r;
  const T* d = static_cast<const T*>(a.rays_d) + 3 * r;
  const T* box = static_cast<const T*>(a.aabbs) + 6 * m;
  T t0, t1;
  slab(o, d, box, T(0), t0, t1);
  const bool hit = t1 > t0 && t1 > T(0);
  const T near = static_cast<T>(a.near_plane), far = static_cast<T>(a.far_plane);
  const T miss = static_cast<T>(a.miss_value);
  static_cast<T*>(a.t_mins)[i] = hit ? fg_min(fg_max(t0, near), far) : miss;
  static_cast<T*>(a.t_maxs)[i] = hit ? fg_min(fg_max(t1, near), far) : miss;
  a.hits[i] = hit;
}

// ---------------------------------------------------------------------------------------------
// traverse: march each ray through the grids. Modes: kCount writes counts[r]; kPacked writes the
// samples of ray r at packed_info[r] = (start, count) (from the count pass); kBatched writes at
// most `max_per_ray` samples at r * max_per_ray and counts[r] (no count pass, no sync).
enum TraverseMode : int { kCount = 0, kPacked = 1, kBatched = 2 };

struct TraverseArgs {
  const void* rays_o;        // (R, 3)
  const void* rays_d;        // (R, 3)
  const uint8_t* binaries;   // (L, X, Y, Z) bool
  const void* aabbs;         // (L, 6)
  const void* near_planes;   // (R,)
  const void* far_planes;    // (R,)
  const void* jitter;        // (R,) in [0, 1), or nullptr
  int64_t n_rays, n_levels, res_x, res_y, res_z;
  double step, cone_angle, max_step;
  int dtype;
  int mode;
  int64_t* counts;             // kCount / kBatched: (R,)
  const int64_t* packed_info;  // kPacked: (R, 2)
  void* t_starts;              // kPacked: (N,), kBatched: (R, K)
  void* t_ends;
  int64_t* ray_indices;        // kPacked: (N,) or nullptr
  int64_t n_out;               // kPacked: N; kBatched: K = max samples per ray
};

// Per-ray constants of the DDA. `enter`/`leave` cache, for the first kCachedBoxes boxes, the span
// of the ray inside the box grown by the margin: lookups then stop at a box that takes precedence
// without a slab test each (the ray's spans do not depend on where along it the lookup is).
constexpr int kCachedBoxes = 8;

template <typename T> struct Ray {
  T o[3], d[3], inv_d[3];  // inv_d: 1 / d (0 where d = 0), only for the conservative exits
  T scale;                 // |o|_1, the magnitude the margins scale with
  T enter[kCachedBoxes], leave[kCachedBoxes];
};

template <typename T> FG_HOST_DEVICE T box_grow(const T* b, T scale) {
  return static_cast<T>(kMargin) * (scale + fg_abs(b[0]) + fg_abs(b[3]) + fg_abs(b[1]) + fg_abs(b[4]) +
                                    fg_abs(b[2]) + fg_abs(b[5]));
}

// The cell region containing the point at parameter t: whether it is occupied and a parameter
// `safe` such that every point of the ray in [t, safe) lies in the same region (the same cell of
// the same grid, or outside every box), by a margin.
template <typename T>
FG_HOST_DEVICE bool lookup(const TraverseArgs& a, const Ray<T>& ray, T t, T& safe) {
  const T* boxes = static_cast<const T*>(a.aabbs);
  T p[3];
  for (int c = 0; c < 3; ++c) p[c] = ray.o[c] + mul_rn(t, ray.d[c]);
  int64_t level = -1;
  for (int64_t l = 0; l < a.n_levels && level < 0; ++l) {
    const T* b = boxes + 6 * l;
    if (b[0] <= p[0] && p[0] <= b[3] && b[1] <= p[1] && p[1] <= b[4] && b[2] <= p[2] &&
        p[2] <= b[5])
      level = l;
  }
  const T margin = static_cast<T>(kMargin);
  const T scale = ray.scale;
  safe = fg_inf<T>();
  // A grid that takes precedence (every one if the point is in no box) may be entered later:
  // stop at its entry, computed on the box grown by the margin.
  const int64_t before = level < 0 ? a.n_levels : level;
  for (int64_t l = 0; l < before; ++l) {
    T t0, t1;
    if (l < kCachedBoxes) {
      t0 = ray.enter[l];
      t1 = ray.leave[l];
    } else {
      const T* b = boxes + 6 * l;
      slab(ray.o, ray.d, b, box_grow(b, scale), t0, t1);
    }
    if (t1 >= t0 && t1 > t) safe = fg_min(safe, t0);
  }
  if (level < 0) return false;
  const T* b = boxes + 6 * level;
  const int64_t res[3] = {a.res_x, a.res_y, a.res_z};
  int64_t idx[3];
  for (int c = 0; c < 3; ++c) {
    const T ext = b[c + 3] - b[c];
    const T u = (p[c] - b[c]) / ext * static_cast<T>(res[c]);
    int64_t i = static_cast<int64_t>(floor(u));
    i = i < 0 ? 0 : (i >= res[c] ? res[c] - 1 : i);
    idx[c] = i;
    if (ray.d[c] != T(0)) {
      // The cell's face the ray leaves through, moved inwards by the margin.
      const T delta = margin * (scale + fg_abs(b[c]) + fg_abs(b[c + 3]));
      const T face = ray.d[c] > T(0)
                         ? b[c] + ext * (static_cast<T>(i + 1) / static_cast<T>(res[c])) - delta
                         : b[c] + ext * (static_cast<T>(i) / static_cast<T>(res[c])) + delta;
      safe = fg_min(safe, (face - ray.o[c]) * ray.inv_d[c]);  // rounding far inside the margin
    }
  }
  const int64_t cell = ((level * a.res_x + idx[0]) * a.res_y + idx[1]) * a.res_z + idx[2];
  return a.binaries[cell] != 0;
}

template <typename T> FG_HOST_DEVICE T step_at(const TraverseArgs& a, T t) {
  const T step = static_cast<T>(a.step);
  if (a.cone_angle == 0.0) return step;
  return fg_min(fg_max(mul_rn(t, static_cast<T>(a.cone_angle)), step), static_cast<T>(a.max_step));
}

// Marches ray r and calls emit(k, t_start, t_end) for each kept interval, k = 0, 1, ... in order;
// emit returns false to stop early. Returns the number of intervals emitted.
template <typename T, typename Emit>
FG_HOST_DEVICE int64_t march_ray(const TraverseArgs& a, int64_t r, Emit&& emit) {
  Ray<T> ray;
  for (int c = 0; c < 3; ++c) {
    ray.o[c] = static_cast<const T*>(a.rays_o)[3 * r + c];
    ray.d[c] = static_cast<const T*>(a.rays_d)[3 * r + c];
    ray.inv_d[c] = ray.d[c] != T(0) ? T(1) / ray.d[c] : T(0);
  }
  ray.scale = fg_abs(ray.o[0]) + fg_abs(ray.o[1]) + fg_abs(ray.o[2]);
  const T* boxes = static_cast<const T*>(a.aabbs);
  for (int64_t l = 0; l < a.n_levels && l < kCachedBoxes; ++l)
    slab(ray.o, ray.d, boxes + 6 * l, box_grow(boxes + 6 * l, ray.scale), ray.enter[l], ray.leave[l]);
  T t_lo = fg_inf<T>(), t_hi = -fg_inf<T>();
  for (int64_t l = 0; l < a.n_levels; ++l) {
    T t0, t1;
    slab(ray.o, ray.d, boxes + 6 * l, T(0), t0, t1);
    if (t1 > t0) {
      t_lo = fg_min(t_lo, t0);
      t_hi = fg_max(t_hi, t1);
    }
  }
  t_lo = fg_max(t_lo, static_cast<const T*>(a.near_planes)[r]);
  t_hi = fg_min(t_hi, static_cast<const T*>(a.far_planes)[r]);
  if (!(t_lo < t_hi)) return 0;
  const bool lattice = a.cone_angle == 0.0;
  const T step = static_cast<T>(a.step), half = T(0.5);
  const T t_first = a.jitter != nullptr
                        ? t_lo + mul_rn(static_cast<const T*>(a.jitter)[r], step_at(a, t_lo))
                        : t_lo;
  T t = t_first, dt = step_at(a, t_first);
  int64_t k = 0, n = 0;
  T safe = -fg_inf<T>();  // the current cell region is valid for midpoints < safe
  bool occupied = false;
  while (true) {
    const T t_end = t + dt;
    if (!(t_end <= t_hi) || !(t_end > t)) break;  // past the end, or a step lost to rounding
    const T mid = t + mul_rn(dt, half);
    if (!(mid < safe)) occupied = lookup(a, ray, mid, safe);
    if (occupied) {
      if (!emit(n, t, t_end)) return n + 1;
      ++n;
      ++k;
    } else if (lattice) {
      // Skip to the first lattice point whose midpoint may lie at or past `safe` (one early at
      // worst: it is then skipped by the next round), and never go backwards.
      if (!(safe < t_hi)) break;
      const T q = (safe - t_first) / step - half;
      const int64_t jump = q < T(9.0e18) ? static_cast<int64_t>(floor(q)) : k + 1;
      k = jump > k + 1 ? jump : k + 1;
    } else {
      if (!(safe < t_hi)) break;
      // Cone steps have no closed form: step through the empty cell without looking it up.
      T tt = t_end, d2 = step_at(a, t_end);
      while (tt + mul_rn(d2, half) < safe && tt + d2 <= t_hi && tt + d2 > tt) {
        tt = tt + d2;
        d2 = step_at(a, tt);
      }
      t = tt;
      dt = d2;
      continue;
    }
    if (lattice) {
      t = t_first + mul_rn(static_cast<T>(k), step);
    } else {
      t = t_end;
      dt = step_at(a, t);
    }
  }
  return n;
}

template <typename T> FG_HOST_DEVICE void traverse_ray(const TraverseArgs& a, int64_t r) {
  if (a.mode == kCount) {
    a.counts[r] = march_ray<T>(a, r, [](int64_t, T, T) { return true; });
  } else if (a.mode == kPacked) {
    int64_t s, e;
    segment_bounds(a.packed_info, r, a.n_out, s, e);
    if (s == e) return;  // no samples reserved (most rays of a sparse grid): nothing to march
    T* t0 = static_cast<T*>(a.t_starts);
    T* t1 = static_cast<T*>(a.t_ends);
    int64_t* ids = a.ray_indices;
    march_ray<T>(a, r, [&](int64_t n, T ts, T te) {
      if (s + n >= e) return false;  // never past the segment the count pass reserved
      t0[s + n] = ts;
      t1[s + n] = te;
      if (ids != nullptr) ids[s + n] = r;
      return true;
    });
  } else {
    const int64_t K = a.n_out;
    T* t0 = static_cast<T*>(a.t_starts) + r * K;
    T* t1 = static_cast<T*>(a.t_ends) + r * K;
    int64_t n = K > 0 ? march_ray<T>(a, r, [&](int64_t i, T ts, T te) {
      t0[i] = ts;
      t1[i] = te;
      return i + 1 < K;
    }) : 0;
    n = n < K ? n : K;
    a.counts[r] = n;
    for (int64_t i = n; i < K; ++i) {  // padding: empty intervals at the last end (or 0)
      const T pad = n > 0 ? t1[n - 1] : T(0);
      t0[i] = pad;
      t1[i] = pad;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Occupancy-grid update (OccGridEstimator.update_every_n_steps), float32 occupancies:
//   occ_scatter_max: best[cell_ids[i]] = max(best[...], values[i]) for every sample i (best is
//     -inf-filled by Python; max is order independent, so the result is deterministic);
//   occ_ema: for every cell c with best[c] > -inf and occs[c] >= 0 (a negative occupancy marks
//     a cell no camera sees, which stays so): occs[c] = max(occs[c] * decay, best[c]).
struct OccUpdateArgs {
  float* occs;              // (C,)
  float* best;              // (C,)
  const int64_t* cell_ids;  // (S,) in [0, C) (checked by Python)
  const float* values;      // (S,)
  int64_t n_cells, n_samples;
  double decay;
};

FG_HOST_DEVICE void atomic_max_float(float* addr, float v) {
#if defined(__CUDA_ARCH__)
  int* word = reinterpret_cast<int*>(addr);
  int old = *word;
  while (__int_as_float(old) < v) {
    const int seen = atomicCAS(word, old, __float_as_int(v));
    if (seen == old) break;
    old = seen;
  }
#elif defined(__GNUC__) || defined(__clang__)
  float cur;
  __atomic_load(addr, &cur, __ATOMIC_RELAXED);
  while (cur < v && !__atomic_compare_exchange(addr, &cur, &v, false, __ATOMIC_RELAXED,
                                               __ATOMIC_RELAXED)) {
  }
#else
#pragma omp critical(fastgen_atomic_max_float)
  if (*addr < v) *addr = v;
#endif
}

FG_HOST_DEVICE void occ_scatter_max_sample(const OccUpdateArgs& a, int64_t i) {
  const int64_t c = a.cell_ids[i];
  if (c >= 0 && c < a.n_cells) atomic_max_float(a.best + c, a.values[i]);
}

FG_HOST_DEVICE void occ_ema_cell(const OccUpdateArgs& a, int64_t c) {
  const float b = a.best[c], o = a.occs[c];
  if (b > -INFINITY && o >= 0.0f) a.occs[c] = fg_max(o * static_cast<float>(a.decay), b);
}

// Launchers (march_cpu.cpp / march_cuda.cu).
void ray_aabb_intersect_cpu(const RayAabbArgs& a, int n_threads);
void traverse_cpu(const TraverseArgs& a, int n_threads);
void occ_scatter_max_cpu(const OccUpdateArgs& a, int n_threads);
void occ_ema_cpu(const OccUpdateArgs& a, int n_threads);
#if defined(FASTGEN_WITH_CUDA)
void ray_aabb_intersect_cuda(const RayAabbArgs& a, int device, std::uintptr_t stream);
void traverse_cuda(const TraverseArgs& a, int device, std::uintptr_t stream);
void occ_scatter_max_cuda(const OccUpdateArgs& a, int device, std::uintptr_t stream);
void occ_ema_cuda(const OccUpdateArgs& a, int device, std::uintptr_t stream);
#endif

}  // namespace march
}  // namespace fastgen
