// The one check of CUDA, cuBLAS and NCCL calls in moesim (kernels/, the hardware executor, the
// GPU benchmarks): MOESIM_DEVICE_CHECK(expr) runs `expr` and, when it returns anything but
// success, throws moesim::kernels::DeviceError "file:line: expr failed: <the library's message>"
// (cudaGetErrorString, cublasGetStatusString, ncclGetErrorString).
//
// It accepts cudaError_t always; cublasStatus_t when <cublas_v2.h> and ncclResult_t when
// <nccl.h> are included before this header (a status type without its overload does not
// compile, so a check is never silently skipped).
#pragma once

#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace moesim::kernels {

class DeviceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

[[noreturn]] inline void throw_device_error(const char* expr, const char* file, int line,
                                            const std::string& message) {
  // std::string, not fmt: nvcc 13 rejects fmt 9's consteval format strings.
  throw DeviceError(std::string(file) + ":" + std::to_string(line) + ": " + expr +
                    " failed: " + message);
}

inline bool device_ok(cudaError_t status) { return status == cudaSuccess; }
inline const char* device_message(cudaError_t status) { return cudaGetErrorString(status); }
#ifdef CUBLAS_V2_H_
inline bool device_ok(cublasStatus_t status) { return status == CUBLAS_STATUS_SUCCESS; }
inline const char* device_message(cublasStatus_t status) { return cublasGetStatusString(status); }
#endif
#ifdef NCCL_H_
inline bool device_ok(ncclResult_t status) { return status == ncclSuccess; }
inline const char* device_message(ncclResult_t status) { return ncclGetErrorString(status); }
#endif

}  // namespace detail
}  // namespace moesim::kernels

#define MOESIM_DEVICE_CHECK(expr)                                                                \
  do {                                                                                           \
    const auto moesim_status_ = (expr);                                                          \
    if (!::moesim::kernels::detail::device_ok(moesim_status_)) {                                 \
      ::moesim::kernels::detail::throw_device_error(                                             \
          #expr, __FILE__, __LINE__, ::moesim::kernels::detail::device_message(moesim_status_)); \
    }                                                                                            \
  } while (false)
