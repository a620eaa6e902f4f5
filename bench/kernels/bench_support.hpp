// Shared by the GPU benchmarks (kernels, NCCL, overlap): deterministic device-side random inputs
// whose every element the host can recompute (for sampled verification without copying whole
// tensors back), CUDA-event timing, and the provenance header of measurement files.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/moe/moe_kernels.hpp"
#include "sim/calibration/measurement_set.hpp"

#ifdef __CUDACC__
#define MOESIM_HOST_DEVICE __host__ __device__
#else
#define MOESIM_HOST_DEVICE
#endif

namespace moesim::bench {

/// Element i of random tensor `seed`: uniform in [-1, 1] from a 64-bit hash (splitmix64), the
/// same on host and device. Never exactly zero in practice.
MOESIM_HOST_DEVICE inline constexpr float hashed_uniform(std::uint64_t seed, std::uint64_t i) {
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ULL + i + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return static_cast<float>(static_cast<double>(z >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

/// Fills `count` 16-bit elements with hashed_uniform(seed, i) * scale, rounded to `type`.
void fill_random(kernels::ElementType type, void* device, std::int64_t count, std::uint64_t seed,
                 float scale, cudaStream_t stream);
/// The host's copy of the same element (rounded to `type`).
float host_element(kernels::ElementType type, std::uint64_t seed, std::int64_t i, float scale);
/// Reads one 16-bit element back.
float device_element(kernels::ElementType type, const void* device, std::int64_t i);

/// RAII device allocation.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return ptr_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
};

/// Times one enqueue of work on `stream` with CUDA events, in microseconds.
class EventTimer {
 public:
  EventTimer();
  ~EventTimer();
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;
  void start(cudaStream_t stream);
  double stop_us(cudaStream_t stream);  ///< synchronizes on the stop event

 private:
  cudaEvent_t start_ = nullptr;
  cudaEvent_t stop_ = nullptr;
};

double median(std::vector<double> v);

/// Provenance of the current device and software: GPU name, SM count, CUDA runtime, cuBLAS and
/// NCCL versions from the libraries; driver and git SHA from MOESIM_DRIVER_VERSION /
/// MOESIM_GIT_SHA (set by bench/gpu/run.sh), else the CUDA driver API version / "unknown";
/// date = today (UTC).
calibration::Provenance device_provenance(const std::string& source, int device);

/// Writes the set as a measurement file (schema moesim-measurements-v1).
void write_measurements(const calibration::MeasurementSet& set, const std::string& path);

}  // namespace moesim::bench
