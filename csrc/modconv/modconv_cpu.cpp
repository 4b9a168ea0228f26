// CPU launchers of modconv: the tiles of modconv.h run one after the other with (tid, n_threads)
// = (0, 1), OpenMP over independent work. They exist so that the CI tests run the GPU's tile
// code on the CPU (fastgen registers no cpu backend for modconv: torch's oneDNN convolution is
// faster there). float32 / float64 (Python widens float16 / bfloat16).
#include <vector>

#include "../common/dispatch.h"
#include "modconv.h"

namespace fastgen {
namespace modconv {

namespace {

// All micro-tiles of a tile at once: kConvThreads of them, one "thread".
constexpr int kCpuReps = kConvThreads;

template <typename T> void conv_tile_cpu(const ConvArgs& a, int64_t index, Smem<acc_t<T>>& s, acc_t<T>* acc) {
  using A = acc_t<T>;
  const ConvTile t = conv_tile(a, index);
  conv_stage_pixels(a, t, s, 0, 1);
  for (int i = 0; i < kCpuReps * kTM * kTN; ++i) acc[i] = A(0);
  for (int ky = 0; ky < a.kh; ++ky) {
    int dy = 0;
    if (!tap_offset(ky, a.pad_y, t.ry, a.up, dy)) continue;
    for (int kx = 0; kx < a.kw; ++kx) {
      int dx = 0;
      if (!tap_offset(kx, a.pad_x, t.rx, a.up, dx)) continue;
      for (int64_t c0 = 0; c0 < a.ci; c0 += kBK) {
        conv_load<T>(a, t, s, ky * a.kw + kx, dy, dx, c0, 0, 1);
        tile_mma<A, kCpuReps>(s, acc, 0, 1);
      }
    }
  }
  conv_store<T, kCpuReps>(a, t, acc, 0, 1);
}

template <typename T> void dweight_tile_cpu(const DweightArgs& a, int64_t index, Smem<acc_t<T>>& s, acc_t<T>* acc) {
  using A = acc_t<T>;
  const DweightTile d = dweight_tile(a, index);
  for (int i = 0; i < kCpuReps * kTM * kTN; ++i) acc[i] = A(0);
  const int64_t n_end = (d.split + 1) * a.n_per_split < a.n ? (d.split + 1) * a.n_per_split : a.n;
  for (int64_t n = d.split * a.n_per_split; n < n_end; ++n) {
    for (int64_t p0 = 0; p0 < d.mh * d.mw; p0 += kBK) {
      dweight_load<T>(a, d, s, n, p0, 0, 1);
      tile_mma<A, kCpuReps>(s, acc, 0, 1);
    }
  }
  dweight_store<A, kCpuReps>(a, d, acc, 0, 1);
}

// Runs tile(i, smem, acc) for i in [0, n) with a scratch tile per OpenMP thread.
template <typename T, typename F> void for_tiles(int64_t n, int n_threads, F&& tile) {
  using A = acc_t<T>;
#if defined(_OPENMP)
  const int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
#pragma omp parallel num_threads(nt)
  {
    std::vector<Smem<A>> s(1);
    std::vector<A> acc(kCpuReps * kTM * kTN);
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < n; ++i) tile(i, s[0], acc.data());
  }
#else
  (void)n_threads;
  std::vector<Smem<A>> s(1);
  std::vector<A> acc(kCpuReps * kTM * kTN);
  for (int64_t i = 0; i < n; ++i) tile(i, s[0], acc.data());
#endif
}

}  // namespace

void conv_cpu(const ConvArgs& a, int n_threads) {
  dispatch_float(a.dtype, "modconv_conv", [&](auto tag) {
    using T = typename decltype(tag)::type;
    // One work item = the consecutive tiles of one (sample, channel tile): red_out has one writer.
    const int64_t per = conv_tiles_per_group(a);
    for_tiles<T>(conv_n_tiles(a) / per, n_threads, [&](int64_t g, Smem<acc_t<T>>& s, acc_t<T>* acc) {
      for (int64_t t = g * per; t < (g + 1) * per; ++t) conv_tile_cpu<T>(a, t, s, acc);
    });
  });
}

void dweight_cpu(const DweightArgs& a, int n_threads) {
  dispatch_float(a.dtype, "modconv_dweight", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for_tiles<T>(dweight_n_tiles(a), n_threads,
                 [&](int64_t t, Smem<acc_t<T>>& s, acc_t<T>* acc) { dweight_tile_cpu<T>(a, t, s, acc); });
  });
}

void epilogue_cpu(const EpilogueArgs& a, int n_threads) {
  dispatch_float(a.dtype, "modconv_epilogue", [&](auto tag) {
    using T = typename decltype(tag)::type;
    parallel_for(a.n * a.e.co * a.p, n_threads, [&](int64_t i) { epilogue_item<T>(a, i); });
  });
}

void epilogue_grad_cpu(const EpilogueArgs& a, int n_threads) {
  dispatch_float(a.dtype, "modconv_epilogue_grad", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    parallel_for(a.n * a.e.co, n_threads, [&](int64_t plane) {
      A* part = static_cast<A*>(a.part) + 2 * plane;
      epilogue_grad_plane<T>(a, plane, 0, 1, part[0], part[1]);
    });
  });
}

}  // namespace modconv
}  // namespace fastgen
