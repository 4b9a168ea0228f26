// CUDA kernels and launchers of the render family: one thread per ray (or per (ray, channel)
// item), calling the same per-ray math as the CPU launcher. Composite and the weighted segment
// sum also take float16 / bfloat16 storage (loaded to float32, accumulated in float32, outputs
// and gradients stored converted).
#include "../common/cuda_launch.cuh"
#include "../common/dispatch.h"
#include "render.h"

namespace fastgen {
namespace render {

template <typename T> __global__ void segmented_scan_kernel(ScanArgs a) {
  FG_CUDA_KERNEL_LOOP(r, a.n_rays) segmented_scan_ray<T>(a, r);
}

template <typename T> __global__ void prod_scan_backward_kernel(ProdScanBackwardArgs a) {
  FG_CUDA_KERNEL_LOOP(r, a.n_rays) prod_scan_backward_ray<T>(a, r);
}

template <typename T> __global__ void segment_sum_kernel(SegmentArgs a) {
  FG_CUDA_KERNEL_LOOP(item, a.n_rays * a.n_channels) segment_sum_item<T>(a, item);
}

template <typename T> __global__ void segment_broadcast_kernel(SegmentArgs a) {
  FG_CUDA_KERNEL_LOOP(item, a.n_rays * a.n_channels) segment_broadcast_item<T>(a, item);
}

template <typename T> __global__ void weighted_segment_sum_kernel(WeightedSegmentSumArgs a) {
  FG_CUDA_KERNEL_LOOP(r, a.n_rays) weighted_segment_sum_ray<T>(a, r);
}

template <typename T>
__global__ void weighted_segment_broadcast_kernel(WeightedSegmentBroadcastArgs a) {
  FG_CUDA_KERNEL_LOOP(r, a.n_rays) weighted_segment_broadcast_ray<T>(a, r);
}

template <typename T> __global__ void composite_forward_kernel(CompositeForwardArgs a) {
  FG_CUDA_KERNEL_LOOP(r, a.in.n_rays) composite_forward_ray<T>(a, r);
}

template <typename T> __global__ void composite_backward_kernel(CompositeBackwardArgs a) {
  FG_CUDA_KERNEL_LOOP(r, a.in.n_rays) composite_backward_ray<T>(a, r);
}

void segmented_scan_cuda(const ScanArgs& a, int device, std::uintptr_t stream) {
  dispatch_float(a.dtype, "segmented_scan", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_1d(segmented_scan_kernel<T>, a, a.n_rays, device, stream, "segmented_scan");
  });
}

void prod_scan_backward_cuda(const ProdScanBackwardArgs& a, int device,
                             std::uintptr_t stream) {
  dispatch_float(a.dtype, "prod_scan_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_1d(prod_scan_backward_kernel<T>, a, a.n_rays, device, stream, "prod_scan_backward");
  });
}

void segment_sum_cuda(const SegmentArgs& a, int device, std::uintptr_t stream) {
  dispatch_float(a.dtype, "segment_sum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_1d(segment_sum_kernel<T>, a, a.n_rays * a.n_channels, device, stream, "segment_sum");
  });
}

void segment_broadcast_cuda(const SegmentArgs& a, int device, std::uintptr_t stream) {
  dispatch_float(a.dtype, "segment_broadcast", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_1d(segment_broadcast_kernel<T>, a, a.n_rays * a.n_channels, device, stream,
              "segment_broadcast");
  });
}

void weighted_segment_sum_cuda(const WeightedSegmentSumArgs& a, int device,
                               std::uintptr_t stream) {
  dispatch_float_and_half(a.dtype, "weighted_segment_sum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_1d(weighted_segment_sum_kernel<T>, a, a.n_rays, device, stream,
              "weighted_segment_sum");
  });
}

void weighted_segment_broadcast_cuda(const WeightedSegmentBroadcastArgs& a, int device,
                                     std::uintptr_t stream) {
  dispatch_float_and_half(a.dtype, "weighted_segment_broadcast", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_1d(weighted_segment_broadcast_kernel<T>, a, a.n_rays, device, stream,
              "weighted_segment_broadcast");
  });
}

void composite_forward_cuda(const CompositeForwardArgs& a, int device,
                            std::uintptr_t stream) {
  dispatch_float_and_half(a.in.dtype, "composite_forward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_1d(composite_forward_kernel<T>, a, a.in.n_rays, device, stream, "composite_forward");
  });
}

void composite_backward_cuda(const CompositeBackwardArgs& a, int device,
                             std::uintptr_t stream) {
  dispatch_float_and_half(a.in.dtype, "composite_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_1d(composite_backward_kernel<T>, a, a.in.n_rays, device, stream,
              "composite_backward");
  });
}

}  // namespace render
}  // namespace fastgen
