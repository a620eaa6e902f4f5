// CalibrationProfile: what `moesim calibrate` fits from measurement files and the simulator reads
// (sim/io/calibration_json.hpp has its JSON form, traces/measured/README.md documents it).
//
// Every number refers to the source it came from (`sources[i]`: file, GPU, date, software):
// kernel points carry their source index, collective fits theirs, and the derived numbers
// (roofline fallback, contention factor) name the rows they were derived from. Nothing is tuned
// by hand.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sim/calibration/collective_fit.hpp"
#include "sim/calibration/kernel_cost_table.hpp"
#include "sim/calibration/kernel_query.hpp"
#include "sim/calibration/measurement_set.hpp"

namespace moesim::calibration {

/// Roofline used where no table covers a shape: time = max(work / peak, bytes / memory, floor)
/// with peak = the highest GEMM rate measured, memory = the highest effective bandwidth measured
/// (bytes / time with the bytes of kernel_bytes()) and floor = the shortest kernel time measured
/// (launch and latency cost no kernel beats). A bound from the data itself, so it is optimistic.
struct RooflineFallback {
  double peak_tflops = 0.0;  ///< 0 = no GEMM measured
  double memory_gbps = 0.0;  ///< 0 = nothing measured
  double floor_us = 0.0;     ///< 0 = nothing measured
  int peak_source = -1;      ///< source of the row that set it
  int memory_source = -1;
  int floor_source = -1;
};

/// Slowdown of a kernel while communication runs beside it: the median of concurrent / alone
/// over the GEMM-victim rows of the overlap benchmark whose aggressor is a collective; 1 with
/// `rows` = 0 when none was measured.
struct ContentionFactor {
  double gemm_slowdown = 1.0;
  int rows = 0;
  std::vector<int> sources;
};

struct CalibrationProfile {
  std::vector<Provenance> sources;
  std::vector<KernelCostTable> kernel_tables;
  std::vector<CollectiveFit> collectives;
  RooflineFallback roofline;
  ContentionFactor contention;

  /// The table of (kind, dtype, batch) whose traits are `traits` (normalized for the kind).
  const KernelCostTable* find_table(KernelKind kind, DType dtype, std::int64_t batch,
                                    const KernelTraits& traits) const;
  /// The fit for (op, ranks, nodes), if measured.
  const CollectiveFit* find_collective(CommKind op, int ranks, int nodes) const;
  /// Measured or interpolated estimate; nothing outside the measured range.
  std::optional<KernelEstimate> estimate(KernelKind kind, DType dtype, const KernelShape& shape,
                                         const KernelTraits& traits) const;
  std::optional<KernelEstimate> estimate(const KernelQuery& query) const;
  /// A simulated task's estimate: its query's (query_of: the rows of its own traits, an
  /// attention task in its per-sequence form); nothing for a non-GEMM task that does not say
  /// its pass.
  std::optional<KernelEstimate> estimate(const ComputeTask& task) const;
};

/// HBM traffic the roofline assumes: GEMM dtype*(mk + kn + mn)*batch; attention
/// dtype*(4mk + mn)*batch (Q, K, V, O and the scores); other kinds read + write of m*n elements.
double kernel_bytes(KernelKind kind, DType dtype, const KernelShape& shape);

/// Fits a profile from measurement sets. Kernel rows whose verification failed are left out;
/// collective rows with #wrong > 0 are left out.
CalibrationProfile fit_profile(std::span<const MeasurementSet> sets);

/// Held-out check of the compute side: `holdout` of the kernel rows (chosen by `seed`) are left
/// out of the fit and predicted by the profile of the rest (table, else its roofline fallback).
struct HoldoutRow {
  KernelMeasurement row;
  double predicted_us = 0.0;
  EstimateSource source = EstimateSource::fallback;
  double error() const { return std::abs(predicted_us - row.time_us) / row.time_us; }
};
struct HoldoutReport {
  int fitted_rows = 0;
  std::vector<HoldoutRow> rows;  ///< in measurement order
  int covered() const;           ///< rows predicted from the tables (not the fallback)
  double mape_covered() const;
  double max_error_covered() const;
  double mape_all() const;
  double max_error_all() const;
};
HoldoutReport check_holdout(std::span<const MeasurementSet> sets, double holdout,
                            std::uint64_t seed);

/// Roofline time of a kernel, in us (0 when the roofline has no number for its kind).
double roofline_time_us(const RooflineFallback& roofline, KernelKind kind, DType dtype,
                        const KernelShape& shape);

}  // namespace moesim::calibration
