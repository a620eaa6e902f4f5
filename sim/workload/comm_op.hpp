// CommOp: one communication operation (a collective or a point-to-point transfer) over a group
// of ranks.
//
// Sizes follow nccl-tests' "size" column, so that nccl-tests' algbw/busbw formulas apply directly
// to a simulated or a measured operation:
//   all_reduce     bytes = the buffer each rank reduces (input = output size)
//   all_gather     bytes = the gathered output per rank (each rank contributes bytes / n)
//   reduce_scatter bytes = the input per rank (each rank keeps bytes / n)
//   all_to_all     bytes = each rank's send buffer (bytes / n to every peer, itself included)
//   all_to_all_v   matrix(i, j) = bytes from ranks[i] to ranks[j]; `bytes` = max over ranks of
//                  max(sent, received), as nccl-tests reports alltoallv
//   broadcast, reduce  bytes = the buffer; `root` is the source / destination rank
//   send_recv      ranks = {sender, receiver}; bytes = the message
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "sim/core/ids.hpp"
#include "sim/core/units.hpp"
#include "sim/workload/dtype.hpp"

namespace moesim {

enum class CommKind : std::uint8_t {
  all_reduce,
  all_gather,
  reduce_scatter,
  all_to_all,
  all_to_all_v,
  broadcast,
  reduce,
  send_recv,
};

/// Names from the traits table (collective_traits.hpp), the one place per-kind facts live.
std::string_view to_string(CommKind kind);
std::optional<CommKind> parse_comm_kind(std::string_view name);

/// Which parallel dimension a communication serves; breakdowns are reported per group.
enum class CommGroup : std::uint8_t { tp, ep, esp, dp, expert_dp, pp, world, other };

std::string_view to_string(CommGroup group);
std::optional<CommGroup> parse_comm_group(std::string_view name);

/// Dense n x n byte matrix, row = sender position in the group, column = receiver position.
class ByteMatrix {
 public:
  ByteMatrix() = default;
  explicit ByteMatrix(std::size_t n) : n_(n), bytes_(n * n, 0) {}
  std::size_t size() const { return n_; }
  std::int64_t at(std::size_t from, std::size_t to) const { return bytes_[from * n_ + to]; }
  void set(std::size_t from, std::size_t to, std::int64_t b) { bytes_[from * n_ + to] = b; }
  std::int64_t sent_by(std::size_t from) const;
  std::int64_t received_by(std::size_t to) const;
  std::int64_t total() const;

 private:
  std::size_t n_ = 0;
  std::vector<std::int64_t> bytes_;
};

/// A DeepEP-style expert-parallel exchange (DeepEP normal kernels, deepseek-ai/DeepEP): a token
/// crosses the network once per destination node, to the group member of the same local index
/// there (its rail peer), which forwards it over NVLink to every GPU of that node holding one of
/// its experts; same-node traffic goes straight over NVLink. Both legs run pipelined (one flow
/// stage, sim/network/collectives/node_relay_all_to_all.cpp). Positions index CommOp::ranks.
struct NodeRelayExchange {
  ByteMatrix network;  ///< (i, r): bytes ranks[i] sends over the network to relay ranks[r]
  ByteMatrix local;    ///< (r, j): bytes ranks[r] moves to ranks[j] over the node's NVLink
  /// SMs the communication kernels hold on every member's GPU while they run (DeepSeek-V3: 20
  /// of 132 on H800); compute beside them runs on the rest.
  int comm_sms = 0;
  /// Hybrid-EP's chunked pipeline (sim/network/collectives/hybrid_ep_pipeline.hpp): the chunk
  /// rounds each of its blocks runs, and the nodes the group spans. 0: DeepEP's normal kernels,
  /// whose legs overlap fully.
  int chunk_rounds = 0;
  int nodes = 0;
};

struct CommOp {
  CommKind kind = CommKind::all_reduce;
  CommGroup group = CommGroup::other;
  std::vector<RankId> ranks;  ///< group members, in ring order
  Bytes bytes;                ///< nccl-tests size, see above
  DType dtype = DType::bf16;
  RankId root;                               ///< broadcast / reduce only
  std::shared_ptr<const ByteMatrix> matrix;  ///< all_to_all_v only; shared between ops
  /// all_to_all_v only: lowered as a node-relayed exchange instead of NCCL's (null: NCCL).
  std::shared_ptr<const NodeRelayExchange> relay;
};

/// nccl-tests "size" of an all-to-all-v: max over ranks of max(bytes sent, bytes received).
Bytes all_to_all_v_size(const ByteMatrix& matrix);

}  // namespace moesim
