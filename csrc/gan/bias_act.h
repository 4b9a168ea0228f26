// bias_act: y = clamp(act(x + b) * gain, -clamp, clamp), and its first and second derivatives.
//
// One element per call, FG_HOST_DEVICE, so the CPU launcher (OpenMP over elements) and the CUDA
// kernel (one thread per element) run this exact code. The bias is broadcast along one axis of
// a contiguous x: element i belongs to channel (i / inner) % n_channels.
//
// The three passes share one Args struct and differ in `order`:
//   0: out = clamp(f(z) * gain)                       (z = x + b)
//   1: out = dy * gain * f'(z) * m                    (m = 0 where the clamp is active, else 1)
//   2: out = ddx * dy * gain * f''(z) * m             (the z-derivative of pass 1 against ddx)
// m is computed from the unclamped f(z) * gain, passing the gradient where |.| <= clamp, as
// torch.clamp's backward does. Derivatives are in terms of z, so the backward reads x (and b),
// never y: one pass over memory in each direction.
#pragma once

#include <cstdint>

#include "../common/common.h"

namespace fastgen {
namespace gan {

// The activation codes; fastgen/ops/bias_act/__init__.py holds the same table by name.
enum Act : int {
  kLinear = 0, kRelu = 1, kLrelu = 2, kTanh = 3, kSigmoid = 4,
  kElu = 5, kSelu = 6, kSoftplus = 7, kSwish = 8
};

struct BiasActArgs {
  const void* x;    // (n,) storage
  const void* b;    // (n_channels,) storage, or nullptr
  const void* dy;   // (n,) storage: orders 1 and 2, else nullptr
  const void* ddx;  // (n,) storage: order 2, else nullptr
  void* out;        // (n,) storage
  int64_t n, n_channels, inner;
  int dtype, act, order;
  double alpha, gain, clamp;  // clamp < 0: no clamping
};

// float / double overloads of the math we need (the same names on the host and the device).
FG_HOST_DEVICE float fg_exp(float v) { return expf(v); }
FG_HOST_DEVICE double fg_exp(double v) { return exp(v); }
FG_HOST_DEVICE float fg_tanh(float v) { return tanhf(v); }
FG_HOST_DEVICE double fg_tanh(double v) { return tanh(v); }
FG_HOST_DEVICE float fg_log1p(float v) { return log1pf(v); }
FG_HOST_DEVICE double fg_log1p(double v) { return log1p(v); }
FG_HOST_DEVICE float fg_abs(float v) { return fabsf(v); }
FG_HOST_DEVICE double fg_abs(double v) { return fabs(v); }

// Logistic sigmoid without overflow for large |z|.
template <typename A> FG_HOST_DEVICE A fg_sigmoid(A z) {
  if (z >= A(0)) return A(1) / (A(1) + fg_exp(-z));
  const A e = fg_exp(z);
  return e / (A(1) + e);
}

// f(z), f'(z) or f''(z) (derivative = 0, 1, 2) of activation `act`.
template <typename A> FG_HOST_DEVICE A activation(int act, A z, A alpha, int derivative) {
  constexpr double kSeluScale = 1.0507009873554804934193349852946;
  constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
  switch (act) {
    case kRelu:
      return derivative == 0 ? (z > A(0) ? z : A(0)) : (derivative == 1 ? A(z > A(0)) : A(0));
    case kLrelu:
      return derivative == 0 ? (z > A(0) ? z : alpha * z)
                             : (derivative == 1 ? (z > A(0) ? A(1) : alpha) : A(0));
    case kTanh: {
      const A t = fg_tanh(z);
      return derivative == 0 ? t : (derivative == 1 ? A(1) - t * t : A(-2) * t * (A(1) - t * t));
    }
    case kSigmoid: {
      const A s = fg_sigmoid(z);
      if (derivative == 0) return s;
      return derivative == 1 ? s * (A(1) - s) : s * (A(1) - s) * (A(1) - A(2) * s);
    }
    case kElu:
    case kSelu: {
      const A scale = act == kSelu ? A(kSeluScale) : A(1);
      const A a = act == kSelu ? A(kSeluAlpha) : alpha;
      if (z > A(0)) return derivative == 0 ? scale * z : (derivative == 1 ? scale : A(0));
      const A e = fg_exp(z);
      return derivative == 0 ? scale * a * (e - A(1)) : scale * a * e;
    }
    case kSoftplus: {  // log(1 + e^z) = max(z, 0) + log1p(e^-|z|)
      if (derivative == 0) return (z > A(0) ? z : A(0)) + fg_log1p(fg_exp(-fg_abs(z)));
      const A s = fg_sigmoid(z);
      return derivative == 1 ? s : s * (A(1) - s);
    }
    case kSwish: {
      const A s = fg_sigmoid(z);
      if (derivative == 0) return z * s;
      const A ds = s * (A(1) - s);
      return derivative == 1 ? s + z * ds : ds * (A(2) + z * (A(1) - A(2) * s));
    }
    default:  // kLinear
      return derivative == 0 ? z : (derivative == 1 ? A(1) : A(0));
  }
}

// One output of the pass from its loaded inputs (dy, ddx are read only by orders 1, 2).
template <typename T, int ACT = -1, int ORDER = -1>
FG_HOST_DEVICE T bias_act_value(const BiasActArgs& a, T x, acc_t<T> bias, T dy, T ddx) {
  using A = acc_t<T>;
  const int act = ACT >= 0 ? ACT : a.act, order = ORDER >= 0 ? ORDER : a.order;
  const A z = Cvt<T>::load(x) + bias;
  const A gain = A(a.gain), alpha = A(a.alpha), clamp = A(a.clamp);
  const bool clamped = a.clamp >= 0;
  A out;
  if (order == 0) {
    out = activation(act, z, alpha, 0) * gain;
    if (clamped) out = out > clamp ? clamp : (out < -clamp ? -clamp : out);
  } else if (clamped && fg_abs(activation(act, z, alpha, 0) * gain) > clamp) {
    out = A(0);  // the clamp is active: no gradient flows
  } else {
    out = Cvt<T>::load(dy) * gain * activation(act, z, alpha, order);
    if (order == 2) out *= Cvt<T>::load(ddx);
  }
  return Cvt<T>::store(out);
}

// Element i of the pass, given its bias value (0 without a bias). ACT / ORDER >= 0 fix the
// activation and the pass at compile time (the CPU launcher instantiates every pair so that its
// inner loops have no branch on them); -1 reads them from `a` (the CUDA kernel: the branch is
// uniform across a warp and costs nothing next to the memory traffic).
template <typename T, int ACT = -1, int ORDER = -1>
FG_HOST_DEVICE void bias_act_element(const BiasActArgs& a, int64_t i, acc_t<T> bias) {
  const int order = ORDER >= 0 ? ORDER : a.order;
  const T zero = Cvt<T>::store(acc_t<T>(0));
  const T dy = order >= 1 ? static_cast<const T*>(a.dy)[i] : zero;
  const T ddx = order == 2 ? static_cast<const T*>(a.ddx)[i] : zero;
  const T x = static_cast<const T*>(a.x)[i];
  static_cast<T*>(a.out)[i] = bias_act_value<T, ACT, ORDER>(a, x, bias, dy, ddx);
}

// The bias channel of element i. 32-bit division when every index fits: it is several times
// cheaper than 64-bit division on both the CPU and the GPU.
FG_HOST_DEVICE int64_t bias_channel(const BiasActArgs& a, int64_t i) {
  if (a.n <= 0xFFFFFFFFll) {
    const uint32_t j = static_cast<uint32_t>(i);
    return j / static_cast<uint32_t>(a.inner) % static_cast<uint32_t>(a.n_channels);
  }
  return (i / a.inner) % a.n_channels;
}

template <typename T> FG_HOST_DEVICE void bias_act_item(const BiasActArgs& a, int64_t i) {
  const acc_t<T> bias =
      a.b == nullptr ? acc_t<T>(0) : Cvt<T>::load(static_cast<const T*>(a.b)[bias_channel(a, i)]);
  bias_act_element<T>(a, i, bias);
}

// 16 bytes of elements (8 float16 / bfloat16, 4 float, 2 double) as one aligned unit: a pack
// is loaded and stored with one vector instruction on the GPU.
template <typename T> struct alignas(16) BiasActPack {
  static constexpr int kSize = 16 / sizeof(T);
  T v[kSize];
};

// Whether the packed path applies: every array the pass reads or writes element-wise starts on
// a 16-byte boundary (fresh allocations do; a view with a storage offset may not). The bias is
// read per element either way.
FG_HOST_DEVICE bool bias_act_packable(const BiasActArgs& a) {
  auto aligned = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; };
  return aligned(a.x) && aligned(a.out) && (a.order < 1 || aligned(a.dy)) &&
         (a.order < 2 || aligned(a.ddx));
}

// Pack j: elements [j * kSize, (j + 1) * kSize) with 16-byte loads and stores. The launcher runs
// packs 0 .. n / kSize - 1 and the last n % kSize elements with bias_act_item.
template <typename T> FG_HOST_DEVICE void bias_act_pack(const BiasActArgs& a, int64_t j) {
  using P = BiasActPack<T>;
  const P x = static_cast<const P*>(a.x)[j];
  P dy, ddx, out;
  if (a.order >= 1) dy = static_cast<const P*>(a.dy)[j];
  if (a.order == 2) ddx = static_cast<const P*>(a.ddx)[j];
  const T* b = static_cast<const T*>(a.b);
  FG_UNROLL  // else the packs live in local memory (indexed by a run-time e)
  for (int e = 0; e < P::kSize; ++e) {
    const int64_t i = j * P::kSize + e;
    const acc_t<T> bias = b == nullptr ? acc_t<T>(0) : Cvt<T>::load(b[bias_channel(a, i)]);
    // dy / ddx are uninitialised for the orders that do not read them: pass x instead.
    out.v[e] = bias_act_value<T>(a, x.v[e], bias, a.order >= 1 ? dy.v[e] : x.v[e],
                                 a.order == 2 ? ddx.v[e] : x.v[e]);
  }
  static_cast<P*>(a.out)[j] = out;
}

// Elements [begin, end) in order, walking the channel along instead of dividing per element:
// the bias channel changes every `inner` elements (the CPU launcher's inner loop).
template <typename T, int ACT, int ORDER>
void bias_act_range(const BiasActArgs& a, int64_t begin, int64_t end) {
  if (a.b == nullptr) {
    for (int64_t i = begin; i < end; ++i) bias_act_element<T, ACT, ORDER>(a, i, acc_t<T>(0));
    return;
  }
  const T* b = static_cast<const T*>(a.b);
  int64_t c = bias_channel(a, begin);
  int64_t left = a.inner - begin % a.inner;  // elements left in channel c
  for (int64_t i = begin; i < end;) {
    const int64_t stop = end - i < left ? end : i + left;
    const acc_t<T> bias = Cvt<T>::load(b[c]);
    for (; i < stop; ++i) bias_act_element<T, ACT, ORDER>(a, i, bias);
    c = c + 1 == a.n_channels ? 0 : c + 1;
    left = a.inner;
  }
}

void bias_act_cpu(const BiasActArgs& a, int n_threads);
void bias_act_packed_cpu(const BiasActArgs& a, int n_threads);
void bias_act_cuda(const BiasActArgs& a, int device, std::uintptr_t stream);

}  // namespace gan
}  // namespace fastgen
