// PxnRelays: NCCL's PXN relay (pxn_proxy, flow_plan.hpp) for every ordered pair of one rank
// group, relaying only through members of the group (NCCL's proxy rank is one of the
// communicator's).
//
// Why a table: pxn_proxy routes three times per pair, and an operation asks it for every
// cross-node pair of its group each time it is lowered (all_to_all.cpp) or priced
// (nccl_cost_model.cpp, exchange_us). DeepSeek-V3 on 2,048 GPUs under the flow model starts
// 15,104 all-to-alls over 32 EP groups of 64 ranks, and the proxies were 42% of that run's CPU
// time. The relays are a pure function of the finalized topology and the group, so a group's
// table is computed once and remembered in the topology's memo (Topology::pxn_relay_memo,
// thread-safe), and the lowered flows are the ones the per-pair question gives.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "sim/network/topology.hpp"

namespace moesim::network {

class PxnRelays {
 public:
  /// Groups of up to this many ranks are tabulated and remembered (n^2 entries of 4 bytes:
  /// 4 MiB at 1,024 ranks); a larger group asks pxn_proxy per pair, as before the table.
  static constexpr std::size_t kMaxTabulatedRanks = 1024;

  PxnRelays(const Topology& topo, std::vector<std::uint32_t> ranks);

  /// Position in the group of the member that relays member i's transfer to member j, or
  /// nothing: i sends itself (pxn_proxy's cases), or the proxy is not a member.
  std::optional<std::size_t> proxy_of(std::size_t i, std::size_t j) const;

 private:
  std::optional<std::size_t> ask(std::size_t i, std::size_t j) const;

  // ask()'s inputs, kept only for an untabulated group (which is not remembered).
  const Topology* topo_ = nullptr;
  std::vector<std::uint32_t> ranks_;
  std::unordered_map<std::uint32_t, std::size_t> position_;
  std::vector<std::int32_t> table_;  ///< [i * n + j]: position of the proxy, -1 for none
};

/// Tables already made on one topology, by member list (Topology::pxn_relay_memo).
struct PxnRelayMemo {
  std::mutex mutex;
  std::map<std::vector<std::uint32_t>, std::shared_ptr<const PxnRelays>> groups;
};

/// The relays of the group `ranks` (global ranks, in the operation's order), remembered in the
/// topology's memo when the group is tabulated.
std::shared_ptr<const PxnRelays> pxn_relays(const Topology& topo,
                                            const std::vector<std::uint32_t>& ranks);

}  // namespace moesim::network
