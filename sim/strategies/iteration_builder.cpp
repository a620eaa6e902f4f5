#include "sim/strategies/iteration_builder.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <new>

#include "sim/core/errors.hpp"
#include "sim/workload/expert_placement.hpp"
#include "sim/workload/job_size.hpp"

namespace moesim::strategies {

IterationBuilder::IterationBuilder(const TrainingJob& job, const CostModels& costs, Options options)
    : job_(job), costs_(costs), options_(options), ops_(job.model, job.layout), builder_(graph_) {
  const auto world = static_cast<std::uint32_t>(job.layout.world());
  graph_.set_rank_count(world);
  // Room for the up-front estimate (job_size.hpp: an upper end, within 2x of what strategies
  // build; the job layer has checked that it fits in memory). Only an optimisation: a machine
  // that cannot map that much just grows the vectors.
  const double estimate = estimate_job_size(job.model, job.layout).tasks_per_iteration;
  const auto tasks = static_cast<std::size_t>(std::min(estimate, 0x1p27));
  try {
    graph_.reserve(tasks, tasks);
  } catch (const std::bad_alloc&) {
  }
  compute_ = graph_.stream("compute");
  comm_ = graph_.stream("comm");
  const RankMapping& map = job.mapping;
  stage_ranks_.resize(static_cast<std::size_t>(job.layout.pp));
  for (std::int64_t s = 0; s < job.layout.pp; ++s) {
    stage_ranks_[static_cast<std::size_t>(s)] = map.stage_ranks(s);
  }
  stage_groups_.resize(kGroupKinds);
  for (std::size_t k = 0; k < kGroupKinds; ++k) {
    stage_groups_[k].resize(static_cast<std::size_t>(job.layout.pp));
    for (const auto& g : map.groups(static_cast<GroupKind>(k))) {
      stage_groups_[k][static_cast<std::size_t>(map.coords(g.front()).pp)].push_back(&g);
    }
  }
  ep_group_index_.resize(world);
  const auto& ep_groups = map.groups(GroupKind::ep);
  for (std::size_t g = 0; g < ep_groups.size(); ++g) {
    for (RankId r : ep_groups[g]) ep_group_index_[r.index()] = g;
  }
}

const std::vector<const std::vector<RankId>*>& IterationBuilder::stage_groups(
    GroupKind kind, std::int64_t stage) const {
  return stage_groups_[static_cast<std::size_t>(kind)][static_cast<std::size_t>(stage)];
}

// ---------------------------------------------------------------------------------------------
// Primitives

TaskId IterationBuilder::kernel(Chain& chain, RankId r, std::string_view name,
                                const ComputeTask& t) {
  return kernel(chain, r, name, t, compute_);
}

TaskId IterationBuilder::kernel(Chain& chain, RankId r, std::string_view name, const ComputeTask& t,
                                StreamId stream) {
  const TaskId id = kernel_after(r, name, t, stream, chain[r]);
  chain.set(r, id);
  return id;
}

TaskId IterationBuilder::kernel_after(RankId r, std::string_view name, const ComputeTask& t,
                                      StreamId stream, const std::vector<TaskId>& deps) {
  return builder_.kernel(r, name, t, stream, info_, deps);
}

std::vector<TaskId> IterationBuilder::collective(Chain& chain, std::string_view name, CommOp o,
                                                 StreamId stream) {
  std::vector<std::vector<TaskId>> deps;
  deps.reserve(o.ranks.size());
  for (RankId r : o.ranks) deps.push_back(chain[r]);
  const std::vector<RankId> ranks = o.ranks;
  std::vector<TaskId> members = collective_after(name, std::move(o), stream, deps);
  for (std::size_t i = 0; i < ranks.size(); ++i) chain.set(ranks[i], members[i]);
  return members;
}

std::vector<TaskId> IterationBuilder::collective_after(
    std::string_view name, CommOp o, StreamId stream,
    const std::vector<std::vector<TaskId>>& deps) {
  return builder_.collective(name, std::move(o), stream, info_, deps);
}

CommOp IterationBuilder::op(CommKind kind, CommGroup group, const std::vector<RankId>& ranks,
                            Bytes bytes) const {
  CommOp o;
  o.kind = kind;
  o.group = group;
  o.ranks = ranks;
  o.bytes = bytes;
  o.dtype = job_.model.dtype;
  return o;
}

void IterationBuilder::group_collective(const Step& s, GroupKind kind, std::string_view name,
                                        CommKind comm, CommGroup group, Bytes bytes) {
  for (const std::vector<RankId>* g : stage_groups(kind, s.stage)) {
    if (g->size() <= 1) continue;
    collective(*s.chain, name, op(comm, group, *g, bytes), comm_);
  }
}

// ---------------------------------------------------------------------------------------------
// MoE plan (token_plan.hpp)

std::int64_t IterationBuilder::permuted_slots(const MoeLayerPlan& p) const {
  const ModelSpec& m = job_.model;
  if (p.padded) {
    const std::int64_t c = p.split_over_tp ? p.capacity * job_.layout.tp : p.capacity;
    return m.experts * c;
  }
  return m.top_k * tokens();
}

std::int64_t IterationBuilder::dispatch_bytes(const MoeLayerPlan& p, RankId r) const {
  if (p.padded) return job_.model.experts * p.capacity * job_.model.hidden * elem_bytes();
  const auto& matrix = *p.dispatch[ep_group_index(r)];
  return matrix.sent_by(static_cast<std::size_t>(job_.mapping.index_in(GroupKind::ep, r)));
}

const MoeLayerPlan& IterationBuilder::plan(std::int64_t moe_index) {
  auto it = plans_.find(moe_index);
  if (it == plans_.end())
    it = plans_.emplace(moe_index, make_token_plan(job_, options_, moe_index)).first;
  return it->second;
}

// ---------------------------------------------------------------------------------------------
// Blocks: the catalogue's lists (layer_ops.hpp), emitted in order

void IterationBuilder::emit_work(const Step& s, const BlockWork& work, StreamId stream) {
  std::size_t i = 0;
  while (i < work.ops.size()) {
    if (const auto* c = std::get_if<CollectiveOp>(&work.ops[i])) {
      group_collective(s, c->groups, c->name, c->kind, c->label, c->bytes);
      ++i;
      continue;
    }
    // A run of kernels, rank by rank.
    std::size_t end = i;
    while (end < work.ops.size() && std::holds_alternative<KernelOp>(work.ops[end])) ++end;
    for (RankId r : *s.ranks) {
      for (std::size_t k = i; k < end; ++k) {
        const KernelOp& op = std::get<KernelOp>(work.ops[k]);
        kernel(*s.chain, r, op.name, op.task, stream);
      }
    }
    i = end;
  }
}

void IterationBuilder::emit_rank_work(const Step& s, RankId r, const BlockWork& work,
                                      StreamId stream) {
  for (const LayerOp& o : work.ops) {
    const auto* k = std::get_if<KernelOp>(&o);
    MOESIM_CHECK(k != nullptr, "{} holds a collective: emit it with emit_work",
                 to_string(work.block));
    kernel(*s.chain, r, k->name, k->task, stream);
  }
}

void IterationBuilder::emit_attention_forward(const Step& s) {
  emit_work(s, ops_.attention(Pass::forward, tokens(), s.layer), compute_);
}

void IterationBuilder::emit_attention_backward(const Step& s) {
  emit_work(s, ops_.attention(Pass::backward, tokens(), s.layer), compute_);
}

void IterationBuilder::emit_dense_ffn_forward(const Step& s) {
  emit_work(s, ops_.dense_ffn(Pass::forward, tokens()), compute_);
}

void IterationBuilder::emit_dense_ffn_backward(const Step& s) {
  emit_work(s, ops_.dense_ffn(Pass::backward, tokens()), compute_);
}

void IterationBuilder::emit_shared_experts_forward(const Step& s) {
  emit_work(s, ops_.shared_experts(Pass::forward, tokens()), compute_);
}

void IterationBuilder::emit_shared_experts_backward(const Step& s) {
  emit_work(s, ops_.shared_experts(Pass::backward, tokens()), compute_);
}

void IterationBuilder::emit_experts(const Step& s, RankId r,
                                    const std::vector<std::int64_t>& tokens_per_expert, Phase phase,
                                    StreamId stream) {
  emit_rank_work(
      s, r,
      ops_.experts(phase == Phase::backward ? Pass::backward : Pass::forward, tokens_per_expert),
      stream);
}

namespace {
/// `w` with the capacity of `p`'s padded dispatch set on its permute / unpermute kernels, so the
/// hardware lowering builds the (experts, capacity, hidden) buffer the simulator charges.
BlockWork with_capacity(BlockWork w, std::int64_t capacity) {
  for (LayerOp& op : w.ops) {
    if (auto* k = std::get_if<KernelOp>(&op)) {
      if (k->task.kind == KernelKind::permute || k->task.kind == KernelKind::unpermute) {
        k->task.op.capacity = capacity;
      }
    }
  }
  return w;
}

std::shared_ptr<const ByteMatrix> chunk_of(const ByteMatrix& full, std::int64_t chunk,
                                           std::int64_t chunks) {
  auto out = std::make_shared<ByteMatrix>(full.size());
  for (std::size_t i = 0; i < full.size(); ++i) {
    for (std::size_t j = 0; j < full.size(); ++j) {
      out->set(i, j, split_share(full.at(i, j), chunks, chunk));
    }
  }
  return out;
}
}  // namespace

std::vector<CommOp> IterationBuilder::exchange_ops(std::int64_t stage, const MoeLayerPlan& p,
                                                   bool combine, std::int64_t chunk,
                                                   std::int64_t chunks) const {
  std::vector<CommOp> out;
  for (const std::vector<RankId>* g : stage_groups(GroupKind::ep, stage)) {
    if (g->size() <= 1) continue;
    if (!p.relay_dispatch.empty()) {
      // DeepEP-style (token_plan.hpp): the distinct tokens, node-relayed.
      const std::size_t gi = ep_group_index(g->front());
      const auto& full = combine ? p.relay_combine_matrix[gi] : p.relay_dispatch_matrix[gi];
      const auto& relay = combine ? p.relay_combine[gi] : p.relay_dispatch[gi];
      CommOp o = op(CommKind::all_to_all_v, CommGroup::ep, *g, Bytes{});
      o.matrix = chunks == 1 ? full : chunk_of(*full, chunk, chunks);
      if (chunks == 1) {
        o.relay = relay;
      } else {
        auto part = std::make_shared<NodeRelayExchange>(*relay);
        part->network = *chunk_of(relay->network, chunk, chunks);
        part->local = *chunk_of(relay->local, chunk, chunks);
        o.relay = std::move(part);
      }
      o.bytes = all_to_all_v_size(*o.matrix);
      out.push_back(std::move(o));
      continue;
    }
    if (p.padded) {
      const std::int64_t full = dispatch_bytes(p, g->front());
      out.push_back(
          op(CommKind::all_to_all, CommGroup::ep, *g, Bytes{split_share(full, chunks, chunk)}));
    } else {
      const std::size_t gi = ep_group_index(g->front());
      const auto& full = combine ? p.combine[gi] : p.dispatch[gi];
      CommOp o = op(CommKind::all_to_all_v, CommGroup::ep, *g, Bytes{});
      o.matrix = chunks == 1 ? full : chunk_of(*full, chunk, chunks);
      o.bytes = all_to_all_v_size(*o.matrix);
      out.push_back(std::move(o));
    }
  }
  return out;
}

std::vector<CommOp> IterationBuilder::esp_ops(std::int64_t stage, const MoeLayerPlan& p,
                                              bool gather, std::int64_t chunk,
                                              std::int64_t chunks) const {
  std::vector<CommOp> out;
  for (const std::vector<RankId>* g : stage_groups(GroupKind::esp, stage)) {
    if (g->size() <= 1) continue;
    // Each member contributes what its dispatch delivered; NCCL's all-gather needs equal parts,
    // so the largest sets the size (padded: all equal).
    std::int64_t largest = 0;
    for (RankId r : *g) {
      std::int64_t received = 0;
      if (p.padded) {
        received = dispatch_bytes(p, r);
      } else {
        const auto& matrix = *p.dispatch[ep_group_index(r)];
        received =
            matrix.received_by(static_cast<std::size_t>(job_.mapping.index_in(GroupKind::ep, r)));
      }
      largest = std::max(largest, received);
    }
    const std::int64_t total =
        split_share(largest, chunks, chunk) * static_cast<std::int64_t>(g->size());
    out.push_back(op(gather ? CommKind::all_gather : CommKind::reduce_scatter, CommGroup::esp, *g,
                     Bytes{total}));
  }
  return out;
}

std::vector<CommOp> IterationBuilder::group_ops(std::int64_t stage, GroupKind kind, CommKind comm,
                                                CommGroup group, Bytes bytes) const {
  std::vector<CommOp> out;
  for (const std::vector<RankId>* g : stage_groups(kind, stage)) {
    if (g->size() > 1) out.push_back(op(comm, group, *g, bytes));
  }
  return out;
}

SimTime IterationBuilder::stage_comm_time(const BlockWork& work, std::int64_t stage) const {
  SimTime t = SimTime::zero();
  for (const CollectiveOp* c : work.collectives()) {
    t += costs_.estimate_together(group_ops(stage, c->groups, c->kind, c->label, c->bytes));
  }
  return t;
}

void IterationBuilder::emit_ops(const Step& s, std::string_view name, std::vector<CommOp> ops,
                                StreamId stream) {
  for (CommOp& o : ops) collective(*s.chain, name, std::move(o), stream);
}

void IterationBuilder::emit_expert_exchange(const Step& s, const MoeLayerPlan& p, bool combine,
                                            std::string_view name, StreamId stream,
                                            std::int64_t chunk, std::int64_t chunks) {
  emit_ops(s, name, exchange_ops(s.stage, p, combine, chunk, chunks), stream);
}

void IterationBuilder::emit_esp_collective(const Step& s, const MoeLayerPlan& p, bool gather,
                                           std::string_view name, StreamId stream,
                                           std::int64_t chunk, std::int64_t chunks) {
  emit_ops(s, name, esp_ops(s.stage, p, gather, chunk, chunks), stream);
}

// ---------------------------------------------------------------------------------------------
// MoE block (DeepSpeed-MoE order: deepspeed/moe/sharded_moe.py MOELayer.forward)

std::int64_t IterationBuilder::dispatch_capacity(const MoeLayerPlan& p) const {
  return p.padded && job_.model.experts > 0 ? permuted_slots(p) / job_.model.experts : 0;
}

void IterationBuilder::emit_moe_forward(const Step& s) {
  const MoeLayerPlan& p = plan(s.moe_index);
  const std::int64_t x = tokens();
  const std::int64_t slots = permuted_slots(p);
  const std::int64_t capacity = dispatch_capacity(p);
  for (RankId r : *s.ranks) {
    emit_rank_work(
        s, r,
        with_capacity(ops_.gate_permute(Pass::forward, x, slots, p.kept[r.index()]), capacity),
        compute_);
  }
  emit_moe_core_forward(s, p);
  if (p.split_over_tp) {
    group_collective(s, GroupKind::tp, "tp.gather_tokens", CommKind::all_gather, CommGroup::tp,
                     Bytes{slots * job_.model.hidden * elem_bytes()});
  }
  for (RankId r : *s.ranks) {
    emit_rank_work(
        s, r, with_capacity(ops_.unpermute(Pass::forward, x, slots, p.kept[r.index()]), capacity),
        compute_);
  }
  emit_shared_experts_forward(s);
}

void IterationBuilder::emit_moe_core_forward(const Step& s, const MoeLayerPlan& p) {
  emit_expert_exchange(s, p, false, "ep.dispatch", comm_);
  emit_esp_collective(s, p, true, "esp.allgather", comm_);
  for (RankId r : *s.ranks)
    emit_experts(s, r, p.expert_tokens[r.index()], Phase::forward, compute_);
  emit_esp_collective(s, p, false, "esp.reducescatter", comm_);
  emit_expert_exchange(s, p, true, "ep.combine", comm_);
}

void IterationBuilder::emit_moe_backward(const Step& s) {
  const MoeLayerPlan& p = plan(s.moe_index);
  const std::int64_t x = tokens();
  const std::int64_t slots = permuted_slots(p);
  const std::int64_t capacity = dispatch_capacity(p);
  emit_shared_experts_backward(s);
  for (RankId r : *s.ranks) {
    emit_rank_work(
        s, r, with_capacity(ops_.unpermute(Pass::backward, x, slots, p.kept[r.index()]), capacity),
        compute_);
  }
  if (p.split_over_tp) {
    // Backward of gather_tokens is drop_tokens: a local slice, no communication.
    const KernelOp slice = ops_.token_slice("drop_tokens", slots / job_.layout.tp);
    for (RankId r : *s.ranks) kernel(*s.chain, r, slice.name, slice.task);
  }
  emit_moe_core_backward(s, p);
  if (p.split_over_tp) {
    // Backward of drop_tokens is gather_tokens.
    group_collective(s, GroupKind::tp, "tp.gather_tokens", CommKind::all_gather, CommGroup::tp,
                     Bytes{slots * job_.model.hidden * elem_bytes()});
  }
  for (RankId r : *s.ranks) {
    emit_rank_work(
        s, r,
        with_capacity(ops_.gate_permute(Pass::backward, x, slots, p.kept[r.index()]), capacity),
        compute_);
  }
}

void IterationBuilder::emit_moe_core_backward(const Step& s, const MoeLayerPlan& p) {
  // Gradients flow back along the combine (now a dispatch-shaped exchange) and the dispatch.
  emit_expert_exchange(s, p, false, "ep.combine.bwd", comm_);
  emit_esp_collective(s, p, true, "esp.allgather", comm_);
  for (RankId r : *s.ranks) {
    emit_experts(s, r, p.expert_tokens[r.index()], Phase::backward, compute_);
  }
  emit_esp_collective(s, p, false, "esp.reducescatter", comm_);
  emit_expert_exchange(s, p, true, "ep.dispatch.bwd", comm_);
}

// ---------------------------------------------------------------------------------------------
// Layers, pipeline, gradients

void IterationBuilder::emit_layer(const Step& s) {
  set_info(s);
  if (s.phase == Phase::forward) {
    emit_attention_forward(s);
    if (s.moe_index >= 0) {
      emit_moe_forward(s);
    } else {
      emit_dense_ffn_forward(s);
    }
  } else {
    emit_recompute(s);
    if (s.moe_index >= 0) {
      emit_moe_backward(s);
    } else {
      emit_dense_ffn_backward(s);
    }
    emit_attention_backward(s);
  }
}

void IterationBuilder::check_pipeline_split(std::string_view strategy) const {
  if (job_.layout.ends_in_split && !splits_pipeline_ends()) {
    throw input_error("", "--parallel", "split=ends is Megatron-Core's pipeline split",
                      fmt::format("split=ends with {}", strategy),
                      "split=layers (the default), or a megatron strategy");
  }
}

void IterationBuilder::emit_model_ends(const Step& s, bool first_stage, bool last_stage,
                                       bool before_layers) {
  if (job_.model.vocab_size == 0) return;
  info_ = TaskInfo{s.phase, -1};
  const bool fwd = s.phase == Phase::forward;
  const Pass pass = fwd ? Pass::forward : Pass::backward;
  // Forward: embedding, layers, output head; backward: output head, layers, embedding.
  if (first_stage && before_layers == fwd) emit_work(s, ops_.embedding(pass, tokens()), compute_);
  if (last_stage && before_layers != fwd) emit_work(s, ops_.output_head(pass, tokens()), compute_);
}

std::int64_t IterationBuilder::emit_model_ends_gradient_sync(const Step& s, bool first_stage,
                                                             bool last_stage) {
  if (job_.model.vocab_size == 0) return 0;
  info_ = TaskInfo{Phase::backward, -1};
  std::int64_t params = 0;
  if (last_stage) {
    emit_work(s, ops_.end_gradient_sync(Block::output_head), comm_);
    params += ops_.output_head_params();
  }
  if (first_stage) {
    emit_work(s, ops_.end_gradient_sync(Block::embedding), comm_);
    params += ops_.embedding_params();
  }
  return params;
}

Chain IterationBuilder::emit_pipeline() {
  const ModelSpec& m = job_.model;
  const std::int64_t pp = job_.layout.pp;
  const std::int64_t mbs = job_.layout.micro_batches;
  const std::int64_t per_stage = m.layers / pp;
  std::vector<std::int64_t> moe_index(static_cast<std::size_t>(m.layers), -1);
  for (std::int64_t l = 0, n = 0; l < m.layers; ++l) {
    if (m.is_moe_layer(l)) moe_index[static_cast<std::size_t>(l)] = n++;
  }
  const auto world = static_cast<std::size_t>(job_.layout.world());
  if (pp > 1) pp_ = graph_.stream("pp");
  // Per (micro-batch): the chain at the end of each rank's forward, and the transfer each
  // rank receives before its next forward / backward of that micro-batch.
  std::vector<std::vector<std::vector<TaskId>>> forward_end(
      static_cast<std::size_t>(mbs), std::vector<std::vector<TaskId>>(world));
  std::vector<std::vector<TaskId>> inbox_fwd(static_cast<std::size_t>(mbs),
                                             std::vector<TaskId>(world, TaskId{~0u}));
  std::vector<std::vector<TaskId>> inbox_bwd = inbox_fwd;
  const TaskId none{~0u};
  const std::int64_t act_bytes = tokens() * m.hidden * elem_bytes();

  // Each item's chain starts from its inputs; a rank's entry after its last item is where the
  // gradient sync starts.
  Chain chain(world);
  for (const PipelineItem& item : pipeline_order(pp, mbs, job_.layout.pp_schedule)) {
    const auto& ranks = stage_ranks_[static_cast<std::size_t>(item.stage)];
    const auto mb = static_cast<std::size_t>(item.micro_batch);
    for (RankId r : ranks) {
      auto& f = chain[r];
      f.clear();
      if (!item.forward) f = forward_end[mb][r.index()];
      const TaskId in = (item.forward ? inbox_fwd : inbox_bwd)[mb][r.index()];
      if (in != none) f.push_back(in);
    }
    Step step;
    step.stage = item.stage;
    step.micro_batch = item.micro_batch;
    step.phase = item.forward ? Phase::forward : Phase::backward;
    step.ranks = &ranks;
    step.chain = &chain;
    const std::int64_t first = item.stage * per_stage;
    emit_model_ends(step, item.stage == 0, item.stage == pp - 1, true);
    for (std::int64_t i = 0; i < per_stage; ++i) {
      step.layer = item.forward ? first + i : first + per_stage - 1 - i;
      step.moe_index = moe_index[static_cast<std::size_t>(step.layer)];
      emit_layer(step);
    }
    emit_model_ends(step, item.stage == 0, item.stage == pp - 1, false);
    if (item.forward) {
      for (RankId r : ranks) forward_end[mb][r.index()] = chain[r];
    }
    // Send activations forward / gradients backward to the neighbouring stage.
    const std::int64_t to = item.forward ? item.stage + 1 : item.stage - 1;
    if (to >= 0 && to < pp) {
      info_ = TaskInfo{step.phase, -1};
      for (RankId r : ranks) {
        const RankCoords& c = job_.mapping.coords(r);
        const RankId peer = job_.mapping.rank_at(c.tp, c.dp, to);
        CommOp o = op(CommKind::send_recv, CommGroup::pp, {r, peer}, Bytes{act_bytes});
        const auto members = collective_after(item.forward ? "pp.send.act" : "pp.send.grad",
                                              std::move(o), pp_, {chain[r], {}});
        (item.forward ? inbox_fwd : inbox_bwd)[mb][peer.index()] = members[1];
      }
    }
  }
  return chain;
}

void IterationBuilder::emit_gradient_sync(Chain& chain) {
  if (grad_sync_.overlap) {
    emit_bucketed_gradient_sync(chain);
    return;
  }
  const ModelSpec& m = job_.model;
  const ParallelLayout& lay = job_.layout;
  const std::int64_t per_stage = m.layers / lay.pp;
  for (std::int64_t stage = 0; stage < lay.pp; ++stage) {
    const auto& ranks = stage_ranks_[static_cast<std::size_t>(stage)];
    std::int64_t params = 0;
    Step s{.stage = stage, .phase = Phase::backward, .ranks = &ranks, .chain = &chain};
    // Backward produced the last layer's gradients first: reduce in that order.
    for (std::int64_t i = per_stage - 1; i >= 0; --i) {
      const std::int64_t layer = stage * per_stage + i;
      s.layer = layer;
      set_info(s);
      params += ops_.dense_params(layer) + ops_.local_expert_params(layer);
      emit_work(s, ops_.gradient_sync(layer), comm_);
      params += emit_replica_sync(s);
    }
    params += emit_model_ends_gradient_sync(s, stage == 0, stage == lay.pp - 1);
    info_ = TaskInfo{Phase::optimizer, -1};
    emit_work(s, ops_.optimizer(params), compute_);
  }
}

void IterationBuilder::emit_bucketed_gradient_sync(Chain& chain) {
  const ModelSpec& m = job_.model;
  const ParallelLayout& lay = job_.layout;
  const std::int64_t per_stage = m.layers / lay.pp;
  const std::size_t world = static_cast<std::size_t>(lay.world());
  // When layer l's gradients are ready on rank r: the last backward kernel of l on each of r's
  // streams (streams run in issue order). A layer runs on one stage only, so the last one
  // emitted belongs to the stage's last backward micro-batch.
  std::vector<std::vector<std::vector<TaskId>>> ready(static_cast<std::size_t>(m.layers),
                                                      std::vector<std::vector<TaskId>>(world));
  for (std::size_t i = 0; i < graph_.task_count(); ++i) {
    const Task& t = graph_.tasks()[i];
    if (t.phase != Phase::backward || t.layer < 0 || t.layer >= m.layers ||
        !std::holds_alternative<ComputeTask>(t.body)) {
      continue;
    }
    auto& last = ready[static_cast<std::size_t>(t.layer)][t.rank.index()];
    const TaskId id{static_cast<std::uint32_t>(i)};
    auto same = std::find_if(last.begin(), last.end(),
                             [&](TaskId o) { return graph_.task(o).stream == t.stream; });
    if (same == last.end()) {
      last.push_back(id);
    } else {
      *same = id;
    }
  }
  const StreamId dense_stream = graph_.stream("grad");
  const StreamId expert_stream = graph_.stream("grad.expert");
  std::int64_t dense_buckets = 0, expert_buckets = 0;
  for (std::int64_t stage = 0; stage < lay.pp; ++stage) {
    const auto& ranks = stage_ranks_[static_cast<std::size_t>(stage)];
    std::vector<LayerGradient> dense, expert;
    std::int64_t params = 0;
    for (std::int64_t i = per_stage - 1; i >= 0; --i) {
      const std::int64_t layer = stage * per_stage + i;
      dense.push_back({layer, ops_.dense_params(layer) * elem_bytes()});
      expert.push_back({layer, ops_.local_expert_params(layer) * elem_bytes()});
      params += ops_.dense_params(layer) + ops_.local_expert_params(layer);
    }
    // EPLB replicas' gradients are summed among their copies after the backward (they are not
    // in DDP's buckets: the copies live in different EP ranks' expert groups).
    Step s{.stage = stage, .phase = Phase::backward, .ranks = &ranks, .chain = &chain};
    for (std::int64_t i = per_stage - 1; i >= 0; --i) {
      s.layer = stage * per_stage + i;
      set_info(s);
      params += emit_replica_sync(s);
    }
    // The embedding's and output head's gradients: after the backward, outside the buckets.
    params += emit_model_ends_gradient_sync(s, stage == 0, stage == lay.pp - 1);
    // Every rank's optimizer waits for its backward and for each of its buckets' all-reduces.
    std::vector<std::vector<TaskId>> before_step(world);
    for (RankId r : ranks) before_step[r.index()] = chain[r];
    const auto emit = [&](const std::vector<LayerGradient>& grads, GroupKind kind, CommGroup label,
                          std::string_view name, StreamId stream, std::int64_t& count) {
      const auto buckets =
          assign_gradient_buckets(grads, grad_sync_.first_bucket_bytes, grad_sync_.bucket_bytes);
      for (const GradientBucket& b : buckets) {
        info_ = TaskInfo{Phase::backward, static_cast<std::int32_t>(b.ready_layer())};
        for (const CommOp& o :
             group_ops(stage, kind, CommKind::all_reduce, label, Bytes{b.bytes})) {
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
          const auto members = collective_after(name, o, stream, deps);
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
    info_ = TaskInfo{Phase::optimizer, -1};
    const BlockWork step = ops_.optimizer(params);
    for (RankId r : ranks) {
      for (const KernelOp* k : step.kernels()) {
        chain.set(r, kernel_after(r, k->name, k->task, compute_, before_step[r.index()]));
        before_step[r.index()] = chain[r];
      }
    }
  }
  decisions_["grad_sync"] = Decision::choice(
      "overlap", fmt::format("DDP buckets ({} MiB, first {} MiB) launched during the backward; "
                             "stage 0: {} dense, {} expert buckets",
                             grad_sync_.bucket_bytes / GradientSyncOptions::kMiB,
                             grad_sync_.first_bucket_bytes / GradientSyncOptions::kMiB,
                             dense_buckets, expert_buckets));
}

std::int64_t IterationBuilder::emit_replica_sync(const Step& s) {
  const ModelSpec& m = job_.model;
  if (!job_.placement || !m.is_moe_layer(s.layer)) return 0;
  std::int64_t moe_index = 0;
  for (std::int64_t l = 0; l < s.layer; ++l) moe_index += m.is_moe_layer(l) ? 1 : 0;
  const LayerPlacement& lp = job_.placement->layers[static_cast<std::size_t>(moe_index)];
  const std::int64_t slots = job_.placement->slots_per_rank;
  const std::int64_t expert_params = m.expert_params() / job_.layout.esp;
  // The copies of one expert hold the same weights: their gradients are summed among the EP
  // ranks holding them (an all-reduce per replicated expert and EP group).
  for (const std::vector<RankId>* g : stage_groups(GroupKind::ep, s.stage)) {
    std::vector<std::vector<RankId>> holders(static_cast<std::size_t>(m.experts));
    for (std::size_t slot = 0; slot < lp.slot_expert.size(); ++slot) {
      auto& h = holders[static_cast<std::size_t>(lp.slot_expert[slot])];
      const RankId r = (*g)[slot / static_cast<std::size_t>(slots)];
      if (std::find(h.begin(), h.end(), r) == h.end()) h.push_back(r);
    }
    for (const auto& h : holders) {
      if (h.size() < 2) continue;
      collective(
          *s.chain, "grad.allreduce.replica",
          op(CommKind::all_reduce, CommGroup::expert_dp, h, Bytes{expert_params * elem_bytes()}),
          comm_);
    }
  }
  // Slots beyond the E / ep local experts are extra parameters for the optimizer.
  return (slots - local_experts()) * expert_params;
}

BuildResult IterationBuilder::build() {
  check_pipeline_split("this strategy");
  Chain after_backward = emit_pipeline();
  emit_gradient_sync(after_backward);
  const ModelSpec& m = job_.model;
  std::int64_t routed = 0, dropped = 0;
  for (std::int64_t l = 0; l < m.moe_layer_count(); ++l) {
    routed += plan(l).routed;
    dropped += plan(l).dropped;
  }
  if (m.moe_layer_count() > 0) {
    const MoeLayerPlan& p0 = plan(0);
    decisions_["moe.dispatch"] = Decision::choice(p0.padded ? "all_to_all" : "all_to_all_v",
                                                  p0.padded ? "capacity-padded" : "routed counts");
    if (p0.padded) {
      decisions_["moe.capacity_per_rank"] =
          Decision::count(p0.capacity, "tokens", "slots per expert per rank, MoE layer 0");
    }
    decisions_["moe.tokens_in_tp_group"] =
        job_.layout.tp == 1
            ? Decision::choice("n/a", "tp=1")
            : (p0.split_over_tp ? Decision::choice("split", "drop_tokens/gather_tokens")
                                : Decision::choice("duplicated", "on every tp rank"));
    decisions_["moe.dropped_tokens"] = Decision::count(
        dropped, "tokens",
        fmt::format(
            "of {} routed ({:.2f}%)", routed,
            routed ? 100.0 * static_cast<double>(dropped) / static_cast<double>(routed) : 0.0));
  }
  return BuildResult{std::move(graph_), std::move(decisions_)};
}

}  // namespace moesim::strategies
