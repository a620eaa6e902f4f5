// Internal to kernels/moe: what a BlasHandle holds.
#pragma once

#include <cublas_v2.h>

#include <cstddef>

#include "kernels/moe/moe_kernels.hpp"

namespace moesim::kernels {

struct BlasHandle::Impl {
  cublasHandle_t handle = nullptr;
  void* pointers = nullptr;  ///< device arrays of operand pointers for the grouped GEMM
  std::size_t pointer_bytes = 0;
  /// At least `bytes` of device scratch (grows; previous content is lost). Callers enqueue on one
  /// stream, so reuse by a later call is ordered after the earlier GEMM.
  void* pointer_scratch(std::size_t bytes);
};

}  // namespace moesim::kernels
