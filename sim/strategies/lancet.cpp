// lancet: Lancet's whole-graph computation-communication overlapping (Jiang et al., MLSys 2024;
// arXiv 2404.19429). Layout as in its evaluation: data parallelism for the non-MoE parts and expert
// parallelism over the EP group (the paper: all GPUs, two experts each). With TP or expert
// sharding the passes are off (decision "lancet.passes") and only the all-to-all-v dispatch
// remains, so `--strategy all` still runs on such layouts.
//
//  - Irregular all-to-all (Fig. 10): per exchange, a small all-to-all of the per-expert counts
//    (E int64 per rank, "ep.sizes"), then an all-to-all-v moving only the routed tokens after
//    capacity (no padding). Token dropping is that of the unpartitioned gate (the capacity-carrying
//    gate partitions keep it identical, §5).
//  - Forward operator partitioning (§5): per MoE layer, the region [attention of the MoE layer's
//    block] + [gate .. unpermute] + [the following dense block, if in the same stage] (one
//    pipeline per MoE layer, iota = the time between two MoE layers) is cut into ranges, each
//    split into k <= rho = 8 partitions along the batch dimension and pipelined, by the DP
//    T(n) = min_i {T(i) + min_k P(i,n,k)} (lancet_planner.hpp). Non-MoE ops are first merged into
//    groups of >= 1/5 of the region's non-MoE time (gamma: 5 groups between two MoE layers); the
//    DP cuts only between groups. Switch/top-k gates allow ranges before and after the MoE layer
//    (Fig. 4d). Costs: CostModels durations of each op on ceil(x/k) tokens; the n-partitioned
//    all-to-all costed as the all-to-all-v of the layer's matrix divided by n (C/n); experts at
//    the most loaded rank. Emission follows the pipeline scheduler: stage by stage, partitions
//    in index order, compute on "compute", exchanges on "comm".
//  - Backward dW scheduling (§4): per (stage, micro-batch) backward and per rank, the dependency
//    DAG of its ops (dX chain; each dW depends on the input of its dX) gives, for every backward
//    all-to-all, the dW ops with no directed path to or from it; Alg. 1's best-fit greedy assigns
//    them using CostModels durations, and each assigned dW is emitted on the compute stream right
//    after its all-to-all is launched on "comm", so they overlap.
// Gradient all-reduces and the optimizer: the IterationBuilder's (after the backward).
#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "sim/core/errors.hpp"
#include "sim/strategies/iteration_builder.hpp"
#include "sim/strategies/lancet_planner.hpp"
#include "sim/strategies/registry.hpp"

namespace moesim::strategies {
namespace {

// Switch (top-1) and top-k softmax gates allow partitions before and after the MoE layer;
// Batch-Prioritized Routing would allow only after (Fig. 4c). The model presets use the former.
constexpr bool kGateAllowsBefore = true;
// gamma: non-MoE ops are grouped so that about 5 groups lie between two MoE layers (§5).
constexpr int kGroupsPerRegion = 5;
constexpr std::int64_t kCountBytes = 8;  // int64 token count per expert in the sizes exchange

enum class OpKind { kernel, experts, sizes, dispatch, combine };

// One forward instruction of a partitionable region.
struct FwdOp {
  std::string name;
  OpKind kind = OpKind::kernel;
  std::int64_t layer = 0;
  bool moe = false;
  std::function<ComputeTask(std::int64_t tokens)> make;  // kernel: its task on `tokens` tokens
};

struct Region {
  std::vector<FwdOp> ops;
  std::vector<std::size_t> cuts;
  lancet::PartitionPlan plan;
  bool covers_next_layer = false;
};

// One backward instruction of one rank.
struct BwdOp {
  std::string name;
  OpKind kind = OpKind::kernel;  // kernel, dispatch (= ep.dispatch.bwd) or combine (.bwd)
  std::int64_t layer = 0;
  std::int64_t moe_index = -1;
  bool dw = false;
  ComputeTask task;
};

class LancetBuilder final : public IterationBuilder {
 public:
  using IterationBuilder::IterationBuilder;

  /// Lancet's passes are defined for data + expert parallelism (Lancet, MLSys 2024); with TP or
  /// expert sharding the iteration is the IterationBuilder's with the all-to-all-v dispatch only.
  bool passes_enabled() const { return job_.layout.tp == 1 && job_.layout.esp == 1; }

  void finish_decisions(std::map<std::string, std::string>& decisions) const {
    decisions["lancet.passes"] = passes_enabled()
                                     ? "dW scheduling + forward partitioning"
                                     : fmt::format(
                                           "off (tp={}, esp={}: Lancet is data + expert parallel, "
                                           "Lancet, MLSys 2024)",
                                           job_.layout.tp, job_.layout.esp);
    decisions["lancet.range"] =
        kGateAllowsBefore ? "switch gate: before+after the MoE layer" : "after the MoE layer";
    decisions["lancet.a2a"] = "irregular: sizes all_to_all + all_to_all_v (routed tokens only)";
    const double ranks = static_cast<double>(job_.layout.world());
    decisions["lancet.dw_overlapped"] =
        fmt::format("{:.1f} dW ops, {:.3f} ms per rank", static_cast<double>(dw_count_) / ranks,
                    dw_time_.ms() / ranks);
  }

 protected:
  void emit_layer(const Step& s) override {
    if (!passes_enabled()) {
      IterationBuilder::emit_layer(s);
      return;
    }
    if (s.phase == Phase::forward) {
      if (s.layer == skip_forward_layer_) {
        skip_forward_layer_ = -1;
        return;
      }
      if (s.moe_index < 0) {
        IterationBuilder::emit_layer(s);
        return;
      }
      const Region& region = region_for(s);
      if (region.covers_next_layer) skip_forward_layer_ = s.layer + 1;
      emit_region(s, region);
      return;
    }
    pending_.push_back({s.layer, s.moe_index});
    const std::int64_t first = s.stage * (job_.model.layers / job_.layout.pp);
    if (s.layer == first) {
      emit_backward(s);
      pending_.clear();
    }
  }

 private:
  // ---- op tables (the IterationBuilder's formulas with tp = esp = 1) ----
  std::int64_t kv() const {
    const ModelSpec& m = job_.model;
    return std::max(m.head_dim(), m.head_dim() * m.kv_heads);
  }
  ComputeTask attention_task(std::int64_t x, bool backward) const {
    const ModelSpec& m = job_.model;
    const std::int64_t q = m.hidden;
    ComputeTask attn;
    attn.kind = KernelKind::attention;
    attn.shape = KernelShape{x, m.seq_len, m.head_dim(), m.heads};
    attn.dtype = m.dtype;
    attn.flops = Flops{(backward ? 8.0 : 4.0) * static_cast<double>(x) *
                       static_cast<double>(m.seq_len) * static_cast<double>(q)};
    attn.bytes = Bytes{(backward ? 2 : 1) * (x * (q + 2 * kv()) + x * q) * elem_bytes()};
    return attn;
  }

  void add_attention_forward(std::vector<FwdOp>& ops, std::int64_t layer) const {
    const std::int64_t hid = job_.model.hidden, b = elem_bytes(), kvw = kv();
    const auto add = [&](std::string name, std::function<ComputeTask(std::int64_t)> f) {
      ops.push_back(FwdOp{std::move(name), OpKind::kernel, layer, false, std::move(f)});
    };
    add("ln1", [=, this](std::int64_t x) {
      return memory_kernel(KernelKind::layernorm, x, hid, 2 * x * hid * b,
                           5.0 * static_cast<double>(x * hid));
    });
    add("qkv", [=, this](std::int64_t x) { return gemm(x, hid + 2 * kvw, hid); });
    add("attention", [this](std::int64_t x) { return attention_task(x, false); });
    add("attn.proj", [=, this](std::int64_t x) { return gemm(x, hid, hid); });
    add("ln2", [=, this](std::int64_t x) {
      return memory_kernel(KernelKind::layernorm, x, hid, 3 * x * hid * b,
                           6.0 * static_cast<double>(x * hid));
    });
  }

  void add_dense_forward(std::vector<FwdOp>& ops, std::int64_t layer) const {
    const ModelSpec& m = job_.model;
    const std::int64_t hid = m.hidden, b = elem_bytes(), f = m.ffn_hidden;
    const std::int64_t up = m.expert_ffn == ExpertFfn::swiglu ? 2 * f : f;
    ops.push_back({"ffn1", OpKind::kernel, layer, false,
                   [=, this](std::int64_t x) { return gemm(x, up, hid); }});
    ops.push_back({"ffn.act", OpKind::kernel, layer, false, [=, this](std::int64_t x) {
                     return memory_kernel(KernelKind::elementwise, x, f, (x * up + x * f) * b,
                                          4.0 * static_cast<double>(x * f));
                   }});
    ops.push_back({"ffn2", OpKind::kernel, layer, false,
                   [=, this](std::int64_t x) { return gemm(x, hid, f); }});
  }

  void add_moe_forward(std::vector<FwdOp>& ops, std::int64_t layer) const {
    const ModelSpec& m = job_.model;
    const std::int64_t hid = m.hidden, b = elem_bytes(), e = m.experts, k = m.top_k;
    ops.push_back({"gate", OpKind::kernel, layer, true,
                   [=, this](std::int64_t x) { return gemm(x, e, hid); }});
    ops.push_back({"gate.topk", OpKind::kernel, layer, true, [=, this](std::int64_t x) {
                     return memory_kernel(KernelKind::gate, x, e, 4 * x * e + 8 * x * k,
                                          5.0 * static_cast<double>(x * e));
                   }});
    ops.push_back({"permute", OpKind::kernel, layer, true, [=, this](std::int64_t x) {
                     return memory_kernel(KernelKind::permute, x * k, hid, (x + k * x) * hid * b);
                   }});
    ops.push_back({"ep.sizes", OpKind::sizes, layer, true, {}});
    ops.push_back({"ep.dispatch", OpKind::dispatch, layer, true, {}});
    ops.push_back({"experts", OpKind::experts, layer, true, {}});
    ops.push_back({"ep.combine", OpKind::combine, layer, true, {}});
    ops.push_back({"unpermute", OpKind::kernel, layer, true, [=, this](std::int64_t x) {
                     return memory_kernel(KernelKind::unpermute, x * k, hid, (x + k * x) * hid * b,
                                          2.0 * static_cast<double>(x * k * hid));
                   }});
    if (m.shared_experts > 0) {
      const std::int64_t f = m.shared_experts * m.expert_ffn_hidden;
      const std::int64_t up = m.expert_ffn == ExpertFfn::swiglu ? 2 * f : f;
      ops.push_back({"shared1", OpKind::kernel, layer, false,
                     [=, this](std::int64_t x) { return gemm(x, up, hid); }});
      ops.push_back({"shared.act", OpKind::kernel, layer, false, [=, this](std::int64_t x) {
                       return memory_kernel(KernelKind::elementwise, x, f, (x * up + x * f) * b);
                     }});
      ops.push_back({"shared2", OpKind::kernel, layer, false,
                     [=, this](std::int64_t x) { return gemm(x, hid, f); }});
    }
  }

  std::vector<ComputeTask> expert_tasks(std::int64_t t, bool backward) const {
    const ModelSpec& m = job_.model;
    const std::int64_t h = m.expert_ffn_hidden, hid = m.hidden, b = elem_bytes();
    const std::int64_t up = m.expert_ffn == ExpertFfn::swiglu ? 2 * h : h;
    if (!backward) {
      return {gemm(t, up, hid), memory_kernel(KernelKind::elementwise, t, h, (t * up + t * h) * b),
              gemm(t, hid, h)};
    }
    return {gemm(t, h, hid), gemm(h, hid, t),
            memory_kernel(KernelKind::elementwise, t, h, (2 * t * up + t * h) * b),
            gemm(t, hid, up), gemm(hid, up, t)};
  }

  // ---- forward planning ----
  CommOp exchange_op(const MoeLayerPlan& p, std::size_t group, bool combine, std::int64_t chunk,
                     std::int64_t chunks) const {
    const auto& g = job_.mapping.groups(GroupKind::ep)[group];
    const ByteMatrix& full = combine ? *p.combine[group] : *p.dispatch[group];
    auto m = std::make_shared<ByteMatrix>(full.size());
    for (std::size_t i = 0; i < full.size(); ++i) {
      for (std::size_t j = 0; j < full.size(); ++j) {
        m->set(i, j, split_share(full.at(i, j), chunks, chunk));
      }
    }
    CommOp o = op(CommKind::all_to_all_v, CommGroup::ep, g, Bytes{});
    o.bytes = all_to_all_v_size(*m);
    o.matrix = std::move(m);
    return o;
  }

  SimTime part_time(const Step& s, const MoeLayerPlan& p, const FwdOp& o, int k) {
    const std::int64_t x = split_share(tokens(), k, 0);
    switch (o.kind) {
      case OpKind::kernel:
        return costs_.duration(o.make(x));
      case OpKind::experts: {
        SimTime worst = SimTime::zero();
        for (RankId r : *s.ranks) {
          SimTime t = SimTime::zero();
          for (std::int64_t n : p.expert_tokens[r.index()]) {
            const std::int64_t c = split_share(n, k, 0);
            if (c <= 0) continue;
            for (const ComputeTask& task : expert_tasks(c, false)) t += costs_.duration(task, r);
          }
          worst = std::max(worst, t);
        }
        return worst;
      }
      case OpKind::sizes:
      case OpKind::dispatch:
      case OpKind::combine: {
        SimTime worst = SimTime::zero();
        for (const std::vector<RankId>* g : stage_groups(GroupKind::ep, s.stage)) {
          if (g->size() <= 1) continue;
          const std::size_t gi = ep_group_index(g->front());
          const CommOp c = o.kind == OpKind::sizes
                               ? op(CommKind::all_to_all, CommGroup::ep, *g,
                                    Bytes{job_.model.experts * kCountBytes})
                               : exchange_op(p, gi, o.kind == OpKind::combine, 0, k);
          worst = std::max(worst, costs_.estimate(c));
        }
        return worst;
      }
    }
    return SimTime::zero();
  }

  const Region& region_for(const Step& s) {
    auto it = regions_.find(s.moe_index);
    if (it != regions_.end()) return it->second;
    const ModelSpec& m = job_.model;
    const MoeLayerPlan& p = plan(s.moe_index);
    Region region;
    add_attention_forward(region.ops, s.layer);
    add_moe_forward(region.ops, s.layer);
    const std::int64_t per_stage = m.layers / job_.layout.pp;
    const std::int64_t next = s.layer + 1;
    if (next < (s.stage + 1) * per_stage && !m.is_moe_layer(next)) {
      add_attention_forward(region.ops, next);
      add_dense_forward(region.ops, next);
      region.covers_next_layer = true;
    }
    std::vector<lancet::PipeInstr> instrs;
    SimTime non_moe = SimTime::zero();
    for (const FwdOp& o : region.ops) {
      lancet::PipeInstr in;
      in.name = o.name;
      in.comm = o.kind == OpKind::sizes || o.kind == OpKind::dispatch || o.kind == OpKind::combine;
      in.moe = o.moe;
      for (int k = 1; k <= lancet::kMaxPartitions; ++k)
        in.part_time.push_back(part_time(s, p, o, k));
      if (!o.moe) non_moe += in.part_time.front();
      instrs.push_back(std::move(in));
    }
    // Groups of non-MoE ops of at least gamma; cuts at group ends and around the MoE block.
    const SimTime gamma = non_moe.scaled(1.0 / kGroupsPerRegion);
    region.cuts.push_back(0);
    SimTime acc = SimTime::zero();
    for (std::size_t i = 0; i < instrs.size(); ++i) {
      const bool last = i + 1 == instrs.size();
      const bool boundary = !last && instrs[i].moe != instrs[i + 1].moe;
      if (!instrs[i].moe) acc += instrs[i].part_time.front();
      if (last || boundary || (!instrs[i].moe && acc >= gamma)) {
        region.cuts.push_back(i + 1);
        acc = SimTime::zero();
      }
    }
    region.plan =
        lancet::plan_partitions(instrs, region.cuts, lancet::kMaxPartitions, kGateAllowsBefore);
    SimTime serial = SimTime::zero();
    for (const auto& in : instrs) serial += in.part_time.front();
    for (const lancet::RangeChoice& r : region.plan.ranges) {
      bool holds_moe = false;
      for (std::size_t i = r.begin; i < r.end; ++i) holds_moe = holds_moe || instrs[i].moe;
      if (!holds_moe) continue;
      const auto label = [&](std::size_t i) {
        return fmt::format("L{}.{}", region.ops[i].layer, region.ops[i].name);
      };
      decisions_[fmt::format("lancet.partitions.L{}", s.layer)] = std::to_string(r.partitions);
      decisions_[fmt::format("lancet.range.L{}", s.layer)] =
          fmt::format("{}..{} (estimate {:.1f} us, serial {:.1f} us)", label(r.begin),
                      label(r.end - 1), region.plan.time.us(), serial.us());
    }
    return regions_.emplace(s.moe_index, std::move(region)).first->second;
  }

  // ---- forward emission ----
  void emit_region(const Step& s, const Region& region) {
    const MoeLayerPlan& p = plan(s.moe_index);
    const auto world = static_cast<std::size_t>(job_.layout.world());
    std::vector<std::vector<TaskId>> deps(world);
    for (RankId r : *s.ranks) deps[r.index()] = frontier(r);
    const auto is_comm = [](const FwdOp& o) {
      return o.kind == OpKind::sizes || o.kind == OpKind::dispatch || o.kind == OpKind::combine;
    };
    for (const lancet::RangeChoice& range : region.plan.ranges) {
      const int k = range.partitions;
      std::vector<std::vector<std::vector<TaskId>>> prev(static_cast<std::size_t>(k), deps);
      std::size_t stage = range.begin;
      while (stage < range.end) {
        std::size_t stage_end = stage;
        while (stage_end < range.end &&
               is_comm(region.ops[stage_end]) == is_comm(region.ops[stage])) {
          ++stage_end;
        }
        for (int part = 0; part < k; ++part) {
          auto& pv = prev[static_cast<std::size_t>(part)];
          for (std::size_t i = stage; i < stage_end; ++i) {
            emit_fwd_op(s, p, region.ops[i], part, k, pv);
          }
        }
        stage = stage_end;
      }
      for (RankId r : *s.ranks) {
        auto& d = deps[r.index()];
        d.clear();
        for (const auto& pv : prev) {
          for (TaskId t : pv[r.index()]) {
            if (std::find(d.begin(), d.end(), t) == d.end()) d.push_back(t);
          }
        }
      }
    }
    for (RankId r : *s.ranks) frontier(r) = deps[r.index()];
  }

  void emit_fwd_op(const Step& s, const MoeLayerPlan& p, const FwdOp& o, int part, int k,
                   std::vector<std::vector<TaskId>>& prev) {
    Step info = s;
    info.layer = o.layer;
    set_info(info);
    const std::int64_t x = split_share(tokens(), k, part);
    switch (o.kind) {
      case OpKind::kernel:
        for (RankId r : *s.ranks) {
          prev[r.index()] = {kernel_after(r, o.name, o.make(x), compute_, prev[r.index()])};
        }
        return;
      case OpKind::experts:
        for (RankId r : *s.ranks) {
          frontier(r) = prev[r.index()];
          std::vector<std::int64_t> t = p.expert_tokens[r.index()];
          for (auto& n : t) n = split_share(n, k, part);
          emit_experts(r, t, Phase::forward, compute_);
          prev[r.index()] = frontier(r);
        }
        return;
      case OpKind::sizes:
      case OpKind::dispatch:
      case OpKind::combine:
        for (RankId r : *s.ranks) frontier(r) = prev[r.index()];
        if (o.kind == OpKind::sizes) {
          for (const std::vector<RankId>* g : stage_groups(GroupKind::ep, s.stage)) {
            if (g->size() <= 1) continue;
            collective(o.name,
                       op(CommKind::all_to_all, CommGroup::ep, *g,
                          Bytes{job_.model.experts * kCountBytes}),
                       comm_);
          }
        } else {
          emit_expert_exchange(s, p, o.kind == OpKind::combine, o.name, comm_, part, k);
        }
        for (RankId r : *s.ranks) prev[r.index()] = frontier(r);
        return;
    }
  }

  // ---- backward ----
  std::vector<BwdOp> backward_program(RankId r) {
    const ModelSpec& m = job_.model;
    const std::int64_t x = tokens(), hid = m.hidden, b = elem_bytes(), q = m.hidden;
    const std::int64_t kvw = kv(), e = m.experts, k = m.top_k;
    std::vector<BwdOp> out;
    const auto add = [&](std::int64_t layer, std::int64_t moe, std::string name, ComputeTask t,
                         bool dw = false) {
      out.push_back(BwdOp{std::move(name), OpKind::kernel, layer, moe, dw, t});
    };
    for (const auto& [layer, moe] : pending_) {
      if (moe >= 0) {
        if (m.shared_experts > 0) {
          const std::int64_t f = m.shared_experts * m.expert_ffn_hidden;
          const std::int64_t up = m.expert_ffn == ExpertFfn::swiglu ? 2 * f : f;
          add(layer, moe, "shared2.dX", gemm(x, f, hid));
          add(layer, moe, "shared2.dW", gemm(f, hid, x), true);
          add(layer, moe, "shared.act.bwd",
              memory_kernel(KernelKind::elementwise, x, f, (2 * x * up + x * f) * b));
          add(layer, moe, "shared1.dX", gemm(x, hid, up));
          add(layer, moe, "shared1.dW", gemm(hid, up, x), true);
        }
        add(layer, moe, "unpermute.bwd",
            memory_kernel(KernelKind::unpermute, x * k, hid, (x + k * x) * hid * b));
        const bool exchange = job_.layout.ep > 1;
        if (exchange)
          out.push_back(BwdOp{"ep.combine.bwd", OpKind::combine, layer, moe, false, {}});
        const MoeLayerPlan& p = plan(moe);
        static constexpr const char* kNames[] = {"expert2.dX", "expert2.dW", "expert.act.bwd",
                                                 "expert1.dX", "expert1.dW"};
        for (std::int64_t t : p.expert_tokens[r.index()]) {
          if (t <= 0) continue;
          const std::vector<ComputeTask> tasks = expert_tasks(t, true);
          for (std::size_t i = 0; i < tasks.size(); ++i) {
            add(layer, moe, kNames[i], tasks[i], i == 1 || i == 4);
          }
        }
        if (exchange) {
          out.push_back(BwdOp{"ep.dispatch.bwd", OpKind::dispatch, layer, moe, false, {}});
        }
        add(layer, moe, "permute.bwd",
            memory_kernel(KernelKind::permute, x * k, hid, (x + k * x) * hid * b));
        add(layer, moe, "gate.topk.bwd", memory_kernel(KernelKind::gate, x, e, 8 * x * e));
        add(layer, moe, "gate.dX", gemm(x, hid, e));
        add(layer, moe, "gate.dW", gemm(hid, e, x), true);
      } else {
        const std::int64_t f = m.ffn_hidden;
        const std::int64_t up = m.expert_ffn == ExpertFfn::swiglu ? 2 * f : f;
        add(layer, moe, "ffn2.dX", gemm(x, f, hid));
        add(layer, moe, "ffn2.dW", gemm(f, hid, x), true);
        add(layer, moe, "ffn.act.bwd",
            memory_kernel(KernelKind::elementwise, x, f, (2 * x * up + x * f) * b,
                          8.0 * static_cast<double>(x * f)));
        add(layer, moe, "ffn1.dX", gemm(x, hid, up));
        add(layer, moe, "ffn1.dW", gemm(hid, up, x), true);
      }
      add(layer, moe, "ln2.bwd", memory_kernel(KernelKind::layernorm, x, hid, 4 * x * hid * b));
      add(layer, moe, "attn.proj.dX", gemm(x, q, hid));
      add(layer, moe, "attn.proj.dW", gemm(q, hid, x), true);
      add(layer, moe, "attention.bwd", attention_task(x, true));
      add(layer, moe, "qkv.dX", gemm(x, hid, q + 2 * kvw));
      add(layer, moe, "qkv.dW", gemm(hid, q + 2 * kvw, x), true);
      add(layer, moe, "ln1.bwd", memory_kernel(KernelKind::layernorm, x, hid, 4 * x * hid * b));
    }
    return out;
  }

  // Program order with Lancet's reordering: each assigned dW right after its all-to-all.
  std::vector<std::size_t> schedule_dw(RankId r, const std::vector<BwdOp>& prog) {
    // Dependency DAG: the dX chain (every non-dW op after the previous one); a dW after the
    // input of its dX (the chain op before its dX).
    const std::size_t n = prog.size();
    std::vector<std::vector<std::size_t>> succ(n);
    std::vector<std::size_t> chain_pred(n, n);
    std::size_t last_chain = n;
    for (std::size_t i = 0; i < n; ++i) {
      if (prog[i].dw) {
        const std::size_t input = last_chain == n ? n : chain_pred[last_chain];
        if (input != n) succ[input].push_back(i);
        continue;
      }
      chain_pred[i] = last_chain;
      if (last_chain != n) succ[last_chain].push_back(i);
      last_chain = i;
    }
    std::vector<std::size_t> a2as, dws;
    for (std::size_t i = 0; i < n; ++i) {
      if (prog[i].kind != OpKind::kernel) a2as.push_back(i);
      if (prog[i].dw) dws.push_back(i);
    }
    std::vector<SimTime> a2a_time, dw_time;
    std::vector<std::vector<bool>> eligible;
    const std::size_t gi = ep_group_index(r);
    for (std::size_t a : a2as) {
      const MoeLayerPlan& p = plan(prog[a].moe_index);
      a2a_time.push_back(
          costs_.estimate(exchange_op(p, gi, prog[a].kind == OpKind::dispatch, 0, 1)));
      const std::vector<bool> free = lancet::unrelated_to(succ, a);
      std::vector<bool> row;
      for (std::size_t w : dws) row.push_back(free[w]);
      eligible.push_back(std::move(row));
    }
    for (std::size_t w : dws) dw_time.push_back(costs_.duration(prog[w].task, r));
    const std::vector<int> assigned = lancet::best_fit_assign(a2a_time, dw_time, eligible);
    std::vector<std::vector<std::size_t>> after(n);
    std::vector<bool> moved(n, false);
    for (std::size_t j = 0; j < dws.size(); ++j) {
      if (assigned[j] < 0) continue;
      after[a2as[static_cast<std::size_t>(assigned[j])]].push_back(dws[j]);
      moved[dws[j]] = true;
      ++dw_count_;
      dw_time_ += dw_time[j];
    }
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < n; ++i) {
      if (moved[i]) continue;
      order.push_back(i);
      for (std::size_t w : after[i]) order.push_back(w);
    }
    return order;
  }

  void emit_backward(const Step& s) {
    for (const auto& [layer, moe] : pending_) {
      if (moe >= 0) plan(moe);
    }
    const auto world = static_cast<std::size_t>(job_.layout.world());
    std::vector<std::vector<BwdOp>> progs(world);
    std::vector<std::vector<std::size_t>> orders(world);
    std::vector<std::size_t> pos(world, 0);
    std::vector<std::vector<TaskId>> chain(world);
    for (RankId r : *s.ranks) {
      progs[r.index()] = backward_program(r);
      orders[r.index()] = schedule_dw(r, progs[r.index()]);
      chain[r.index()] = frontier(r);
    }
    Step info = s;
    const auto emit_until_exchange = [&](RankId r) {
      auto& i = pos[r.index()];
      const auto& prog = progs[r.index()];
      const auto& order = orders[r.index()];
      while (i < order.size() && prog[order[i]].kind == OpKind::kernel) {
        const BwdOp& o = prog[order[i]];
        info.layer = o.layer;
        set_info(info);
        const TaskId id = kernel_after(r, o.name, o.task, compute_,
                                       o.dw ? std::vector<TaskId>{} : chain[r.index()]);
        if (!o.dw) chain[r.index()] = {id};
        ++i;
      }
    };
    // Every rank has the same all-to-alls in the same order; emit segment by segment.
    while (true) {
      bool more = false;
      const BwdOp* exchange = nullptr;
      for (RankId r : *s.ranks) {
        emit_until_exchange(r);
        if (pos[r.index()] < orders[r.index()].size()) {
          more = true;
          exchange = &progs[r.index()][orders[r.index()][pos[r.index()]]];
        }
      }
      if (!more) break;
      info.layer = exchange->layer;
      set_info(info);
      for (RankId r : *s.ranks) frontier(r) = chain[r.index()];
      emit_expert_exchange(s, plan(exchange->moe_index), exchange->kind == OpKind::dispatch,
                           exchange->name, comm_);
      for (RankId r : *s.ranks) {
        MOESIM_CHECK(pos[r.index()] < orders[r.index()].size() &&
                         progs[r.index()][orders[r.index()][pos[r.index()]]].name == exchange->name,
                     "rank {} backward out of step at {}", r.value, exchange->name);
        chain[r.index()] = frontier(r);
        ++pos[r.index()];
      }
    }
    for (RankId r : *s.ranks) frontier(r) = chain[r.index()];
  }

  std::map<std::int64_t, Region> regions_;
  std::int64_t skip_forward_layer_ = -1;
  std::vector<std::pair<std::int64_t, std::int64_t>> pending_;  // backward (layer, moe index)
  std::int64_t dw_count_ = 0;
  SimTime dw_time_ = SimTime::zero();
};

class Lancet final : public Strategy {
 public:
  std::string_view name() const override { return "lancet"; }
  std::string_view summary() const override {
    return "Lancet: irregular A2A, forward batch-partitioned pipeline of non-MoE ops + A2A + "
           "experts chosen by its DP, backward dW ops scheduled into A2A gaps";
  }
  BuildResult build_iteration(const TrainingJob& job, const CostModels& costs) const override {
    IterationBuilder::Options options;
    options.pad_to_capacity = false;
    // Like DeepSpeed: the tp ranks of a replica each dispatch 1/tp of its tokens.
    options.split_tokens_over_tp = job.layout.tp > 1 && job.layout.esp == 1;
    LancetBuilder builder(job, costs, options);
    BuildResult out = builder.build();
    builder.finish_decisions(out.decisions);
    return out;
  }
};

}  // namespace

std::unique_ptr<Strategy> make_lancet() { return std::make_unique<Lancet>(); }

}  // namespace moesim::strategies
