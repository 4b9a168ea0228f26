// CUDA kernels of the march family: one thread per (ray, box) pair or per ray, calling the same
// math as the CPU launcher (march.h).
#include "../common/cuda_launch.cuh"
#include "../common/dispatch.h"
#include "march.h"

namespace fastgen {
namespace march {

template <typename T> __global__ void ray_aabb_kernel(RayAabbArgs a) {
  FG_CUDA_KERNEL_LOOP(i, a.n_rays * a.n_aabbs) ray_aabb_pair<T>(a, i);
}

template <typename T> __global__ void traverse_kernel(TraverseArgs a) {
  FG_CUDA_KERNEL_LOOP(r, a.n_rays) traverse_ray<T>(a, r);
}

void ray_aabb_intersect_cuda(const RayAabbArgs& a, int device, std::uintptr_t stream) {
  dispatch_float(a.dtype, "ray_aabb_intersect", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_1d(ray_aabb_kernel<T>, a, a.n_rays * a.n_aabbs, device, stream, "ray_aabb_intersect");
  });
}

void traverse_cuda(const TraverseArgs& a, int device, std::uintptr_t stream) {
  dispatch_float(a.dtype, "traverse_grids", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_1d(traverse_kernel<T>, a, a.n_rays, device, stream, "traverse_grids");
  });
}

__global__ void occ_scatter_max_kernel(OccUpdateArgs a) {
  FG_CUDA_KERNEL_LOOP(i, a.n_samples) occ_scatter_max_sample(a, i);
}

__global__ void occ_ema_kernel(OccUpdateArgs a) {
  FG_CUDA_KERNEL_LOOP(c, a.n_cells) occ_ema_cell(a, c);
}

void occ_scatter_max_cuda(const OccUpdateArgs& a, int device, std::uintptr_t stream) {
  launch_1d(occ_scatter_max_kernel, a, a.n_samples, device, stream, "occ_scatter_max");
}

void occ_ema_cuda(const OccUpdateArgs& a, int device, std::uintptr_t stream) {
  launch_1d(occ_ema_kernel, a, a.n_cells, device, stream, "occ_ema");
}

}  // namespace march
}  // namespace fastgen
