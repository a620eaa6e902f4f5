#include "sim/network/ideal_network_model.hpp"

#include <algorithm>

#include "sim/workload/collective_traits.hpp"

namespace moesim::network {

SimTime IdealNetworkModel::estimate(const CommOp& op) const {
  const auto n = static_cast<std::int64_t>(op.ranks.size());
  if (n <= 1) return SimTime::zero();
  const double s = op.bytes.as_double();
  // Every rank's share of the data crosses its link once per ring pass (the busbw factor);
  // an all-to-all-v moves what its busiest rank sends or receives, self-traffic excluded.
  const CollectiveTraits& traits = traits_of(op.kind);
  double bytes_on_link = traits.bus_factor(op.ranks.size()) * s;
  const std::int64_t steps = traits.steps(op.ranks.size());
  if (traits.size == SizeConvention::matrix) {
    std::int64_t worst = 0;
    for (std::size_t i = 0; i < op.matrix->size(); ++i) {
      // Self-traffic stays on the GPU.
      worst = std::max({worst, op.matrix->sent_by(i) - op.matrix->at(i, i),
                        op.matrix->received_by(i) - op.matrix->at(i, i)});
    }
    bytes_on_link = static_cast<double>(worst);
  }
  return SimTime::from_ps(latency_.ps() * steps) +
         SimTime::from_seconds(bytes_on_link / link_.bytes_per_s);
}

void IdealNetworkModel::start(CommId id, const CommOp& op, SimTime now,
                              CommCompletionListener& listener) {
  pending_.push(Pending{now + estimate(op), next_sequence_++, id, &listener});
}

std::optional<SimTime> IdealNetworkModel::next_completion(SimTime /*now*/) const {
  if (pending_.empty()) return std::nullopt;
  return pending_.top().end;
}

void IdealNetworkModel::advance(SimTime /*from*/, SimTime to) {
  while (!pending_.empty() && pending_.top().end <= to) {
    const Pending p = pending_.top();
    pending_.pop();
    p.listener->on_comm_complete(p.id, p.end);
  }
}

}  // namespace moesim::network
