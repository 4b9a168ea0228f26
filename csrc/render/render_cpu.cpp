// CPU launchers of the render family: OpenMP over rays, calling the shared per-ray math.
// float32 / float64 only (Python converts float16 / bfloat16 composite and weighted-sum inputs
// to float32).
#include "../common/dispatch.h"
#include "render.h"

namespace fastgen {
namespace render {

void segmented_scan_cpu(const ScanArgs& a, int n_threads) {
  dispatch_float(a.dtype, "segmented_scan", [&](auto tag) {
    using T = typename decltype(tag)::type;
    parallel_for(a.n_rays, n_threads, [&](int64_t r) { segmented_scan_ray<T>(a, r); });
  });
}

void prod_scan_backward_cpu(const ProdScanBackwardArgs& a, int n_threads) {
  dispatch_float(a.dtype, "prod_scan_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    parallel_for(a.n_rays, n_threads, [&](int64_t r) { prod_scan_backward_ray<T>(a, r); });
  });
}

void segment_sum_cpu(const SegmentArgs& a, int n_threads) {
  dispatch_float(a.dtype, "segment_sum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    parallel_for(a.n_rays * a.n_channels, n_threads,
                 [&](int64_t item) { segment_sum_item<T>(a, item); });
  });
}

void segment_broadcast_cpu(const SegmentArgs& a, int n_threads) {
  dispatch_float(a.dtype, "segment_broadcast", [&](auto tag) {
    using T = typename decltype(tag)::type;
    parallel_for(a.n_rays * a.n_channels, n_threads,
                 [&](int64_t item) { segment_broadcast_item<T>(a, item); });
  });
}

void weighted_segment_sum_cpu(const WeightedSegmentSumArgs& a, int n_threads) {
  dispatch_float(a.dtype, "weighted_segment_sum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    parallel_for(a.n_rays, n_threads, [&](int64_t r) { weighted_segment_sum_ray<T>(a, r); });
  });
}

void weighted_segment_broadcast_cpu(const WeightedSegmentBroadcastArgs& a, int n_threads) {
  dispatch_float(a.dtype, "weighted_segment_broadcast", [&](auto tag) {
    using T = typename decltype(tag)::type;
    parallel_for(a.n_rays, n_threads,
                 [&](int64_t r) { weighted_segment_broadcast_ray<T>(a, r); });
  });
}

void composite_forward_cpu(const CompositeForwardArgs& a, int n_threads) {
  dispatch_float(a.in.dtype, "composite_forward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    parallel_for(a.in.n_rays, n_threads, [&](int64_t r) { composite_forward_ray<T>(a, r); });
  });
}

void composite_backward_cpu(const CompositeBackwardArgs& a, int n_threads) {
  dispatch_float(a.in.dtype, "composite_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    parallel_for(a.in.n_rays, n_threads, [&](int64_t r) { composite_backward_ray<T>(a, r); });
  });
}

}  // namespace render
}  // namespace fastgen
