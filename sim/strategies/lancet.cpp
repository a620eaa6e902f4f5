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
//    the most loaded rank; a compute op that starts while an exchange runs is priced as the
//    executor charges it then (CostModels::duration_beside_comm: the overlap contention, which
//    Lancet's own profiler, timing ops alone, does not see); each partition also waits on the
//    other queue's event at every stage boundary (lancet::PartitionOverhead, one launch of the
//    compute model), in the plan and as a "lancet.queue_wait" delay in the graph. Emission
//    follows the pipeline scheduler: stage by stage, partitions in index order, compute on
//    "compute", exchanges on "comm".
//  - Backward dW scheduling (§4): per (stage, micro-batch) backward and per rank, the dependency
//    DAG of its ops (dX chain; each dW depends on the input of its dX) gives, for every backward
//    all-to-all, the dW ops with no directed path to or from it; Alg. 1's best-fit greedy assigns
//    them using CostModels durations, and each assigned dW is emitted on the compute stream right
//    after its all-to-all is launched on "comm", so they overlap.
// Gradient all-reduces: in PyTorch DDP's buckets launched during the backward, as the frameworks
// of its evaluation run data parallelism (gradient_buckets.hpp; options
// grad_sync=overlap|after|lina, bucket_mb=N); each bucket waits for the last backward kernel of its
// layers, dW ops moved by the scheduler included.
// All-to-all as Lancet runs it: a sizes all-to-all, then the data as grouped NCCL send/recv of
// the real counts (Lancet paper, Fig. 10; its testbeds ran NCCL 2.12.12 with PXN): an
// all-to-all-v lowered as NCCL's direct exchange, PXN across rails, never the 2D exchange.
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <tuple>

#include "sim/core/errors.hpp"
#include "sim/strategies/ddp_gradient_sync.hpp"
#include "sim/strategies/deepspeed_moe_block.hpp"
#include "sim/strategies/emit_iteration.hpp"
#include "sim/strategies/lancet_planner.hpp"
#include "sim/strategies/registry.hpp"
#include "sim/strategies/scheduled_pipeline.hpp"
#include "sim/strategies/standard_layer.hpp"

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

/// Lancet's layer schedule: a MoE layer's forward as a partitioned range (with the dense layer
/// after it when the range covers it), and each stage's backward reordered so dW ops fill the
/// all-to-alls' gaps; other layers are the standard ones.
class LancetLayer final : public LayerSchedule {
 public:
  explicit LancetLayer(EmissionContext& ctx) : ctx_(ctx), moe_(ctx), standard_(ctx, moe_) {}

  /// Lancet's passes are defined for data + expert parallelism (Lancet, MLSys 2024); with TP or
  /// expert sharding the iteration is the standard one with the all-to-all-v dispatch only.
  bool passes_enabled() const { return ctx_.job().layout.tp == 1 && ctx_.job().layout.esp == 1; }

  void finish_decisions(Decisions& decisions) const {
    decisions["lancet.passes"] =
        passes_enabled()
            ? Decision::choice("on", "dW scheduling + forward partitioning")
            : Decision::choice("off", fmt::format("tp={}, esp={}: Lancet is data + expert "
                                                  "parallel, Lancet, MLSys 2024",
                                                  ctx_.job().layout.tp, ctx_.job().layout.esp));
    decisions["lancet.range"] =
        kGateAllowsBefore ? Decision::choice("before+after", "switch gate: around the MoE layer")
                          : Decision::choice("after", "after the MoE layer");
    decisions["lancet.a2a"] =
        Decision::choice("irregular", "sizes all_to_all + all_to_all_v (routed tokens only)");
    const double ranks = static_cast<double>(ctx_.job().layout.world());
    decisions["lancet.dw_overlapped"] =
        Decision::quantity(static_cast<double>(dw_count_) / ranks, "dW ops",
                           fmt::format("per rank, {:.3f} ms", dw_time_.ms() / ranks));
    decisions["lancet.dw_overlapped_time"] = Decision::quantity(
        dw_time_.ms() / ranks, "ms", "dW time moved beside all-to-alls, per rank");
  }

  void emit(const Step& s) override {
    if (!passes_enabled()) {
      standard_.emit(s);
      return;
    }
    if (s.phase == Phase::forward) {
      if (s.layer == skip_forward_layer_) {
        skip_forward_layer_ = -1;
        return;
      }
      if (s.moe_index < 0) {
        standard_.emit(s);
        return;
      }
      const Region& region = region_for(s);
      if (region.covers_next_layer) skip_forward_layer_ = s.layer + 1;
      emit_region(s, region);
      return;
    }
    pending_.push_back({s.layer, s.moe_index});
    const std::int64_t first = ctx_.job().layout.first_layer_of_stage(s.stage);
    if (s.layer == first) {
      emit_backward(s);
      pending_.clear();
    }
  }

 private:
  // ---- op tables: the catalogue's blocks (layer_ops.hpp), tp = esp = 1 ----
  /// One FwdOp per kernel of `block(x)`, each making its kernel for a partition of x tokens.
  void add_block(std::vector<FwdOp>& out, std::int64_t layer, bool moe,
                 const std::function<BlockWork(std::int64_t)>& block) const {
    const BlockWork shape = block(1);
    const std::vector<const KernelOp*> kernels = shape.kernels();
    for (std::size_t i = 0; i < kernels.size(); ++i) {
      out.push_back(FwdOp{std::string(kernels[i]->name), OpKind::kernel, layer, moe,
                          [block, i](std::int64_t x) { return block(x).kernels()[i]->task; }});
    }
  }

  void add_attention_forward(std::vector<FwdOp>& out, std::int64_t layer) const {
    add_block(out, layer, false,
              [this](std::int64_t x) { return ctx_.ops().attention(Pass::forward, x); });
  }

  void add_dense_forward(std::vector<FwdOp>& out, std::int64_t layer) const {
    add_block(out, layer, false,
              [this](std::int64_t x) { return ctx_.ops().dense_ffn(Pass::forward, x); });
  }

  void add_moe_forward(std::vector<FwdOp>& out, std::int64_t layer) const {
    const std::int64_t k = ctx_.job().model.top_k;
    // Dropless: a partition of x tokens permutes into k x slots.
    add_block(out, layer, true, [this, k](std::int64_t x) {
      return ctx_.ops().gate_permute(Pass::forward, x, k * x, {});
    });
    out.push_back({"ep.sizes", OpKind::sizes, layer, true, {}});
    out.push_back({"ep.dispatch", OpKind::dispatch, layer, true, {}});
    out.push_back({"experts", OpKind::experts, layer, true, {}});
    out.push_back({"ep.combine", OpKind::combine, layer, true, {}});
    add_block(out, layer, true, [this, k](std::int64_t x) {
      return ctx_.ops().unpermute(Pass::forward, x, k * x, {});
    });
    add_block(out, layer, false,
              [this](std::int64_t x) { return ctx_.ops().shared_experts(Pass::forward, x); });
  }

  // ---- forward planning ----
  /// One exchange (or the sizes exchange) of every EP group of `stage`, priced together.
  SimTime exchange_time(std::int64_t stage, const MoeLayerPlan& p, OpKind kind, int k) const {
    if (kind == OpKind::sizes) {
      return ctx_.costs().estimate_together(
          ctx_.group_ops(stage, GroupKind::ep, CommKind::all_to_all, CommGroup::ep,
                         Bytes{ctx_.job().model.experts * kCountBytes}));
    }
    return ctx_.costs().estimate_together(
        ctx_.exchange_ops(stage, p, kind == OpKind::combine, 0, k));
  }

  /// One partition of `o` split k ways; `beside_comm`: a kernel started while an exchange runs.
  SimTime part_time(const Step& s, const MoeLayerPlan& p, const FwdOp& o, int k,
                    bool beside_comm = false) {
    const std::int64_t x = split_share(ctx_.tokens(), k, 0);
    switch (o.kind) {
      case OpKind::kernel:
        return beside_comm ? ctx_.costs().duration_beside_comm(o.make(x))
                           : ctx_.costs().duration(o.make(x));
      case OpKind::experts: {
        SimTime worst = SimTime::zero();
        for (RankId r : *s.ranks) {
          std::vector<std::int64_t> t = p.expert_tokens[r.index()];
          for (auto& n : t) n = split_share(n, k, 0);
          worst = std::max(worst, kernel_time(ctx_.ops().experts(Pass::forward, t), ctx_.costs(), r,
                                              beside_comm));
        }
        return worst;
      }
      case OpKind::sizes:
      case OpKind::dispatch:
      case OpKind::combine:
        return exchange_time(s.stage, p, o.kind, k);
    }
    return SimTime::zero();
  }

  const Region& region_for(const Step& s) {
    auto it = regions_.find(s.moe_index);
    if (it != regions_.end()) return it->second;
    const ModelSpec& m = ctx_.job().model;
    const MoeLayerPlan& p = ctx_.plan(s.moe_index);
    Region region;
    add_attention_forward(region.ops, s.layer);
    add_moe_forward(region.ops, s.layer);
    const std::int64_t next = s.layer + 1;
    if (next < ctx_.job().layout.first_layer_of_stage(s.stage + 1) && !m.is_moe_layer(next)) {
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
      for (int k = 1; k <= lancet::kMaxPartitions; ++k) {
        in.part_time.push_back(part_time(s, p, o, k));
        if (!in.comm) in.part_time_beside_comm.push_back(part_time(s, p, o, k, true));
      }
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
    region.plan = lancet::plan_partitions(instrs, region.cuts, lancet::kMaxPartitions,
                                          kGateAllowsBefore, partition_overhead());
    SimTime serial = SimTime::zero();
    for (const auto& in : instrs) serial += in.part_time.front();
    // The kernels the plan emits: each range's compute instructions, k partitions each, as its
    // pipeline prices them (the part beside an exchange at the contended rate).
    SimTime kernels = SimTime::zero();
    for (const lancet::RangeChoice& r : region.plan.ranges) {
      SimTime range_kernels = SimTime::zero();
      lancet::pipeline_time(instrs, r.begin, r.end, r.partitions, partition_overhead(),
                            &range_kernels);
      kernels += range_kernels;
    }
    ctx_.decisions()[fmt::format("lancet.region_kernels.L{}", s.layer)] = Decision::quantity(
        kernels.us(), "us", "the planned region's kernels, all partitions, slowest rank");
    for (const lancet::RangeChoice& r : region.plan.ranges) {
      bool holds_moe = false;
      for (std::size_t i = r.begin; i < r.end; ++i) holds_moe = holds_moe || instrs[i].moe;
      if (!holds_moe) continue;
      const auto label = [&](std::size_t i) {
        return fmt::format("L{}.{}", region.ops[i].layer, region.ops[i].name);
      };
      ctx_.decisions()[fmt::format("lancet.partitions.L{}", s.layer)] =
          Decision::count(r.partitions, "", "partitions of the range holding the MoE layer");
      std::string curve;
      for (int k = 1; k <= lancet::kMaxPartitions; ++k) {
        curve += fmt::format(
            "{}{:.1f}", k == 1 ? "" : " ",
            lancet::pipeline_time(instrs, r.begin, r.end, k, partition_overhead()).us());
      }
      ctx_.decisions()[fmt::format("lancet.range_by_k.L{}", s.layer)] =
          Decision::choice(curve, "P(range, k) in us for k = 1..rho");
      ctx_.decisions()[fmt::format("lancet.range.L{}", s.layer)] =
          Decision::quantity(region.plan.time.us(), "us",
                             fmt::format("estimate of {}..{}; serial {:.1f} us", label(r.begin),
                                         label(r.end - 1), serial.us()));
      // The layers the estimate spans, so it can be held against the simulated forward.
      ctx_.decisions()[fmt::format("lancet.region_layers.L{}", s.layer)] = Decision::count(
          region.covers_next_layer ? 2 : 1, "layers", "forward layers the region estimate spans");
    }
    return regions_.emplace(s.moe_index, std::move(region)).first->second;
  }

  /// The planner's PartitionOverhead, priced by the compute model: a queue's wait on the other
  /// queue's event is a stream command with no work, which the model charges as it charges every
  /// command the GPU front-end launches (GpuSpec::launch_us on the roofline).
  const lancet::PartitionOverhead& partition_overhead() {
    if (!overhead_) {
      overhead_ = lancet::PartitionOverhead{.queue_switch = ctx_.costs().duration(ComputeTask{})};
    }
    return *overhead_;
  }

  // ---- forward emission ----
  /// The queue hand-over of PartitionOverhead: a delay on `stream` after each rank's `prev`.
  void emit_queue_wait(const Step& s, std::int64_t layer, StreamId stream,
                       std::vector<std::vector<TaskId>>& prev) {
    const SimTime wait = partition_overhead().queue_switch;
    for (RankId r : *s.ranks) {
      const TaskId id =
          ctx_.graph().add_delay("lancet.queue_wait", r, stream, wait,
                                 TaskInfo{Phase::forward, static_cast<std::int32_t>(layer)});
      for (TaskId d : prev[r.index()]) ctx_.graph().depend(d, id);
      prev[r.index()] = {id};
    }
  }

  void emit_region(const Step& s, const Region& region) {
    const MoeLayerPlan& p = ctx_.plan(s.moe_index);
    const auto world = static_cast<std::size_t>(ctx_.job().layout.world());
    std::vector<std::vector<TaskId>> deps(world);
    for (RankId r : *s.ranks) deps[r.index()] = (*s.chain)[r];
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
          if (stage != range.begin) {
            emit_queue_wait(s, region.ops[stage].layer,
                            is_comm(region.ops[stage]) ? ctx_.comm() : ctx_.compute(), pv);
          }
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
    for (RankId r : *s.ranks) (*s.chain)[r] = deps[r.index()];
  }

  void emit_fwd_op(const Step& s, const MoeLayerPlan& p, const FwdOp& o, int part, int k,
                   std::vector<std::vector<TaskId>>& prev) {
    Step info = s;
    info.layer = o.layer;
    ctx_.set_info(info);
    const std::int64_t x = split_share(ctx_.tokens(), k, part);
    switch (o.kind) {
      case OpKind::kernel:
        for (RankId r : *s.ranks) {
          ComputeTask t = o.make(x);
          if (t.kind == KernelKind::permute || t.kind == KernelKind::unpermute) {
            // This partition's share of the rank's per-expert counts.
            std::vector<std::int64_t> share = p.kept[r.index()];
            for (auto& n : share) n = split_share(n, k, part);
            t.op.tokens_per_expert = std::move(share);
          }
          prev[r.index()] = {ctx_.kernel_after(r, o.name, t, ctx_.compute(), prev[r.index()])};
        }
        return;
      case OpKind::experts:
        for (RankId r : *s.ranks) {
          (*s.chain)[r] = prev[r.index()];
          std::vector<std::int64_t> t = p.expert_tokens[r.index()];
          for (auto& n : t) n = split_share(n, k, part);
          ctx_.emit_experts(s, r, t, Phase::forward, ctx_.compute());
          prev[r.index()] = (*s.chain)[r];
        }
        return;
      case OpKind::sizes:
      case OpKind::dispatch:
      case OpKind::combine:
        for (RankId r : *s.ranks) (*s.chain)[r] = prev[r.index()];
        if (o.kind == OpKind::sizes) {
          for (const std::vector<RankId>* g : ctx_.stage_groups(GroupKind::ep, s.stage)) {
            if (g->size() <= 1) continue;
            ctx_.collective(*s.chain, o.name,
                            ctx_.op(CommKind::all_to_all, CommGroup::ep, *g,
                                    Bytes{ctx_.job().model.experts * kCountBytes}),
                            ctx_.comm());
          }
        } else {
          ctx_.emit_expert_exchange(s, p, o.kind == OpKind::combine, o.name, ctx_.comm(), part, k);
        }
        for (RankId r : *s.ranks) prev[r.index()] = (*s.chain)[r];
        return;
    }
  }

  // ---- backward ----
  std::vector<BwdOp> backward_program(RankId r) {
    const std::int64_t x = ctx_.tokens(), k = ctx_.job().model.top_k;
    std::vector<BwdOp> out;
    // The catalogue's kernels of a block (its collectives: TP all-reduces, none at tp = 1).
    const auto add = [&](std::int64_t layer, std::int64_t moe, const BlockWork& work) {
      for (const KernelOp* op : work.kernels()) {
        out.push_back(BwdOp{std::string(op->name), OpKind::kernel, layer, moe,
                            op->direction == Direction::weight_gradient, op->task});
      }
    };
    for (const auto& [layer, moe] : pending_) {
      if (moe >= 0) {
        const MoeLayerPlan& p = ctx_.plan(moe);
        const auto& kept = p.kept[r.index()];
        add(layer, moe, ctx_.ops().shared_experts(Pass::backward, x));
        add(layer, moe, ctx_.ops().unpermute(Pass::backward, x, k * x, kept));
        const bool exchange = ctx_.job().layout.ep > 1;
        if (exchange) {
          out.push_back(BwdOp{"ep.combine.bwd", OpKind::combine, layer, moe, false, {}});
        }
        add(layer, moe, ctx_.ops().experts(Pass::backward, p.expert_tokens[r.index()]));
        if (exchange) {
          out.push_back(BwdOp{"ep.dispatch.bwd", OpKind::dispatch, layer, moe, false, {}});
        }
        add(layer, moe, ctx_.ops().gate_permute(Pass::backward, x, k * x, kept));
      } else {
        add(layer, moe, ctx_.ops().dense_ffn(Pass::backward, x));
      }
      add(layer, moe, ctx_.ops().attention(Pass::backward, x));
    }
    return out;
  }

  // Program order with Lancet's reordering: each assigned dW right after its all-to-all.
  std::vector<std::size_t> schedule_dw(RankId r, std::int64_t stage,
                                       const std::vector<BwdOp>& prog) {
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
    for (std::size_t a : a2as) {
      // The backward exchange as the stage runs it (every EP group at once); the same for every
      // rank of the stage, so priced once.
      const auto key = std::make_tuple(stage, prog[a].moe_index, prog[a].kind);
      auto it = a2a_cache_.find(key);
      if (it == a2a_cache_.end()) {
        const OpKind shape = prog[a].kind == OpKind::dispatch ? OpKind::combine : OpKind::dispatch;
        it = a2a_cache_.emplace(key, exchange_time(stage, ctx_.plan(prog[a].moe_index), shape, 1))
                 .first;
      }
      a2a_time.push_back(it->second);
      const std::vector<bool> free = lancet::unrelated_to(succ, a);
      std::vector<bool> row;
      for (std::size_t w : dws) row.push_back(free[w]);
      eligible.push_back(std::move(row));
    }
    for (std::size_t w : dws) dw_time.push_back(ctx_.costs().duration(prog[w].task, r));
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
      if (moe >= 0) ctx_.plan(moe);
    }
    const auto world = static_cast<std::size_t>(ctx_.job().layout.world());
    std::vector<std::vector<BwdOp>> progs(world);
    std::vector<std::vector<std::size_t>> orders(world);
    std::vector<std::size_t> pos(world, 0);
    std::vector<std::vector<TaskId>> chain(world);
    for (RankId r : *s.ranks) {
      progs[r.index()] = backward_program(r);
      orders[r.index()] = schedule_dw(r, s.stage, progs[r.index()]);
      chain[r.index()] = (*s.chain)[r];
    }
    Step info = s;
    const auto emit_until_exchange = [&](RankId r) {
      auto& i = pos[r.index()];
      const auto& prog = progs[r.index()];
      const auto& order = orders[r.index()];
      while (i < order.size() && prog[order[i]].kind == OpKind::kernel) {
        const BwdOp& o = prog[order[i]];
        info.layer = o.layer;
        ctx_.set_info(info);
        const TaskId id = ctx_.kernel_after(r, o.name, o.task, ctx_.compute(),
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
      ctx_.set_info(info);
      for (RankId r : *s.ranks) (*s.chain)[r] = chain[r.index()];
      ctx_.emit_expert_exchange(s, ctx_.plan(exchange->moe_index),
                                exchange->kind == OpKind::dispatch, exchange->name, ctx_.comm());
      for (RankId r : *s.ranks) {
        MOESIM_CHECK(pos[r.index()] < orders[r.index()].size() &&
                         progs[r.index()][orders[r.index()][pos[r.index()]]].name == exchange->name,
                     "rank {} backward out of step at {}", r.value, exchange->name);
        chain[r.index()] = (*s.chain)[r];
        ++pos[r.index()];
      }
    }
    for (RankId r : *s.ranks) (*s.chain)[r] = chain[r.index()];
  }

  EmissionContext& ctx_;
  DeepSpeedMoeBlock moe_;
  StandardLayer standard_;
  std::optional<lancet::PartitionOverhead> overhead_;
  std::map<std::int64_t, Region> regions_;
  std::int64_t skip_forward_layer_ = -1;
  std::vector<std::pair<std::int64_t, std::int64_t>> pending_;  // backward (layer, moe index)
  std::int64_t dw_count_ = 0;
  SimTime dw_time_ = SimTime::zero();
  std::map<std::tuple<std::int64_t, std::int64_t, OpKind>, SimTime> a2a_cache_;
};

class Lancet final : public Strategy {
 public:
  Lancet(std::string name, GradientSyncOptions grad_sync)
      : name_(std::move(name)), grad_sync_(grad_sync) {}
  std::string_view name() const override { return name_; }
  std::string_view summary() const override {
    return "Lancet: irregular A2A, forward batch-partitioned pipeline of non-MoE ops + A2A + "
           "experts chosen by its DP, backward dW ops scheduled into A2A gaps";
  }
  BuildResult build_iteration(const TrainingJob& job, const CostModels& costs) const override {
    EmissionContext::Options options;
    options.pad_to_capacity = false;
    // Like DeepSpeed: the tp ranks of a replica each dispatch 1/tp of its tokens.
    options.split_tokens_over_tp = job.layout.tp > 1 && job.layout.esp == 1;
    EmissionContext ctx(job, costs, options);
    // Lancet plans each region when it first emits it (lancet_planner.hpp).
    LancetLayer layer(ctx);
    ScheduledPipeline pipeline(ctx, layer, name());
    DdpGradientSync gradients(ctx, grad_sync_);
    BuildResult out = emit_iteration(ctx, pipeline, gradients);
    layer.finish_decisions(out.decisions);
    return out;
  }

 private:
  std::string name_;
  GradientSyncOptions grad_sync_;
};

}  // namespace

std::unique_ptr<Strategy> make_lancet() {
  return std::make_unique<Lancet>("lancet", GradientSyncOptions{});
}

std::unique_ptr<Strategy> configure_lancet(StrategyOptions& options) {
  const GradientSyncOptions grad_sync = read_gradient_sync(options, GradientSyncOptions{});
  return std::make_unique<Lancet>(options.empty() ? "lancet" : "lancet:" + options.text(),
                                  grad_sync);
}

}  // namespace moesim::strategies
