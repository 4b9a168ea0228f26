// Hashgrid family: multiresolution hash-grid encoding (Instant-NGP), forward and backward.
//
// The per-(point, level) and per-point math lives here, FG_HOST_DEVICE, so the CPU launcher
// (hashgrid_cpu.cpp) and the CUDA kernels (hashgrid_cuda.cu) run exactly this code. The Triton
// kernels (fastgen/ops/hashgrid/triton.py) and the reference (reference.py) follow the same
// convention, stated once here:
//
//   xc    = clamp(x, 0, 1)                     (NaN -> 0; d/dx passes where 0 <= x <= 1)
//   pos   = xc * res_l                         (in the compute type: float, or double)
//   cell  = min(floor(pos), res_l - 1)         (so x = 1 uses the last cell with frac = 1)
//   frac  = pos - cell
//   corner c = cell + b, b in {0,1}^D, weight w_c = prod_d (b_d ? frac_d : 1 - frac_d)
//   row:  dense level (stride_l = res_l + 1 > 0):  c0 + c1 * stride_l + c2 * stride_l^2
//         hashed level (stride_l = 0):             (c0 ^ c1 * 2654435761 ^ c2 * 805459861) & (T - 1)
//                                                  in uint32 arithmetic (T = 2^log2_hashmap_size)
//   out[n, l*F + f] = sum_c w_c * table[l, row(c), f]
//
// Python computes the per-level integers (res_l, stride_l) once (level_info, int64 (L, 2)), so
// every backend uses the same ones. No torch here: raw pointers and sizes only.
//
// Types: the table is stored as T (float, double; __half / __nv_bfloat16 on CUDA); everything
// else (x, grad_out, grad_table, grad_x, the arithmetic) is in the compute type acc_t<T>: double
// for double tables, float otherwise. Offsets are int64.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "../common/common.h"

namespace fastgen {
namespace hashgrid {

// Unroll the corner / feature loops (fixed trip counts), so that the gathers of all corners can
// be in flight together (g++ -O3 alone keeps the 8-corner loop rolled).
#if defined(__CUDACC__)
#define FG_HASHGRID_UNROLL _Pragma("unroll")
#elif defined(__GNUC__) && !defined(__clang__)
#define FG_HASHGRID_UNROLL _Pragma("GCC unroll 16")
#elif defined(__clang__)
#define FG_HASHGRID_UNROLL _Pragma("unroll")
#else
#define FG_HASHGRID_UNROLL
#endif

constexpr uint32_t kPrime1 = 2654435761u;
constexpr uint32_t kPrime2 = 805459861u;

struct Config {
  const int64_t* level_info;               // (L, 2): res_l, dense stride_l (0 = hashed)
  int64_t n_points, n_levels, table_size;  // table_size T = 2^log2_hashmap_size
  int dims, features;                      // D in {2, 3}; F in {1, 2, 4, 8}
  int dtype;                               // storage dtype code of the table
  int no_f16c;  // CPU: nonzero converts float16 in software even where F16C exists (to test the
                // portable path on any x86 machine); ignored on CUDA
};

struct ForwardArgs {
  Config cfg;
  const void* x;      // (N, D) compute
  const void* table;  // (L, T, F) storage
  void* out;          // (N, L*F) storage
};

struct BackwardArgs {
  Config cfg;
  const void* x;         // (N, D) compute
  const void* table;     // (L, T, F) storage; read by the input-gradient pass only
  const void* grad_out;  // (N, L*F) compute
  void* grad_table;      // or nullptr (no table gradient wanted). CUDA: (L, T, F) compute,
                         // zeroed by Python and accumulated into. CPU: (L, T, F) storage,
                         // written entirely (uninitialised on entry; see hashgrid_cpu.cpp)
  void* grad_x;          // (N, D) compute, written; or nullptr (no input gradient wanted)
};

#if !defined(__CUDACC__)
// Host stand-ins for __half / __nv_bfloat16 (the C++ core has no half type on the CPU): the raw
// bits, converted by bit manipulation, so the CPU reads half tables in place instead of
// widening a copy of the table on every call. Conversions are exact (half/bf16 -> float) and
// round to nearest even (float -> half/bf16), NaN and inf preserved.
struct HalfBits { uint16_t bits; };
struct BFloat16Bits { uint16_t bits; };

inline float bits_to_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline uint32_t float_to_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }

// Exponent and mantissa shifted into float position, then rescaled by 2^(127 - 15) with one
// exact multiply (which also normalises subnormals); inf / NaN get the all-ones exponent back.
inline float half_to_float(uint16_t h) {
  const float scaled = bits_to_float(static_cast<uint32_t>(h & 0x7fffu) << 13) *
                       bits_to_float((254u - 15u) << 23);
  uint32_t o = float_to_bits(scaled);
  if (scaled >= bits_to_float((127u + 16u) << 23)) o |= 255u << 23;
  return bits_to_float(o | (static_cast<uint32_t>(h & 0x8000u) << 16));
}

inline uint16_t float_to_half(float value) {
  uint32_t f = float_to_bits(value);
  const uint32_t sign = f & 0x80000000u;
  f ^= sign;
  uint16_t o;
  if (f >= (127u + 16u) << 23) {                           // overflow, inf or NaN
    o = f > (255u << 23) ? 0x7e00 : 0x7c00;
  } else if (f < (113u << 23)) {                           // subnormal or zero: let the FPU round
    const float magic = bits_to_float(((127 - 15) + (23 - 10) + 1) << 23);
    o = static_cast<uint16_t>(float_to_bits(bits_to_float(f) + magic) - float_to_bits(magic));
  } else {
    const uint32_t odd = (f >> 13) & 1;                    // ties to even
    f += (static_cast<uint32_t>(15 - 127) << 23) + 0xfff + odd;
    o = static_cast<uint16_t>(f >> 13);
  }
  return static_cast<uint16_t>(o | (sign >> 16));
}

inline uint16_t float_to_bfloat16(float value) {
  const uint32_t u = float_to_bits(value);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}
}  // namespace hashgrid

template <> struct Cvt<hashgrid::HalfBits> {
  static float load(hashgrid::HalfBits v) { return hashgrid::half_to_float(v.bits); }
  static hashgrid::HalfBits store(float v) { return {hashgrid::float_to_half(v)}; }
};
template <> struct Cvt<hashgrid::BFloat16Bits> {
  static float load(hashgrid::BFloat16Bits v) { return hashgrid::bits_to_float(uint32_t(v.bits) << 16); }
  static hashgrid::BFloat16Bits store(float v) { return {hashgrid::float_to_bfloat16(v)}; }
};

namespace hashgrid {
#endif

// The F values of one table row in the compute type: element by element through Cvt<T>::load.
// The CPU launcher specialises it for float16 tables on x86 CPUs with F16C (hardware conversion,
// the same values: half -> float is exact), see hashgrid_cpu.cpp; everything else, the CUDA
// kernels included, uses this.
template <typename T, int F> struct RowLoad {
  FG_HOST_DEVICE static void load(const T* row, acc_t<T>* v) {
FG_HASHGRID_UNROLL
    for (int f = 0; f < F; ++f) v[f] = Cvt<T>::load(row[f]);
  }
};

FG_HOST_DEVICE float fg_floor(float v) { return floorf(v); }
FG_HOST_DEVICE double fg_floor(double v) { return floor(v); }

// clamp(v, 0, 1) with NaN -> 0, and whether the gradient passes (torch.clamp's convention: it
// does at the bounds themselves).
template <typename C> FG_HOST_DEVICE C clamp01(C v) {
  return v >= C(0) ? (v <= C(1) ? v : C(1)) : C(0);
}
template <typename C> FG_HOST_DEVICE bool inside01(C v) { return v >= C(0) && v <= C(1); }

// Cell and fractional position of point n at a level of resolution res.
template <typename C, int D>
FG_HOST_DEVICE void locate(const C* x, int64_t n, int64_t res, uint32_t* cell, C* frac) {
  const C r = static_cast<C>(res);
FG_HASHGRID_UNROLL
  for (int d = 0; d < D; ++d) {
    const C pos = clamp01(x[n * D + d]) * r;
    int64_t c = static_cast<int64_t>(fg_floor(pos));
    if (c > res - 1) c = res - 1;
    cell[d] = static_cast<uint32_t>(c);
    frac[d] = pos - static_cast<C>(c);
  }
}

// Row of `corner` (bit d = +1 along dimension d) in the level's (T, F) slice.
template <int D>
FG_HOST_DEVICE int64_t corner_row(const uint32_t* cell, int corner, int64_t stride,
                                  int64_t table_size) {
  if (stride > 0) {
    int64_t row = 0, scale = 1;
FG_HASHGRID_UNROLL
    for (int d = 0; d < D; ++d) {
      row += static_cast<int64_t>(cell[d] + ((corner >> d) & 1)) * scale;
      scale *= stride;
    }
    return row;
  }
  uint32_t h = (cell[0] + (corner & 1)) ^ ((cell[1] + ((corner >> 1) & 1)) * kPrime1);
  if (D == 3) h ^= (cell[D - 1] + ((corner >> 2) & 1)) * kPrime2;
  return static_cast<int64_t>(h & static_cast<uint32_t>(table_size - 1));
}

// d-linear weight of `corner`, and its derivative along dimension `d` (w.r.t. frac_d).
template <typename C, int D> FG_HOST_DEVICE C corner_weight(const C* frac, int corner) {
  C w = C(1);
FG_HASHGRID_UNROLL
  for (int k = 0; k < D; ++k) w *= ((corner >> k) & 1) ? frac[k] : C(1) - frac[k];
  return w;
}
template <typename C, int D>
FG_HOST_DEVICE C corner_weight_derivative(const C* frac, int corner, int d) {
  C w = ((corner >> d) & 1) ? C(1) : C(-1);
FG_HASHGRID_UNROLL
  for (int k = 0; k < D; ++k)
    if (k != d) w *= ((corner >> k) & 1) ? frac[k] : C(1) - frac[k];
  return w;
}

// The 2^D corner rows (in the level's (T, F) slice) and the fractional position of one
// (point, level): the index half of the forward, separate from the gathers so that the CPU
// launcher can compute it a few points ahead and prefetch the rows (hashgrid_cpu.cpp).
template <typename C, int D> struct CellRows {
  int64_t row[1 << D];
  C frac[D];
};

template <typename C, int D>
FG_HOST_DEVICE void cell_rows(const Config& g, const C* x, int64_t n, int64_t l,
                              CellRows<C, D>& c) {
  const int64_t res = g.level_info[2 * l], stride = g.level_info[2 * l + 1];
  uint32_t cell[D];
  locate<C, D>(x, n, res, cell, c.frac);
FG_HASHGRID_UNROLL
  for (int corner = 0; corner < (1 << D); ++corner)
    c.row[corner] = corner_row<D>(cell, corner, stride, g.table_size);
}

// out[n, l*F : l*F + F] of one (point, level) whose cell_rows are c.
template <typename T, int D, int F>
FG_HOST_DEVICE void interpolate_point_level(const ForwardArgs& a, int64_t n, int64_t l,
                                            const CellRows<acc_t<T>, D>& c) {
  using C = acc_t<T>;
  const Config& g = a.cfg;
  const T* slice = static_cast<const T*>(a.table) + l * g.table_size * F;
  C acc[F];
FG_HASHGRID_UNROLL
  for (int f = 0; f < F; ++f) acc[f] = C(0);
FG_HASHGRID_UNROLL
  for (int corner = 0; corner < (1 << D); ++corner) {
    const C w = corner_weight<C, D>(c.frac, corner);
    C v[F];
    RowLoad<T, F>::load(slice + c.row[corner] * F, v);
FG_HASHGRID_UNROLL
    for (int f = 0; f < F; ++f) acc[f] += w * v[f];
  }
  T* out = static_cast<T*>(a.out) + (n * g.n_levels + l) * F;
FG_HASHGRID_UNROLL
  for (int f = 0; f < F; ++f) out[f] = Cvt<T>::store(acc[f]);
}

// out[n, l*F : l*F + F] of one (point, level).
template <typename T, int D, int F>
FG_HOST_DEVICE void forward_point_level(const ForwardArgs& a, int64_t n, int64_t l) {
  CellRows<acc_t<T>, D> c;
  cell_rows<acc_t<T>, D>(a.cfg, static_cast<const acc_t<T>*>(a.x), n, l, c);
  interpolate_point_level<T, D, F>(a, n, l, c);
}

// Adds w_c * gv[f] to row(c) of a level's gradient slice for every corner c of the cell c,
// through add(ptr, value): a plain += on the CPU, where one thread owns each level, atomicAdd
// on CUDA.
template <typename C, int D, int F, typename Add>
FG_HOST_DEVICE void scatter_point_level(C* slice, const CellRows<C, D>& c, const C* gv, Add add) {
FG_HASHGRID_UNROLL
  for (int corner = 0; corner < (1 << D); ++corner) {
    const C w = corner_weight<C, D>(c.frac, corner);
    C* row = slice + c.row[corner] * F;
FG_HASHGRID_UNROLL
    for (int f = 0; f < F; ++f) add(row + f, w * gv[f]);
  }
}

// grad_out[n, l*F : l*F + F] into gv; false when it is all zero (the point adds nothing: the
// scattered writes are skipped, for a masked-out point, say).
template <typename C, int F>
FG_HOST_DEVICE bool load_grad_out(const Config& g, const C* grad_out, int64_t n, int64_t l, C* gv) {
  const C* go = grad_out + (n * g.n_levels + l) * F;
  bool any = false;
FG_HASHGRID_UNROLL
  for (int f = 0; f < F; ++f) {
    gv[f] = go[f];
    any = any || gv[f] != C(0);
  }
  return any;
}

// Table gradient of one (point, level) into the level's slice of grad_table (compute type):
// grad_table[l, row(c), f] += w_c * grad_out[n, l*F + f].
template <typename T, int D, int F, typename Add>
FG_HOST_DEVICE void backward_table_point_level(const BackwardArgs& a, int64_t n, int64_t l,
                                               Add add) {
  using C = acc_t<T>;
  C gv[F];
  if (!load_grad_out<C, F>(a.cfg, static_cast<const C*>(a.grad_out), n, l, gv)) return;
  CellRows<C, D> c;
  cell_rows<C, D>(a.cfg, static_cast<const C*>(a.x), n, l, c);
  scatter_point_level<C, D, F>(static_cast<C*>(a.grad_table) + l * a.cfg.table_size * F, c, gv,
                               add);
}

// Input gradient of one (point, level), added to gx[0..D):
//   d out[n, l*F + f] / d x_d = res_l * sum_c (d w_c / d frac_d) * table[l, row(c), f],
// zero where x_d is outside [0, 1] (clamped). At an exact cell border it is the derivative in
// the cell floor() picks (the upper one), except at x_d = 1 (the last cell). Every backend adds
// the levels of a point in order 0..L-1, so the input gradient is deterministic everywhere.
template <typename T, int D, int F>
FG_HOST_DEVICE void backward_x_point_level(const BackwardArgs& a, int64_t n, int64_t l,
                                           acc_t<T>* gx) {
  using C = acc_t<T>;
  const Config& g = a.cfg;
  const C* x = static_cast<const C*>(a.x);
  const C* go = static_cast<const C*>(a.grad_out) + (n * g.n_levels + l) * F;
  const int64_t res = g.level_info[2 * l], stride = g.level_info[2 * l + 1];
  uint32_t cell[D];
  C frac[D];
  locate<C, D>(x, n, res, cell, frac);
  const T* slice = static_cast<const T*>(a.table) + l * g.table_size * F;
  C dl[D];
FG_HASHGRID_UNROLL
  for (int d = 0; d < D; ++d) dl[d] = C(0);
FG_HASHGRID_UNROLL
  for (int corner = 0; corner < (1 << D); ++corner) {
    C v[F];
    RowLoad<T, F>::load(slice + corner_row<D>(cell, corner, stride, g.table_size) * F, v);
    C dot = C(0);  // <grad_out[n, l], table[l, row]>
FG_HASHGRID_UNROLL
    for (int f = 0; f < F; ++f) dot += go[f] * v[f];
FG_HASHGRID_UNROLL
    for (int d = 0; d < D; ++d) dl[d] += corner_weight_derivative<C, D>(frac, corner, d) * dot;
  }
FG_HASHGRID_UNROLL
  for (int d = 0; d < D; ++d)
    if (inside01(x[n * D + d])) gx[d] += dl[d] * static_cast<C>(res);
}

// The input gradient of point n, all levels (grad_x[n] is written).
template <typename T, int D, int F>
FG_HOST_DEVICE void backward_x_point(const BackwardArgs& a, int64_t n) {
  using C = acc_t<T>;
  C gx[D];
FG_HASHGRID_UNROLL
  for (int d = 0; d < D; ++d) gx[d] = C(0);
  for (int64_t l = 0; l < a.cfg.n_levels; ++l) backward_x_point_level<T, D, F>(a, n, l, gx);
  C* out = static_cast<C*>(a.grad_x) + n * D;
FG_HASHGRID_UNROLL
  for (int d = 0; d < D; ++d) out[d] = gx[d];
}

// Host: calls fn(dims_tag, features_tag) with std::integral_constant tags for the runtime
// (D, F) in {2, 3} x {1, 2, 4, 8}.
template <int D, typename Fn> void dispatch_features(int features, const char* op, Fn&& fn) {
  using std::integral_constant;
  switch (features) {
    case 1: fn(integral_constant<int, D>{}, integral_constant<int, 1>{}); break;
    case 2: fn(integral_constant<int, D>{}, integral_constant<int, 2>{}); break;
    case 4: fn(integral_constant<int, D>{}, integral_constant<int, 4>{}); break;
    case 8: fn(integral_constant<int, D>{}, integral_constant<int, 8>{}); break;
    default:
      throw std::invalid_argument(std::string(op) + ": unsupported n_features_per_level " +
                                  std::to_string(features));
  }
}
template <typename Fn> void dispatch_dims_features(int dims, int features, const char* op, Fn&& fn) {
  switch (dims) {
    case 2: dispatch_features<2>(features, op, fn); break;
    case 3: dispatch_features<3>(features, op, fn); break;
    default:
      throw std::invalid_argument(std::string(op) + ": unsupported n_input_dims " +
                                  std::to_string(dims));
  }
}

// ---------------------------------------------------------------------------------------------
// Launchers. CPU (hashgrid_cpu.cpp): n_threads <= 0 means the OpenMP default. CUDA
// (hashgrid_cuda.cu, only with FASTGEN_WITH_CUDA): asynchronous on `stream` of `device`.
// backward computes the table gradient when grad_table is non-null and the input gradient when
// grad_x is non-null.

void forward_cpu(const ForwardArgs& a, int n_threads);
void backward_cpu(const BackwardArgs& a, int n_threads);
void forward_cuda(const ForwardArgs& a, int device, std::uintptr_t stream);
void backward_cuda(const BackwardArgs& a, int device, std::uintptr_t stream);

}  // namespace hashgrid
}  // namespace fastgen
