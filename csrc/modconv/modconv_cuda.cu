// CUDA kernels of modconv: one block of kConvThreads threads per tile of modconv.h (grid-stride
// over tiles), the K loop's staging buffers in shared memory, one kTM x kTN micro-tile of
// accumulators in registers per thread. All four storage dtypes (float16 / bfloat16 loaded to
// float32 and accumulated in float32; float64 in float64).
#include "../common/cuda_launch.cuh"
#include "../common/dispatch.h"
#include "modconv.h"

namespace fastgen {
namespace modconv {

namespace {

unsigned grid_of(int64_t n_tiles) { return static_cast<unsigned>(n_tiles < INT_MAX ? n_tiles : INT_MAX); }

template <typename T> __global__ void __launch_bounds__(kConvThreads) conv_kernel(ConvArgs a) {
  using A = acc_t<T>;
  __shared__ Smem<A> s;
  const int tid = threadIdx.x;
  const int64_t n_tiles = conv_n_tiles(a);
  for (int64_t index = blockIdx.x; index < n_tiles; index += gridDim.x) {
    const ConvTile t = conv_tile(a, index);
    conv_stage_pixels(a, t, s, tid, kConvThreads);
    A acc[kTM * kTN];
    FG_UNROLL
    for (int i = 0; i < kTM * kTN; ++i) acc[i] = A(0);
    for (int ky = 0; ky < a.kh; ++ky) {
      int dy = 0;
      if (!tap_offset(ky, a.pad_y, t.ry, a.up, dy)) continue;  // uniform across the block
      for (int kx = 0; kx < a.kw; ++kx) {
        int dx = 0;
        if (!tap_offset(kx, a.pad_x, t.rx, a.up, dx)) continue;
        for (int64_t c0 = 0; c0 < a.ci; c0 += kBK) {
          __syncthreads();  // the pixel bases are staged; nobody still reads the previous step
          conv_load<T>(a, t, s, ky * a.kw + kx, dy, dx, c0, tid, kConvThreads);
          __syncthreads();
          tile_mma<A, 1>(s, acc, tid, kConvThreads);
        }
      }
    }
    conv_store<T, 1>(a, t, acc, tid, kConvThreads);
    __syncthreads();  // the next tile overwrites the pixel bases
  }
}

template <typename T> __global__ void __launch_bounds__(kConvThreads) dweight_kernel(DweightArgs a) {
  using A = acc_t<T>;
  __shared__ Smem<A> s;
  const int tid = threadIdx.x;
  const int64_t n_tiles = dweight_n_tiles(a);
  for (int64_t index = blockIdx.x; index < n_tiles; index += gridDim.x) {
    const DweightTile d = dweight_tile(a, index);
    A acc[kTM * kTN];
    FG_UNROLL
    for (int i = 0; i < kTM * kTN; ++i) acc[i] = A(0);
    const int64_t n_end = (d.split + 1) * a.n_per_split < a.n ? (d.split + 1) * a.n_per_split : a.n;
    for (int64_t n = d.split * a.n_per_split; n < n_end; ++n) {
      for (int64_t p0 = 0; p0 < d.mh * d.mw; p0 += kBK) {
        __syncthreads();
        dweight_load<T>(a, d, s, n, p0, tid, kConvThreads);
        __syncthreads();
        tile_mma<A, 1>(s, acc, tid, kConvThreads);
      }
    }
    dweight_store<A, 1>(a, d, acc, tid, kConvThreads);
  }
}

template <typename T> __global__ void epilogue_kernel(EpilogueArgs a) {
  FG_CUDA_KERNEL_LOOP(i, a.n * a.e.co * a.p) { epilogue_item<T>(a, i); }
}

// One block per (n, co) plane: dz, and the plane's sums of dz * c and dz (a shared-memory tree).
template <typename T> __global__ void __launch_bounds__(kPlaneThreads) epilogue_grad_kernel(EpilogueArgs a) {
  using A = acc_t<T>;
  __shared__ A sums[2][kPlaneThreads];
  const int tid = threadIdx.x;
  for (int64_t plane = blockIdx.x; plane < a.n * a.e.co; plane += gridDim.x) {
    epilogue_grad_plane<T>(a, plane, tid, kPlaneThreads, sums[0][tid], sums[1][tid]);
    __syncthreads();
    for (int half = kPlaneThreads / 2; half > 0; half /= 2) {
      if (tid < half) {
        sums[0][tid] += sums[0][tid + half];
        sums[1][tid] += sums[1][tid + half];
      }
      __syncthreads();
    }
    if (tid == 0) {
      A* part = static_cast<A*>(a.part) + 2 * plane;
      part[0] = sums[0][0];
      part[1] = sums[1][0];
    }
    __syncthreads();  // the next plane overwrites the sums
  }
}

template <typename Args>
void launch_tiles(void (*kernel)(Args), const Args& a, int64_t blocks, int threads, int device,
                  std::uintptr_t stream, const char* what) {
  if (blocks <= 0) return;
  DeviceGuard guard(device, what);
  kernel<<<grid_of(blocks), threads, 0, reinterpret_cast<cudaStream_t>(stream)>>>(a);
  cuda_check(cudaGetLastError(), what);
}

}  // namespace

void conv_cuda(const ConvArgs& a, int device, std::uintptr_t stream) {
  dispatch_float_and_half(a.dtype, "modconv_conv", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_tiles(conv_kernel<T>, a, conv_n_tiles(a), kConvThreads, device, stream, "modconv_conv");
  });
}

void dweight_cuda(const DweightArgs& a, int device, std::uintptr_t stream) {
  dispatch_float_and_half(a.dtype, "modconv_dweight", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_tiles(dweight_kernel<T>, a, dweight_n_tiles(a), kConvThreads, device, stream,
                                 "modconv_dweight");
  });
}

void epilogue_cuda(const EpilogueArgs& a, int device, std::uintptr_t stream) {
  dispatch_float_and_half(a.dtype, "modconv_epilogue", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_1d(epilogue_kernel<T>, a, a.n * a.e.co * a.p, device, stream, "modconv_epilogue");
  });
}

void epilogue_grad_cuda(const EpilogueArgs& a, int device, std::uintptr_t stream) {
  dispatch_float_and_half(a.dtype, "modconv_epilogue_grad", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_tiles(epilogue_grad_kernel<T>, a, a.n * a.e.co, kPlaneThreads, device, stream,
                                  "modconv_epilogue_grad");
  });
}

}  // namespace modconv
}  // namespace fastgen
