#include "sim/network/analytical_network_model.hpp"

#include "sim/core/errors.hpp"
#include "sim/network/nccl_cost_model.hpp"
#include "sim/workload/collective_traits.hpp"

namespace moesim::network {

AnalyticalNetworkModel::AnalyticalNetworkModel(const Topology& topology, AnalyticalParams params)
    : topo_(&topology), params_(std::move(params)), config_(params_.merged_collective()) {
  MOESIM_CHECK(topology.finalized(), "topology not finalized");
}

CollectiveConfig AnalyticalParams::merged_collective() const {
  CollectiveConfig merged = collective;
  for (const auto& [key, fit] : calibrated) {
    merged.calibrated.emplace(FitKey{key.first, key.second, 0}, fit);  // keeps existing entries
  }
  return merged;
}

Level AnalyticalNetworkModel::level_of(const CommOp& op) const {
  return network::level_of(*topo_, op);
}

SimTime AnalyticalNetworkModel::estimate(const CommOp& op) const {
  for (RankId r : op.ranks) {
    if (r.index() >= topo_->gpu_count()) {
      throw SimulationError(fmt::format("rank {} outside topology {} ({} GPUs)", r.value,
                                        topo_->name(), topo_->gpu_count()));
    }
  }
  if (op.ranks.size() < 2) return SimTime::zero();
  const AlphaBeta* fit =
      op.relay ? nullptr : config_.find_fit(op.kind, level_of(op), op.ranks.size());
  if (fit != nullptr) {
    return SimTime::from_us(fit_time_us(*fit, op));
  }
  return SimTime::from_us(nccl_best(*topo_, op, config_).time_us);
}

void AnalyticalNetworkModel::start(CommId id, const CommOp& op, SimTime now,
                                   CommCompletionListener& listener) {
  // The executor starts the same operation once per micro-batch: priced once (the memo's header).
  const SimTime duration = started_.get_or_compute(op, [&] { return estimate(op); });
  pending_.push(Pending{now + duration, next_sequence_++, id, &listener});
}

std::optional<SimTime> AnalyticalNetworkModel::next_completion(SimTime /*now*/) const {
  if (pending_.empty()) return std::nullopt;
  return pending_.top().end;
}

void AnalyticalNetworkModel::advance(SimTime /*from*/, SimTime to) {
  std::vector<Pending> done;
  while (!pending_.empty() && pending_.top().end <= to) {
    done.push_back(pending_.top());
    pending_.pop();
  }
  for (const Pending& p : done) p.listener->on_comm_complete(p.id, p.end);
}

}  // namespace moesim::network
