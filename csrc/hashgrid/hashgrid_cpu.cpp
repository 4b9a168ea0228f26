// CPU launchers of the hashgrid family, calling the shared math of hashgrid.h. Tables are float32,
// float64, or float16 / bfloat16 read in place as raw bits (HalfBits / BFloat16Bits) and
// computed in float32, like the CUDA kernels.
//
// The forward and the input gradient run level-major: every thread walks the levels in order,
// each over its own fixed (static) range of points, so the gathers of a thread stay within one
// level's slice of the table at a time (4 MB for 2^19 rows x 2 float32 features: it fits in the
// last-level cache; point-major order would range over the whole table). One parallel region
// with no barrier between levels: many short regions stall on every barrier when the cores are
// shared with other processes.
//
// Determinism: a point is handled by one thread, its levels added in order. The table gradient
// is a scatter-add; it is parallelised over levels, each level's slice of grad_table owned by
// one thread that adds its points in index order, so the result is bitwise the same for any
// thread count (parallelism is at most n_levels threads).
#include "../common/dispatch.h"
#include "hashgrid.h"

namespace fastgen {
namespace hashgrid {

// f(n, l) for every point n and level l: levels in order, points statically split between the
// threads (OpenMP gives a thread the same points in every level's loop: same static schedule,
// same count), so whatever f accumulates per point needs no synchronisation.
template <typename F> void for_levels_points(int64_t n_levels, int64_t n_points, int n_threads, F&& f) {
#if defined(_OPENMP)
  const int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
#pragma omp parallel num_threads(nt)
  for (int64_t l = 0; l < n_levels; ++l) {
#pragma omp for schedule(static) nowait
    for (int64_t n = 0; n < n_points; ++n) f(n, l);
  }
#else
  (void)n_threads;
  for (int64_t l = 0; l < n_levels; ++l)
    for (int64_t n = 0; n < n_points; ++n) f(n, l);
#endif
}

// float32 / float64 / float16 / bfloat16 storage on the host.
template <typename F> void dispatch_table_dtype(int dtype, const char* op, F&& f) {
  switch (dtype) {
    case kFloat16: f(Tag<HalfBits>{}); break;
    case kBFloat16: f(Tag<BFloat16Bits>{}); break;
    default: dispatch_float(dtype, op, f);
  }
}

void forward_cpu(const ForwardArgs& a, int n_threads) {
  dispatch_table_dtype(a.cfg.dtype, "hash_grid_encode_forward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_dims_features(a.cfg.dims, a.cfg.features, "hash_grid_encode_forward",
                           [&](auto dims, auto features) {
      constexpr int D = decltype(dims)::value, F = decltype(features)::value;
      for_levels_points(a.cfg.n_levels, a.cfg.n_points, n_threads,
                        [&](int64_t n, int64_t l) { forward_point_level<T, D, F>(a, n, l); });
    });
  });
}

void backward_cpu(const BackwardArgs& a, int n_threads) {
  dispatch_table_dtype(a.cfg.dtype, "hash_grid_encode_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_dims_features(a.cfg.dims, a.cfg.features, "hash_grid_encode_backward",
                           [&](auto dims, auto features) {
      constexpr int D = decltype(dims)::value, F = decltype(features)::value;
      if (a.grad_table != nullptr) {
        const int64_t n_levels = a.cfg.n_levels;
        auto level = [&](int64_t l) {
          for (int64_t n = 0; n < a.cfg.n_points; ++n)
            backward_table_point_level<T, D, F>(a, n, l, [](acc_t<T>* p, acc_t<T> v) { *p += v; });
        };
#if defined(_OPENMP)
        const int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
        for (int64_t l = 0; l < n_levels; ++l) level(l);
#else
        for (int64_t l = 0; l < n_levels; ++l) level(l);
#endif
      }
      if (a.grad_x != nullptr) {  // grad_x is zeroed by Python
        acc_t<T>* grad_x = static_cast<acc_t<T>*>(a.grad_x);
        for_levels_points(a.cfg.n_levels, a.cfg.n_points, n_threads, [&](int64_t n, int64_t l) {
          backward_x_point_level<T, D, F>(a, n, l, grad_x + n * D);
        });
      }
    });
  });
}

}  // namespace hashgrid
}  // namespace fastgen
