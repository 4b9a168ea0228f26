// What the CUDA part was built with; defined in cuda_info.cu, present only with FASTGEN_WITH_CUDA.
#pragma once

#include <string>

namespace fastgen {

int cuda_runtime_version();   // CUDART_VERSION at build time, e.g. 13000
std::string nvcc_version();   // e.g. "nvcc 13.0.88"

}  // namespace fastgen
