#include "sim/strategies/emission_context.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <new>

#include "sim/core/errors.hpp"
#include "sim/strategies/strategy.hpp"
#include "sim/workload/expert_placement.hpp"
#include "sim/workload/job_size.hpp"

namespace moesim::strategies {

EmissionContext::EmissionContext(const TrainingJob& job, const CostModels& costs, Options options)
    : job_(job), costs_(costs), options_(options), ops_(job.model, job.layout), builder_(graph_) {
  const auto world = static_cast<std::uint32_t>(job.layout.world());
  graph_.set_rank_count(world);
  graph_.set_growth_listener(costs.build_progress);
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

const std::vector<const std::vector<RankId>*>& EmissionContext::stage_groups(
    GroupKind kind, std::int64_t stage) const {
  return stage_groups_[static_cast<std::size_t>(kind)][static_cast<std::size_t>(stage)];
}

// ---------------------------------------------------------------------------------------------
// Primitives

TaskId EmissionContext::kernel(Chain& chain, RankId r, std::string_view name,
                               const ComputeTask& t) {
  return kernel(chain, r, name, t, compute_);
}

TaskId EmissionContext::kernel(Chain& chain, RankId r, std::string_view name, const ComputeTask& t,
                               StreamId stream) {
  const TaskId id = kernel_after(r, name, t, stream, chain[r]);
  chain.set(r, id);
  return id;
}

TaskId EmissionContext::kernel_after(RankId r, std::string_view name, const ComputeTask& t,
                                     StreamId stream, const std::vector<TaskId>& deps) {
  return builder_.kernel(r, name, t, stream, info_, deps);
}

std::vector<TaskId> EmissionContext::collective(Chain& chain, std::string_view name, CommOp o,
                                                StreamId stream) {
  std::vector<std::vector<TaskId>> deps;
  deps.reserve(o.ranks.size());
  for (RankId r : o.ranks) deps.push_back(chain[r]);
  const std::vector<RankId> ranks = o.ranks;
  std::vector<TaskId> members = collective_after(name, std::move(o), stream, deps);
  for (std::size_t i = 0; i < ranks.size(); ++i) chain.set(ranks[i], members[i]);
  return members;
}

std::vector<TaskId> EmissionContext::collective_after(
    std::string_view name, CommOp o, StreamId stream,
    const std::vector<std::vector<TaskId>>& deps) {
  return builder_.collective(name, std::move(o), stream, info_, deps);
}

std::vector<std::pair<RankId, TaskId>> EmissionContext::emit_stage_transfer(
    const std::vector<RankId>& ranks, std::int64_t to_stage, bool forward, Bytes bytes,
    StreamId stream, const Chain& chain) {
  std::vector<std::pair<RankId, TaskId>> received;
  received.reserve(ranks.size());
  for (RankId r : ranks) {
    const RankCoords& c = job_.mapping.coords(r);
    const RankId peer = job_.mapping.rank_at(c.tp, c.dp, to_stage);
    const auto members = collective_after(forward ? "pp.send.act" : "pp.send.grad",
                                          op(CommKind::send_recv, CommGroup::pp, {r, peer}, bytes),
                                          stream, {chain[r], {}});
    received.emplace_back(peer, members[1]);
  }
  return received;
}

CommOp EmissionContext::op(CommKind kind, CommGroup group, const std::vector<RankId>& ranks,
                           Bytes bytes) const {
  CommOp o;
  o.kind = kind;
  o.group = group;
  o.ranks = ranks;
  o.bytes = bytes;
  o.dtype = job_.model.dtype;
  return o;
}

void EmissionContext::group_collective(const Step& s, GroupKind kind, std::string_view name,
                                       CommKind comm, CommGroup group, Bytes bytes) {
  for (const std::vector<RankId>* g : stage_groups(kind, s.stage)) {
    if (g->size() <= 1) continue;
    collective(*s.chain, name, op(comm, group, *g, bytes), comm_);
  }
}

// ---------------------------------------------------------------------------------------------
// MoE plan (token_plan.hpp)

std::int64_t EmissionContext::permuted_slots(const MoeLayerPlan& p) const {
  const ModelSpec& m = job_.model;
  if (p.padded) {
    const std::int64_t c = p.split_over_tp ? p.capacity * job_.layout.tp : p.capacity;
    return m.experts * c;
  }
  return m.top_k * tokens();
}

std::int64_t EmissionContext::dispatch_bytes(const MoeLayerPlan& p, RankId r) const {
  if (p.padded) return job_.model.experts * p.capacity * job_.model.hidden * elem_bytes();
  const auto& matrix = *p.dispatch[ep_group_index(r)];
  return matrix.sent_by(static_cast<std::size_t>(job_.mapping.index_in(GroupKind::ep, r)));
}

const MoeLayerPlan& EmissionContext::plan(std::int64_t moe_index) {
  auto it = plans_.find(moe_index);
  if (it == plans_.end())
    it = plans_.emplace(moe_index, make_token_plan(job_, options_, moe_index)).first;
  return it->second;
}

// ---------------------------------------------------------------------------------------------
// Blocks: the catalogue's lists (layer_ops.hpp), emitted in order

void EmissionContext::emit_work(const Step& s, const BlockWork& work, StreamId stream) {
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

void EmissionContext::emit_rank_work(const Step& s, RankId r, const BlockWork& work,
                                     StreamId stream) {
  for (const LayerOp& o : work.ops) {
    const auto* k = std::get_if<KernelOp>(&o);
    MOESIM_CHECK(k != nullptr, "{} holds a collective: emit it with emit_work",
                 to_string(work.block));
    kernel(*s.chain, r, k->name, k->task, stream);
  }
}

void EmissionContext::emit_attention_forward(const Step& s) {
  emit_work(s, ops_.attention(Pass::forward, tokens(), s.layer), compute_);
}

void EmissionContext::emit_attention_backward(const Step& s) {
  emit_work(s, ops_.attention(Pass::backward, tokens(), s.layer), compute_);
}

void EmissionContext::emit_dense_ffn_forward(const Step& s) {
  emit_work(s, ops_.dense_ffn(Pass::forward, tokens()), compute_);
}

void EmissionContext::emit_dense_ffn_backward(const Step& s) {
  emit_work(s, ops_.dense_ffn(Pass::backward, tokens()), compute_);
}

void EmissionContext::emit_shared_experts_forward(const Step& s) {
  emit_work(s, ops_.shared_experts(Pass::forward, tokens()), compute_);
}

void EmissionContext::emit_shared_experts_backward(const Step& s) {
  emit_work(s, ops_.shared_experts(Pass::backward, tokens()), compute_);
}

void EmissionContext::emit_experts(const Step& s, RankId r,
                                   const std::vector<std::int64_t>& tokens_per_expert, Phase phase,
                                   StreamId stream) {
  emit_rank_work(
      s, r,
      ops_.experts(phase == Phase::backward ? Pass::backward : Pass::forward, tokens_per_expert),
      stream);
}

namespace {
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

std::vector<CommOp> EmissionContext::exchange_ops(std::int64_t stage, const MoeLayerPlan& p,
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

std::vector<CommOp> EmissionContext::esp_ops(std::int64_t stage, const MoeLayerPlan& p, bool gather,
                                             std::int64_t chunk, std::int64_t chunks) const {
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

std::vector<CommOp> EmissionContext::group_ops(std::int64_t stage, GroupKind kind, CommKind comm,
                                               CommGroup group, Bytes bytes) const {
  std::vector<CommOp> out;
  for (const std::vector<RankId>* g : stage_groups(kind, stage)) {
    if (g->size() > 1) out.push_back(op(comm, group, *g, bytes));
  }
  return out;
}

SimTime EmissionContext::stage_comm_time(const BlockWork& work, std::int64_t stage) const {
  SimTime t = SimTime::zero();
  for (const CollectiveOp* c : work.collectives()) {
    t += costs_.estimate_together(group_ops(stage, c->groups, c->kind, c->label, c->bytes));
  }
  return t;
}

void EmissionContext::emit_ops(const Step& s, std::string_view name, std::vector<CommOp> ops,
                               StreamId stream) {
  for (CommOp& o : ops) collective(*s.chain, name, std::move(o), stream);
}

void EmissionContext::emit_expert_exchange(const Step& s, const MoeLayerPlan& p, bool combine,
                                           std::string_view name, StreamId stream,
                                           std::int64_t chunk, std::int64_t chunks) {
  emit_ops(s, name, exchange_ops(s.stage, p, combine, chunk, chunks), stream);
}

void EmissionContext::emit_esp_collective(const Step& s, const MoeLayerPlan& p, bool gather,
                                          std::string_view name, StreamId stream,
                                          std::int64_t chunk, std::int64_t chunks) {
  emit_ops(s, name, esp_ops(s.stage, p, gather, chunk, chunks), stream);
}

std::int64_t EmissionContext::dispatch_capacity(const MoeLayerPlan& p) const {
  return p.padded && job_.model.experts > 0 ? permuted_slots(p) / job_.model.experts : 0;
}

std::int64_t EmissionContext::emit_replica_sync(const Step& s) {
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

void EmissionContext::require_layer_split(std::string_view strategy) const {
  strategies::require_layer_split(job_.layout, strategy);
}

void EmissionContext::emit_model_ends(const Step& s, bool first_stage, bool last_stage,
                                      bool before_layers) {
  if (job_.model.vocab_size == 0) return;
  info_ = TaskInfo{s.phase, -1};
  const bool fwd = s.phase == Phase::forward;
  const Pass pass = fwd ? Pass::forward : Pass::backward;
  // Forward: embedding, layers, output head; backward: output head, layers, embedding.
  if (first_stage && before_layers == fwd) emit_work(s, ops_.embedding(pass, tokens()), compute_);
  if (last_stage && before_layers != fwd) {
    // The main loss, then each MTP depth's (Megatron-Core's process_mtp_loss: the shared LM
    // head once per depth, after every MTP module ran).
    for (std::int64_t d = 0; d <= job_.model.mtp_layers; ++d) {
      emit_work(s, ops_.output_head(pass, tokens()), compute_);
    }
  }
}

std::int64_t EmissionContext::emit_model_ends_gradient_sync(const Step& s, bool first_stage,
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

BuildResult EmissionContext::take_result() {
  graph_.set_growth_listener(nullptr);  // the listener is the caller's; the graph outlives it
  return BuildResult{std::move(graph_), std::move(decisions_)};
}

}  // namespace moesim::strategies
