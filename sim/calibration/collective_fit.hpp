// CollectiveFit: an alpha-beta (Hockney) model of one collective at one (ranks, nodes) point,
// fitted from nccl-tests rows (Hockney alpha-beta, fitted in busbw space):
//   t(S) = alpha + S * factor(op, ranks) / busbw
// with factor the nccl-tests busbw factor, so busbw carries the hardware bottleneck rate and the
// factor the ranks-dependence. The factor is read from the rows themselves (busbw / algbw of the
// largest size, where both columns have full precision): the file states its own convention and
// calibration stays below report/ in the dependency order.
//   busbw  = the largest busbw among rows with S >= 64 MiB (the bandwidth-bound tail); when no
//            row is that large, the largest busbw of the largest quarter of sizes;
//   alpha  = the median over rows with S <= 64 KiB of (t - S*factor/busbw), floored at 0; when
//            no row is that small, the same over the smallest quarter of sizes.
// Level = intra_node when nodes == 1, inter_node otherwise.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "sim/calibration/measurement_set.hpp"

namespace moesim::calibration {

enum class TopologyLevel : std::uint8_t { intra_node, inter_node };
std::string_view to_string(TopologyLevel level);

struct CollectiveFit {
  CommKind op = CommKind::all_reduce;
  int ranks = 0;
  int nodes = 1;
  TopologyLevel level = TopologyLevel::intra_node;
  double alpha_us = 0.0;
  double busbw_gbps = 0.0;
  double bus_factor = 1.0;          ///< busbw / algbw of the rows (2(n-1)/n for all_reduce, ...)
  std::int64_t min_size_bytes = 0;  ///< measured size range
  std::int64_t max_size_bytes = 0;
  int rows = 0;
  double mape = 0.0;       ///< mean |t_fit - t| / t over the rows fitted
  double max_error = 0.0;  ///< max |t_fit - t| / t
  int source = 0;          ///< index into CalibrationProfile::sources

  double time_us(std::int64_t size_bytes) const;
};

/// Fits rows of one (op, ranks, nodes); rows must be non-empty and agree on those fields.
CollectiveFit fit_collective(std::span<const CollectiveMeasurement> rows, int source);

}  // namespace moesim::calibration
