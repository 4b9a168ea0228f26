// Python bindings of the sample family (see csrc/bindings.cpp for the conventions).
#include "common/bindings_util.h"
#include "sample/sample.h"

namespace fastgen {
namespace {

sample::SamplePdfArgs sample_pdf_args(uintptr_t bins, uintptr_t weights, uintptr_t u,
                                      uintptr_t samples, uintptr_t grad_samples,
                                      uintptr_t grad_bins, uintptr_t error, uintptr_t below,
                                      uintptr_t frac, int64_t n_rays, int64_t n_bins,
                                      int64_t n_samples, int64_t u_stride, int dtype, double eps) {
  return {ptr<const void>(bins), ptr<const void>(weights), ptr<const void>(u),
          samples ? ptr<void>(samples) : nullptr,
          grad_samples ? ptr<const void>(grad_samples) : nullptr,
          grad_bins ? ptr<void>(grad_bins) : nullptr, error ? ptr<int>(error) : nullptr,
          below ? ptr<int32_t>(below) : nullptr, frac ? ptr<void>(frac) : nullptr, n_rays,
          n_bins, n_samples, u_stride, dtype, eps};
}

sample::SamplePdfGradArgs sample_pdf_grad_args(uintptr_t below, uintptr_t frac,
                                               uintptr_t grad_samples, uintptr_t grad_bins,
                                               int64_t n_rays, int64_t n_bins, int64_t n_samples,
                                               int dtype) {
  return {ptr<const int32_t>(below), ptr<const void>(frac), ptr<const void>(grad_samples),
          ptr<void>(grad_bins), n_rays, n_bins, n_samples, dtype};
}

sample::SearchsortedArgs searchsorted_args(uintptr_t seq, uintptr_t seq_info, uintptr_t values,
                                           uintptr_t value_rays, uintptr_t ids_left,
                                           uintptr_t ids_right, int64_t n_seq, int64_t n_values,
                                           int64_t n_rays, int dtype) {
  return {ptr<const void>(seq), ptr<const int64_t>(seq_info), ptr<const void>(values),
          ptr<const int64_t>(value_rays), ptr<int64_t>(ids_left), ptr<int64_t>(ids_right),
          n_seq, n_values, n_rays, dtype};
}

sample::InverseCdfArgs inverse_cdf_args(uintptr_t t, uintptr_t cdf, uintptr_t info, uintptr_t u,
                                        uintptr_t u_rays, uintptr_t out, uintptr_t lo, uintptr_t hi,
                                        uintptr_t frac, int64_t n_in, int64_t n_out, int64_t n_rays,
                                        int dtype) {
  return {ptr<const void>(t), ptr<const void>(cdf), ptr<const int64_t>(info), ptr<const void>(u),
          ptr<const int64_t>(u_rays), ptr<void>(out), lo ? ptr<int64_t>(lo) : nullptr,
          hi ? ptr<int64_t>(hi) : nullptr, frac ? ptr<void>(frac) : nullptr, n_in, n_out, n_rays,
          dtype};
}

sample::MergeArgs merge_args(uintptr_t a, uintptr_t b, uintptr_t a_info, uintptr_t b_info,
                             uintptr_t out, uintptr_t perm, uintptr_t error, uintptr_t grad_out,
                             uintptr_t grad_a, uintptr_t grad_b, int64_t n_a, int64_t n_b,
                             int64_t n_rays, int dtype) {
  return {ptr<const void>(a), ptr<const void>(b),
          a_info ? ptr<const int64_t>(a_info) : nullptr,
          b_info ? ptr<const int64_t>(b_info) : nullptr, out ? ptr<void>(out) : nullptr,
          ptr<int64_t>(perm), error ? ptr<int>(error) : nullptr,
          grad_out ? ptr<const void>(grad_out) : nullptr, grad_a ? ptr<void>(grad_a) : nullptr,
          grad_b ? ptr<void>(grad_b) : nullptr, n_a, n_b, n_rays, dtype};
}

sample::DistortionArgs distortion_args(uintptr_t w, uintptr_t t0, uintptr_t t1, uintptr_t info,
                                       uintptr_t loss, uintptr_t grad_loss, uintptr_t grad_w,
                                       uintptr_t grad_t0, uintptr_t grad_t1, int64_t n_samples,
                                       int64_t n_rays, int dtype) {
  return {ptr<const void>(w), ptr<const void>(t0), ptr<const void>(t1),
          ptr<const int64_t>(info), ptr<void>(loss), ptr<const void>(grad_loss),
          ptr<void>(grad_w), ptr<void>(grad_t0), ptr<void>(grad_t1), n_samples, n_rays, dtype};
}

}  // namespace

void bind_sample(py::module_& m) {
  using py::arg;
  def_launchers(m, "sample_pdf", &sample_pdf_args, &sample::sample_pdf_cpu,
                FG_CUDA_LAUNCHER(sample::sample_pdf_cuda),
                "Inverse-CDF samples (R, n) of the piecewise-constant pdfs (u: rows of u_stride, 0 = "
                "one shared row; error != 0: also check the data, setting error bits; below, frac "
                "!= 0: also record each sample's bin and f), or (samples = 0) their gradient "
                "w.r.t. bins, written to grad_bins (R, B+1).",
                arg("bins"), arg("weights"), arg("u"), arg("samples"), arg("grad_samples"),
                arg("grad_bins"), arg("error"), arg("below"), arg("frac"), arg("n_rays"),
                arg("n_bins"), arg("n_samples"), arg("u_stride"), arg("dtype"), arg("eps"));
  def_launchers(m, "sample_pdf_grad", &sample_pdf_grad_args, &sample::sample_pdf_grad_cpu,
                FG_CUDA_LAUNCHER(sample::sample_pdf_grad_cuda),
                "Gradient w.r.t. bins (R, B+1) of sample_pdf from the forward's record (below, frac).",
                arg("below"), arg("frac"), arg("grad_samples"), arg("grad_bins"), arg("n_rays"),
                arg("n_bins"), arg("n_samples"), arg("dtype"));
  def_launchers(m, "searchsorted", &searchsorted_args, &sample::searchsorted_cpu,
                FG_CUDA_LAUNCHER(sample::searchsorted_cuda),
                "Per-ray (ids_left, ids_right) of packed values in a packed sorted sequence.",
                arg("seq"), arg("seq_info"), arg("values"), arg("value_rays"), arg("ids_left"),
                arg("ids_right"), arg("n_seq"), arg("n_values"), arg("n_rays"), arg("dtype"));
  def_launchers(m, "inverse_cdf", &inverse_cdf_args, &sample::inverse_cdf_cpu,
                FG_CUDA_LAUNCHER(sample::inverse_cdf_cuda),
                "Inverse of each ray's piecewise-linear CDF at the fractions u in [0, 1] of its range "
                "(nerfacc's importance sampling), optionally with the interpolation (lo, hi, frac) of each result (lo = 0: not written).",
                arg("t"), arg("cdf"), arg("info"), arg("u"), arg("u_rays"), arg("out"), arg("lo"),
                arg("hi"), arg("frac"), arg("n_in"),
                arg("n_out"), arg("n_rays"), arg("dtype"));
  def_launchers(m, "merge_sorted", &merge_args, &sample::merge_sorted_cpu,
                FG_CUDA_LAUNCHER(sample::merge_sorted_cuda),
                "Per-ray stable merge of two sorted sets (packed with a_info/b_info, or batched "
                "rows when they are 0), with the permutation; error != 0: also check sortedness.",
                arg("a"), arg("b"), arg("a_info"), arg("b_info"), arg("out"), arg("perm"),
                arg("error"), arg("grad_out"), arg("grad_a"), arg("grad_b"), arg("n_a"), arg("n_b"),
                arg("n_rays"), arg("dtype"));
  def_launchers(m, "merge_sorted_backward", &merge_args, &sample::merge_sorted_backward_cpu,
                FG_CUDA_LAUNCHER(sample::merge_sorted_backward_cuda),
                "Gradients (grad_a, grad_b) of merge_sorted: grad_out sent back through perm.",
                arg("a"), arg("b"), arg("a_info"), arg("b_info"), arg("out"), arg("perm"),
                arg("error"), arg("grad_out"), arg("grad_a"), arg("grad_b"), arg("n_a"), arg("n_b"),
                arg("n_rays"), arg("dtype"));
  def_launchers(m, "distortion_forward", &distortion_args, &sample::distortion_forward_cpu,
                FG_CUDA_LAUNCHER(sample::distortion_forward_cuda),
                "Per-ray distortion loss (R,) of packed samples.", arg("w"), arg("t0"), arg("t1"),
                arg("info"), arg("loss"), arg("grad_loss"), arg("grad_w"), arg("grad_t0"),
                arg("grad_t1"), arg("n_samples"), arg("n_rays"), arg("dtype"));
  def_launchers(m, "distortion_backward", &distortion_args, &sample::distortion_backward_cpu,
                FG_CUDA_LAUNCHER(sample::distortion_backward_cuda),
                "Gradients of the distortion loss w.r.t. w, t0, t1 (N,).", arg("w"), arg("t0"),
                arg("t1"), arg("info"), arg("loss"), arg("grad_loss"), arg("grad_w"),
                arg("grad_t0"), arg("grad_t1"), arg("n_samples"), arg("n_rays"), arg("dtype"));
}

}  // namespace fastgen
