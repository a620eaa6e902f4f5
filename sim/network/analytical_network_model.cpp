#include "sim/network/analytical_network_model.hpp"

#include "sim/core/errors.hpp"
#include "sim/network/nccl_cost_model.hpp"
#include "sim/workload/collective_traits.hpp"

namespace moesim::network {

AnalyticalNetworkModel::AnalyticalNetworkModel(const Topology& topology, AnalyticalParams params)
    : topo_(&topology), params_(std::move(params)) {
  MOESIM_CHECK(topology.finalized(), "topology not finalized");
}

Level AnalyticalNetworkModel::level_of(const CommOp& op) const {
  if (op.ranks.empty()) return Level::intra_node;
  const int node = topo_->node_of(op.ranks.front());
  for (RankId r : op.ranks) {
    if (topo_->node_of(r) != node) return Level::inter_node;
  }
  return Level::intra_node;
}

SimTime AnalyticalNetworkModel::estimate(const CommOp& op) const {
  for (RankId r : op.ranks) {
    if (r.index() >= topo_->gpu_count()) {
      throw SimulationError(fmt::format("rank {} outside topology {} ({} GPUs)", r.value,
                                        topo_->name(), topo_->gpu_count()));
    }
  }
  if (op.ranks.size() < 2) return SimTime::zero();
  auto it = params_.calibrated.find({op.kind, level_of(op)});
  if (it != params_.calibrated.end()) {
    const double bus_bytes = op.bytes.as_double() * traits_of(op.kind).bus_factor(op.ranks.size());
    return SimTime::from_us(it->second.alpha_us) +
           SimTime::from_seconds(bus_bytes / (it->second.beta_gbps * 1e9));
  }
  return SimTime::from_us(nccl_best(*topo_, op, params_.collective).time_us);
}

void AnalyticalNetworkModel::start(CommId id, const CommOp& op, SimTime now,
                                   CommCompletionListener& listener) {
  pending_.push(Pending{now + estimate(op), next_sequence_++, id, &listener});
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
