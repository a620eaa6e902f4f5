// MeasurementSet: the rows of one measurement file (kernel timings, collective timings, overlap
// contention) with the provenance every row inherits. This is the in-memory form of
// traces/measured/README.md's schema; sim/io reads and writes it (measurement_json,
// nccl_tests_parser). Units: times in microseconds, sizes in bytes, bandwidths in GB/s (1e9 B/s).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/calibration/kernel_traits.hpp"
#include "sim/workload/comm_op.hpp"
#include "sim/workload/dtype.hpp"
#include "sim/workload/task.hpp"

namespace moesim::calibration {

/// Where a file's numbers came from. `source` says which tool or publication produced them;
/// fields that are not known are "unknown" (never guessed).
struct Provenance {
  std::string file;    ///< path the set was loaded from (filled by the loader)
  std::string source;  ///< producer: "moesim_bench_kernels", "nccl-tests", a publication
  std::string gpu = "unknown";
  int sm_count = 0;  ///< 0 = unknown
  std::string driver = "unknown";
  std::string cuda = "unknown";
  std::string cublas = "unknown";
  std::string nccl = "unknown";
  std::string git_sha = "unknown";
  std::string date = "unknown";  ///< ISO 8601 date of the measurement
  std::string notes;
};

/// Outcome of checking a kernel's output against its CPU reference.
enum class Verification : std::uint8_t { pass, fail, unchecked };
std::string_view to_string(Verification v);

/// One timed kernel. Shape semantics follow KernelShape in sim/workload/task.hpp.
struct KernelMeasurement {
  KernelKind kind = KernelKind::gemm;
  KernelShape shape;
  DType dtype = DType::bf16;
  double time_us = 0.0;  ///< median over iterations (or the published value)
  Verification verified = Verification::unchecked;
  std::string variant;  ///< implementation detail, e.g. "cublas", "grouped"; informational
  /// Pass, and for attention the causal mask and fusion: tables keep rows apart by them
  /// (kernel_traits.hpp), each normalizing them for its kind.
  KernelTraits traits;
};

/// One nccl-tests row (one size): out-of-place numbers unless only in-place was measured.
struct CollectiveMeasurement {
  CommKind op = CommKind::all_reduce;
  int ranks = 0;
  int nodes = 1;
  std::int64_t size_bytes = 0;  ///< nccl-tests "size" column
  double time_us = 0.0;
  double algbw_gbps = 0.0;
  double busbw_gbps = 0.0;
  std::int64_t wrong = 0;  ///< #wrong; -1 when not checked (N/A)
};

/// A kernel timed alone and while `aggressor` runs beside it on the same GPU.
struct ContentionMeasurement {
  std::string victim;      ///< "gemm", or a collective name when the collective is the victim
  std::string aggressor;   ///< collective name, "memcpy" or "gemm"
  KernelShape shape;       ///< victim GEMM shape (empty for a collective victim)
  std::int64_t bytes = 0;  ///< collective / copy size
  double alone_us = 0.0;
  double concurrent_us = 0.0;
  double slowdown() const { return alone_us > 0.0 ? concurrent_us / alone_us : 1.0; }
};

struct MeasurementSet {
  Provenance provenance;
  std::vector<KernelMeasurement> kernels;
  std::vector<CollectiveMeasurement> collectives;
  std::vector<ContentionMeasurement> contention;
};

}  // namespace moesim::calibration
