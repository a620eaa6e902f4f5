#include "sim/network/ideal_network_model.hpp"

#include <algorithm>

namespace moesim::network {

SimTime IdealNetworkModel::estimate(const CommOp& op) const {
  const auto n = static_cast<std::int64_t>(op.ranks.size());
  if (n <= 1) return SimTime::zero();
  const double s = op.bytes.as_double();
  const double share = static_cast<double>(n - 1) / static_cast<double>(n);
  double bytes_on_link = 0.0;
  std::int64_t steps = 0;
  switch (op.kind) {
    case CommKind::all_reduce:
      bytes_on_link = 2.0 * share * s;
      steps = 2 * (n - 1);
      break;
    case CommKind::all_gather:
    case CommKind::reduce_scatter:
    case CommKind::all_to_all:
      bytes_on_link = share * s;
      steps = n - 1;
      break;
    case CommKind::all_to_all_v: {
      std::int64_t worst = 0;
      for (std::size_t i = 0; i < op.matrix->size(); ++i) {
        // Self-traffic stays on the GPU.
        worst = std::max({worst, op.matrix->sent_by(i) - op.matrix->at(i, i),
                          op.matrix->received_by(i) - op.matrix->at(i, i)});
      }
      bytes_on_link = static_cast<double>(worst);
      steps = n - 1;
      break;
    }
    case CommKind::broadcast:
    case CommKind::reduce:
    case CommKind::send_recv:
      bytes_on_link = s;
      steps = 1;
      break;
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
