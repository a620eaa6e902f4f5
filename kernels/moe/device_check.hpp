// Internal to kernels/moe: argument checks and the 16-bit element traits shared by the .cu files.
// Library calls are checked with MOESIM_DEVICE_CHECK (kernels/device_check.hpp): a failure
// throws DeviceError with the expression, file:line and the library's message.
#pragma once

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <string>

#include "kernels/device_check.hpp"
#include "kernels/moe/moe_kernels.hpp"

#define MOESIM_KERNEL_REQUIRE(cond, what)                                                        \
  do {                                                                                           \
    if (!(cond)) ::moesim::kernels::detail::throw_device_error(#cond, __FILE__, __LINE__, what); \
  } while (false)

namespace moesim::kernels::detail {

#ifdef __CUDACC__
template <typename T>
struct Element;
template <>
struct Element<__nv_bfloat16> {
  static __device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
  static __device__ __forceinline__ __nv_bfloat16 from_float(float v) {
    return __float2bfloat16_rn(v);
  }
};
template <>
struct Element<__half> {
  static __device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
  static __device__ __forceinline__ __half from_float(float v) { return __float2half_rn(v); }
};
#endif

inline cudaDataType_t cuda_data_type(ElementType type) {
  return type == ElementType::bf16 ? CUDA_R_16BF : CUDA_R_16F;
}

/// Pointer `elements` 16-bit elements past `base`.
inline const void* offset(const void* base, std::int64_t elements) {
  return static_cast<const char*>(base) + elements * 2;
}
inline void* offset(void* base, std::int64_t elements) {
  return static_cast<char*>(base) + elements * 2;
}

inline unsigned grid_for(std::int64_t n, int block) {
  const std::int64_t g = (n + block - 1) / block;
  return static_cast<unsigned>(g < 65535 * 16 ? (g < 1 ? 1 : g) : 65535 * 16);
}

}  // namespace moesim::kernels::detail

/// Calls `body` with T = the CUDA type of `type` (a generic lambda taking a type tag).
#define MOESIM_DISPATCH_ELEMENT(type, T, ...)             \
  do {                                                    \
    if ((type) == ::moesim::kernels::ElementType::bf16) { \
      using T = __nv_bfloat16;                            \
      __VA_ARGS__;                                        \
    } else {                                              \
      using T = __half;                                   \
      __VA_ARGS__;                                        \
    }                                                     \
  } while (false)
