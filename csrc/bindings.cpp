// The pybind11 module fastgen._C. It does not link libtorch: Python passes tensors as raw
// pointers (tensor.data_ptr()), sizes, a dtype code (_C.FLOAT32, ...) and, for CUDA, the device
// index and the cudaStream_t as integers, so one binary works with any torch version.
//
// Each launcher is exposed as <name>_cpu(..., n_threads) and, when built with CUDA,
// <name>_cuda(..., device, stream). The CPU functions release the GIL while they run.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "common/common.h"
#include "render/render.h"
#if defined(FASTGEN_WITH_CUDA)
#include "common/build_info.h"
#elif !defined(FASTGEN_CUDA_MISSING_REASON)  // setup.py defines it; this covers other builds
#define FASTGEN_CUDA_MISSING_REASON "built without FASTGEN_WITH_CUDA"
#endif

namespace py = pybind11;
using std::uintptr_t;

namespace fastgen {
namespace {

template <typename T> T* ptr(uintptr_t p) { return reinterpret_cast<T*>(p); }

#if defined(FASTGEN_WITH_CUDA)
#define FG_CUDA_LAUNCHER(fn) (&fn)
#else
#define FG_CUDA_LAUNCHER(fn) nullptr
#endif

template <typename Args> using CudaLauncher = void (*)(const Args&, int, uintptr_t);
template <typename T> struct NonDeduced { using type = T; };

// Defines <name>_cpu(params..., n_threads) and, unless cuda is null, <name>_cuda(params...,
// device, stream); both pack their params into an Args struct with `build`.
template <typename Args, typename... Params, typename... Names>
void def_launchers(py::module_& m, const std::string& name, Args (*build)(Params...),
                   void (*cpu)(const Args&, int),
                   typename NonDeduced<CudaLauncher<Args>>::type cuda,  // may be nullptr
                   const char* doc, Names... names) {
  m.def((name + "_cpu").c_str(),
        [build, cpu](Params... params, int n_threads) { cpu(build(params...), n_threads); },
        doc, names..., py::arg("n_threads"), py::call_guard<py::gil_scoped_release>());
  if (cuda != nullptr) {
    m.def((name + "_cuda").c_str(),
          [build, cuda](Params... params, int device, uintptr_t stream) {
            cuda(build(params...), device, stream);
          },
          doc, names..., py::arg("device"), py::arg("stream"),
          py::call_guard<py::gil_scoped_release>());
  }
}

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

std::string compiler() {
#if defined(__clang__)
  std::string name = "clang " __clang_version__;
#elif defined(__GNUC__)
  std::string name = "gcc " __VERSION__;
#elif defined(_MSC_VER)
  std::string name = "msvc " + std::to_string(_MSC_VER);
#else
  std::string name = "unknown";
#endif
#if defined(FASTGEN_WITH_CUDA)
  name += " + " + nvcc_version();
#endif
  return name;
}

py::dict build_info() {
  py::dict info;
#if defined(FASTGEN_WITH_CUDA)
  info["cuda"] = true;
  info["cuda_runtime_version"] = cuda_runtime_version();
  info["cuda_archs"] = FASTGEN_CUDA_ARCHS;  // defined by setup.py, e.g. "80;90"
  info["cuda_missing_reason"] = "";
#else
  info["cuda"] = false;
  info["cuda_runtime_version"] = py::none();
  info["cuda_archs"] = "";
  info["cuda_missing_reason"] = FASTGEN_CUDA_MISSING_REASON;  // defined by setup.py
#endif
#if defined(_OPENMP)
  info["openmp"] = true;
#else
  info["openmp"] = false;
#endif
  info["compiler"] = compiler();
  return info;
}

}  // namespace
}  // namespace fastgen

PYBIND11_MODULE(_C, m) {
  using namespace fastgen;
  using py::arg;
  m.doc() = "fastgen C++/OpenMP and CUDA kernels (internal: use the fastgen Python API).";
  m.def("build_info", &build_info,
        "What the extension was built with: {'cuda', 'openmp', 'cuda_runtime_version', "
        "'cuda_archs', 'compiler', 'cuda_missing_reason'} (the last is '' when CUDA is built).");
  m.attr("FLOAT32") = static_cast<int>(kFloat32);
  m.attr("FLOAT64") = static_cast<int>(kFloat64);
  m.attr("FLOAT16") = static_cast<int>(kFloat16);
  m.attr("BFLOAT16") = static_cast<int>(kBFloat16);

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
