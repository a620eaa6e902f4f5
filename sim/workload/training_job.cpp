#include "sim/workload/training_job.hpp"

#include "sim/workload/job_size.hpp"

namespace moesim {

RoutingShape TrainingJob::routing_shape(const ModelSpec& model, const ParallelLayout& layout) {
  RoutingShape shape;
  shape.moe_layers = model.moe_layer_count();
  shape.sources = layout.dp;
  shape.experts = model.experts;
  shape.tokens_per_source = model.tokens_per_micro_batch();
  shape.top_k = model.top_k;
  return shape;
}

TrainingJob make_training_job(const ModelSpec& model, ParallelLayout layout,
                              const ClusterShape& cluster, const RoutingModel& routing,
                              std::int64_t iteration, std::string_view flag) {
  layout.resolve(model, cluster.gpu_count(), cluster.gpus_per_node, flag);
  check_job_size(model, layout, flag);
  RankMapping mapping(layout);
  RoutingCounts counts = routing.counts(iteration, TrainingJob::routing_shape(model, layout));
  ExpertParallelComm ep_comm;
  ep_comm.node_limit = static_cast<int>(model.node_limit);
  return TrainingJob{model,   layout, std::move(mapping), cluster, iteration, std::move(counts), {},
                     ep_comm, {}};
}

}  // namespace moesim
