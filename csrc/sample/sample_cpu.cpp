// CPU launchers of the sample family: OpenMP over rays (or values), calling the shared math.
// float32 / float64 only (Python widens float16 / bfloat16 to float32).
#include "../common/dispatch.h"
#include "sample.h"

namespace fastgen {
namespace sample {

#define FG_SAMPLE_CPU(NAME, ARGS, COUNT, FN)                                    \
  void NAME##_cpu(const ARGS& a, int n_threads) {                               \
    dispatch_float(a.dtype, #NAME, [&](auto tag) {                              \
      using T = typename decltype(tag)::type;                                   \
      parallel_for(COUNT, n_threads, [&](int64_t i) { FN<T>(a, i); });          \
    });                                                                         \
  }

FG_SAMPLE_CPU(sample_pdf, SamplePdfArgs, a.n_rays, sample_pdf_ray)
FG_SAMPLE_CPU(sample_pdf_grad, SamplePdfGradArgs, a.n_rays, sample_pdf_grad_ray)
FG_SAMPLE_CPU(searchsorted, SearchsortedArgs, a.n_values, searchsorted_value)
FG_SAMPLE_CPU(inverse_cdf, InverseCdfArgs, a.n_out, inverse_cdf_value)
FG_SAMPLE_CPU(merge_sorted, MergeArgs, a.n_rays, merge_ray)
FG_SAMPLE_CPU(merge_sorted_backward, MergeArgs, a.n_rays, merge_backward_ray)
FG_SAMPLE_CPU(distortion_forward, DistortionArgs, a.n_rays, distortion_forward_ray)
FG_SAMPLE_CPU(distortion_backward, DistortionArgs, a.n_rays, distortion_backward_ray)

#undef FG_SAMPLE_CPU

}  // namespace sample
}  // namespace fastgen
