// IdealNetworkModel: every rank pair is joined by a private link of one bandwidth and latency; no
// contention. An operation costs NCCL's ring-algorithm volume over that link (the alpha-beta
// textbook forms: Hockney; Thakur, Rabenseifner, Gropp, IJHPCA 2005):
//   all_reduce        2(n-1) alpha + 2(n-1)/n S / B
//   all_gather / reduce_scatter / all_to_all   (n-1) alpha + (n-1)/n S / B
//   all_to_all_v      (n-1) alpha + max_rank max(sent, recv to peers) / B
//   broadcast / reduce / send_recv   alpha + S / B
// It is the reference model for hand-computed tests and the fallback when no topology is given.
#pragma once

#include <cstdint>
#include <queue>
#include <vector>

#include "sim/core/units.hpp"
#include "sim/network/communication_model.hpp"

namespace moesim::network {

class IdealNetworkModel final : public CommunicationModel {
 public:
  IdealNetworkModel(Bandwidth link, SimTime latency_per_step)
      : link_(link), latency_(latency_per_step) {}

  std::string_view name() const override { return "ideal"; }
  void start(CommId id, const CommOp& op, SimTime now, CommCompletionListener& listener) override;
  SimTime estimate(const CommOp& op) const override;
  std::optional<SimTime> next_completion(SimTime now) const override;
  void advance(SimTime from, SimTime to) override;

 private:
  struct Pending {
    SimTime end;
    std::uint64_t sequence;
    CommId id;
    CommCompletionListener* listener;
    bool operator>(const Pending& o) const {
      return end != o.end ? end > o.end : sequence > o.sequence;
    }
  };
  Bandwidth link_;
  SimTime latency_;
  std::uint64_t next_sequence_ = 0;
  std::priority_queue<Pending, std::vector<Pending>, std::greater<>> pending_;
};

}  // namespace moesim::network
