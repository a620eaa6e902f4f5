// Calibrated fits in the flow model: SimGrid-style latency and bandwidth factors (flow_plan.hpp,
// apply_calibration). SimGrid corrects its flow model with factors per message size measured
// on the target ("network/latency-factor", "network/bandwidth-factor"); here both factors come
// from the fit of the collective at the operation's level and group size, so they vary with the
// size, and the lowered flows keep sharing links with everything else that runs.
#include <algorithm>

#include "sim/network/collectives/flow_plan.hpp"

namespace moesim::network {

bool apply_calibration(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg,
                       double model_us, FlowPlan& plan) {
  if (plan.stages.empty() || op.ranks.size() < 2) return false;
  const AlphaBeta* fit = cfg.find_fit(op.kind, level_of(topo, op), op.ranks.size());
  if (fit == nullptr) return false;
  double latency_us = 0;
  for (const Stage& s : plan.stages) latency_us += s.latency.us();
  const double fit_us = fit_time_us(*fit, op);
  const double fit_transfer_us = std::max(0.0, fit_us - fit->alpha_us);
  const double model_transfer_us = model_us - latency_us;
  if (model_transfer_us > 1e-9) {
    const double bandwidth_factor = fit_transfer_us / model_transfer_us;
    for (Stage& s : plan.stages) {
      for (FlowSpec& f : s.flows) f.bytes *= bandwidth_factor;
      s.exchange_bytes *= bandwidth_factor;
    }
  }
  if (fit->alpha_us >= latency_us) {
    plan.stages.front().latency += SimTime::from_us(fit->alpha_us - latency_us);
  } else {
    const double latency_factor = latency_us > 0 ? fit->alpha_us / latency_us : 0.0;
    for (Stage& s : plan.stages) s.latency = s.latency.scaled(latency_factor);
  }
  return true;
}

}  // namespace moesim::network
