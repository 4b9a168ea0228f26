// CPU launchers of the hashgrid family, calling the shared math of hashgrid.h. Tables are float32,
// float64, or float16 / bfloat16 read in place as raw bits (HalfBits / BFloat16Bits) and
// computed in float32, like the CUDA kernels.
//
// Every pass runs level-major, so that the gathers stay within one level's slice of the table
// at a time (4 MB for 2^19 rows x 2 float32 features: it fits in the last-level cache;
// point-major order would range over the whole table). The forward and the table gradient are
// software-pipelined (forward_range, scatter_level): the rows of a point a few ahead are
// computed and prefetched, so that the random gathers overlap instead of each waiting on
// memory. The forward hands out (level, chunk of points) items dynamically; the input gradient
// gives every thread a fixed (static) range of points in every level, in one parallel region
// with no barrier between levels (short regions stall on every barrier when the cores are
// shared with other processes).
//
// Determinism: a point's input gradient is handled by one thread, its levels added in order.
// The table gradient is a scatter-add; it is parallelised over levels, each level's slice of
// grad_table owned by one thread that adds its points in index order, so the result is bitwise
// the same for any thread count (parallelism is at most n_levels threads).
//
// float16 tables on x86: where the CPU has F16C (checked at run time, so the binary needs no
// -mf16c and still runs without it), the gathers convert each table row with one vcvtph2ps
// (HalfBitsF16C) instead of the bit manipulation of half_to_float, which dominated the float16
// forward, and the table gradient is rounded to float16 with vcvtps2ph. The values are the same
// (half -> float is exact either way; float -> half rounds to nearest even either way; only NaN
// payloads may differ); Config::no_f16c (FASTGEN_NO_F16C=1 in Python) forces the portable path.
#include <cstring>
#include <type_traits>
#include <vector>

#include "../common/dispatch.h"
#include "hashgrid.h"

#if defined(__x86_64__) && defined(__GNUC__)  // SSE2 is baseline there
#define FG_HASHGRID_F16C 1
#include <emmintrin.h>
#else
#define FG_HASHGRID_F16C 0
#endif

namespace fastgen {
namespace hashgrid {

#if FG_HASHGRID_F16C
// float16 storage read with F16C. Only dispatched where has_f16c(); scalar uses (the store of
// the output) go through the portable bit conversions.
struct HalfBitsF16C { uint16_t bits; };
}  // namespace hashgrid

template <> struct Cvt<hashgrid::HalfBitsF16C> {
  static float load(hashgrid::HalfBitsF16C v) { return hashgrid::half_to_float(v.bits); }
  static hashgrid::HalfBitsF16C store(float v) { return {hashgrid::float_to_half(v)}; }
};

namespace hashgrid {
// vcvtph2ps on the low 4 halves of h. Inline assembly rather than the _mm_cvtph_ps intrinsic,
// which would need -mf16c (or a target attribute on every caller, the shared templates
// included); VEX.128 only, so no upper-state transition cost next to the SSE code around it.
inline __m128 cvtph_ps(__m128i h) {
  __m128 r;
  asm("vcvtph2ps %1, %0" : "=x"(r) : "x"(h));
  return r;
}

// vcvtps2ph (round to nearest even) of 4 floats into the low 4 halves.
inline __m128i cvtps_ph(__m128 f) {
  __m128i r;
  asm("vcvtps2ph $0, %1, %0" : "=x"(r) : "x"(f));
  return r;
}

template <int F> struct RowLoad<HalfBitsF16C, F> {
  static void load(const HalfBitsF16C* row, float* v) {
    if constexpr (F == 1) {
      v[0] = _mm_cvtss_f32(cvtph_ps(_mm_cvtsi32_si128(row[0].bits)));
    } else if constexpr (F == 2) {
      uint32_t b;
      std::memcpy(&b, row, 4);
      const __m128 r = cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(b)));
      v[0] = _mm_cvtss_f32(r);
      v[1] = _mm_cvtss_f32(_mm_shuffle_ps(r, r, 1));
    } else {
      static_assert(F % 4 == 0, "F in {1, 2, 4, 8}");
      for (int k = 0; k < F; k += 4)
        _mm_storeu_ps(v + k, cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + k))));
    }
  }
};

// F16C instructions are VEX-encoded: the CPU must have them and the OS must save AVX state
// (libgcc's "avx" includes the OS check).
inline bool has_f16c() {
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
  }();
  return ok;
}
#endif

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

// The forward of points [begin, end) at level l, software-pipelined: the cell rows of point
// n + kAhead are computed and their table rows prefetched while point n is interpolated. The
// gathers are random rows of a level's slice (MBs: mostly cache misses), and without this each
// point waits on its own; the out-of-order window alone covers only a couple of points.
constexpr int kAhead = 8;  // a power of two
template <typename T, int D, int F>
void forward_range(const ForwardArgs& a, int64_t l, int64_t begin, int64_t end) {
  using C = acc_t<T>;
  const C* x = static_cast<const C*>(a.x);
  const T* slice = static_cast<const T*>(a.table) + l * a.cfg.table_size * F;
  CellRows<C, D> ring[kAhead];
  auto ahead = [&](int64_t n) {
    CellRows<C, D>& c = ring[n & (kAhead - 1)];
    cell_rows<C, D>(a.cfg, x, n, l, c);
FG_HASHGRID_UNROLL
    for (int corner = 0; corner < (1 << D); ++corner) __builtin_prefetch(slice + c.row[corner] * F);
  };
  for (int64_t n = begin; n < end && n < begin + kAhead; ++n) ahead(n);
  for (int64_t n = begin; n < end; ++n) {
    interpolate_point_level<T, D, F>(a, n, l, ring[n & (kAhead - 1)]);
    if (n + kAhead < end) ahead(n + kAhead);  // into the slot just read
  }
}

// The forward over (level, chunk of points) items, level-major, handed out dynamically: every
// (point, level) output is written once and independently, so any schedule gives the same
// result, and a dynamic one keeps both threads busy when the cores are shared.
constexpr int64_t kForwardChunk = 1024;
template <typename T, int D, int F> void forward_levels(const ForwardArgs& a, int n_threads) {
  const int64_t n = a.cfg.n_points, chunks = (n + kForwardChunk - 1) / kForwardChunk;
  const int64_t items = chunks * a.cfg.n_levels;
  auto item = [&](int64_t i) {
    const int64_t l = i / chunks, begin = (i % chunks) * kForwardChunk;
    forward_range<T, D, F>(a, l, begin, begin + kForwardChunk < n ? begin + kForwardChunk : n);
  };
#if defined(_OPENMP)
  const int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
  for (int64_t i = 0; i < items; ++i) item(i);
#else
  (void)n_threads;
  for (int64_t i = 0; i < items; ++i) item(i);
#endif
}

// float32 / float64 / float16 / bfloat16 storage on the host; float16 through F16C unless the
// CPU lacks it or cfg.no_f16c asks for the portable conversions.
template <typename F> void dispatch_table_dtype(const Config& cfg, const char* op, F&& f) {
  switch (cfg.dtype) {
    case kFloat16:
#if FG_HASHGRID_F16C
      if (!cfg.no_f16c && has_f16c()) {
        f(Tag<HalfBitsF16C>{});
        break;
      }
#endif
      f(Tag<HalfBits>{});
      break;
    case kBFloat16: f(Tag<BFloat16Bits>{}); break;
    default: dispatch_float(cfg.dtype, op, f);
  }
}

// The table gradient of level l into acc (the level's T x F values, compute type, zeroed),
// pipelined like forward_range: the rows of point n + kAhead are prefetched for writing while
// point n scatters. Points are added in index order (bitwise reproducible).
template <typename T, int D, int F>
void scatter_level(const BackwardArgs& a, int64_t l, acc_t<T>* acc) {
  using C = acc_t<T>;
  const C* x = static_cast<const C*>(a.x);
  const C* grad_out = static_cast<const C*>(a.grad_out);
  const int64_t end = a.cfg.n_points;
  CellRows<C, D> ring[kAhead];
  auto ahead = [&](int64_t n) {
    CellRows<C, D>& c = ring[n & (kAhead - 1)];
    cell_rows<C, D>(a.cfg, x, n, l, c);
FG_HASHGRID_UNROLL
    for (int corner = 0; corner < (1 << D); ++corner) __builtin_prefetch(acc + c.row[corner] * F, 1);
  };
  for (int64_t n = 0; n < end && n < kAhead; ++n) ahead(n);
  for (int64_t n = 0; n < end; ++n) {
    C gv[F];
    if (load_grad_out<C, F>(a.cfg, grad_out, n, l, gv))
      scatter_point_level<C, D, F>(acc, ring[n & (kAhead - 1)], gv, [](C* p, C v) { *p += v; });
    if (n + kAhead < end) ahead(n + kAhead);
  }
}

// acc (count values in the compute type) rounded to nearest even into storage.
template <typename T> void store_values(const acc_t<T>* acc, T* out, int64_t count) {
  for (int64_t i = 0; i < count; ++i) out[i] = Cvt<T>::store(acc[i]);
}
#if FG_HASHGRID_F16C
inline void store_values(const float* acc, HalfBitsF16C* out, int64_t count) {
  int64_t i = 0;
  for (; i + 4 <= count; i += 4)
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + i), cvtps_ph(_mm_loadu_ps(acc + i)));
  for (; i < count; ++i) out[i] = Cvt<HalfBitsF16C>::store(acc[i]);
}
#endif

// The float32 accumulator of one level's gradient for float16 / bfloat16 tables, one per
// thread. Kept between calls (OpenMP threads persist) when at most kKeepScratch values, so that
// the backward does not page-fault a fresh buffer in every call.
constexpr size_t kKeepScratch = size_t(1) << 24;  // 64 MB
inline std::vector<float>& level_scratch() {
  static thread_local std::vector<float> scratch;
  return scratch;
}

// The table gradient, parallel over levels: one thread owns a level, zeroes its accumulator
// (the output slice itself for float32 / float64 tables, else the thread's float32 scratch),
// scatters every point into it and, for float16 / bfloat16 tables, rounds it into the output
// slice; zeroing, scattering and rounding a level's slice back to back keeps it in the caches,
// where a torch.zeros(...) before and a .to(float16) after would each stream the whole
// gradient through memory. grad_table needs no initialisation.
template <typename T, int D, int F> void backward_table(const BackwardArgs& a, int n_threads) {
  using C = acc_t<T>;
  const int64_t n_levels = a.cfg.n_levels, level_size = a.cfg.table_size * F;
  T* out = static_cast<T*>(a.grad_table);
  auto level = [&](int64_t l) {
    C* acc;
    if constexpr (std::is_same_v<T, C>) {
      acc = out + l * level_size;
    } else {
      std::vector<float>& scratch = level_scratch();
      if (scratch.size() < static_cast<size_t>(level_size)) scratch.resize(level_size);
      acc = scratch.data();
    }
    std::memset(acc, 0, level_size * sizeof(C));
    scatter_level<T, D, F>(a, l, acc);
    if constexpr (!std::is_same_v<T, C>) store_values(acc, out + l * level_size, level_size);
  };
  auto release = [] {
    std::vector<float>& scratch = level_scratch();
    if (scratch.size() > kKeepScratch) std::vector<float>().swap(scratch);
  };
#if defined(_OPENMP)
  const int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
#pragma omp parallel num_threads(nt)
  {
#pragma omp for schedule(dynamic, 1) nowait
    for (int64_t l = 0; l < n_levels; ++l) level(l);
    release();
  }
#else
  (void)n_threads;
  for (int64_t l = 0; l < n_levels; ++l) level(l);
  release();
#endif
}

void forward_cpu(const ForwardArgs& a, int n_threads) {
  dispatch_table_dtype(a.cfg, "hash_grid_encode_forward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_dims_features(a.cfg.dims, a.cfg.features, "hash_grid_encode_forward",
                           [&](auto dims, auto features) {
      constexpr int D = decltype(dims)::value, F = decltype(features)::value;
      forward_levels<T, D, F>(a, n_threads);
    });
  });
}

void backward_cpu(const BackwardArgs& a, int n_threads) {
  dispatch_table_dtype(a.cfg, "hash_grid_encode_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_dims_features(a.cfg.dims, a.cfg.features, "hash_grid_encode_backward",
                           [&](auto dims, auto features) {
      constexpr int D = decltype(dims)::value, F = decltype(features)::value;
      if (a.grad_table != nullptr) backward_table<T, D, F>(a, n_threads);
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
