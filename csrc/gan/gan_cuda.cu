// CUDA kernels of the GAN families: one thread per element (bias_act) or per output pixel
// (upfirdn2d, with the StyleGAN fast paths of dispatch_upfirdn2d instantiated at compile time),
// calling the same math as the CPU launchers. All four storage dtypes; float16 /
// bfloat16 are loaded to float32 and accumulated in float32.
#include "../common/cuda_launch.cuh"
#include "../common/dispatch.h"
#include "bias_act.h"
#include "upfirdn2d.h"

namespace fastgen {
namespace gan {

template <typename T> __global__ void bias_act_kernel(BiasActArgs a) {
  FG_CUDA_KERNEL_LOOP(i, a.n) bias_act_item<T>(a, i);
}

// Threads of a warp take consecutive ox of one output row: coalesced stores, and their taps
// read neighbouring input pixels, which the L1 cache serves.
template <typename T, int UP, int DOWN, int KSIZE>
__global__ void upfirdn2d_kernel(Upfirdn2dArgs a) {
  const int64_t n = a.planes * a.out_h * a.out_w;
  FG_CUDA_KERNEL_LOOP(idx, n) {
    const int64_t ox = idx % a.out_w;
    const int64_t rest = idx / a.out_w;
    const int64_t oy = rest % a.out_h, p = rest / a.out_h;
    static_cast<T*>(a.y)[idx] = Cvt<T>::store(upfirdn2d_pixel<T, UP, DOWN, KSIZE>(a, p, oy, ox));
  }
}

void bias_act_cuda(const BiasActArgs& a, int device, std::uintptr_t stream) {
  dispatch_float_and_half(a.dtype, "bias_act", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_1d(bias_act_kernel<T>, a, a.n, device, stream, "bias_act");
  });
}

void upfirdn2d_cuda(const Upfirdn2dArgs& a, int device, std::uintptr_t stream) {
  dispatch_float_and_half(a.dtype, "upfirdn2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_upfirdn2d(a, [&](auto fixed) {
      using P = decltype(fixed);
      launch_1d(upfirdn2d_kernel<T, P::up, P::down, P::ksize>, a, a.planes * a.out_h * a.out_w,
                device, stream, "upfirdn2d");
    });
  });
}

}  // namespace gan
}  // namespace fastgen
