// CPU launcher of filtered_lrelu: OpenMP over tiles, each thread with its own scratch buffer
// (the GPU's shared memory), running the shared phases of filtered_lrelu.h one after the other.
// float32 / float64 (Python widens float16 / bfloat16).
#include <vector>

#include "../common/dispatch.h"
#include "filtered_lrelu.h"

namespace fastgen {
namespace flrelu {

namespace {

// One tile, all of its "threads" at once (tid 0 of 1): the phases' loops cover the same items
// the GPU's threads share out.
template <typename T, typename P>
void run_tile(const FilteredLreluArgs& a, const FilteredLreluTile& g, int64_t t, acc_t<T>* s) {
  const FlreluOrigin o = flrelu_origin(a, g, t);
  flrelu_load<T>(a, g, o, s, 0, 1);
  if (a.sep1) flrelu_stage1_rows<T, P::up, P::taps>(a, g, o, s, 0, 1);
  flrelu_stage1<T, P::up, P::taps>(a, g, o, s, 0, 1);
  if (a.sep2) flrelu_stage2_rows<T, P::down, P::taps>(a, g, s, 0, 1);
  flrelu_stage2<T, P::down, P::taps>(a, g, o, s, 0, 1);
}

}  // namespace

void filtered_lrelu_cpu(const FilteredLreluArgs& a, int n_threads) {
  dispatch_float(a.dtype, "filtered_lrelu", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    if (a.out_h <= 0 || a.out_w <= 0 || a.planes <= 0) return;
    FilteredLreluTile g;
    flrelu_tile_shape(a, sizeof(A), g);
    dispatch_factors(a, [&](auto factors) {
    using P = decltype(factors);
#if defined(_OPENMP)
    const int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
#pragma omp parallel num_threads(nt)
    {
      std::vector<A> scratch(static_cast<size_t>(g.scratch));
      flrelu_stage_filters<T>(a, g, scratch.data(), 0, 1);
#pragma omp for schedule(dynamic, 1)
      for (int64_t t = 0; t < g.n_tiles; ++t) run_tile<T, P>(a, g, t, scratch.data());
    }
#else
    (void)n_threads;
    std::vector<A> scratch(static_cast<size_t>(g.scratch));
    flrelu_stage_filters<T>(a, g, scratch.data(), 0, 1);
    for (int64_t t = 0; t < g.n_tiles; ++t) run_tile<T, P>(a, g, t, scratch.data());
#endif
    });
  });
}

}  // namespace flrelu
}  // namespace fastgen
