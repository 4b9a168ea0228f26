// Python bindings of the render family (see csrc/bindings.cpp for the conventions).
#include "common/bindings_util.h"
#include "render/render.h"

namespace fastgen {
namespace {

render::ScanArgs scan_args(uintptr_t x, uintptr_t out, uintptr_t packed_info, int64_t n_samples,
                           int64_t n_rays, int dtype, bool prod, bool exclusive, bool reverse) {
  return {ptr<const void>(x), ptr<void>(out), ptr<const int64_t>(packed_info), n_samples, n_rays,
          dtype, prod, exclusive, reverse};
}

render::ProdScanBackwardArgs prod_scan_backward_args(uintptr_t x, uintptr_t grad_out,
                                                     uintptr_t grad_x, uintptr_t packed_info,
                                                     int64_t n_samples, int64_t n_rays,
                                                     int dtype, bool exclusive) {
  return {ptr<const void>(x), ptr<const void>(grad_out), ptr<void>(grad_x),
          ptr<const int64_t>(packed_info), n_samples, n_rays, dtype, exclusive};
}

render::SegmentArgs segment_args(uintptr_t in, uintptr_t out, uintptr_t packed_info,
                                 int64_t n_samples, int64_t n_rays, int64_t n_channels,
                                 int dtype) {
  return {ptr<const void>(in), ptr<void>(out), ptr<const int64_t>(packed_info), n_samples,
          n_rays, n_channels, dtype};
}

render::WeightedSegmentSumArgs weighted_segment_sum_args(uintptr_t weights, uintptr_t values,
                                                         uintptr_t out, uintptr_t packed_info,
                                                         int64_t n_samples, int64_t n_rays,
                                                         int64_t n_channels, int dtype) {
  return {ptr<const void>(weights), ptr<const void>(values), ptr<void>(out),
          ptr<const int64_t>(packed_info), n_samples, n_rays, n_channels, dtype};
}

render::WeightedSegmentBroadcastArgs weighted_segment_broadcast_args(
    uintptr_t grad, uintptr_t weights, uintptr_t values, uintptr_t grad_weights,
    uintptr_t grad_values, uintptr_t packed_info, int64_t n_samples, int64_t n_rays,
    int64_t n_channels, int dtype) {
  return {ptr<const void>(grad),  ptr<const void>(weights),        ptr<const void>(values),
          ptr<void>(grad_weights), ptr<void>(grad_values), ptr<const int64_t>(packed_info),
          n_samples,              n_rays,                 n_channels, dtype};
}

render::CompositeInputs composite_inputs(uintptr_t t_starts, uintptr_t t_ends, uintptr_t sigmas,
                                         uintptr_t rgbs, uintptr_t packed_info, uintptr_t bkgd,
                                         int64_t n_samples, int64_t n_rays, int dtype,
                                         double early_stop_eps) {
  return {ptr<const void>(t_starts), ptr<const void>(t_ends), ptr<const void>(sigmas),
          ptr<const void>(rgbs),     ptr<const int64_t>(packed_info), ptr<const void>(bkgd),
          n_samples,                 n_rays,  dtype, early_stop_eps};
}

render::CompositeForwardArgs composite_forward_args(
    uintptr_t t_starts, uintptr_t t_ends, uintptr_t sigmas, uintptr_t rgbs, uintptr_t packed_info,
    uintptr_t bkgd, int64_t n_samples, int64_t n_rays, int dtype, double early_stop_eps,
    uintptr_t rgb, uintptr_t opacity, uintptr_t depth) {
  return {composite_inputs(t_starts, t_ends, sigmas, rgbs, packed_info, bkgd, n_samples, n_rays,
                           dtype, early_stop_eps),
          ptr<void>(rgb), ptr<void>(opacity), ptr<void>(depth)};
}

render::CompositeBackwardArgs composite_backward_args(
    uintptr_t t_starts, uintptr_t t_ends, uintptr_t sigmas, uintptr_t rgbs, uintptr_t packed_info,
    uintptr_t bkgd, int64_t n_samples, int64_t n_rays, int dtype, double early_stop_eps,
    uintptr_t rgb, uintptr_t opacity, uintptr_t depth, uintptr_t grad_rgb,
    uintptr_t grad_opacity, uintptr_t grad_depth, uintptr_t grad_sigmas, uintptr_t grad_rgbs) {
  return {composite_inputs(t_starts, t_ends, sigmas, rgbs, packed_info, bkgd, n_samples, n_rays,
                           dtype, early_stop_eps),
          ptr<const void>(rgb),          ptr<const void>(opacity),
          ptr<const void>(depth),        ptr<const void>(grad_rgb),
          ptr<const void>(grad_opacity), ptr<const void>(grad_depth),
          ptr<void>(grad_sigmas),        ptr<void>(grad_rgbs)};
}

}  // namespace

void bind_render(py::module_& m) {
  using py::arg;
  def_launchers(m, "segmented_scan", &scan_args, &render::segmented_scan_cpu,
                FG_CUDA_LAUNCHER(render::segmented_scan_cuda),
                "Per-ray sum/prod scan of x (N,) into out (N,).", arg("x"), arg("out"),
                arg("packed_info"), arg("n_samples"), arg("n_rays"), arg("dtype"), arg("prod"),
                arg("exclusive"), arg("reverse"));
  def_launchers(m, "prod_scan_backward", &prod_scan_backward_args,
                &render::prod_scan_backward_cpu, FG_CUDA_LAUNCHER(render::prod_scan_backward_cuda),
                "Gradient of the forward prod scan w.r.t. x, into grad_x (N,).", arg("x"),
                arg("grad_out"), arg("grad_x"), arg("packed_info"), arg("n_samples"),
                arg("n_rays"), arg("dtype"), arg("exclusive"));
  def_launchers(m, "segment_sum", &segment_args, &render::segment_sum_cpu,
                FG_CUDA_LAUNCHER(render::segment_sum_cuda),
                "Per-ray sum of values (N, C) into out (R, C).", arg("values"), arg("out"),
                arg("packed_info"), arg("n_samples"), arg("n_rays"), arg("n_channels"),
                arg("dtype"));
  def_launchers(m, "segment_broadcast", &segment_args, &render::segment_broadcast_cpu,
                FG_CUDA_LAUNCHER(render::segment_broadcast_cuda),
                "Copies grad (R, C) to every sample of its ray in out (N, C).", arg("grad"),
                arg("out"), arg("packed_info"), arg("n_samples"), arg("n_rays"),
                arg("n_channels"), arg("dtype"));
  def_launchers(m, "weighted_segment_sum", &weighted_segment_sum_args,
                &render::weighted_segment_sum_cpu,
                FG_CUDA_LAUNCHER(render::weighted_segment_sum_cuda),
                "Per-ray sum of weights (N,) times values (N, C) into out (R, C). values = 0 "
                "means no values: out (R, 1) is the sum of the weights.",
                arg("weights"), arg("values"), arg("out"), arg("packed_info"), arg("n_samples"),
                arg("n_rays"), arg("n_channels"), arg("dtype"));
  def_launchers(m, "weighted_segment_broadcast", &weighted_segment_broadcast_args,
                &render::weighted_segment_broadcast_cpu,
                FG_CUDA_LAUNCHER(render::weighted_segment_broadcast_cuda),
                "Gradients of weighted_segment_sum given grad (R, C): grad_weights (N,) and "
                "grad_values (N, C). values = 0 means no values; grad_values = 0 skips "
                "grad_values.",
                arg("grad"), arg("weights"), arg("values"), arg("grad_weights"),
                arg("grad_values"), arg("packed_info"), arg("n_samples"), arg("n_rays"),
                arg("n_channels"), arg("dtype"));
  def_launchers(m, "composite_forward", &composite_forward_args, &render::composite_forward_cpu,
                FG_CUDA_LAUNCHER(render::composite_forward_cuda),
                "Volume rendering of packed samples into rgb (R, 3), opacity (R,), depth (R,). "
                "bkgd = 0 means no background.",
                arg("t_starts"), arg("t_ends"), arg("sigmas"), arg("rgbs"), arg("packed_info"),
                arg("bkgd"), arg("n_samples"), arg("n_rays"), arg("dtype"),
                arg("early_stop_eps"), arg("rgb"), arg("opacity"), arg("depth"));
  def_launchers(m, "composite_backward", &composite_backward_args,
                &render::composite_backward_cpu, FG_CUDA_LAUNCHER(render::composite_backward_cuda),
                "Gradients of composite_forward w.r.t. sigmas (N,) and rgbs (N, 3), in one pass "
                "per ray. bkgd = 0 means no background.",
                arg("t_starts"), arg("t_ends"), arg("sigmas"), arg("rgbs"), arg("packed_info"),
                arg("bkgd"), arg("n_samples"), arg("n_rays"), arg("dtype"),
                arg("early_stop_eps"), arg("rgb"), arg("opacity"), arg("depth"),
                arg("grad_rgb"), arg("grad_opacity"), arg("grad_depth"), arg("grad_sigmas"),
                arg("grad_rgbs"));
}

}  // namespace fastgen
