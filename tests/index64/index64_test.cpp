// 64-bit index math of the kernels' shared __host__ __device__ code, at offsets past 2^31 and
// 2^32, without big tensors: arrays are reserved (mmap MAP_NORESERVE, nothing committed) with
// more than 2^31 (or 2^32) elements, and only the few pages a test writes or reads are ever
// backed by memory. A 32-bit index anywhere on the path would wrap and read or write another
// element (a wrong result or a fault), so every test compares the far call with the same call
// on the same data near offset 0. Built and run by tests/index64/test_index64.py.
#include <sys/mman.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/common.h"
#include "gan/bias_act.h"
#include "gan/upfirdn2d.h"
#include "hashgrid/hashgrid.h"
#include "render/render.h"

using namespace fastgen;

static int failures = 0;
#define CHECK(cond)                                                      \
  do {                                                                   \
    if (!(cond)) {                                                       \
      std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);         \
      ++failures;                                                        \
    }                                                                    \
  } while (0)

template <typename T> static T* reserve(int64_t n) {  // n elements, zero pages on first touch
  void* p = mmap(nullptr, static_cast<size_t>(n) * sizeof(T), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("mmap");
    std::exit(2);
  }
  return static_cast<T*>(p);
}

constexpr int64_t k2_31 = int64_t(1) << 31, k2_32 = int64_t(1) << 32;

static void test_segment_bounds() {
  const int64_t n = 3 * k2_32;
  const int64_t rows[][2] = {{k2_32 + 5, 7}, {k2_31 - 1, 3}, {INT64_MAX, 1}, {1, INT64_MAX},
                             {-k2_32, k2_32 + 3}, {n - 2, 9}};
  const int64_t want[][2] = {{k2_32 + 5, k2_32 + 12}, {k2_31 - 1, k2_31 + 2}, {n, n}, {1, n},
                             {0, 3}, {n - 2, n}};
  for (int r = 0; r < 6; ++r) {
    int64_t s, e;
    segment_bounds(&rows[0][0], r, n, s, e);
    CHECK(s == want[r][0] && e == want[r][1]);
  }
}

// A ray of 5 samples at sample `start`; its rgb rows reach element 3 * start > 2^32.
static void composite_at(float* ts, float* te, float* sg, float* rgb, int64_t n, int64_t start,
                         float out[5]) {
  for (int k = 0; k < 5; ++k) {
    ts[start + k] = 0.1f * k;
    te[start + k] = 0.1f * k + 0.07f;
    sg[start + k] = 1.0f + k;
    for (int c = 0; c < 3; ++c) rgb[3 * (start + k) + c] = 0.2f * c + 0.1f * k;
  }
  const int64_t info[2] = {start, 5};
  float o_rgb[3], o_op, o_depth;
  render::CompositeForwardArgs a{};
  a.in = {ts, te, sg, rgb, info, nullptr, n, 1, kFloat32, 0.0};
  a.rgb = o_rgb;
  a.opacity = &o_op;
  a.depth = &o_depth;
  render::composite_forward_ray<float>(a, 0);
  for (int c = 0; c < 3; ++c) out[c] = o_rgb[c];
  out[3] = o_op;
  out[4] = o_depth;
}

static void test_composite() {
  const int64_t n = k2_31 + 4096;  // samples; rgbs hold 3n > 2^32 floats
  float *ts = reserve<float>(n), *te = reserve<float>(n), *sg = reserve<float>(n);
  float* rgb = reserve<float>(3 * n);
  float near[5], far[5];
  composite_at(ts, te, sg, rgb, n, 0, near);
  composite_at(ts, te, sg, rgb, n, k2_31 + 1000, far);
  CHECK(near[3] > 0.1f);  // the test itself is not vacuous
  for (int k = 0; k < 5; ++k) CHECK(near[k] == far[k]);
}

static void test_scan() {
  const int64_t n = k2_31 + 4096;
  float *x = reserve<float>(n), *y = reserve<float>(n);
  const int64_t start = k2_31 + 100;
  for (int k = 0; k < 4; ++k) x[start + k] = 1.0f + k;
  const int64_t info[2] = {start, 4};
  render::ScanArgs a{x, y, info, n, 1, kFloat32, false, false, false};
  render::segmented_scan_ray<float>(a, 0);
  CHECK(y[start] == 1.0f && y[start + 1] == 3.0f && y[start + 2] == 6.0f && y[start + 3] == 10.0f);
}

// Point n, level l of a hash grid with L levels of F features: out[(n * L + l) * F] > 2^31.
static void test_hashgrid() {
  constexpr int D = 3, F = 8;
  const int64_t L = 4, T = 16, n_points = k2_31 / (L * F) + 64;
  float* x = reserve<float>(n_points * D);
  float* out = reserve<float>(n_points * L * F);
  float table[L * T * F];
  for (int i = 0; i < L * T * F; ++i) table[i] = 0.001f * i;
  const int64_t level_info[2 * L] = {5, 0, 7, 0, 9, 0, 11, 0};  // all hashed (6^3 > 16)
  hashgrid::ForwardArgs a{};
  a.cfg = {level_info, n_points, L, T, D, F, kFloat32, 0};
  a.x = x;
  a.table = table;
  a.out = out;
  const int64_t far = n_points - 3;
  const float p[3] = {0.31f, 0.77f, 0.52f};
  for (int d = 0; d < D; ++d) x[d] = x[far * D + d] = p[d];
  for (int64_t l = 0; l < L; ++l) {
    hashgrid::forward_point_level<float, D, F>(a, 0, l);
    hashgrid::forward_point_level<float, D, F>(a, far, l);
  }
  CHECK((far * L + L - 1) * F > k2_31);
  bool nonzero = false;
  for (int64_t k = 0; k < L * F; ++k) {
    CHECK(out[k] == out[far * L * F + k]);
    nonzero |= out[k] != 0.0f;
  }
  CHECK(nonzero);
}

// Element i > 2^32 of an (n,) tensor with channels of `inner` elements: the 64-bit channel path.
static void test_bias_act() {
  const int64_t n = k2_32 + 4096, inner = 1000, channels = (n + inner - 1) / inner;
  float *x = reserve<float>(n), *out = reserve<float>(n), *b = reserve<float>(channels);
  const int64_t i = k2_32 + 777;
  x[i] = 0.5f;
  b[i / inner] = 2.0f;  // the far channel
  b[(i & 0xFFFFFFFF) / inner] = -100.0f;  // the channel a wrapped 32-bit index would pick
  gan::BiasActArgs a{x, b, nullptr, nullptr, out, n, channels, inner, kFloat32, gan::kLinear, 0, 0.0, 1.0, -1.0};
  CHECK(gan::bias_channel(a, i) == i / inner);
  gan::bias_act_item<float>(a, i);
  CHECK(out[i] == 2.5f);
}

// Plane p of (planes, 64, 64) images with p * 64 * 64 > 2^31, direct and tiled paths.
static void test_upfirdn2d() {
  const int64_t planes = k2_31 / 4096 + 8, h = 64, w = 64;
  float* x = reserve<float>(planes * h * w);
  float* y = reserve<float>(planes * h * w);
  const float k[9] = {1, 2, 1, 2, 4, 2, 1, 2, 1};
  gan::Upfirdn2dArgs a{};
  a.x = x;
  a.k = k;
  a.k1 = nullptr;
  a.y = y;
  a.planes = planes;
  a.in_h = a.out_h = h;
  a.in_w = a.out_w = w;
  a.kh = a.kw = 3;
  a.up_x = a.up_y = a.down_x = a.down_y = 1;
  a.pad_x0 = a.pad_y0 = 1;
  a.dtype = kFloat32;
  const int64_t far = planes - 2;
  CHECK(far * h * w > k2_31);
  for (int64_t e = 0; e < h * w; ++e) x[e] = x[far * h * w + e] = 0.01f * (e % 97);
  for (int64_t oy = 0; oy < h; oy += 7)
    for (int64_t ox = 0; ox < w; ox += 5)
      CHECK(gan::upfirdn2d_pixel<float>(a, 0, oy, ox) == gan::upfirdn2d_pixel<float>(a, far, oy, ox));
  gan::Upfirdn2dTile g;
  CHECK(gan::upfirdn2d_tile_shape(a, sizeof(float), g));
  // The tile holding plane `far`: stage, load, compute exactly as the CPU launcher does.
  const int64_t tiles_per_plane_group = g.tiles_x * g.tiles_y;
  const int64_t t = (far / g.tp) * tiles_per_plane_group;
  float* scratch = static_cast<float*>(std::calloc(g.scratch, sizeof(float)));
  gan::upfirdn2d_stage_filter<float>(a, scratch, 0, 1);
  gan::upfirdn2d_tile_load<float>(a, g, t, scratch, 0, 1);
  gan::upfirdn2d_tile_compute<float>(a, g, t, scratch, 0, 1);
  const gan::Upfirdn2dTileOrigin o = gan::upfirdn2d_tile_origin(a, g, t);
  CHECK(o.p0 <= far && far < o.p0 + o.np);
  for (int64_t ly = 0; ly < g.th; ++ly)
    for (int64_t lx = 0; lx < g.tw; ++lx)
      CHECK(y[(far * h + o.oy0 + ly) * w + o.ox0 + lx] ==
            gan::upfirdn2d_pixel<float>(a, far, o.oy0 + ly, o.ox0 + lx));
  std::free(scratch);
}

int main() {
  test_segment_bounds();
  test_composite();
  test_scan();
  test_hashgrid();
  test_bias_act();
  test_upfirdn2d();
  if (failures) {
    std::printf("%d index64 check(s) failed\n", failures);
    return 1;
  }
  std::printf("index64: all checks passed\n");
  return 0;
}
