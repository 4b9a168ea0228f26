// CUDA kernels and launchers of the hashgrid family, calling the shared math of hashgrid.h.
// Tables may be float32, float64, float16 or bfloat16 (loaded to the compute type; gradients
// accumulate in float32, float64 for float64 tables).
//
// The forward and the table gradient run one thread per (point, level) on a grid whose y index
// is the level (as tiny-cuda-nn does): blocks are scheduled x-fastest, so the blocks resident
// at any moment mostly gather from one level's slice of the table, which then stays in L2. The
// table gradient scatters with atomicAdd (float32 / float64): the order of the additions varies
// from run to run, so it is deterministic only up to rounding. The input gradient runs one
// thread per point, summing its levels in order (deterministic).
#include <climits>
#include <type_traits>

#include "../common/cuda_launch.cuh"
#include "../common/dispatch.h"
#include "hashgrid.h"

namespace fastgen {
namespace hashgrid {
namespace {

template <typename T, int D, int F> __global__ void forward_kernel(ForwardArgs a) {
  const int64_t l = blockIdx.y;
  FG_CUDA_KERNEL_LOOP(n, a.cfg.n_points) forward_point_level<T, D, F>(a, n, l);
}

struct AtomicAdd {
  template <typename C> __device__ void operator()(C* p, C v) const { atomicAdd(p, v); }
};

template <typename T, int D, int F> __global__ void backward_table_kernel(BackwardArgs a) {
  const int64_t l = blockIdx.y;
  FG_CUDA_KERNEL_LOOP(n, a.cfg.n_points) backward_table_point_level<T, D, F>(a, n, l, AtomicAdd{});
}

template <typename T, int D, int F> __global__ void backward_x_kernel(BackwardArgs a) {
  FG_CUDA_KERNEL_LOOP(n, a.cfg.n_points) backward_x_point<T, D, F>(a, n);
}

// kernel<<<(ceil(n_points / 256), n_levels), 256>>>: x over points (grid-stride, capped), y over
// levels (gridDim.y is at most 65535; Python rejects more levels).
template <typename Args>
void launch_point_level(void (*kernel)(Args), const Args& a, const Config& cfg, int device,
                        std::uintptr_t stream, const char* what) {
  if (cfg.n_points <= 0 || cfg.n_levels <= 0) return;
  DeviceGuard guard(device, what);
  const int64_t blocks = (cfg.n_points + kThreadsPerBlock - 1) / kThreadsPerBlock;
  const dim3 grid(static_cast<unsigned>(blocks < INT_MAX ? blocks : INT_MAX),
                  static_cast<unsigned>(cfg.n_levels));
  kernel<<<grid, kThreadsPerBlock, 0, reinterpret_cast<cudaStream_t>(stream)>>>(a);
  cuda_check(cudaGetLastError(), what);
}

}  // namespace

void forward_cuda(const ForwardArgs& a, int device, std::uintptr_t stream) {
  const char* what = "hash_grid_encode_forward";
  dispatch_float_and_half(a.cfg.dtype, what, [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_dims_features(a.cfg.dims, a.cfg.features, what, [&](auto dims, auto features) {
      constexpr int D = decltype(dims)::value, F = decltype(features)::value;
      launch_point_level(forward_kernel<T, D, F>, a, a.cfg, device, stream, what);
    });
  });
}

void backward_cuda(const BackwardArgs& a, int device, std::uintptr_t stream) {
  const char* what = "hash_grid_encode_backward";
  dispatch_float_and_half(a.cfg.dtype, what, [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_dims_features(a.cfg.dims, a.cfg.features, what, [&](auto dims, auto features) {
      constexpr int D = decltype(dims)::value, F = decltype(features)::value;
      if (a.grad_table != nullptr)
        launch_point_level(backward_table_kernel<T, D, F>, a, a.cfg, device, stream, what);
      if (a.grad_x != nullptr)
        launch_1d(backward_x_kernel<T, D, F>, a, a.cfg.n_points, device, stream, what);
    });
  });
}

}  // namespace hashgrid
}  // namespace fastgen
