#include "sim/strategies/fsmoe_schedule.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "sim/core/errors.hpp"
#include "sim/strategies/emit_iteration.hpp"
#include "sim/strategies/overlap_schedule.hpp"
#include "sim/strategies/scheduled_pipeline.hpp"
#include "sim/strategies/standard_layer.hpp"

namespace moesim::strategies {
namespace {

TokenPlanOptions fsmoe_options(const TrainingJob& job) {
  TokenPlanOptions o;
  o.pad_to_capacity = true;
  // MP paused inside the MoE block (FSMoE 4.3 step 1: sequence-parallel tokens, B*L/N_MP).
  o.split_tokens_over_tp = job.layout.tp > 1;
  return o;
}

std::string mb(double bytes) { return fmt::format("{:.2f} MB", bytes / 1e6); }

// Degrees of the layers, e.g. "r=2: 40 layers, r=4: 8 layers".
std::string degree_histogram(const std::vector<int>& degrees) {
  std::map<int, int> count;
  for (int d : degrees) ++count[d];
  std::string out;
  for (const auto& [d, n] : count) {
    out += fmt::format("{}r={}: {} layer{}", out.empty() ? "" : ", ", d, n, n == 1 ? "" : "s");
  }
  return out;
}

}  // namespace

FsmoeSchedule::FsmoeSchedule(EmissionContext& ctx, FsmoeVariant variant)
    : ctx_(ctx), serial_block_(ctx, core_), variant_(variant) {
  const TrainingJob& job = ctx.job();
  // The MoE block's collectives run on streams of their own, as FSMoE's MoELayer issues them on
  // its side streams, apart from the TP (sequence-parallel) collectives on "comm"; the gradient
  // all-reduces go with the all-to-alls (FSMoE Fig. 3d: on the inter-node stream). So an
  // all-reduce beside the dense backward overlaps its kernels and TP collectives, which the
  // planner's dense slot prices, and one that outlasts them holds back the next MoE block's
  // all-to-all instead of overlapping it: Tutel-Improved's "overlapped with the non-MoE parts
  // only" (FSMoE Sec. 6). Without IIO one stream carries the A2As, the ESP collectives and the
  // gradient all-reduces in issue order.
  if (variant_ == FsmoeVariant::fsmoe) {
    inter_ = ctx_.graph().stream("comm.inter");
    intra_ = ctx_.graph().stream("comm.intra");
  } else {
    inter_ = ctx_.graph().stream("comm.moe");
    intra_ = inter_;
  }
  const ModelSpec& m = job.model;
  assigned_.assign(static_cast<std::size_t>(job.layout.pp), 0);
  grad_sent_.resize(static_cast<std::size_t>(job.layout.world()));
  stage_moe_layers_.resize(static_cast<std::size_t>(job.layout.pp));
  for (std::int64_t s = 0; s < job.layout.pp; ++s) {
    for (std::int64_t l = job.layout.first_layer_of_stage(s + 1) - 1;
         l >= job.layout.first_layer_of_stage(s); --l) {
      if (m.is_moe_layer(l)) stage_moe_layers_[static_cast<std::size_t>(s)].push_back(l);
    }
  }
  plan();
}

// ---------------------------------------------------------------------------------------------
// Cost fits

double FsmoeSchedule::expert_ms(const MoeLayerPlan& p, std::int64_t parts, bool beside_comm) const {
  // The catalogue's experts of one chunk (GEMMs and activation) on the stage's first EP rank,
  // alone or started beside a collective (the executor's overlap contention).
  const RankId r = ctx_.stage_groups(GroupKind::ep, 0).front()->front();
  std::vector<std::int64_t> tokens = p.expert_tokens[r.index()];
  for (auto& t : tokens) t = split_share(t, parts, 0);
  return kernel_time(ctx_.ops().experts(Pass::forward, tokens), ctx_.costs(), r, beside_comm).ms();
}

fsmoe::PipelineCosts FsmoeSchedule::fit_costs(const MoeLayerPlan& p) const {
  fsmoe::PipelineCosts c;
  const std::vector<std::int64_t> parts = {1, 2, 4, 8};
  // Each sample is one chunk's collective in every group of stage 0 at once, as they run.
  const auto fit_comm = [&](const auto& ops_at) {
    std::vector<std::pair<double, double>> samples;
    for (std::int64_t k : parts) {
      const std::vector<CommOp> ops = ops_at(k);
      samples.emplace_back(static_cast<double>(ops.front().bytes.count),
                           ctx_.costs().estimate_together(ops).ms());
    }
    return fsmoe::fit_linear(samples);
  };
  const std::vector<RankId>& ep = *ctx_.stage_groups(GroupKind::ep, 0).front();
  if (ep.size() > 1) {
    c.n_a2a = static_cast<double>(ctx_.exchange_ops(0, p, false).front().bytes.count);
    c.a2a = fit_comm([&](std::int64_t k) { return ctx_.exchange_ops(0, p, false, 0, k); });
  }
  const std::vector<RankId>& esp = *ctx_.stage_groups(GroupKind::esp, 0).front();
  if (esp.size() > 1) {
    c.n_ag = c.n_rs = static_cast<double>(ctx_.esp_ops(0, p, true).front().bytes.count);
    c.ag = fit_comm([&](std::int64_t k) { return ctx_.esp_ops(0, p, true, 0, k); });
    c.rs = fit_comm([&](std::int64_t k) { return ctx_.esp_ops(0, p, false, 0, k); });
  }
  std::int64_t tokens = 0;
  for (std::int64_t t : p.expert_tokens[ep.front().index()]) tokens += t;
  if (tokens > 0) {
    c.n_exp = static_cast<double>(tokens);
    std::vector<std::pair<double, double>> samples, beside;
    for (std::int64_t k : parts) {
      std::int64_t chunk = 0;
      for (std::int64_t t : p.expert_tokens[ep.front().index()]) chunk += split_share(t, k, 0);
      samples.emplace_back(static_cast<double>(chunk), expert_ms(p, k, false));
      beside.emplace_back(static_cast<double>(chunk), expert_ms(p, k, true));
    }
    c.exp = fsmoe::fit_linear(samples);
    c.exp_beside_comm = fsmoe::fit_linear(beside);
  }
  c.one_comm_stream = variant_ != FsmoeVariant::fsmoe;
  return c;
}

const fsmoe::PipelineCosts& FsmoeSchedule::layer_costs(std::int64_t moe_index) {
  // Layers with the same token plan (capacity-padded: all of them) share one fit.
  const MoeLayerPlan& p = ctx_.plan(moe_index);
  const RankId r = ctx_.stage_groups(GroupKind::ep, 0).front()->front();
  const auto key = std::make_pair(p.capacity, p.expert_tokens[r.index()]);
  auto it = fits_.find(key);
  if (it == fits_.end()) it = fits_.emplace(key, fit_costs(p)).first;
  return it->second;
}

double FsmoeSchedule::attention_backward_ms() const {
  // The catalogue's attention backward and its TP all-reduce (all TP groups of the stage).
  const BlockWork w = ctx_.ops().attention(Pass::backward, ctx_.tokens());
  return (kernel_time(w, ctx_.costs()) + ctx_.stage_comm_time(w, 0)).ms();
}

double FsmoeSchedule::dense_ffn_backward_ms() const {
  const BlockWork w = ctx_.ops().dense_ffn(Pass::backward, ctx_.tokens());
  return (kernel_time(w, ctx_.costs()) + ctx_.stage_comm_time(w, 0)).ms();
}

// Data-parallel gradient bytes per rank, as the catalogue's gradient sync counts them.
std::int64_t FsmoeSchedule::attention_grad_bytes() const {
  const ModelSpec& m = ctx_.job().model;
  return (m.attention_params() / ctx_.job().layout.tp + 4 * m.hidden) * ctx_.elem_bytes();
}

std::int64_t FsmoeSchedule::gate_grad_bytes() const {
  return layer_grad_bytes(first_moe_layer_) - attention_grad_bytes();
}

std::int64_t FsmoeSchedule::layer_grad_bytes(std::int64_t layer) const {
  return ctx_.ops().dense_params(layer) * ctx_.elem_bytes();
}

// ---------------------------------------------------------------------------------------------
// Planning

double FsmoeSchedule::pipemoe_ms(const fsmoe::PipelineCosts& direction, int r) {
  const fsmoe::ChunkTimes t = fsmoe::chunk_times(direction, r);
  const double comm = t.a2a + t.ag;
  return std::max(2 * comm + t.exp_total, 2 * r * comm + t.exp);
}

int FsmoeSchedule::pipemoe_degree(const fsmoe::PipelineCosts& costs) const {
  // PipeMoE (6.3): A2A and the ESP collective form one communication per chunk; the layer is
  // compute-bound (2 t_c + r t_e) or comm-bound (2 r t_c + t_e); forward and backward (2x
  // expert) share r. The experts are priced as the one-stream pipeline runs them: compute-bound,
  // chunk 0 alone and the others beside the collectives (ChunkTimes::exp_total); comm-bound,
  // the last chunk starts as the last dispatch ends, ahead of the next collective: alone.
  int best = 1;
  double best_t = 0;
  const fsmoe::PipelineCosts backward = costs.backward();
  for (int r = 1; r <= 8; ++r) {
    const double total = pipemoe_ms(costs, r) + pipemoe_ms(backward, r);
    if (r == 1 || total < best_t) {
      best_t = total;
      best = r;
    }
  }
  return best;
}

std::size_t FsmoeSchedule::generalized_index(std::int64_t layer) const {
  const std::int64_t stage = ctx_.job().layout.stage_of_layer(layer);
  const auto& list = stage_moe_layers_[static_cast<std::size_t>(stage)];
  const auto it = std::find(list.begin(), list.end(), layer);
  MOESIM_CHECK(it != list.end(), "layer {} is not a MoE layer", layer);
  return static_cast<std::size_t>(it - list.begin());
}

int FsmoeSchedule::forward_degree(std::int64_t moe_index) const {
  return degree_fwd_[static_cast<std::size_t>(moe_index)];
}

int FsmoeSchedule::backward_degree(std::int64_t moe_index) const {
  if (variant_ == FsmoeVariant::tutel_improved)
    return degree_fwd_[static_cast<std::size_t>(moe_index)];
  std::int64_t layer = -1;
  for (std::int64_t l = 0, n = 0; l < ctx_.job().model.layers; ++l) {
    if (ctx_.job().model.is_moe_layer(l) && n++ == moe_index) layer = l;
  }
  const std::int64_t stage = ctx_.job().layout.stage_of_layer(layer);
  const auto& plan = grad_plans_[static_cast<std::size_t>(stage)];
  return plan.backward_degree[generalized_index(layer)];
}

const fsmoe::GradientPlan& FsmoeSchedule::gradient_plan(std::int64_t stage) const {
  return grad_plans_[static_cast<std::size_t>(stage)];
}

std::int64_t FsmoeSchedule::moe_index_of(std::int64_t layer) const {
  std::int64_t n = 0;
  for (std::int64_t l = 0; l < layer; ++l) n += ctx_.job().model.is_moe_layer(l) ? 1 : 0;
  return n;
}

fsmoe::PipelineCosts FsmoeSchedule::planner_costs(std::int64_t moe_index) {
  // What the planner believes the layer costs: with one comm stream (no IIO) the ESP collective
  // runs in series with the A2A, so it is folded into the A2A line and AG/RS vanish.
  fsmoe::PipelineCosts planner = layer_costs(moe_index);
  if (variant_ == FsmoeVariant::fsmoe_no_iio && planner.n_a2a > 0) {
    planner.a2a.alpha_ms += planner.n_ag > 0 ? planner.ag.alpha_ms : 0.0;
    planner.a2a.beta_ms += planner.ag.beta_ms * planner.n_ag / planner.n_a2a;
    planner.n_ag = planner.n_rs = 0;
  }
  return planner;
}

void FsmoeSchedule::plan_gradients() {
  const ModelSpec& m = ctx_.job().model;
  // Forward: Algorithm 1 per MoE layer, on that layer's fits.
  for (std::int64_t l = 0; l < m.moe_layer_count(); ++l) {
    const fsmoe::DegreeChoice fwd = fsmoe::forward_degree(planner_costs(l));
    degree_fwd_[static_cast<std::size_t>(l)] = fwd.degree;
    if (l == 0) {
      ctx_.decisions()["fsmoe.degree.forward"] = Decision::count(fwd.degree, "", "MoE layer 0");
      ctx_.decisions()["fsmoe.case.forward"] =
          Decision::count(fwd.model_case, "",
                          fmt::format("MoE layer 0: continuous r {:.2f}, model {:.3f} ms",
                                      fwd.r_continuous, fwd.time_ms));
      ctx_.decisions()["fsmoe.forward_estimate"] = Decision::quantity(
          fwd.time_ms * 1e3, "us",
          "MoE layer 0's forward pipeline (first dispatch to last combine) by the four-case "
          "model at the chosen degree");
    }
  }

  const double attn_ms = attention_backward_ms();
  const double ffn_ms = dense_ffn_backward_ms();
  for (std::int64_t s = 0; s < ctx_.job().layout.pp; ++s) {
    const auto& moe = stage_moe_layers_[static_cast<std::size_t>(s)];
    const std::int64_t first = ctx_.job().layout.first_layer_of_stage(s),
                       last = first + ctx_.job().layout.layers_of_stage(s) - 1;
    std::vector<fsmoe::GeneralizedLayer> layers;
    for (std::size_t i = 0; i < moe.size(); ++i) {
      fsmoe::GeneralizedLayer g;
      const std::int64_t l = moe[i];
      g.backward = planner_costs(moe_index_of(l)).backward();
      g.forward_degree = degree_fwd_[static_cast<std::size_t>(moe_index_of(l))];
      // Ready before its MoE backward: the dense layers after it and the previous MoE layer's
      // attention (backward runs layer l+1 .. then l).
      const std::int64_t upper = i == 0 ? last : moe[i - 1] - 1;
      for (std::int64_t k = l + 1; k <= upper; ++k) {
        g.ready_before_bytes += static_cast<double>(layer_grad_bytes(k));
      }
      if (i > 0) g.ready_before_bytes += static_cast<double>(attention_grad_bytes());
      g.ready_after_bytes = static_cast<double>(gate_grad_bytes());
      const std::int64_t lower = i + 1 < moe.size() ? moe[i + 1] + 1 : first;
      g.dense_overlap_ms = attn_ms + static_cast<double>(l - lower) * (attn_ms + ffn_ms);
      layers.push_back(g);
    }
    const bool has_dp = ctx_.stage_groups(GroupKind::dp, s).front()->size() > 1;
    if (has_dp) {
      grad_plans_.push_back(fsmoe::partition_gradients(layers, allreduce_));
    } else {
      fsmoe::GradientPlan none;
      none.in_moe_bytes.assign(layers.size(), 0.0);
      none.dense_bytes.assign(layers.size(), 0.0);
      for (std::size_t i = 0; i < layers.size(); ++i) {
        // No gradient rides in any MoE backward: optim.py's d1 for the first, Algorithm 1 at
        // t_gar = 0 for the others (Optimizer.run with nothing to all-reduce).
        const fsmoe::GeneralizedLayer& g = layers[i];
        const fsmoe::DegreeChoice d =
            i == 0 ? fsmoe::first_backward_degree(g.backward, g.forward_degree)
                   : fsmoe::find_optimal_degree(g.backward, 0.0);
        none.backward_degree.push_back(d.degree);
        none.backward_case.push_back(d.model_case);
      }
      grad_plans_.push_back(std::move(none));
    }
  }

  const fsmoe::GradientPlan& p0 = grad_plans_.front();
  std::map<int, int> count;
  for (int d : p0.backward_degree) ++count[d];
  int mode = 1, seen = 0;
  for (const auto& [d, n] : count) {
    if (n > seen) {
      seen = n;
      mode = d;
    }
  }
  ctx_.decisions()["fsmoe.degree.backward"] =
      Decision::count(mode, "", "most common over stage 0's MoE layers");
  ctx_.decisions()["fsmoe.degree.backward.layers"] =
      Decision::choice(degree_histogram(p0.backward_degree), "stage 0");
  std::map<int, int> cases;
  for (int c : p0.backward_case) ++cases[c];
  std::string case_text;
  for (const auto& [c, n] : cases) {
    case_text += fmt::format("{}case {}: {} layer{}", case_text.empty() ? "" : ", ", c, n,
                             n == 1 ? "" : "s");
  }
  ctx_.decisions()["fsmoe.case.backward"] = Decision::choice(case_text, "stage 0");
  double in_moe = 0, dense = 0;
  for (double b : p0.in_moe_bytes) in_moe += b;
  for (double b : p0.dense_bytes) dense += b;
  std::int64_t total = 0;
  for (std::int64_t l = 0; l < ctx_.job().layout.layers_of_stage(0); ++l)
    total += layer_grad_bytes(l);
  ctx_.decisions()["fsmoe.gradients"] = Decision::count(
      static_cast<std::int64_t>(in_moe), "bytes",
      fmt::format("per rank, stage 0, in MoE pipelines; {} beside dense backward, {} after "
                  "backward (step 2 moved {})",
                  mb(dense), mb(static_cast<double>(total) - in_moe - dense),
                  mb(p0.step2_moved_bytes)));
  std::string per_layer;
  for (std::size_t i = 0; i < p0.in_moe_bytes.size(); ++i) {
    if (i == 8) {
      per_layer += fmt::format(", ... ({} layers)", p0.in_moe_bytes.size());
      break;
    }
    per_layer += fmt::format("{}L{} {:.2f}+{:.2f} r={}", per_layer.empty() ? "" : ", ",
                             stage_moe_layers_.front()[i], p0.in_moe_bytes[i] / 1e6,
                             p0.dense_bytes[i] / 1e6, p0.backward_degree[i]);
  }
  ctx_.decisions()["fsmoe.gradients.per_layer"] =
      Decision::choice(per_layer, "MB in-MoE+dense and backward degree, backward order");
}

void FsmoeSchedule::plan() {
  const std::string prefix = variant_ == FsmoeVariant::tutel_improved ? "tutel-improved" : "fsmoe";
  const std::int64_t layers = ctx_.job().model.moe_layer_count();
  degree_fwd_.assign(static_cast<std::size_t>(layers), 1);
  if (layers == 0) {
    ctx_.decisions()[prefix + ".degree"] = Decision::choice("n/a", "no MoE layers");
    for (const auto& moe : stage_moe_layers_) {
      (void)moe;
      grad_plans_.emplace_back();
    }
    return;
  }
  for (std::int64_t l = 0; l < ctx_.job().model.layers; ++l) {
    if (ctx_.job().model.is_moe_layer(l)) {
      first_moe_layer_ = l;
      break;
    }
  }
  const fsmoe::PipelineCosts& c0 = layer_costs(0);
  if (ctx_.stage_groups(GroupKind::dp, 0).front()->size() > 1) {
    // The gradient all-reduce line: every DP group of the stage all-reducing at once.
    std::vector<std::pair<double, double>> samples;
    const std::int64_t base = layer_grad_bytes(ctx_.job().model.layers - 1);
    for (const std::int64_t k : {1, 2, 4, 8, 16}) {
      const std::int64_t bytes = base * k / 4;
      samples.emplace_back(
          static_cast<double>(bytes),
          ctx_.costs()
              .estimate_together(ctx_.group_ops(0, GroupKind::dp, CommKind::all_reduce,
                                                CommGroup::dp, Bytes{bytes}))
              .ms());
    }
    allreduce_ = fsmoe::fit_linear(samples);
  }
  ctx_.decisions()[prefix + ".a2a_estimate"] =
      Decision::quantity(c0.n_a2a > 0 ? c0.a2a.at(c0.n_a2a) * 1e3 : 0.0, "us",
                         "MoE layer 0's un-chunked dispatch from the fitted line, every EP group "
                         "of the stage at once");
  ctx_.decisions()[prefix + ".attention_backward_estimate"] = Decision::quantity(
      attention_backward_estimate().us(), "us",
      "kernels of layer 0's attention backward (its TP all-reduce priced apart)");
  ctx_.decisions()[prefix + ".fit"] = Decision::quantity(
      c0.exp.at(c0.n_exp), "ms",
      fmt::format(
          "expert time of MoE layer 0 from the fit; ms and ms/byte (ms/token for expert): a2a "
          "{:.3g}+{:.3g}n (n={}), ag {:.3g}+{:.3g}n, rs {:.3g}+{:.3g}n, expert {:.3g}+{:.3g}n "
          "(n={}), allreduce {:.3g}+{:.3g}n",
          c0.a2a.alpha_ms, c0.a2a.beta_ms, c0.n_a2a, c0.ag.alpha_ms, c0.ag.beta_ms, c0.rs.alpha_ms,
          c0.rs.beta_ms, c0.exp.alpha_ms, c0.exp.beta_ms, c0.n_exp, allreduce_.alpha_ms,
          allreduce_.beta_ms));
  if (variant_ == FsmoeVariant::tutel_improved) {
    for (std::int64_t l = 0; l < layers; ++l) {
      degree_fwd_[static_cast<std::size_t>(l)] = pipemoe_degree(layer_costs(l));
    }
    ctx_.decisions()["tutel-improved.degree"] =
        Decision::count(degree_fwd_.front(), "", "MoE layer 0, forward and backward");
    ctx_.decisions()["tutel-improved.forward_estimate"] = Decision::quantity(
        pipemoe_ms(c0, degree_fwd_.front()) * 1e3, "us",
        "MoE layer 0's forward pipeline (first dispatch to last combine) by PipeMoE's model at "
        "the chosen degree");
    ctx_.decisions()["tutel-improved.gradients"] =
        Decision::choice("after each MoE block",
                         "all-reduced after each MoE block's backward (overlaps non-MoE "
                         "backward only)");
    record_expert_estimate(prefix);
    return;
  }
  plan_gradients();
  record_expert_estimate(prefix);
}

void FsmoeSchedule::record_expert_estimate(const std::string& prefix) {
  // MoE layer 0's experts as emitted: every chunk of the forward degree, first EP rank, priced
  // on the forward pipeline emit_chunked issues (OverlapSchedule): dispatches (all-to-all, then
  // the ESP all-gather) first, chunk c's experts after its gather, its reduce-scatter and combine
  // after them; each kernel pays the contention for the part of it a collective overlaps, as the
  // executor charges it. Collectives priced with every group of the stage at once.
  const MoeLayerPlan& p = ctx_.plan(0);
  const std::int64_t degree = degree_fwd_.front();
  const RankId r = ctx_.stage_groups(GroupKind::ep, 0).front()->front();
  const CostModels& costs = ctx_.costs();
  const int inter = 0;
  const int intra = inter_ == intra_ ? 0 : 1;
  OverlapSchedule q(2);
  std::vector<OverlapSchedule::Op> gathered;
  for (std::int64_t c = 0; c < degree; ++c) {
    const auto d =
        q.comm(inter, costs.estimate_together(ctx_.exchange_ops(0, p, false, c, degree)));
    gathered.push_back(
        q.comm(intra, costs.estimate_together(ctx_.esp_ops(0, p, true, c, degree)), {d}));
  }
  for (std::int64_t c = 0; c < degree; ++c) {
    std::vector<std::int64_t> tokens = p.expert_tokens[r.index()];
    for (auto& n : tokens) n = split_share(n, degree, c);
    const BlockWork work = ctx_.ops().experts(Pass::forward, tokens);
    std::vector<OverlapSchedule::Op> after = {gathered[static_cast<std::size_t>(c)]};
    for (const KernelOp* k : work.kernels()) {
      after = {q.kernel(costs.duration(k->task, r), costs.duration_beside_comm(k->task, r), after)};
    }
    const auto rs =
        q.comm(intra, costs.estimate_together(ctx_.esp_ops(0, p, false, c, degree)), after);
    q.comm(inter, costs.estimate_together(ctx_.exchange_ops(0, p, true, c, degree)), {rs});
  }
  ctx_.decisions()[prefix + ".expert_estimate"] = Decision::quantity(
      q.kernel_total().us(), "us",
      fmt::format("MoE layer 0's experts forward, {} chunk(s), first EP rank ({} of {} kernels "
                  "beside communication)",
                  degree, q.kernels_beside_comm(), q.kernel_count()));
}

// ---------------------------------------------------------------------------------------------
// Emission

void FsmoeSchedule::emit_grad_allreduce(const Step& s, double bytes, std::string_view name,
                                        StreamId stream) {
  const auto n = static_cast<std::int64_t>(bytes);
  if (n <= 0) return;
  for (const std::vector<RankId>* g : ctx_.stage_groups(GroupKind::dp, s.stage)) {
    if (g->size() <= 1) continue;
    std::vector<std::vector<TaskId>> deps;
    for (RankId r : *g) deps.push_back((*s.chain)[r]);
    const auto members = ctx_.collective_after(
        name, ctx_.op(CommKind::all_reduce, CommGroup::dp, *g, Bytes{n}), stream, deps);
    for (std::size_t i = 0; i < g->size(); ++i) {
      grad_sent_[(*g)[i].index()].push_back(members[i]);
    }
  }
}

void FsmoeSchedule::core_forward(const Step& s, const MoeLayerPlan& p) {
  emit_chunked(s, p, Phase::forward, degree_fwd_[static_cast<std::size_t>(p.moe_index)], 0.0);
}

void FsmoeSchedule::core_backward(const Step& s, const MoeLayerPlan& p) {
  double gar = 0.0;
  if (variant_ != FsmoeVariant::tutel_improved && last_micro_batch(s)) {
    gar = grad_plans_[static_cast<std::size_t>(s.stage)].in_moe_bytes[generalized_index(s.layer)];
  }
  emit_chunked(s, p, Phase::backward, backward_degree(s.moe_index), gar);
}

void FsmoeSchedule::block_forward(const Step& s) { serial_block_.forward(s); }

double FsmoeSchedule::tutel_improved_block_bytes(std::int64_t stage, std::int64_t layer) const {
  // Everything ready now: the layers since the previous MoE block and this block's gate.
  const std::size_t gi = generalized_index(layer);
  const auto& moe = stage_moe_layers_[static_cast<std::size_t>(stage)];
  const std::int64_t upper =
      gi == 0 ? ctx_.job().layout.first_layer_of_stage(stage + 1) - 1 : moe[gi - 1] - 1;
  double bytes = 0.0;
  for (std::int64_t k = layer + 1; k <= upper; ++k) {
    bytes += static_cast<double>(layer_grad_bytes(k));
  }
  if (gi > 0) bytes += static_cast<double>(attention_grad_bytes());
  bytes += static_cast<double>(gate_grad_bytes());
  return bytes;
}

SimTime FsmoeSchedule::attention_backward_estimate() const {
  const std::int64_t tokens = ctx_.tokens();
  const BlockWork attention = ctx_.ops().attention(Pass::backward, tokens);
  const auto& moe = stage_moe_layers_.front();
  if (variant_ != FsmoeVariant::tutel_improved || moe.empty()) {
    return kernel_time(attention, ctx_.costs());
  }
  // Tutel-Improved all-reduces a MoE block's gradients as soon as its MoE backward ends, beside
  // the non-MoE backward below it: layer 0's attention backward runs beside what is left of the
  // all-reduce of stage 0's lowest MoE layer m, after m's attention and the dense layers
  // m-1..1 (FFN and attention) and layer 0's FFN. Each kernel pays the contention for the part
  // of it the all-reduce overlaps (OverlapSchedule), as the executor charges it.
  const std::int64_t m = *std::min_element(moe.begin(), moe.end());
  const CostModels& costs = ctx_.costs();
  const auto bytes = static_cast<std::int64_t>(tutel_improved_block_bytes(0, m));
  OverlapSchedule q;
  if (bytes > 0) {
    q.comm(0, costs.estimate_together(ctx_.group_ops(0, GroupKind::dp, CommKind::all_reduce,
                                                     CommGroup::dp, Bytes{bytes})));
  }
  const auto run = [&](const BlockWork& work) {
    SimTime t = SimTime::zero();
    for (const KernelOp* k : work.kernels()) {
      const auto op = q.kernel(costs.duration(k->task), costs.duration_beside_comm(k->task));
      t += q.end(op) - q.start(op);
    }
    return t;
  };
  for (std::int64_t l = m; l > 0; --l) {
    run(attention);
    run(ctx_.ops().dense_ffn(Pass::backward, tokens));
  }
  return run(attention);
}

void FsmoeSchedule::block_backward(const Step& s) {
  serial_block_.backward(s);
  if (!last_micro_batch(s)) return;
  const std::size_t gi = generalized_index(s.layer);
  double bytes = 0.0;
  if (variant_ == FsmoeVariant::tutel_improved) {
    bytes = tutel_improved_block_bytes(s.stage, s.layer);
  } else {
    bytes = grad_plans_[static_cast<std::size_t>(s.stage)].dense_bytes[gi];
  }
  emit_grad_allreduce(s, bytes, "grad.allreduce.dense", inter_);
  // Bytes already all-reduced by this stage; the rest goes after the backward.
  assigned_[static_cast<std::size_t>(s.stage)] += static_cast<std::int64_t>(bytes);
}

void FsmoeSchedule::emit_chunked(const Step& s, const MoeLayerPlan& p, Phase phase,
                                 std::int64_t degree, double gar_bytes) {
  const auto world = static_cast<std::size_t>(ctx_.job().layout.world());
  const bool fwd = phase == Phase::forward;
  const std::string_view in_name = fwd ? "ep.dispatch" : "ep.combine.bwd";
  const std::string_view out_name = fwd ? "ep.combine" : "ep.dispatch.bwd";
  std::vector<std::vector<TaskId>> start(world);
  for (RankId r : *s.ranks) start[r.index()] = (*s.chain)[r];
  std::vector<std::vector<std::vector<TaskId>>> gathered(static_cast<std::size_t>(degree),
                                                         std::vector<std::vector<TaskId>>(world));
  // Fig. 3d: the gradient all-reduce follows the last chunk's dispatch on the inter-node
  // stream; it needs only the gradients computed before this MoE backward. Without IIO the
  // dispatch unit on the one comm stream is the all-to-all and its all-gather (the planner folds
  // the two into one line, planner_costs), so the all-reduce follows both: issued between them
  // it would hold back the last chunk's experts for nothing.
  const auto grad_allreduce = [&] {
    std::vector<std::vector<TaskId>> here(world);
    for (RankId r : *s.ranks) {
      here[r.index()] = (*s.chain)[r];
      (*s.chain)[r] = start[r.index()];
    }
    emit_grad_allreduce(s, gar_bytes, "grad.allreduce.moe", inter_);
    assigned_[static_cast<std::size_t>(s.stage)] += static_cast<std::int64_t>(gar_bytes);
    for (RankId r : *s.ranks) (*s.chain)[r] = here[r.index()];
  };
  const bool one_comm_stream = inter_ == intra_;
  for (std::int64_t c = 0; c < degree; ++c) {
    for (RankId r : *s.ranks) (*s.chain)[r] = start[r.index()];
    const bool last = c == degree - 1 && gar_bytes > 0;
    ctx_.emit_expert_exchange(s, p, false, in_name, inter_, c, degree);
    if (last && !one_comm_stream) grad_allreduce();
    ctx_.emit_esp_collective(s, p, true, "esp.allgather", intra_, c, degree);
    if (last && one_comm_stream) grad_allreduce();
    for (RankId r : *s.ranks) gathered[static_cast<std::size_t>(c)][r.index()] = (*s.chain)[r];
  }
  for (std::int64_t c = 0; c < degree; ++c) {
    for (RankId r : *s.ranks) {
      (*s.chain)[r] = gathered[static_cast<std::size_t>(c)][r.index()];
      std::vector<std::int64_t> tokens = p.expert_tokens[r.index()];
      for (auto& t : tokens) t = split_share(t, degree, c);
      ctx_.emit_experts(s, r, tokens, phase, ctx_.compute());
    }
    ctx_.emit_esp_collective(s, p, false, "esp.reducescatter", intra_, c, degree);
    ctx_.emit_expert_exchange(s, p, true, out_name, inter_, c, degree);
  }
}

void FsmoeSchedule::gradient_sync(Chain& chain) {
  const ParallelLayout& lay = ctx_.job().layout;
  const std::int64_t b = ctx_.elem_bytes();
  for (std::int64_t stage = 0; stage < lay.pp; ++stage) {
    std::int64_t params = 0, dense_bytes = 0, expert_bytes = 0;
    for (std::int64_t l = lay.first_layer_of_stage(stage); l < lay.first_layer_of_stage(stage + 1);
         ++l) {
      dense_bytes += layer_grad_bytes(l);
      params += ctx_.ops().dense_params(l) + ctx_.ops().local_expert_params(l);
      expert_bytes += ctx_.ops().local_expert_params(l) * b;
    }
    Step s;
    s.stage = stage;
    s.layer = lay.first_layer_of_stage(stage);
    s.phase = Phase::backward;
    s.chain = &chain;
    ctx_.set_info(s);
    const std::int64_t tail = dense_bytes - assigned_[static_cast<std::size_t>(stage)];
    if (tail > 0) {
      ctx_.group_collective(s, GroupKind::dp, "grad.allreduce", CommKind::all_reduce, CommGroup::dp,
                            Bytes{tail});
    }
    if (expert_bytes > 0) {
      ctx_.group_collective(s, GroupKind::edp, "grad.allreduce.expert", CommKind::all_reduce,
                            CommGroup::expert_dp, Bytes{expert_bytes});
    }
    s.ranks = &ctx_.stage_ranks(stage);
    params += ctx_.emit_model_ends_gradient_sync(s, stage == 0, stage == lay.pp - 1);
    Step o = s;
    o.phase = Phase::optimizer;
    o.layer = -1;
    ctx_.set_info(o);
    const KernelOp optimizer = std::get<KernelOp>(ctx_.ops().optimizer(params).ops.front());
    for (RankId r : ctx_.job().mapping.stage_ranks(stage)) {
      auto& f = (*s.chain)[r];
      const auto& sent = grad_sent_[r.index()];
      f.insert(f.end(), sent.begin(), sent.end());
      ctx_.kernel(*s.chain, r, optimizer.name, optimizer.task);
    }
  }
}

BuildResult build_fsmoe_iteration(const TrainingJob& job, const CostModels& costs,
                                  FsmoeVariant variant) {
  EmissionContext ctx(job, costs, fsmoe_options(job));
  FsmoeSchedule schedule(ctx, variant);  // plans degrees and the gradient partition
  FsmoeMoeBlock moe(schedule);
  StandardLayer layer(ctx, moe);
  const std::string_view name = variant == FsmoeVariant::fsmoe          ? "fsmoe"
                                : variant == FsmoeVariant::fsmoe_no_iio ? "fsmoe-no-iio"
                                                                        : "tutel-improved";
  ScheduledPipeline pipeline(ctx, layer, name);
  FsmoeGradientSync gradients(schedule);
  return emit_iteration(ctx, pipeline, gradients);
}

}  // namespace moesim::strategies
