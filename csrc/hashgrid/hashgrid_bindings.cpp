// Python bindings of the hashgrid family (see csrc/bindings.cpp for the conventions).
#include "common/bindings_util.h"
#include "hashgrid/hashgrid.h"

namespace fastgen {
namespace {

hashgrid::Config config(uintptr_t level_info, int64_t n_points, int64_t n_levels,
                        int64_t table_size, int dims, int features, int dtype, int no_f16c) {
  return {ptr<const int64_t>(level_info), n_points, n_levels, table_size, dims, features, dtype,
          no_f16c};
}

hashgrid::ForwardArgs forward_args(uintptr_t x, uintptr_t table, uintptr_t out,
                                   uintptr_t level_info, int64_t n_points, int64_t n_levels,
                                   int64_t table_size, int dims, int features, int dtype,
                                   int no_f16c) {
  return {config(level_info, n_points, n_levels, table_size, dims, features, dtype, no_f16c),
          ptr<const void>(x), ptr<const void>(table), ptr<void>(out)};
}

hashgrid::BackwardArgs backward_args(uintptr_t x, uintptr_t table, uintptr_t grad_out,
                                     uintptr_t grad_table, uintptr_t grad_x,
                                     uintptr_t level_info, int64_t n_points, int64_t n_levels,
                                     int64_t table_size, int dims, int features, int dtype,
                                     int no_f16c) {
  return {config(level_info, n_points, n_levels, table_size, dims, features, dtype, no_f16c),
          ptr<const void>(x),     ptr<const void>(table), ptr<const void>(grad_out),
          ptr<void>(grad_table),  ptr<void>(grad_x)};
}

}  // namespace

void bind_hashgrid(py::module_& m) {
  using py::arg;
  def_launchers(m, "hash_grid_encode_forward", &forward_args, &hashgrid::forward_cpu,
                FG_CUDA_LAUNCHER(hashgrid::forward_cuda),
                "Hash-grid encoding of x (N, D) with table (L, T, F) into out (N, L*F).", arg("x"),
                arg("table"), arg("out"), arg("level_info"), arg("n_points"), arg("n_levels"),
                arg("table_size"), arg("dims"), arg("features"), arg("dtype"), arg("no_f16c"));
  def_launchers(m, "hash_grid_encode_backward", &backward_args, &hashgrid::backward_cpu,
                FG_CUDA_LAUNCHER(hashgrid::backward_cuda),
                "Gradients of the hash-grid encoding: scatter-adds into grad_table (L, T, F) "
                "(zeroed; 0 = skip) and writes grad_x (N, D) (0 = skip).",
                arg("x"), arg("table"), arg("grad_out"), arg("grad_table"), arg("grad_x"),
                arg("level_info"), arg("n_points"), arg("n_levels"), arg("table_size"),
                arg("dims"), arg("features"), arg("dtype"), arg("no_f16c"));
}

}  // namespace fastgen
