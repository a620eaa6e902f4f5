#include "sim/strategies/ddp_gradient_sync.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace moesim::strategies {

void DdpGradientSync::emit(Chain& after_backward) {
  if (options_.overlap) {
    emit_bucketed(after_backward);
  } else {
    emit_after_backward(after_backward);
  }
}

void DdpGradientSync::emit_after_backward(Chain& chain) {
  const ParallelLayout& lay = ctx_.job().layout;
  for (std::int64_t stage = 0; stage < lay.pp; ++stage) {
    const auto& ranks = ctx_.stage_ranks(stage);
    const std::int64_t first = lay.first_layer_of_stage(stage);
    const std::int64_t per_stage = lay.layers_of_stage(stage);
    std::int64_t params = 0;
    Step s{.stage = stage, .phase = Phase::backward, .ranks = &ranks, .chain = &chain};
    // Backward produced the last layer's gradients first: reduce in that order.
    for (std::int64_t i = per_stage - 1; i >= 0; --i) {
      const std::int64_t layer = first + i;
      s.layer = layer;
      ctx_.set_info(s);
      params += ctx_.ops().dense_params(layer) + ctx_.ops().local_expert_params(layer);
      ctx_.emit_work(s, ctx_.ops().gradient_sync(layer), ctx_.comm());
      params += ctx_.emit_replica_sync(s);
    }
    params += ctx_.emit_model_ends_gradient_sync(s, stage == 0, stage == lay.pp - 1);
    ctx_.set_info(TaskInfo{Phase::optimizer, -1});
    ctx_.emit_work(s, ctx_.ops().optimizer(params), ctx_.compute());
  }
}

void DdpGradientSync::emit_bucketed(Chain& chain) {
  const ModelSpec& m = ctx_.job().model;
  const ParallelLayout& lay = ctx_.job().layout;
  const std::size_t world = static_cast<std::size_t>(lay.world());
  // When layer l's gradients are ready on rank r: the last backward kernel of l on each of r's
  // streams (streams run in issue order). A layer runs on one stage only, so the last one
  // emitted belongs to the stage's last backward micro-batch.
  std::vector<std::vector<std::vector<TaskId>>> ready(static_cast<std::size_t>(m.layers),
                                                      std::vector<std::vector<TaskId>>(world));
  for (std::size_t i = 0; i < ctx_.graph().task_count(); ++i) {
    const Task& t = ctx_.graph().tasks()[i];
    if (t.phase != Phase::backward || t.layer < 0 || t.layer >= m.layers ||
        t.kind != TaskKind::compute) {
      continue;
    }
    auto& last = ready[static_cast<std::size_t>(t.layer)][t.rank.index()];
    const TaskId id{static_cast<std::uint32_t>(i)};
    auto same = std::find_if(last.begin(), last.end(),
                             [&](TaskId o) { return ctx_.graph().task(o).stream == t.stream; });
    if (same == last.end()) {
      last.push_back(id);
    } else {
      *same = id;
    }
  }
  const StreamId dense_stream = ctx_.graph().stream("grad");
  const StreamId expert_stream = ctx_.graph().stream("grad.expert");
  std::int64_t dense_buckets = 0, expert_buckets = 0;
  for (std::int64_t stage = 0; stage < lay.pp; ++stage) {
    const auto& ranks = ctx_.stage_ranks(stage);
    const std::int64_t first = lay.first_layer_of_stage(stage);
    const std::int64_t per_stage = lay.layers_of_stage(stage);
    std::vector<LayerGradient> dense, expert;
    std::int64_t params = 0;
    for (std::int64_t i = per_stage - 1; i >= 0; --i) {
      const std::int64_t layer = first + i;
      dense.push_back({layer, ctx_.ops().dense_params(layer) * ctx_.elem_bytes()});
      expert.push_back({layer, ctx_.ops().local_expert_params(layer) * ctx_.elem_bytes()});
      params += ctx_.ops().dense_params(layer) + ctx_.ops().local_expert_params(layer);
    }
    // EPLB replicas' gradients are summed among their copies after the backward (they are not
    // in DDP's buckets: the copies live in different EP ranks' expert groups).
    Step s{.stage = stage, .phase = Phase::backward, .ranks = &ranks, .chain = &chain};
    for (std::int64_t i = per_stage - 1; i >= 0; --i) {
      s.layer = first + i;
      ctx_.set_info(s);
      params += ctx_.emit_replica_sync(s);
    }
    // The embedding's and output head's gradients: after the backward, outside the buckets.
    params += ctx_.emit_model_ends_gradient_sync(s, stage == 0, stage == lay.pp - 1);
    // Every rank's optimizer waits for its backward and for each of its buckets' all-reduces.
    std::vector<std::vector<TaskId>> before_step(world);
    for (RankId r : ranks) before_step[r.index()] = chain[r];
    const auto emit = [&](const std::vector<LayerGradient>& grads, GroupKind kind, CommGroup label,
                          std::string_view name, StreamId stream, std::int64_t& count) {
      const auto buckets =
          options_.lina
              ? assign_gradient_chunks(grads, options_.bucket_bytes)
              : assign_gradient_buckets(grads, options_.first_bucket_bytes, options_.bucket_bytes);
      for (const GradientBucket& b : buckets) {
        ctx_.set_info(TaskInfo{Phase::backward, static_cast<std::int32_t>(b.ready_layer())});
        for (const CommOp& o :
             ctx_.group_ops(stage, kind, CommKind::all_reduce, label, Bytes{b.bytes})) {
          std::vector<std::vector<TaskId>> deps;
          for (RankId r : o.ranks) {
            std::vector<TaskId> d;
            for (std::int64_t layer : b.layers) {
              for (TaskId t : ready[static_cast<std::size_t>(layer)][r.index()]) {
                if (std::find(d.begin(), d.end(), t) == d.end()) d.push_back(t);
              }
            }
            deps.push_back(std::move(d));
          }
          const auto members = ctx_.collective_after(name, o, stream, deps);
          if (options_.lina) {
            ctx_.graph().set_yields(*ctx_.graph().comm_of(members.front()));
          }
          for (std::size_t i = 0; i < members.size(); ++i) {
            before_step[o.ranks[i].index()].push_back(members[i]);
          }
        }
        if (stage == 0) ++count;
      }
    };
    emit(dense, GroupKind::dp, CommGroup::dp, "grad.allreduce", dense_stream, dense_buckets);
    emit(expert, GroupKind::edp, CommGroup::expert_dp, "grad.allreduce.expert", expert_stream,
         expert_buckets);
    ctx_.set_info(TaskInfo{Phase::optimizer, -1});
    const BlockWork step = ctx_.ops().optimizer(params);
    for (RankId r : ranks) {
      for (const KernelOp* k : step.kernels()) {
        chain.set(r,
                  ctx_.kernel_after(r, k->name, k->task, ctx_.compute(), before_step[r.index()]));
        before_step[r.index()] = chain[r];
      }
    }
  }
  ctx_.decisions()["grad_sync"] =
      options_.lina
          ? Decision::choice(
                "lina",
                fmt::format("{} MiB chunks, each all-reduce giving way to the other "
                            "communication of its ranks; stage 0: {} dense, {} expert chunks",
                            options_.bucket_bytes / GradientSyncOptions::kMiB, dense_buckets,
                            expert_buckets))
          : Decision::choice(
                "overlap",
                fmt::format("DDP buckets ({} MiB, first {} MiB) launched during the backward; "
                            "stage 0: {} dense, {} expert buckets",
                            options_.bucket_bytes / GradientSyncOptions::kMiB,
                            options_.first_bucket_bytes / GradientSyncOptions::kMiB, dense_buckets,
                            expert_buckets));
}

}  // namespace moesim::strategies
