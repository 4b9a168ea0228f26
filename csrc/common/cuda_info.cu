#include <cuda_runtime.h>

#include <string>

#include "build_info.h"

namespace fastgen {

int cuda_runtime_version() { return CUDART_VERSION; }

std::string nvcc_version() {
  return "nvcc " + std::to_string(__CUDACC_VER_MAJOR__) + "." +
         std::to_string(__CUDACC_VER_MINOR__) + "." + std::to_string(__CUDACC_VER_BUILD__);
}

}  // namespace fastgen
