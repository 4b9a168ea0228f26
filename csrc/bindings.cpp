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
#if defined(FASTGEN_WITH_CUDA)
#include "common/build_info.h"
#elif !defined(FASTGEN_CUDA_MISSING_REASON)  // setup.py defines it; this covers other builds
#define FASTGEN_CUDA_MISSING_REASON "built without FASTGEN_WITH_CUDA"
#endif

namespace py = pybind11;
using std::uintptr_t;

namespace fastgen {

// One per family, defined in csrc/<family>/<family>_bindings.cpp.
void bind_render(py::module_& m);
void bind_hashgrid(py::module_& m);
void bind_gan(py::module_& m);
void bind_sample(py::module_& m);
void bind_march(py::module_& m);
void bind_filtered_lrelu(py::module_& m);
void bind_modconv(py::module_& m);

namespace {

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

  bind_render(m);
  bind_hashgrid(m);
  bind_gan(m);
  bind_sample(m);
  bind_march(m);
  bind_filtered_lrelu(m);
  bind_modconv(m);
}
