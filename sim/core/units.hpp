// Units with their dimension in the type, so a byte count cannot be passed where a rate is due.
//
// Conventions (as nccl-tests): "GB/s" = 1e9 bytes per second; "KiB/MiB/GiB" are powers of two.
#pragma once

#include <compare>
#include <cstdint>

#include "sim/core/sim_time.hpp"

namespace moesim {

/// A byte count. Signed so that differences are well defined; valid sizes are >= 0.
struct Bytes {
  std::int64_t count = 0;
  constexpr auto operator<=>(const Bytes&) const = default;
  constexpr Bytes operator+(Bytes o) const { return {count + o.count}; }
  constexpr Bytes operator-(Bytes o) const { return {count - o.count}; }
  constexpr Bytes& operator+=(Bytes o) {
    count += o.count;
    return *this;
  }
  constexpr double as_double() const { return static_cast<double>(count); }
};

constexpr Bytes kib(std::int64_t n) { return {n * 1024}; }
constexpr Bytes mib(std::int64_t n) { return {n * 1024 * 1024}; }
constexpr Bytes gib(std::int64_t n) { return {n * 1024 * 1024 * 1024}; }

/// A data rate in bytes per second.
struct Bandwidth {
  double bytes_per_s = 0.0;
  static constexpr Bandwidth from_gbps(double gigabytes_per_s) { return {gigabytes_per_s * 1e9}; }
  /// From a line rate in gigabits per second (network convention, e.g. NDR = 400 Gb/s).
  static constexpr Bandwidth from_gbit_per_s(double gigabits_per_s) {
    return {gigabits_per_s * 1e9 / 8.0};
  }
  constexpr double gbps() const { return bytes_per_s * 1e-9; }
  constexpr auto operator<=>(const Bandwidth&) const = default;
};

/// Time to move `bytes` at `rate`, rounded to the nearest picosecond.
constexpr SimTime transfer_time(Bytes bytes, Bandwidth rate) {
  return SimTime::from_seconds(bytes.as_double() / rate.bytes_per_s);
}

/// Floating-point operation count (a GEMM of M x N x K has 2*M*N*K).
struct Flops {
  double count = 0.0;
  constexpr auto operator<=>(const Flops&) const = default;
};

/// Compute rate in FLOP per second.
struct FlopRate {
  double flops_per_s = 0.0;
  static constexpr FlopRate from_tflops(double tflops) { return {tflops * 1e12}; }
  constexpr double tflops() const { return flops_per_s * 1e-12; }
};

}  // namespace moesim
