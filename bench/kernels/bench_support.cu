#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <nccl.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <stdexcept>
#include <string>

#include "bench/kernels/bench_support.hpp"
#include "kernels/reference/half_precision.hpp"

namespace moesim::bench {
namespace {

template <typename T>
__global__ void fill_kernel(T* out, std::int64_t count, std::uint64_t seed, float scale);

template <>
__global__ void fill_kernel<__nv_bfloat16>(__nv_bfloat16* out, std::int64_t count,
                                           std::uint64_t seed, float scale) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    out[i] = __float2bfloat16_rn(hashed_uniform(seed, static_cast<std::uint64_t>(i)) * scale);
  }
}

template <>
__global__ void fill_kernel<__half>(__half* out, std::int64_t count, std::uint64_t seed,
                                    float scale) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    out[i] = __float2half_rn(hashed_uniform(seed, static_cast<std::uint64_t>(i)) * scale);
  }
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

std::string version3(int code, int major_div, int minor_div) {
  return std::to_string(code / major_div) + "." + std::to_string((code % major_div) / minor_div) +
         "." + std::to_string(code % minor_div);
}

}  // namespace

void fill_random(kernels::ElementType type, void* device, std::int64_t count, std::uint64_t seed,
                 float scale, cudaStream_t stream) {
  const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>((count + 255) / 256, 4096));
  if (count <= 0) return;
  if (type == kernels::ElementType::bf16) {
    fill_kernel<__nv_bfloat16>
        <<<blocks, 256, 0, stream>>>(static_cast<__nv_bfloat16*>(device), count, seed, scale);
  } else {
    fill_kernel<__half>
        <<<blocks, 256, 0, stream>>>(static_cast<__half*>(device), count, seed, scale);
  }
  MOESIM_DEVICE_CHECK(cudaGetLastError());
}

float host_element(kernels::ElementType type, std::uint64_t seed, std::int64_t i, float scale) {
  const float v = hashed_uniform(seed, static_cast<std::uint64_t>(i)) * scale;
  return type == kernels::ElementType::bf16
             ? reference::bf16_bits_to_float(reference::float_to_bf16_bits(v))
             : reference::fp16_bits_to_float(reference::float_to_fp16_bits(v));
}

float device_element(kernels::ElementType type, const void* device, std::int64_t i) {
  std::uint16_t bits = 0;
  MOESIM_DEVICE_CHECK(
      cudaMemcpy(&bits, static_cast<const char*>(device) + 2 * i, 2, cudaMemcpyDeviceToHost));
  return type == kernels::ElementType::bf16 ? reference::bf16_bits_to_float(bits)
                                            : reference::fp16_bits_to_float(bits);
}

DeviceBuffer::DeviceBuffer(std::size_t bytes) {
  if (bytes > 0) MOESIM_DEVICE_CHECK(cudaMalloc(&ptr_, bytes));
}
DeviceBuffer::~DeviceBuffer() { (void)cudaFree(ptr_); }

EventTimer::EventTimer() {
  MOESIM_DEVICE_CHECK(cudaEventCreate(&start_));
  MOESIM_DEVICE_CHECK(cudaEventCreate(&stop_));
}
EventTimer::~EventTimer() {
  (void)cudaEventDestroy(start_);
  (void)cudaEventDestroy(stop_);
}
void EventTimer::start(cudaStream_t stream) {
  MOESIM_DEVICE_CHECK(cudaEventRecord(start_, stream));
}
double EventTimer::stop_us(cudaStream_t stream) {
  MOESIM_DEVICE_CHECK(cudaEventRecord(stop_, stream));
  MOESIM_DEVICE_CHECK(cudaEventSynchronize(stop_));
  float ms = 0.0F;
  MOESIM_DEVICE_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
  return static_cast<double>(ms) * 1e3;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

calibration::Provenance device_provenance(const std::string& source, int device) {
  calibration::Provenance p;
  p.source = source;
  cudaDeviceProp prop{};
  MOESIM_DEVICE_CHECK(cudaGetDeviceProperties(&prop, device));
  p.gpu = prop.name;
  p.sm_count = prop.multiProcessorCount;
  int runtime = 0;
  int driver = 0;
  (void)cudaRuntimeGetVersion(&runtime);
  (void)cudaDriverGetVersion(&driver);
  p.cuda = std::to_string(runtime / 1000) + "." + std::to_string((runtime % 1000) / 10);
  p.driver = env_or("MOESIM_DRIVER_VERSION", "CUDA driver API " + std::to_string(driver / 1000) +
                                                 "." + std::to_string((driver % 1000) / 10));
  int cublas = 0;
  cublasHandle_t h = nullptr;
  if (cublasCreate(&h) == CUBLAS_STATUS_SUCCESS) {
    (void)cublasGetVersion(h, &cublas);
    (void)cublasDestroy(h);
  }
  p.cublas = version3(cublas, 10000, 100);
  int nccl = 0;
  (void)ncclGetVersion(&nccl);
  p.nccl = version3(nccl, 10000, 100);
  p.git_sha = env_or("MOESIM_GIT_SHA", "unknown");
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char date[16];
  std::strftime(date, sizeof(date), "%Y-%m-%d", &utc);
  p.date = date;
  return p;
}

}  // namespace moesim::bench
