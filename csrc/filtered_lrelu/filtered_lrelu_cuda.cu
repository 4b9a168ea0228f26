// CUDA kernel of filtered_lrelu: one block per tile (grid-stride over tiles), the filters, the
// input window, the mid window and the separable row passes in shared memory, the phases of
// filtered_lrelu.h separated by barriers. All four storage dtypes (float16 / bfloat16 loaded to
// float32 and accumulated in float32).
#include "../common/cuda_launch.cuh"
#include "../common/dispatch.h"
#include "filtered_lrelu.h"

namespace fastgen {
namespace flrelu {

template <typename T, int UP, int DOWN, int K>
__global__ void __launch_bounds__(kFlreluThreads)
    filtered_lrelu_kernel(FilteredLreluArgs a, FilteredLreluTile g) {
  extern __shared__ __align__(16) unsigned char flrelu_smem[];
  acc_t<T>* s = reinterpret_cast<acc_t<T>*>(flrelu_smem);
  const int tid = threadIdx.x, n_threads = blockDim.x;
  flrelu_stage_filters<T>(a, g, s, tid, n_threads);
  for (int64_t t = blockIdx.x; t < g.n_tiles; t += gridDim.x) {
    const FlreluOrigin o = flrelu_origin(a, g, t);
    flrelu_load<T>(a, g, o, s, tid, n_threads);
    __syncthreads();  // the window (and, the first time, the filters) is complete
    if (a.sep1) {  // uniform across the grid
      flrelu_stage1_rows<T, UP, K>(a, g, o, s, tid, n_threads);
      __syncthreads();
    }
    flrelu_stage1<T, UP, K>(a, g, o, s, tid, n_threads);
    __syncthreads();  // the mid window is complete
    if (a.sep2) {
      flrelu_stage2_rows<T, DOWN, K>(a, g, s, tid, n_threads);
      __syncthreads();
    }
    flrelu_stage2<T, DOWN, K>(a, g, o, s, tid, n_threads);
    __syncthreads();  // nobody still reads the scratch the next tile overwrites
  }
}

void filtered_lrelu_cuda(const FilteredLreluArgs& a, int device, std::uintptr_t stream) {
  dispatch_float_and_half(a.dtype, "filtered_lrelu", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (a.out_h <= 0 || a.out_w <= 0 || a.planes <= 0) return;
    FilteredLreluTile g;
    flrelu_tile_shape(a, sizeof(acc_t<T>), g);
    const size_t smem = static_cast<size_t>(g.scratch) * sizeof(acc_t<T>);
    if (static_cast<int64_t>(smem) > kFlreluMaxScratchBytes) {
      throw std::invalid_argument("filtered_lrelu: filters too large for a tile's shared memory");
    }
    DeviceGuard guard(device, "filtered_lrelu");
    dispatch_factors(a, [&](auto factors) {
      using P = decltype(factors);
      auto kernel = filtered_lrelu_kernel<T, P::up, P::down, P::taps>;
      if (static_cast<int64_t>(smem) > kFlreluScratchBytes) {
        cuda_check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(smem)),
                   "filtered_lrelu");
      }
      const unsigned grid = static_cast<unsigned>(g.n_tiles < INT_MAX ? g.n_tiles : INT_MAX);
      kernel<<<grid, kFlreluThreads, smem, reinterpret_cast<cudaStream_t>(stream)>>>(a, g);
      cuda_check(cudaGetLastError(), "filtered_lrelu");
    });
  });
}

}  // namespace flrelu
}  // namespace fastgen
