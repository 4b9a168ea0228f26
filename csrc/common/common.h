// Shared by every kernel family, on the host (g++) and on the device (nvcc). No torch here:
// Python hands the C++ core raw pointers, sizes and stream handles as plain integers.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#define FG_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define FG_HOST_DEVICE inline
#endif

// `#pragma unroll` for nvcc's device pass; host compilers unroll on their own at -O3.
#if defined(__CUDA_ARCH__)
#define FG_UNROLL _Pragma("unroll")
#else
#define FG_UNROLL
#endif

// Host hints where the compiler has them (GCC, clang): a branch that is almost always taken, and
// a prefetch of a cache line that is about to be written.
#if defined(__GNUC__)
#define FG_LIKELY(x) __builtin_expect(!!(x), 1)
#define FG_PREFETCH_FOR_WRITE(p) __builtin_prefetch((p), 1, 3)
#else
#define FG_LIKELY(x) (x)
#define FG_PREFETCH_FOR_WRITE(p) ((void)(p))
#endif

namespace fastgen {

// Storage dtypes understood by the launchers. Exported to Python as _C.FLOAT32, ... so the
// values are defined only here.
enum DType : int { kFloat32 = 0, kFloat64 = 1, kFloat16 = 2, kBFloat16 = 3 };

// Accumulation type for a storage type: double for double, float for everything else.
template <typename T> struct AccType { using type = float; };
template <> struct AccType<double> { using type = double; };
template <typename T> using acc_t = typename AccType<T>::type;

// Load a stored value into the accumulation type and store it back (round to nearest).
template <typename T> struct Cvt {
  FG_HOST_DEVICE static acc_t<T> load(T v) { return static_cast<acc_t<T>>(v); }
  FG_HOST_DEVICE static T store(acc_t<T> v) { return static_cast<T>(v); }
};
#if defined(__CUDACC__)
template <> struct Cvt<__half> {
  FG_HOST_DEVICE static float load(__half v) { return __half2float(v); }
  FG_HOST_DEVICE static __half store(float v) { return __float2half_rn(v); }
};
template <> struct Cvt<__nv_bfloat16> {
  FG_HOST_DEVICE static float load(__nv_bfloat16 v) { return __bfloat162float(v); }
  FG_HOST_DEVICE static __nv_bfloat16 store(float v) { return __float2bfloat16_rn(v); }
};
#endif

// exp(x) - 1, accurate near 0. The float version is ours because glibc's expm1f costs ~8 ns
// against ~3 ns for expf, and it dominated the CPU compositing kernels. Where expf(x) - 1 would
// cancel (|x| < 0.5) it sums the Taylor series to x^9 (truncation < 1e-9 relative): Horner for
// the leading terms, which decide the rounding, and a shallow Estrin tree for the tail, which
// keeps the dependency chain short. Elsewhere it is expf(x) - 1. Max error 1.6 ulp over
// [-100, 2] (checked against double expm1); -inf -> -1, NaN -> NaN. Host and device run the same
// code, so the CPU tests exercise the GPU arithmetic.
FG_HOST_DEVICE float fg_expm1(float x) {
  if (fabsf(x) < 0.5f) {
    const float x2 = x * x;
    const float tail = (1.0f / 120.0f + x * (1.0f / 720.0f)) +
                       x2 * ((1.0f / 5040.0f + x * (1.0f / 40320.0f)) + x2 * (1.0f / 362880.0f));
    return x * (1.0f + x * (0.5f + x * (1.0f / 6.0f + x * (1.0f / 24.0f + x * tail))));
  }
  return expf(x) - 1.0f;
}
FG_HOST_DEVICE double fg_expm1(double x) { return expm1(x); }

// Sets `bits` in a flag shared by every thread of a launch (host threads or device threads).
// Used by the kernels' data checks, which fail only on bad input, so the atomic is rare.
FG_HOST_DEVICE void set_error_bits(int* flag, int bits) {
#if defined(__CUDA_ARCH__)
  atomicOr(flag, bits);
#else
  __atomic_fetch_or(flag, bits, __ATOMIC_RELAXED);
#endif
}

// The sample range [s, e) of segment r of a (start, count) table, clamped to [0, n) so that any
// table, even garbage (negative starts, counts past n, overflowing start + count), is safe:
//   s = clamp(start, 0, n),  e = clamp(start + max(count, 0), s, n).
FG_HOST_DEVICE void segment_bounds(const int64_t* packed_info, int64_t r, int64_t n,
                                   int64_t& s, int64_t& e) {
  const int64_t start = packed_info[2 * r];
  const int64_t count = packed_info[2 * r + 1];
  s = start < 0 ? 0 : (start > n ? n : start);
  if (count <= 0 || start >= n) {
    e = s;
  } else if (start < 0) {  // start + count cannot overflow: a negative plus a positive
    const int64_t end = start + count;
    e = end < s ? s : (end > n ? n : end);
  } else {                 // 0 <= start < n, so n - start cannot overflow
    e = count >= n - start ? n : start + count;
  }
}

}  // namespace fastgen
