// CUDA kernels and launchers of the sample family: one thread per ray (sample_pdf, merge,
// distortion) or per value (searchsorted, inverse_cdf), calling the same math as the CPU launcher.
#include "../common/cuda_launch.cuh"
#include "../common/dispatch.h"
#include "sample.h"

namespace fastgen {
namespace sample {

#define FG_SAMPLE_CUDA(NAME, ARGS, COUNT, FN)                                          \
  template <typename T> __global__ void NAME##_kernel(ARGS a) {                        \
    FG_CUDA_KERNEL_LOOP(i, COUNT) FN<T>(a, i);                                         \
  }                                                                                    \
  void NAME##_cuda(const ARGS& a, int device, std::uintptr_t stream) {                 \
    dispatch_float(a.dtype, #NAME, [&](auto tag) {                                     \
      using T = typename decltype(tag)::type;                                          \
      launch_1d(NAME##_kernel<T>, a, COUNT, device, stream, #NAME);                    \
    });                                                                                \
  }

FG_SAMPLE_CUDA(sample_pdf, SamplePdfArgs, a.n_rays, sample_pdf_ray)
FG_SAMPLE_CUDA(sample_pdf_grad, SamplePdfGradArgs, a.n_rays, sample_pdf_grad_ray)
FG_SAMPLE_CUDA(searchsorted, SearchsortedArgs, a.n_values, searchsorted_value)
FG_SAMPLE_CUDA(inverse_cdf, InverseCdfArgs, a.n_out, inverse_cdf_value)
FG_SAMPLE_CUDA(merge_sorted, MergeArgs, a.n_rays, merge_ray)
FG_SAMPLE_CUDA(merge_sorted_backward, MergeArgs, a.n_rays, merge_backward_ray)
FG_SAMPLE_CUDA(distortion_forward, DistortionArgs, a.n_rays, distortion_forward_ray)
FG_SAMPLE_CUDA(distortion_backward, DistortionArgs, a.n_rays, distortion_backward_ray)

#undef FG_SAMPLE_CUDA

}  // namespace sample
}  // namespace fastgen
