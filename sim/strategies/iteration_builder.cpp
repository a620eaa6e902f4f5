#include "sim/strategies/iteration_builder.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "sim/core/errors.hpp"

namespace moesim::strategies {

std::vector<PipelineItem> pipeline_order(std::int64_t stages, std::int64_t micro_batches,
                                         PipelineSchedule schedule) {
  // Each stage's own sequence.
  std::vector<std::vector<PipelineItem>> seq(static_cast<std::size_t>(stages));
  for (std::int64_t s = 0; s < stages; ++s) {
    auto& q = seq[static_cast<std::size_t>(s)];
    if (schedule == PipelineSchedule::gpipe) {
      for (std::int64_t m = 0; m < micro_batches; ++m) q.push_back({s, m, true});
      for (std::int64_t m = 0; m < micro_batches; ++m) q.push_back({s, m, false});
    } else {
      const std::int64_t warmup = std::min(stages - s - 1, micro_batches);
      for (std::int64_t m = 0; m < warmup; ++m) q.push_back({s, m, true});
      for (std::int64_t i = 0; i < micro_batches - warmup; ++i) {
        q.push_back({s, warmup + i, true});
        q.push_back({s, i, false});
      }
      for (std::int64_t m = micro_batches - warmup; m < micro_batches; ++m) {
        q.push_back({s, m, false});
      }
    }
  }
  // Merge: round-robin over stages, taking each stage's next item once its inputs are emitted.
  const auto idx = [&](std::int64_t s, std::int64_t m) {
    return static_cast<std::size_t>(s * micro_batches + m);
  };
  std::vector<bool> fwd_done(static_cast<std::size_t>(stages * micro_batches), false);
  std::vector<bool> bwd_done(fwd_done.size(), false);
  std::vector<std::size_t> next(static_cast<std::size_t>(stages), 0);
  std::vector<PipelineItem> order;
  const std::size_t total = static_cast<std::size_t>(2 * stages * micro_batches);
  while (order.size() < total) {
    bool progress = false;
    for (std::int64_t s = 0; s < stages; ++s) {
      auto& n = next[static_cast<std::size_t>(s)];
      const auto& q = seq[static_cast<std::size_t>(s)];
      if (n >= q.size()) continue;
      const PipelineItem it = q[n];
      const bool ready = it.forward ? (s == 0 || fwd_done[idx(s - 1, it.micro_batch)])
                                    : (s == stages - 1 || bwd_done[idx(s + 1, it.micro_batch)]);
      if (!ready) continue;
      (it.forward ? fwd_done : bwd_done)[idx(s, it.micro_batch)] = true;
      order.push_back(it);
      ++n;
      progress = true;
    }
    MOESIM_CHECK(progress, "pipeline schedule cannot progress ({} of {} items)", order.size(),
                 total);
  }
  return order;
}

IterationBuilder::IterationBuilder(const TrainingJob& job, const CostModels& costs, Options options)
    : job_(job), costs_(costs), options_(options) {
  const auto world = static_cast<std::uint32_t>(job.layout.world());
  graph_.set_rank_count(world);
  compute_ = graph_.stream("compute");
  comm_ = graph_.stream("comm");
  frontier_.resize(world);
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

TaskId IterationBuilder::kernel(RankId r, std::string_view name, const ComputeTask& t) {
  return kernel(r, name, t, compute_);
}

TaskId IterationBuilder::kernel(RankId r, std::string_view name, const ComputeTask& t,
                                StreamId stream) {
  const TaskId id = kernel_after(r, name, t, stream, frontier_[r.index()]);
  set_frontier(r, id);
  return id;
}

TaskId IterationBuilder::kernel_after(RankId r, std::string_view name, const ComputeTask& t,
                                      StreamId stream, const std::vector<TaskId>& deps) {
  const TaskId id = graph_.add_compute(name, r, stream, t, info_);
  for (TaskId d : deps) {
    // Stream order already covers a dependency on an earlier task of the same stream.
    if (graph_.task(d).stream != stream || graph_.task(d).rank != r) graph_.depend(d, id);
  }
  return id;
}

std::vector<TaskId> IterationBuilder::collective(std::string_view name, CommOp o, StreamId stream) {
  std::vector<std::vector<TaskId>> deps;
  deps.reserve(o.ranks.size());
  for (RankId r : o.ranks) deps.push_back(frontier_[r.index()]);
  const std::vector<RankId> ranks = o.ranks;
  std::vector<TaskId> members = collective_after(name, std::move(o), stream, deps);
  for (std::size_t i = 0; i < ranks.size(); ++i) set_frontier(ranks[i], members[i]);
  return members;
}

std::vector<TaskId> IterationBuilder::collective_after(
    std::string_view name, CommOp o, StreamId stream,
    const std::vector<std::vector<TaskId>>& deps) {
  const std::vector<RankId> ranks = o.ranks;
  const CommId comm = graph_.add_comm(name, std::move(o));
  std::vector<TaskId> members;
  members.reserve(ranks.size());
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    const TaskId m = graph_.add_comm_member(comm, ranks[i], stream, info_);
    if (i < deps.size()) {
      for (TaskId d : deps[i]) {
        if (graph_.task(d).stream != stream || graph_.task(d).rank != ranks[i]) {
          graph_.depend(d, m);
        }
      }
    }
    members.push_back(m);
  }
  return members;
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
    collective(name, op(comm, group, *g, bytes), comm_);
  }
}

ComputeTask IterationBuilder::gemm(std::int64_t m, std::int64_t n, std::int64_t k,
                                   GemmRole role) const {
  ComputeTask t;
  t.kind = KernelKind::gemm;
  t.op.gemm_role = role;
  t.shape = KernelShape{m, n, k, 1};
  t.dtype = job_.model.dtype;
  t.flops = Flops{2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k)};
  t.bytes = Bytes{(m * k + k * n + m * n) * elem_bytes()};
  return t;
}

ComputeTask IterationBuilder::memory_kernel(KernelKind kind, std::int64_t m, std::int64_t n,
                                            std::int64_t bytes, double flops) const {
  ComputeTask t;
  t.kind = kind;
  t.shape = KernelShape{m, n, 0, 1};
  t.dtype = job_.model.dtype;
  t.flops = Flops{flops};
  t.bytes = Bytes{bytes};
  return t;
}

ComputeTask IterationBuilder::described(ComputeTask t, ComputeOp op) {
  t.op = std::move(op);
  return t;
}

ActivationKind IterationBuilder::ffn_activation() const {
  return job_.model.expert_ffn == ExpertFfn::swiglu ? ActivationKind::swiglu : ActivationKind::gelu;
}

ComputeOp IterationBuilder::routing_op(const MoeLayerPlan& p, RankId r,
                                       OpDirection direction) const {
  const ModelSpec& m = job_.model;
  ComputeOp op;
  op.direction = direction;
  op.top_k = static_cast<std::int32_t>(m.top_k);
  op.experts = static_cast<std::int32_t>(m.experts);
  if (r.index() < p.kept.size()) op.tokens_per_expert = p.kept[r.index()];
  op.capacity = p.padded && m.experts > 0 ? permuted_slots(p) / m.experts : 0;
  return op;
}

// ---------------------------------------------------------------------------------------------
// MoE plan

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
  if (it == plans_.end()) it = plans_.emplace(moe_index, make_plan(moe_index)).first;
  return it->second;
}

MoeLayerPlan IterationBuilder::make_plan(std::int64_t moe_index) const {
  const ModelSpec& model = job_.model;
  const ParallelLayout& layout = job_.layout;
  const RankMapping& map = job_.mapping;
  const RoutingCounts& routing = job_.routing;
  const std::int64_t world = layout.world();
  const std::int64_t experts = model.experts;
  const std::int64_t tp = layout.tp;

  MoeLayerPlan p;
  p.moe_index = moe_index;
  p.split_over_tp = options_.split_tokens_over_tp && tp > 1;
  p.padded = options_.pad_to_capacity;
  // Capacity per expert per replica: GShard ceil(k f T / E); dropless pads to the largest count.
  std::int64_t capacity = 0;
  const bool drops = !model.dropless && options_.apply_capacity;
  if (drops) {
    capacity = expert_capacity(tokens(), model.top_k, model.capacity_factor, experts);
  } else if (p.padded) {
    for (std::int64_t src = 0; src < layout.dp; ++src) {
      for (std::int64_t e = 0; e < experts; ++e) {
        capacity = std::max(capacity, routing.at(moe_index, src, e));
      }
    }
    capacity = std::max<std::int64_t>(capacity, 1);
  }
  for (std::int64_t src = 0; src < layout.dp; ++src) {
    for (std::int64_t e = 0; e < experts; ++e) {
      const std::int64_t c = routing.at(moe_index, src, e);
      p.routed += c;
      if (drops) p.dropped += std::max<std::int64_t>(0, c - capacity);
    }
  }
  p.capacity = p.split_over_tp ? (capacity + tp - 1) / tp : capacity;

  p.kept.assign(static_cast<std::size_t>(world),
                std::vector<std::int64_t>(static_cast<std::size_t>(experts), 0));
  for (std::int64_t r = 0; r < world; ++r) {
    const RankCoords& c = map.coords(RankId{static_cast<std::uint32_t>(r)});
    for (std::int64_t e = 0; e < experts; ++e) {
      std::int64_t n = routing.at(moe_index, c.dp, e);
      if (drops) n = std::min(n, capacity);
      if (p.split_over_tp) n = split_share(n, tp, c.tp);
      p.kept[static_cast<std::size_t>(r)][static_cast<std::size_t>(e)] = n;
    }
  }

  // Tokens each EP group delivers to each expert, then each rank's shards (ESP gather).
  const std::int64_t local = experts / layout.ep;
  const auto& ep_groups = map.groups(GroupKind::ep);
  std::vector<std::vector<std::int64_t>> received(
      ep_groups.size(), std::vector<std::int64_t>(static_cast<std::size_t>(experts), 0));
  for (std::size_t g = 0; g < ep_groups.size(); ++g) {
    for (RankId r : ep_groups[g]) {
      for (std::int64_t e = 0; e < experts; ++e) {
        received[g][static_cast<std::size_t>(e)] += p.kept[r.index()][static_cast<std::size_t>(e)];
      }
    }
  }
  p.expert_tokens.assign(static_cast<std::size_t>(world),
                         std::vector<std::int64_t>(static_cast<std::size_t>(local), 0));
  for (std::int64_t r = 0; r < world; ++r) {
    const RankId rank{static_cast<std::uint32_t>(r)};
    const std::int64_t first = map.coords(rank).ep * local;
    auto& out = p.expert_tokens[static_cast<std::size_t>(r)];
    for (RankId peer : map.group(GroupKind::esp, rank)) {
      for (std::int64_t e = 0; e < local; ++e) {
        out[static_cast<std::size_t>(e)] +=
            p.padded ? layout.ep * p.capacity
                     : received[ep_group_index_[peer.index()]][static_cast<std::size_t>(first + e)];
      }
    }
  }

  if (!p.padded) {
    const std::int64_t token_bytes = model.hidden * elem_bytes();
    for (const auto& g : ep_groups) {
      const std::size_t n = g.size();
      auto d = std::make_shared<ByteMatrix>(n);
      auto c = std::make_shared<ByteMatrix>(n);
      for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
          std::int64_t sum = 0;
          for (std::int64_t e = 0; e < local; ++e) {
            sum += p.kept[g[i].index()]
                         [static_cast<std::size_t>(static_cast<std::int64_t>(j) * local + e)];
          }
          d->set(i, j, sum * token_bytes);
          c->set(j, i, sum * token_bytes);
        }
      }
      p.dispatch.push_back(std::move(d));
      p.combine.push_back(std::move(c));
    }
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Blocks

void IterationBuilder::emit_attention_forward(const Step& s) {
  const ModelSpec& m = job_.model;
  const std::int64_t tp = job_.layout.tp;
  const std::int64_t x = tokens();
  const std::int64_t hid = m.hidden;
  const std::int64_t b = elem_bytes();
  const std::int64_t kv = std::max(m.head_dim(), m.head_dim() * m.kv_heads / tp);
  const std::int64_t q = hid / tp;
  for (RankId r : *s.ranks) {
    kernel(r, "ln1",
           described(memory_kernel(KernelKind::layernorm, x, hid, 2 * x * hid * b, 5.0 * x * hid),
                     {.direction = OpDirection::forward}));
    kernel(r, "qkv", gemm(x, q + 2 * kv, hid, GemmRole::forward));
    ComputeTask attn;
    attn.kind = KernelKind::attention;
    attn.shape = KernelShape{x, m.seq_len, m.head_dim(), m.heads / tp};
    attn.dtype = m.dtype;
    attn.flops = Flops{4.0 * static_cast<double>(x) * static_cast<double>(m.seq_len) *
                       static_cast<double>(q)};
    attn.bytes = Bytes{(x * (q + 2 * kv) + x * q) * b};
    attn.op.direction = OpDirection::forward;
    kernel(r, "attention", attn);
    kernel(r, "attn.proj", gemm(x, hid, q, GemmRole::forward));
  }
  group_collective(s, GroupKind::tp, "tp.allreduce", CommKind::all_reduce, CommGroup::tp,
                   Bytes{x * hid * b});
  for (RankId r : *s.ranks) {
    kernel(r, "ln2",
           described(memory_kernel(KernelKind::layernorm, x, hid, 3 * x * hid * b, 6.0 * x * hid),
                     {.direction = OpDirection::forward}));
  }
}

void IterationBuilder::emit_attention_backward(const Step& s) {
  const ModelSpec& m = job_.model;
  const std::int64_t tp = job_.layout.tp;
  const std::int64_t x = tokens();
  const std::int64_t hid = m.hidden;
  const std::int64_t b = elem_bytes();
  const std::int64_t kv = std::max(m.head_dim(), m.head_dim() * m.kv_heads / tp);
  const std::int64_t q = hid / tp;
  for (RankId r : *s.ranks) {
    kernel(r, "ln2.bwd",
           described(memory_kernel(KernelKind::layernorm, x, hid, 4 * x * hid * b),
                     {.direction = OpDirection::backward}));
    kernel(r, "attn.proj.dX", gemm(x, q, hid, GemmRole::input_gradient));
    kernel(r, "attn.proj.dW", gemm(q, hid, x, GemmRole::weight_gradient));
    ComputeTask attn;
    attn.kind = KernelKind::attention;
    attn.shape = KernelShape{x, m.seq_len, m.head_dim(), m.heads / tp};
    attn.dtype = m.dtype;
    attn.flops = Flops{8.0 * static_cast<double>(x) * static_cast<double>(m.seq_len) *
                       static_cast<double>(q)};
    attn.bytes = Bytes{2 * (x * (q + 2 * kv) + x * q) * b};
    attn.op.direction = OpDirection::backward;
    kernel(r, "attention.bwd", attn);
    kernel(r, "qkv.dX", gemm(x, hid, q + 2 * kv, GemmRole::input_gradient));
    kernel(r, "qkv.dW", gemm(hid, q + 2 * kv, x, GemmRole::weight_gradient));
  }
  group_collective(s, GroupKind::tp, "tp.allreduce", CommKind::all_reduce, CommGroup::tp,
                   Bytes{x * hid * b});
  for (RankId r : *s.ranks) {
    kernel(r, "ln1.bwd",
           described(memory_kernel(KernelKind::layernorm, x, hid, 4 * x * hid * b),
                     {.direction = OpDirection::backward}));
  }
}

void IterationBuilder::emit_dense_ffn_forward(const Step& s) {
  const ModelSpec& m = job_.model;
  const std::int64_t x = tokens();
  const std::int64_t f = m.ffn_hidden / job_.layout.tp;
  const std::int64_t up = m.expert_ffn == ExpertFfn::swiglu ? 2 * f : f;
  const std::int64_t b = elem_bytes();
  for (RankId r : *s.ranks) {
    kernel(r, "ffn1", gemm(x, up, m.hidden, GemmRole::forward));
    kernel(r, "ffn.act",
           described(memory_kernel(KernelKind::elementwise, x, f, (x * up + x * f) * b,
                                   4.0 * static_cast<double>(x * f)),
                     {.direction = OpDirection::forward, .activation = ffn_activation()}));
    kernel(r, "ffn2", gemm(x, m.hidden, f, GemmRole::forward));
  }
  group_collective(s, GroupKind::tp, "tp.allreduce", CommKind::all_reduce, CommGroup::tp,
                   Bytes{x * m.hidden * b});
}

void IterationBuilder::emit_dense_ffn_backward(const Step& s) {
  const ModelSpec& m = job_.model;
  const std::int64_t x = tokens();
  const std::int64_t f = m.ffn_hidden / job_.layout.tp;
  const std::int64_t up = m.expert_ffn == ExpertFfn::swiglu ? 2 * f : f;
  const std::int64_t b = elem_bytes();
  for (RankId r : *s.ranks) {
    kernel(r, "ffn2.dX", gemm(x, f, m.hidden, GemmRole::input_gradient));
    kernel(r, "ffn2.dW", gemm(f, m.hidden, x, GemmRole::weight_gradient));
    kernel(r, "ffn.act.bwd",
           described(memory_kernel(KernelKind::elementwise, x, f, (2 * x * up + x * f) * b,
                                   8.0 * static_cast<double>(x * f)),
                     {.direction = OpDirection::backward, .activation = ffn_activation()}));
    kernel(r, "ffn1.dX", gemm(x, m.hidden, up, GemmRole::input_gradient));
    kernel(r, "ffn1.dW", gemm(m.hidden, up, x, GemmRole::weight_gradient));
  }
  group_collective(s, GroupKind::tp, "tp.allreduce", CommKind::all_reduce, CommGroup::tp,
                   Bytes{x * m.hidden * b});
}

void IterationBuilder::emit_shared_experts_forward(const Step& s) {
  const ModelSpec& m = job_.model;
  if (m.shared_experts == 0) return;
  const std::int64_t x = tokens();
  const std::int64_t f = m.shared_experts * m.expert_ffn_hidden / job_.layout.tp;
  const std::int64_t up = m.expert_ffn == ExpertFfn::swiglu ? 2 * f : f;
  const std::int64_t b = elem_bytes();
  for (RankId r : *s.ranks) {
    kernel(r, "shared1", gemm(x, up, m.hidden, GemmRole::forward));
    kernel(r, "shared.act",
           described(memory_kernel(KernelKind::elementwise, x, f, (x * up + x * f) * b),
                     {.direction = OpDirection::forward, .activation = ffn_activation()}));
    kernel(r, "shared2", gemm(x, m.hidden, f, GemmRole::forward));
  }
  group_collective(s, GroupKind::tp, "tp.allreduce", CommKind::all_reduce, CommGroup::tp,
                   Bytes{x * m.hidden * b});
}

void IterationBuilder::emit_shared_experts_backward(const Step& s) {
  const ModelSpec& m = job_.model;
  if (m.shared_experts == 0) return;
  const std::int64_t x = tokens();
  const std::int64_t f = m.shared_experts * m.expert_ffn_hidden / job_.layout.tp;
  const std::int64_t up = m.expert_ffn == ExpertFfn::swiglu ? 2 * f : f;
  const std::int64_t b = elem_bytes();
  for (RankId r : *s.ranks) {
    kernel(r, "shared2.dX", gemm(x, f, m.hidden, GemmRole::input_gradient));
    kernel(r, "shared2.dW", gemm(f, m.hidden, x, GemmRole::weight_gradient));
    kernel(r, "shared.act.bwd",
           described(memory_kernel(KernelKind::elementwise, x, f, (2 * x * up + x * f) * b),
                     {.direction = OpDirection::backward, .activation = ffn_activation()}));
    kernel(r, "shared1.dX", gemm(x, m.hidden, up, GemmRole::input_gradient));
    kernel(r, "shared1.dW", gemm(m.hidden, up, x, GemmRole::weight_gradient));
  }
  group_collective(s, GroupKind::tp, "tp.allreduce", CommKind::all_reduce, CommGroup::tp,
                   Bytes{x * m.hidden * b});
}

void IterationBuilder::emit_experts(RankId r, const std::vector<std::int64_t>& tokens_per_expert,
                                    Phase phase, StreamId stream) {
  const ModelSpec& m = job_.model;
  const std::int64_t h = m.expert_ffn_hidden / job_.layout.esp;
  const std::int64_t up = m.expert_ffn == ExpertFfn::swiglu ? 2 * h : h;
  const std::int64_t b = elem_bytes();
  for (std::int64_t t : tokens_per_expert) {
    if (t <= 0) continue;
    if (phase != Phase::backward) {
      kernel(r, "expert1", gemm(t, up, m.hidden, GemmRole::forward), stream);
      kernel(r, "expert.act",
             described(memory_kernel(KernelKind::elementwise, t, h, (t * up + t * h) * b),
                       {.direction = OpDirection::forward, .activation = ffn_activation()}),
             stream);
      kernel(r, "expert2", gemm(t, m.hidden, h, GemmRole::forward), stream);
    } else {
      kernel(r, "expert2.dX", gemm(t, h, m.hidden, GemmRole::input_gradient), stream);
      kernel(r, "expert2.dW", gemm(h, m.hidden, t, GemmRole::weight_gradient), stream);
      kernel(r, "expert.act.bwd",
             described(memory_kernel(KernelKind::elementwise, t, h, (2 * t * up + t * h) * b),
                       {.direction = OpDirection::backward, .activation = ffn_activation()}),
             stream);
      kernel(r, "expert1.dX", gemm(t, m.hidden, up, GemmRole::input_gradient), stream);
      kernel(r, "expert1.dW", gemm(m.hidden, up, t, GemmRole::weight_gradient), stream);
    }
  }
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

void IterationBuilder::emit_expert_exchange(const Step& s, const MoeLayerPlan& p, bool combine,
                                            std::string_view name, StreamId stream,
                                            std::int64_t chunk, std::int64_t chunks) {
  for (const std::vector<RankId>* g : stage_groups(GroupKind::ep, s.stage)) {
    if (g->size() <= 1) continue;
    if (p.padded) {
      const std::int64_t full = dispatch_bytes(p, g->front());
      collective(
          name,
          op(CommKind::all_to_all, CommGroup::ep, *g, Bytes{split_share(full, chunks, chunk)}),
          stream);
    } else {
      const std::size_t gi = ep_group_index(g->front());
      const ByteMatrix& full = combine ? *p.combine[gi] : *p.dispatch[gi];
      CommOp o = op(CommKind::all_to_all_v, CommGroup::ep, *g, Bytes{});
      o.matrix =
          chunks == 1 ? (combine ? p.combine[gi] : p.dispatch[gi]) : chunk_of(full, chunk, chunks);
      o.bytes = all_to_all_v_size(*o.matrix);
      collective(name, std::move(o), stream);
    }
  }
}

void IterationBuilder::emit_esp_collective(const Step& s, const MoeLayerPlan& p, bool gather,
                                           std::string_view name, StreamId stream,
                                           std::int64_t chunk, std::int64_t chunks) {
  for (const std::vector<RankId>* g : stage_groups(GroupKind::esp, s.stage)) {
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
    collective(name,
               op(gather ? CommKind::all_gather : CommKind::reduce_scatter, CommGroup::esp, *g,
                  Bytes{total}),
               stream);
  }
}

// ---------------------------------------------------------------------------------------------
// MoE block (DeepSpeed-MoE order: deepspeed/moe/sharded_moe.py MOELayer.forward)

void IterationBuilder::emit_moe_forward(const Step& s) {
  const ModelSpec& m = job_.model;
  const MoeLayerPlan& p = plan(s.moe_index);
  const std::int64_t x = tokens();
  const std::int64_t b = elem_bytes();
  const std::int64_t slots = permuted_slots(p);
  for (RankId r : *s.ranks) {
    kernel(r, "gate", gemm(x, m.experts, m.hidden, GemmRole::forward));
    const ComputeOp routing = routing_op(p, r, OpDirection::forward);
    kernel(
        r, "gate.topk",
        described(memory_kernel(KernelKind::gate, x, m.experts, 4 * x * m.experts + 8 * x * m.top_k,
                                5.0 * static_cast<double>(x * m.experts)),
                  {.direction = OpDirection::forward,
                   .top_k = routing.top_k,
                   .experts = routing.experts}));
    kernel(r, "permute",
           described(memory_kernel(KernelKind::permute, x * m.top_k, m.hidden,
                                   (x + slots) * m.hidden * b),
                     routing));
  }
  emit_moe_core_forward(s, p);
  if (p.split_over_tp) {
    group_collective(s, GroupKind::tp, "tp.gather_tokens", CommKind::all_gather, CommGroup::tp,
                     Bytes{slots * m.hidden * b});
  }
  for (RankId r : *s.ranks) {
    kernel(r, "unpermute",
           described(memory_kernel(KernelKind::unpermute, x * m.top_k, m.hidden,
                                   (x + slots) * m.hidden * b,
                                   2.0 * static_cast<double>(x * m.top_k * m.hidden)),
                     routing_op(p, r, OpDirection::forward)));
  }
  emit_shared_experts_forward(s);
}

void IterationBuilder::emit_moe_core_forward(const Step& s, const MoeLayerPlan& p) {
  emit_expert_exchange(s, p, false, "ep.dispatch", comm_);
  emit_esp_collective(s, p, true, "esp.allgather", comm_);
  for (RankId r : *s.ranks) emit_experts(r, p.expert_tokens[r.index()], Phase::forward, compute_);
  emit_esp_collective(s, p, false, "esp.reducescatter", comm_);
  emit_expert_exchange(s, p, true, "ep.combine", comm_);
}

void IterationBuilder::emit_moe_backward(const Step& s) {
  const ModelSpec& m = job_.model;
  const MoeLayerPlan& p = plan(s.moe_index);
  const std::int64_t x = tokens();
  const std::int64_t b = elem_bytes();
  const std::int64_t slots = permuted_slots(p);
  emit_shared_experts_backward(s);
  for (RankId r : *s.ranks) {
    kernel(r, "unpermute.bwd",
           described(memory_kernel(KernelKind::unpermute, x * m.top_k, m.hidden,
                                   (x + slots) * m.hidden * b),
                     routing_op(p, r, OpDirection::backward)));
  }
  if (p.split_over_tp) {
    // Backward of gather_tokens is drop_tokens: a local slice, no communication.
    for (RankId r : *s.ranks) {
      kernel(r, "drop_tokens",
             memory_kernel(KernelKind::memcpy, slots / job_.layout.tp, m.hidden,
                           2 * slots / job_.layout.tp * m.hidden * b));
    }
  }
  emit_moe_core_backward(s, p);
  if (p.split_over_tp) {
    // Backward of drop_tokens is gather_tokens.
    group_collective(s, GroupKind::tp, "tp.gather_tokens", CommKind::all_gather, CommGroup::tp,
                     Bytes{slots * m.hidden * b});
  }
  for (RankId r : *s.ranks) {
    const ComputeOp routing = routing_op(p, r, OpDirection::backward);
    kernel(r, "permute.bwd",
           described(memory_kernel(KernelKind::permute, x * m.top_k, m.hidden,
                                   (x + slots) * m.hidden * b),
                     routing));
    kernel(r, "gate.topk.bwd",
           described(memory_kernel(KernelKind::gate, x, m.experts, 8 * x * m.experts),
                     {.direction = OpDirection::backward,
                      .top_k = routing.top_k,
                      .experts = routing.experts}));
    kernel(r, "gate.dX", gemm(x, m.hidden, m.experts, GemmRole::input_gradient));
    kernel(r, "gate.dW", gemm(m.hidden, m.experts, x, GemmRole::weight_gradient));
  }
}

void IterationBuilder::emit_moe_core_backward(const Step& s, const MoeLayerPlan& p) {
  // Gradients flow back along the combine (now a dispatch-shaped exchange) and the dispatch.
  emit_expert_exchange(s, p, false, "ep.combine.bwd", comm_);
  emit_esp_collective(s, p, true, "esp.allgather", comm_);
  for (RankId r : *s.ranks) {
    emit_experts(r, p.expert_tokens[r.index()], Phase::backward, compute_);
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

void IterationBuilder::emit_pipeline() {
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
  // Per (micro-batch): the frontier at the end of each rank's forward, and the transfer each
  // rank receives before its next forward / backward of that micro-batch.
  std::vector<std::vector<std::vector<TaskId>>> forward_end(
      static_cast<std::size_t>(mbs), std::vector<std::vector<TaskId>>(world));
  std::vector<std::vector<TaskId>> inbox_fwd(static_cast<std::size_t>(mbs),
                                             std::vector<TaskId>(world, TaskId{~0u}));
  std::vector<std::vector<TaskId>> inbox_bwd = inbox_fwd;
  const TaskId none{~0u};
  const std::int64_t act_bytes = tokens() * m.hidden * elem_bytes();

  for (const PipelineItem& item : pipeline_order(pp, mbs, job_.layout.pp_schedule)) {
    const auto& ranks = stage_ranks_[static_cast<std::size_t>(item.stage)];
    const auto mb = static_cast<std::size_t>(item.micro_batch);
    for (RankId r : ranks) {
      auto& f = frontier_[r.index()];
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
    const std::int64_t first = item.stage * per_stage;
    for (std::int64_t i = 0; i < per_stage; ++i) {
      step.layer = item.forward ? first + i : first + per_stage - 1 - i;
      step.moe_index = moe_index[static_cast<std::size_t>(step.layer)];
      emit_layer(step);
    }
    if (item.forward) {
      for (RankId r : ranks) forward_end[mb][r.index()] = frontier_[r.index()];
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
                                              std::move(o), pp_, {frontier_[r.index()], {}});
        (item.forward ? inbox_fwd : inbox_bwd)[mb][peer.index()] = members[1];
      }
    }
  }
}

void IterationBuilder::emit_gradient_sync() {
  const ModelSpec& m = job_.model;
  const ParallelLayout& lay = job_.layout;
  const std::int64_t b = elem_bytes();
  const std::int64_t per_stage = m.layers / lay.pp;
  for (std::int64_t stage = 0; stage < lay.pp; ++stage) {
    const auto& ranks = stage_ranks_[static_cast<std::size_t>(stage)];
    std::int64_t params = 0;
    Step s;
    s.stage = stage;
    s.phase = Phase::backward;
    s.ranks = &ranks;
    // Backward produced the last layer's gradients first: reduce in that order.
    for (std::int64_t i = per_stage - 1; i >= 0; --i) {
      const std::int64_t layer = stage * per_stage + i;
      s.layer = layer;
      set_info(s);
      std::int64_t dense = m.attention_params() / lay.tp + 4 * m.hidden;
      std::int64_t expert = 0;
      if (m.is_moe_layer(layer)) {
        dense += m.hidden * m.experts + m.shared_experts * m.expert_params() / lay.tp;
        expert = local_experts() * m.expert_params() / lay.esp;
      } else {
        dense += m.dense_ffn_params() / lay.tp;
      }
      params += dense + expert;
      group_collective(s, GroupKind::dp, "grad.allreduce", CommKind::all_reduce, CommGroup::dp,
                       Bytes{dense * b});
      if (expert > 0) {
        group_collective(s, GroupKind::edp, "grad.allreduce.expert", CommKind::all_reduce,
                         CommGroup::expert_dp, Bytes{expert * b});
      }
    }
    info_ = TaskInfo{Phase::optimizer, -1};
    // Adam, mixed precision, per parameter: read bf16 grad (2), read+write fp32 master, m and v
    // (24), write bf16 weights (2) = 28 bytes; ~10 flops [R].
    for (RankId r : ranks) {
      kernel(r, "optimizer",
             described(memory_kernel(KernelKind::optimizer, params, 1, 28 * params,
                                     10.0 * static_cast<double>(params)),
                       {.parameters = params}));
    }
  }
}

BuildResult IterationBuilder::build() {
  emit_pipeline();
  emit_gradient_sync();
  const ModelSpec& m = job_.model;
  std::int64_t routed = 0, dropped = 0;
  for (std::int64_t l = 0; l < m.moe_layer_count(); ++l) {
    routed += plan(l).routed;
    dropped += plan(l).dropped;
  }
  if (m.moe_layer_count() > 0) {
    const MoeLayerPlan& p0 = plan(0);
    decisions_["moe.dispatch"] = p0.padded ? "capacity-padded all_to_all" : "all_to_all_v";
    if (p0.padded) decisions_["moe.capacity_per_rank"] = std::to_string(p0.capacity);
    decisions_["moe.tokens_in_tp_group"] =
        job_.layout.tp == 1 ? "n/a (tp=1)"
                            : (p0.split_over_tp ? "split (drop_tokens/gather_tokens)"
                                                : "duplicated on every tp rank");
    decisions_["moe.dropped_tokens"] = fmt::format(
        "{} of {} ({:.2f}%)", dropped, routed,
        routed ? 100.0 * static_cast<double>(dropped) / static_cast<double>(routed) : 0.0);
  }
  return BuildResult{std::move(graph_), std::move(decisions_)};
}

}  // namespace moesim::strategies
