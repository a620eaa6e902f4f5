// KernelCostTable: measured kernel times for one (kind, dtype, batch, traits) family,
// interpolated by shape (traits: the pass, and for attention the mask and fusion;
// kernel_traits.hpp).
//
// Model. Each point stores a rate = nominal work / time, with nominal work 2*m*n*k*batch FLOP for
// GEMMs, 4*m*n*k*batch for attention and m*n*batch elements for every other kind. A query
//  1. returns the measured time itself when (m, n, k) was measured (median of repeats);
//  2. otherwise interpolates the rate linearly in log space, nested: over m along each measured
//     (k, n) curve, then over n among the curves that cover m, then over k (the scheme of XLA's
//     matmul_interpolator), and returns work / rate;
//  3. returns nothing when any of m, n, k lies outside the measured points that bracket it: the
//     caller falls back to a roofline (CalibratedComputeModel) and says so.
// Interpolating the rate rather than the time keeps the O(mnk) growth exact and leaves only the
// efficiency curve to interpolate.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "sim/calibration/kernel_traits.hpp"
#include "sim/workload/dtype.hpp"
#include "sim/workload/task.hpp"

namespace moesim::calibration {

struct KernelPoint {
  std::int64_t m = 0;
  std::int64_t n = 0;
  std::int64_t k = 0;
  double time_us = 0.0;
  int source = 0;  ///< index into CalibrationProfile::sources
};

enum class EstimateSource : std::uint8_t { measured, interpolated, fallback };
std::string_view to_string(EstimateSource s);

struct KernelEstimate {
  double time_us = 0.0;
  EstimateSource source = EstimateSource::fallback;
};

/// Nominal work of a kernel for rate interpolation (see above).
double nominal_work(KernelKind kind, const KernelShape& shape);

class KernelCostTable {
 public:
  KernelCostTable(KernelKind kind, DType dtype, std::int64_t batch, KernelTraits traits = {})
      : kind_(kind), dtype_(dtype), batch_(batch), traits_(normalized(kind, traits)) {}

  /// Adds a point; repeats of one shape are merged into their median by finalize().
  void add(const KernelPoint& point);
  /// Merges repeats and sorts; call once after the last add().
  void finalize();

  std::optional<KernelEstimate> lookup(std::int64_t m, std::int64_t n, std::int64_t k) const;

  KernelKind kind() const { return kind_; }
  DType dtype() const { return dtype_; }
  std::int64_t batch() const { return batch_; }
  const KernelTraits& traits() const { return traits_; }
  const std::vector<KernelPoint>& points() const { return points_; }

 private:
  double rate(const KernelPoint& p) const;
  std::optional<double> rate_at_m(const std::vector<KernelPoint>& curve, std::int64_t m) const;
  std::optional<double> rate_at_nm(const std::map<std::int64_t, std::vector<KernelPoint>>& by_n,
                                   std::int64_t n, std::int64_t m) const;

  KernelKind kind_;
  DType dtype_;
  std::int64_t batch_;
  KernelTraits traits_;
  std::vector<KernelPoint> points_;  ///< sorted by (k, n, m) after finalize()
  /// k -> n -> points sorted by m.
  std::map<std::int64_t, std::map<std::int64_t, std::vector<KernelPoint>>> grid_;
};

}  // namespace moesim::calibration
