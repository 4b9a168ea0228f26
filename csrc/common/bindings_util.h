// Helpers for the per-family binding files: raw-pointer casts and def_launchers, which defines
// <name>_cpu(params..., n_threads) and, when built with CUDA, <name>_cuda(params..., device, stream).
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

namespace fastgen {

namespace py = pybind11;
using std::uintptr_t;

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

}  // namespace fastgen
