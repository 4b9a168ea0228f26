// CUDA launch helpers (nvcc only): device guard, 1D launch over items, error check.
#pragma once

#include <cuda_runtime.h>

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace fastgen {

inline void cuda_check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string("fastgen CUDA error in ") + what + ": " +
                             cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
  }
}

// Makes `device` current for the scope and restores the caller's device afterwards, so torch's
// notion of the current device is left untouched.
class DeviceGuard {
 public:
  DeviceGuard(int device, const char* what) {
    cuda_check(cudaGetDevice(&previous_), what);
    if (previous_ != device) cuda_check(cudaSetDevice(device), what);
    changed_ = previous_ != device;
  }
  ~DeviceGuard() {
    if (changed_) cudaSetDevice(previous_);  // best effort: a destructor must not throw
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool changed_ = false;
};

// Grid-stride loop over n items with 64-bit indices.
#define FG_CUDA_KERNEL_LOOP(i, n)                                                 \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;  \
       i < (n); i += static_cast<int64_t>(gridDim.x) * blockDim.x)

constexpr int kThreadsPerBlock = 256;

// Launches kernel<<<ceil(n / 256), 256, 0, stream>>>(args) on `device` (the grid is capped at
// INT_MAX blocks; kernels loop with FG_CUDA_KERNEL_LOOP). Asynchronous: no host sync.
template <typename Args>
void launch_1d(void (*kernel)(Args), const Args& args, int64_t n, int device,
               std::uintptr_t stream, const char* what) {
  if (n <= 0) return;
  DeviceGuard guard(device, what);
  const int64_t blocks = (n + kThreadsPerBlock - 1) / kThreadsPerBlock;
  const unsigned grid = static_cast<unsigned>(blocks < INT_MAX ? blocks : INT_MAX);
  kernel<<<grid, kThreadsPerBlock, 0, reinterpret_cast<cudaStream_t>(stream)>>>(args);
  cuda_check(cudaGetLastError(), what);
}

}  // namespace fastgen
