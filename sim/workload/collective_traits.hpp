// CollectiveTraits: everything that differs between collective kinds except the code that lowers
// them, in one table (collective_traits.cpp), so code asks the table instead of switching on
// CommKind. A new collective is a CommKind value (comm_op.hpp), a row here, its pricing and flow
// lowering in sim/network/nccl_cost_model.cpp (nothing when it reuses a lowering family), and its
// NCCL calls in kernels/runtime/graph_lowering.cpp.
//
// Sizes follow nccl-tests' "size" column and its busbw factors (NVIDIA/nccl-tests,
// doc/PERFORMANCE.md, "Bus bandwidth"): busbw = algbw * factor, where the factor is the fraction
// of the data that crosses the slowest link of an optimal ring, so busbw is comparable to the
// hardware's peak whatever the operation and rank count:
//   all_reduce 2(n-1)/n; all_gather, reduce_scatter, all_to_all(-v) (n-1)/n; others 1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "sim/workload/comm_op.hpp"

namespace moesim {

/// What CommOp::bytes means for the kind (the nccl-tests "size" column).
enum class SizeConvention : std::uint8_t {
  buffer,           ///< the buffer each rank holds (all_reduce; broadcast/reduce: the root's)
  gathered_output,  ///< the output per rank; each rank contributes bytes / n (all_gather)
  scattered_input,  ///< the input per rank; each rank keeps bytes / n (reduce_scatter)
  send_buffer,      ///< each rank's send buffer, bytes / n to every peer (all_to_all)
  matrix,           ///< the per-pair byte matrix; bytes = max over ranks of sent, received
  message,          ///< one message from ranks[0] to ranks[1] (send_recv)
};

/// How the network models price and lower the kind into flows (sim/network/nccl_cost_model.cpp),
/// the way NCCL runs it.
enum class CollectiveLowering : std::uint8_t {
  reduction,       ///< ring, tree or NVLS (NVSwitch), whichever NCCL's tuning model prices lowest
  ring,            ///< n-1 ring steps
  rooted_chain,    ///< a pipelined chain from (broadcast) or to (reduce) the root
  exchange,        ///< direct concurrent point-to-point (PXN across rails); 2D only when forced
  point_to_point,  ///< one transfer
};

struct CollectiveTraits {
  CommKind kind;
  std::string_view name;  ///< spelling in every file format and flag
  /// Operation name inside nccl-tests binary and output names ("all_reduce" of all_reduce_perf).
  std::string_view nccl_tests_name;
  SizeConvention size;
  CollectiveLowering lowering;
  /// Passes of the data over a ring: busbw factor = passes * (n-1)/n, or 1 without a ring.
  int ring_passes;
  bool reduces;        ///< combines values (the dtype's reduction matters on the wire)
  bool rooted;         ///< has a root rank (CommOp::root)
  bool two_ranks;      ///< exactly two ranks, sender first
  bool cli_operation;  ///< offered by `moesim collective --op` (all_to_all_v needs a matrix)

  /// busbw / algbw over `ranks` ranks (0 for an empty group).
  double bus_factor(std::size_t ranks) const;
  /// Latency-bound steps of the kind over `ranks` ranks: passes * (n-1) on a ring, else 1.
  std::int64_t steps(std::size_t ranks) const;
  /// Whether `bytes` splits into n equal per-rank chunks (sizes are multiples of n elements).
  bool per_rank_chunks() const;
};

/// The row of `kind`.
const CollectiveTraits& traits_of(CommKind kind);
/// Every row, in CommKind order.
std::span<const CollectiveTraits> all_collective_traits();
/// Every kind's name, "all_reduce, all_gather, ..." (for messages listing what is accepted).
std::string comm_kind_names();
/// The kind whose nccl-tests name appears in `name` (a binary or output file name, path allowed;
/// the longest match wins, so "alltoallv" is not "alltoall" and "all_reduce" is not "reduce").
std::optional<CommKind> comm_kind_from_nccl_tests_name(std::string_view name);

}  // namespace moesim
