// Python bindings of the march family (see csrc/bindings.cpp for the conventions).
#include "common/bindings_util.h"
#include "march/march.h"

namespace fastgen {
namespace {

march::RayAabbArgs ray_aabb_args(uintptr_t rays_o, uintptr_t rays_d, uintptr_t aabbs,
                                 uintptr_t t_mins, uintptr_t t_maxs, uintptr_t hits,
                                 int64_t n_rays, int64_t n_aabbs, double near_plane,
                                 double far_plane, double miss_value, int dtype) {
  return {ptr<const void>(rays_o), ptr<const void>(rays_d), ptr<const void>(aabbs),
          ptr<void>(t_mins), ptr<void>(t_maxs), ptr<bool>(hits), n_rays, n_aabbs,
          near_plane, far_plane, miss_value, dtype};
}

march::TraverseArgs traverse_args(uintptr_t rays_o, uintptr_t rays_d, uintptr_t binaries,
                                  uintptr_t aabbs, uintptr_t near_planes, uintptr_t far_planes,
                                  uintptr_t jitter, int64_t n_rays, int64_t n_levels,
                                  int64_t res_x, int64_t res_y, int64_t res_z, double step,
                                  double cone_angle, double max_step, int dtype, int mode,
                                  uintptr_t counts, uintptr_t packed_info, uintptr_t t_starts,
                                  uintptr_t t_ends, uintptr_t ray_indices, int64_t n_out) {
  return {ptr<const void>(rays_o), ptr<const void>(rays_d), ptr<const uint8_t>(binaries),
          ptr<const void>(aabbs), ptr<const void>(near_planes), ptr<const void>(far_planes),
          jitter ? ptr<const void>(jitter) : nullptr, n_rays, n_levels, res_x, res_y, res_z,
          step, cone_angle, max_step, dtype, mode, counts ? ptr<int64_t>(counts) : nullptr,
          packed_info ? ptr<const int64_t>(packed_info) : nullptr,
          t_starts ? ptr<void>(t_starts) : nullptr, t_ends ? ptr<void>(t_ends) : nullptr,
          ray_indices ? ptr<int64_t>(ray_indices) : nullptr, n_out};
}

march::OccUpdateArgs occ_update_args(uintptr_t occs, uintptr_t best, uintptr_t cell_ids,
                                     uintptr_t values, int64_t n_cells, int64_t n_samples,
                                     double decay) {
  return {ptr<float>(occs), ptr<float>(best), ptr<const int64_t>(cell_ids),
          ptr<const float>(values), n_cells, n_samples, decay};
}

}  // namespace

void bind_march(py::module_& m) {
  using py::arg;
  def_launchers(m, "ray_aabb_intersect", &ray_aabb_args, &march::ray_aabb_intersect_cpu,
                FG_CUDA_LAUNCHER(march::ray_aabb_intersect_cuda),
                "(t_mins, t_maxs, hits) (R, M) of every ray against every box.", arg("rays_o"),
                arg("rays_d"), arg("aabbs"), arg("t_mins"), arg("t_maxs"), arg("hits"),
                arg("n_rays"), arg("n_aabbs"), arg("near_plane"), arg("far_plane"),
                arg("miss_value"), arg("dtype"));
  def_launchers(m, "traverse", &traverse_args, &march::traverse_cpu,
                FG_CUDA_LAUNCHER(march::traverse_cuda),
                "March rays through occupancy grids: count (mode 0), fill packed (1) or fill "
                "batched (2) intervals.",
                arg("rays_o"), arg("rays_d"), arg("binaries"), arg("aabbs"), arg("near_planes"),
                arg("far_planes"), arg("jitter"), arg("n_rays"), arg("n_levels"), arg("res_x"),
                arg("res_y"), arg("res_z"), arg("step"), arg("cone_angle"), arg("max_step"),
                arg("dtype"), arg("mode"), arg("counts"), arg("packed_info"), arg("t_starts"),
                arg("t_ends"), arg("ray_indices"), arg("n_out"));
  def_launchers(m, "occ_scatter_max", &occ_update_args, &march::occ_scatter_max_cpu,
                FG_CUDA_LAUNCHER(march::occ_scatter_max_cuda),
                "best[cell_ids[i]] = max(best[cell_ids[i]], values[i]).", arg("occs"),
                arg("best"), arg("cell_ids"), arg("values"), arg("n_cells"), arg("n_samples"),
                arg("decay"));
  def_launchers(m, "occ_ema", &occ_update_args, &march::occ_ema_cpu,
                FG_CUDA_LAUNCHER(march::occ_ema_cuda),
                "occs[c] = max(occs[c] * decay, best[c]) where best[c] > -inf and occs[c] >= 0.",
                arg("occs"), arg("best"), arg("cell_ids"), arg("values"), arg("n_cells"),
                arg("n_samples"), arg("decay"));
}

}  // namespace fastgen
