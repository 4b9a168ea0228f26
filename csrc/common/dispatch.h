// Host-side helpers shared by the launchers: dtype dispatch and the OpenMP loop over rays.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "common.h"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace fastgen {

// Carries a type into a generic lambda: f(Tag<float>{}); inside, T = typename decltype(tag)::type.
template <typename T> struct Tag { using type = T; };

[[noreturn]] inline void unsupported_dtype(const char* op, int dtype) {
  throw std::invalid_argument(std::string(op) + ": unsupported dtype code " +
                              std::to_string(dtype));
}

// float32 / float64.
template <typename F> void dispatch_float(int dtype, const char* op, F&& f) {
  switch (dtype) {
    case kFloat32: f(Tag<float>{}); break;
    case kFloat64: f(Tag<double>{}); break;
    default: unsupported_dtype(op, dtype);
  }
}

#if defined(__CUDACC__)
// float32 / float64 / float16 / bfloat16 (device code only: the CPU never sees half types).
template <typename F> void dispatch_float_and_half(int dtype, const char* op, F&& f) {
  switch (dtype) {
    case kFloat32: f(Tag<float>{}); break;
    case kFloat64: f(Tag<double>{}); break;
    case kFloat16: f(Tag<__half>{}); break;
    case kBFloat16: f(Tag<__nv_bfloat16>{}); break;
    default: unsupported_dtype(op, dtype);
  }
}
#endif

// Runs f(i) for i in [0, n) on n_threads OpenMP threads (<= 0: the OpenMP default). Items are
// independent (one ray each), so the result does not depend on the thread count; dynamic
// scheduling because rays have very different lengths.
template <typename F> void parallel_for(int64_t n, int n_threads, F&& f) {
#if defined(_OPENMP)
  const int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 256) num_threads(nt)
  for (int64_t i = 0; i < n; ++i) f(i);
#else
  (void)n_threads;
  for (int64_t i = 0; i < n; ++i) f(i);
#endif
}

}  // namespace fastgen
