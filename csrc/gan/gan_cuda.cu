// CUDA kernels of the GAN families: bias_act one thread per element, or per 16-byte pack for
// aligned float16 / bfloat16; upfirdn2d tiled through shared memory (direct per output pixel for
// oversized kernels), with the StyleGAN fast paths of dispatch_upfirdn2d instantiated at compile
// time; both call the same math as the CPU launchers. All four storage dtypes; float16 /
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

// float16 / bfloat16 with every array 16-byte aligned: one thread per pack of 8 elements (one
// 128-bit load per input, one store), then the n % 8 tail element by element.
template <typename T> __global__ void bias_act_packed_kernel(BiasActArgs a, int64_t packs) {
  FG_CUDA_KERNEL_LOOP(j, packs) bias_act_pack<T>(a, j);
  const int64_t tail = packs * BiasActPack<T>::kSize;
  if (blockIdx.x == 0 && tail + threadIdx.x < a.n) bias_act_item<T>(a, tail + threadIdx.x);
}


// Direct path (kernels too large for a tile's scratch, see upfirdn2d_tile_shape): one thread
// per output pixel, consecutive ox per warp; the taps come from global memory through L1.
template <typename T, int UP, int DOWN, int KSIZE>
__global__ void upfirdn2d_direct_kernel(Upfirdn2dArgs a) {
  const int64_t n = a.planes * a.out_h * a.out_w;
  FG_CUDA_KERNEL_LOOP(idx, n) {
    const int64_t ox = idx % a.out_w;
    const int64_t rest = idx / a.out_w;
    const int64_t oy = rest % a.out_h, p = rest / a.out_h;
    static_cast<T*>(a.y)[idx] = Cvt<T>::store(upfirdn2d_pixel<T, UP, DOWN, KSIZE>(a, p, oy, ox));
  }
}

// Tiled path: a block stages the filter once, then for each of its tiles (grid-stride over
// tiles) loads the input window into shared memory and computes the tile from it (in two
// passes through a shared intermediate for a separable filter). The dynamic
// shared memory is g.scratch elements of acc_t<T> (<= 48 KB, so no opt-in attribute is needed).
template <typename T, int UP, int DOWN, int KSIZE>
__global__ void __launch_bounds__(kUpfirdn2dThreads)
    upfirdn2d_tiled_kernel(Upfirdn2dArgs a, Upfirdn2dTile g) {
  extern __shared__ __align__(16) unsigned char upfirdn2d_smem[];
  acc_t<T>* s = reinterpret_cast<acc_t<T>*>(upfirdn2d_smem);
  const int tid = threadIdx.x, n_threads = blockDim.x;
  upfirdn2d_stage_filter<T>(a, s, tid, n_threads);
  for (int64_t t = blockIdx.x; t < g.n_tiles; t += gridDim.x) {
    upfirdn2d_tile_load<T>(a, g, t, s, tid, n_threads);
    __syncthreads();  // the window (and, the first time, the filter) is complete
    if (a.k1) {  // separable: uniform across the grid
      upfirdn2d_tile_hpass<T, UP, DOWN, KSIZE>(a, g, t, s, tid, n_threads);
      __syncthreads();  // the intermediate is complete
      upfirdn2d_tile_vpass<T, UP, DOWN, KSIZE>(a, g, t, s, tid, n_threads);
    } else {
      upfirdn2d_tile_compute<T, UP, DOWN, KSIZE>(a, g, t, s, tid, n_threads);
    }
    __syncthreads();  // nobody still reads the scratch the next tile overwrites
  }
}

void bias_act_cuda(const BiasActArgs& a, int device, std::uintptr_t stream) {
  dispatch_float_and_half(a.dtype, "bias_act", [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kPack = BiasActPack<T>::kSize;
    if (sizeof(T) == 2 && bias_act_packable(a) && a.n >= kPack) {
      const int64_t packs = a.n / kPack;  // >= 1; the tail (< 8 elements) fits in block 0
      DeviceGuard guard(device, "bias_act");
      const int64_t blocks = (packs + kThreadsPerBlock - 1) / kThreadsPerBlock;
      const unsigned grid = static_cast<unsigned>(blocks < INT_MAX ? blocks : INT_MAX);
      bias_act_packed_kernel<T>
          <<<grid, kThreadsPerBlock, 0, reinterpret_cast<cudaStream_t>(stream)>>>(a, packs);
      cuda_check(cudaGetLastError(), "bias_act");
      return;
    }
    launch_1d(bias_act_kernel<T>, a, a.n, device, stream, "bias_act");
  });
}

void upfirdn2d_cuda(const Upfirdn2dArgs& a, int device, std::uintptr_t stream) {
  dispatch_float_and_half(a.dtype, "upfirdn2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_upfirdn2d(a, [&](auto fixed) {
      using P = decltype(fixed);
      Upfirdn2dTile g;
      if (!upfirdn2d_tile_shape(a, sizeof(acc_t<T>), g)) {
        launch_1d(upfirdn2d_direct_kernel<T, P::up, P::down, P::ksize>, a,
                  a.planes * a.out_h * a.out_w, device, stream, "upfirdn2d");
        return;
      }
      if (g.n_tiles <= 0) return;
      DeviceGuard guard(device, "upfirdn2d");
      const unsigned grid = static_cast<unsigned>(g.n_tiles < INT_MAX ? g.n_tiles : INT_MAX);
      const size_t smem = static_cast<size_t>(g.scratch) * sizeof(acc_t<T>);
      upfirdn2d_tiled_kernel<T, P::up, P::down, P::ksize>
          <<<grid, kUpfirdn2dThreads, smem, reinterpret_cast<cudaStream_t>(stream)>>>(a, g);
      cuda_check(cudaGetLastError(), "upfirdn2d");
    });
  });
}

}  // namespace gan
}  // namespace fastgen
