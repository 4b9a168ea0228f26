// CPU launchers of the GAN families (bias_act, upfirdn2d): OpenMP over elements / output tiles,
// calling the shared math. float32 / float64 (Python widens float16 / bfloat16).
#include <vector>

#include "../common/dispatch.h"
#include "bias_act.h"
#include "upfirdn2d.h"

namespace fastgen {
namespace gan {

namespace {

template <typename T, int ACT, int ORDER>
void bias_act_cpu_impl(const BiasActArgs& a, int n_threads) {
  constexpr int64_t kChunk = 4096;  // elements per parallel item: amortises the dispatch
  const int64_t chunks = (a.n + kChunk - 1) / kChunk;
  parallel_for(chunks, n_threads, [&](int64_t c) {
    bias_act_range<T, ACT, ORDER>(a, c * kChunk, (c + 1) * kChunk < a.n ? (c + 1) * kChunk : a.n);
  });
}

// act (0..8) x order (0..2) -> the instantiation with both fixed at compile time.
template <typename T, int ACT> void dispatch_order(const BiasActArgs& a, int n_threads) {
  switch (a.order) {
    case 0: bias_act_cpu_impl<T, ACT, 0>(a, n_threads); break;
    case 1: bias_act_cpu_impl<T, ACT, 1>(a, n_threads); break;
    case 2: bias_act_cpu_impl<T, ACT, 2>(a, n_threads); break;
    default: throw std::invalid_argument("bias_act: order must be 0, 1 or 2");
  }
}

template <typename T> void dispatch_act(const BiasActArgs& a, int n_threads) {
  switch (a.act) {
    case kLinear: dispatch_order<T, kLinear>(a, n_threads); break;
    case kRelu: dispatch_order<T, kRelu>(a, n_threads); break;
    case kLrelu: dispatch_order<T, kLrelu>(a, n_threads); break;
    case kTanh: dispatch_order<T, kTanh>(a, n_threads); break;
    case kSigmoid: dispatch_order<T, kSigmoid>(a, n_threads); break;
    case kElu: dispatch_order<T, kElu>(a, n_threads); break;
    case kSelu: dispatch_order<T, kSelu>(a, n_threads); break;
    case kSoftplus: dispatch_order<T, kSoftplus>(a, n_threads); break;
    case kSwish: dispatch_order<T, kSwish>(a, n_threads); break;
    default:
      throw std::invalid_argument("bias_act: unknown activation code " + std::to_string(a.act));
  }
}

}  // namespace

void bias_act_cpu(const BiasActArgs& a, int n_threads) {
  dispatch_float(a.dtype, "bias_act", [&](auto tag) {
    dispatch_act<typename decltype(tag)::type>(a, n_threads);
  });
}

// The GPU's tiled kernel run on the CPU: each OpenMP thread plays one block, with a local
// scratch buffer as its shared memory, walking the block's threads tid = 0..255 sequentially in
// each phase (stage the filter; per tile: load the window, then compute, or hpass then vpass
// for a separable filter), so that the CPU tests cover exactly the index sets the CUDA threads
// touch. Kernels too large for a tile run the direct per-pixel path, one output row per item,
// as the GPU does.
// For the tests: the CUDA kernel's packed layout (16-byte packs while bias_act_packable, the
// n % pack tail element by element, as bias_act_cuda does for float16 / bfloat16) on float32 /
// float64, so that the pack code is exercised without a GPU.
void bias_act_packed_cpu(const BiasActArgs& a, int n_threads) {
  dispatch_float(a.dtype, "bias_act", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t packs = bias_act_packable(a) ? a.n / BiasActPack<T>::kSize : 0;
    const int64_t tail = packs * BiasActPack<T>::kSize;
    parallel_for(packs, n_threads, [&](int64_t j) { bias_act_pack<T>(a, j); });
    for (int64_t i = tail; i < a.n; ++i) bias_act_item<T>(a, i);
  });
}

void upfirdn2d_cpu(const Upfirdn2dArgs& a, int n_threads) {
  dispatch_float(a.dtype, "upfirdn2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    dispatch_upfirdn2d(a, [&](auto fixed) {
      using P = decltype(fixed);
      Upfirdn2dTile g;
      if (!upfirdn2d_tile_shape(a, sizeof(A), g)) {
        parallel_for(a.planes * a.out_h, n_threads, [&](int64_t r) {
          const int64_t p = r / a.out_h, oy = r % a.out_h;
          T* y = static_cast<T*>(a.y) + r * a.out_w;
          for (int64_t ox = 0; ox < a.out_w; ++ox) {
            y[ox] = Cvt<T>::store(upfirdn2d_pixel<T, P::up, P::down, P::ksize>(a, p, oy, ox));
          }
        });
        return;
      }
      constexpr int kBlock = kUpfirdn2dThreads;
      auto block = [&](std::vector<A>& scratch, int64_t t) {
        A* s = scratch.data();
        for (int tid = 0; tid < kBlock; ++tid) upfirdn2d_tile_load<T>(a, g, t, s, tid, kBlock);
        if (a.k1) {  // separable: two passes through the scratch
          for (int tid = 0; tid < kBlock; ++tid) {
            upfirdn2d_tile_hpass<T, P::up, P::down, P::ksize>(a, g, t, s, tid, kBlock);
          }
          for (int tid = 0; tid < kBlock; ++tid) {
            upfirdn2d_tile_vpass<T, P::up, P::down, P::ksize>(a, g, t, s, tid, kBlock);
          }
        } else {
          for (int tid = 0; tid < kBlock; ++tid) {
            upfirdn2d_tile_compute<T, P::up, P::down, P::ksize>(a, g, t, s, tid, kBlock);
          }
        }
      };
#if defined(_OPENMP)
      const int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
#pragma omp parallel num_threads(nt)
      {
        std::vector<A> scratch(static_cast<size_t>(g.scratch));
        for (int tid = 0; tid < kBlock; ++tid) {
          upfirdn2d_stage_filter<T>(a, scratch.data(), tid, kBlock);
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < g.n_tiles; ++t) block(scratch, t);
      }
#else
      (void)n_threads;
      std::vector<A> scratch(static_cast<size_t>(g.scratch));
      for (int tid = 0; tid < kBlock; ++tid) {
        upfirdn2d_stage_filter<T>(a, scratch.data(), tid, kBlock);
      }
      for (int64_t t = 0; t < g.n_tiles; ++t) block(scratch, t);
#endif
    });
  });
}

}  // namespace gan
}  // namespace fastgen
