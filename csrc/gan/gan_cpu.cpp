// CPU launchers of the GAN families (bias_act, upfirdn2d): OpenMP over elements / output rows,
// calling the shared per-element math. float32 / float64 (Python widens float16 / bfloat16).
#include "../common/dispatch.h"
#include "bias_act.h"
#include "upfirdn2d.h"

namespace fastgen {
namespace gan {

namespace {

template <typename T, int ACT, int ORDER>
void bias_act_cpu_impl(const BiasActArgs& a, int n_threads) {
  constexpr int64_t kChunk = 4096;  // elements per parallel item: amortises the dispatch
  const int64_t chunks = (a.n + kChunk - 1) / kChunk;
  parallel_for(chunks, n_threads, [&](int64_t c) {
    bias_act_range<T, ACT, ORDER>(a, c * kChunk, (c + 1) * kChunk < a.n ? (c + 1) * kChunk : a.n);
  });
}

// act (0..8) x order (0..2) -> the instantiation with both fixed at compile time.
template <typename T, int ACT> void dispatch_order(const BiasActArgs& a, int n_threads) {
  switch (a.order) {
    case 0: bias_act_cpu_impl<T, ACT, 0>(a, n_threads); break;
    case 1: bias_act_cpu_impl<T, ACT, 1>(a, n_threads); break;
    case 2: bias_act_cpu_impl<T, ACT, 2>(a, n_threads); break;
    default: throw std::invalid_argument("bias_act: order must be 0, 1 or 2");
  }
}

template <typename T> void dispatch_act(const BiasActArgs& a, int n_threads) {
  switch (a.act) {
    case kLinear: dispatch_order<T, kLinear>(a, n_threads); break;
    case kRelu: dispatch_order<T, kRelu>(a, n_threads); break;
    case kLrelu: dispatch_order<T, kLrelu>(a, n_threads); break;
    case kTanh: dispatch_order<T, kTanh>(a, n_threads); break;
    case kSigmoid: dispatch_order<T, kSigmoid>(a, n_threads); break;
    case kElu: dispatch_order<T, kElu>(a, n_threads); break;
    case kSelu: dispatch_order<T, kSelu>(a, n_threads); break;
    case kSoftplus: dispatch_order<T, kSoftplus>(a, n_threads); break;
    case kSwish: dispatch_order<T, kSwish>(a, n_threads); break;
    default:
      throw std::invalid_argument("bias_act: unknown activation code " + std::to_string(a.act));
  }
}

}  // namespace

void bias_act_cpu(const BiasActArgs& a, int n_threads) {
  dispatch_float(a.dtype, "bias_act", [&](auto tag) {
    dispatch_act<typename decltype(tag)::type>(a, n_threads);
  });
}

void upfirdn2d_cpu(const Upfirdn2dArgs& a, int n_threads) {
  dispatch_float(a.dtype, "upfirdn2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_upfirdn2d(a, [&](auto fixed) {
      using P = decltype(fixed);
      parallel_for(a.planes * a.out_h, n_threads, [&](int64_t r) {  // one output row per item
        const int64_t p = r / a.out_h, oy = r % a.out_h;
        T* y = static_cast<T*>(a.y) + r * a.out_w;
        for (int64_t ox = 0; ox < a.out_w; ++ox) {
          y[ox] = Cvt<T>::store(upfirdn2d_pixel<T, P::up, P::down, P::ksize>(a, p, oy, ox));
        }
      });
    });
  });
}

}  // namespace gan
}  // namespace fastgen
