// nccl-tests all-to-all-v traffic matrices: the file `alltoallv_perf` reads through the
// NCCL_TESTS_ALLTOALLV_MATRIX_FILE environment variable (NVIDIA/nccl-tests, src/alltoallv.cu,
// "Matrix File Mode"): a square matrix of whitespace-separated numbers, one row per sending rank,
// cell [i][j] = bytes rank i sends to rank j. We write one row per line, values separated by one
// space, so a routing model can be replayed on real GPUs with the same harness, and read such
// files back (for calibration) strictly: non-negative integers only, every row as long as the
// first, as many rows as columns.
//
// Caveats of the harness (same source): it rounds every cell down to a multiple of 16 bytes, and
// it must be run with -b = -e >= the largest per-rank send or receive total; `moesim routing
// export` prints that size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/workload/comm_op.hpp"
#include "sim/workload/training_job.hpp"

namespace moesim::io {

/// The matrix as nccl-tests reads it: one line per sender.
std::string alltoallv_matrix_text(const ByteMatrix& matrix);
/// Parses a matrix file's text; errors name `origin` and the line and column.
ByteMatrix alltoallv_matrix_from_text(const std::string& text, const std::string& origin);
ByteMatrix load_alltoallv_matrix(const std::string& path);

/// One exchange of one MoE layer over one expert-parallel group.
struct ExpertExchangeMatrix {
  std::int64_t moe_layer = 0;  ///< index among the model's MoE layers
  bool combine = false;        ///< false: dispatch (tokens to experts); true: combine (back)
  std::size_t ep_group = 0;    ///< index into RankMapping::groups(GroupKind::ep)
  std::vector<RankId> ranks;   ///< the group's members, in matrix order
  ByteMatrix matrix;

  /// "moe<L>.<dispatch|combine>.ep<G>.txt"
  std::string file_name() const;
};

/// The routing's byte matrices of `job`'s iteration: for every MoE layer and EP group, the
/// dropless dispatch (member i sends every token its data-parallel replica routes to the experts
/// of member j: local experts of position j are j*E/ep .. (j+1)*E/ep - 1, hidden * dtype bytes per
/// token, no capacity limit) and the combine, its transpose. This is the exchange of the
/// strategies that send every routed token (strategies::EmissionContext token plans, unpadded).
std::vector<ExpertExchangeMatrix> expert_exchange_matrices(const TrainingJob& job);

}  // namespace moesim::io
