// CPU launchers of the march family: OpenMP over (ray, box) pairs or rays, calling the shared
// math of march.h. float32 / float64.
#include "../common/dispatch.h"
#include "march.h"

namespace fastgen {
namespace march {

void ray_aabb_intersect_cpu(const RayAabbArgs& a, int n_threads) {
  dispatch_float(a.dtype, "ray_aabb_intersect", [&](auto tag) {
    using T = typename decltype(tag)::type;
    parallel_for(a.n_rays * a.n_aabbs, n_threads, [&](int64_t i) { ray_aabb_pair<T>(a, i); });
  });
}

void traverse_cpu(const TraverseArgs& a, int n_threads) {
  dispatch_float(a.dtype, "traverse_grids", [&](auto tag) {
    using T = typename decltype(tag)::type;
    parallel_for(a.n_rays, n_threads, [&](int64_t r) { traverse_ray<T>(a, r); });
  });
}

void occ_scatter_max_cpu(const OccUpdateArgs& a, int n_threads) {
  parallel_for(a.n_samples, n_threads, [&](int64_t i) { occ_scatter_max_sample(a, i); });
}

void occ_ema_cpu(const OccUpdateArgs& a, int n_threads) {
  parallel_for(a.n_cells, n_threads, [&](int64_t c) { occ_ema_cell(a, c); });
}

}  // namespace march
}  // namespace fastgen
