#include "sim/strategies/fsmoe_schedule.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "sim/core/errors.hpp"

namespace moesim::strategies {
namespace {

IterationBuilder::Options fsmoe_options(const TrainingJob& job) {
  IterationBuilder::Options o;
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

FsmoeSchedule::FsmoeSchedule(const TrainingJob& job, const CostModels& costs, FsmoeVariant variant)
    : IterationBuilder(job, costs, fsmoe_options(job)), variant_(variant) {
  if (variant_ == FsmoeVariant::fsmoe) {
    inter_ = graph_.stream("comm.inter");
    intra_ = graph_.stream("comm.intra");
  } else {
    inter_ = comm_;
    intra_ = comm_;
  }
  const ModelSpec& m = job.model;
  const std::int64_t per_stage = m.layers / job.layout.pp;
  assigned_.assign(static_cast<std::size_t>(job.layout.pp), 0);
  grad_sent_.resize(static_cast<std::size_t>(job.layout.world()));
  stage_moe_layers_.resize(static_cast<std::size_t>(job.layout.pp));
  for (std::int64_t s = 0; s < job.layout.pp; ++s) {
    for (std::int64_t l = (s + 1) * per_stage - 1; l >= s * per_stage; --l) {
      if (m.is_moe_layer(l)) stage_moe_layers_[static_cast<std::size_t>(s)].push_back(l);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Cost fits

double FsmoeSchedule::expert_ms(const MoeLayerPlan& p, std::int64_t parts) const {
  const ModelSpec& m = job_.model;
  const std::int64_t h = m.expert_ffn_hidden / job_.layout.esp;
  const std::int64_t up = m.expert_ffn == ExpertFfn::swiglu ? 2 * h : h;
  const RankId r = stage_groups(GroupKind::ep, 0).front()->front();
  SimTime t = SimTime::zero();
  for (std::int64_t tokens : p.expert_tokens[r.index()]) {
    const std::int64_t c = split_share(tokens, parts, 0);
    if (c == 0) continue;
    t += costs_.duration(gemm(c, up, m.hidden)) + costs_.duration(gemm(c, m.hidden, h)) +
         costs_.duration(
             memory_kernel(KernelKind::elementwise, c, h, (c * up + c * h) * elem_bytes()));
  }
  return t.ms();
}

fsmoe::PipelineCosts FsmoeSchedule::fit_costs(const MoeLayerPlan& p) const {
  fsmoe::PipelineCosts c;
  const std::vector<std::int64_t> parts = {1, 2, 4, 8};
  const auto fit_comm = [&](CommKind kind, CommGroup group, const std::vector<RankId>& ranks,
                            std::int64_t total) {
    std::vector<std::pair<double, double>> samples;
    for (std::int64_t k : parts) {
      const std::int64_t bytes = split_share(total, k, 0);
      samples.emplace_back(static_cast<double>(bytes),
                           costs_.estimate(op(kind, group, ranks, Bytes{bytes})).ms());
    }
    return fsmoe::fit_linear(samples);
  };
  const std::vector<RankId>& ep = *stage_groups(GroupKind::ep, 0).front();
  if (ep.size() > 1) {
    const std::int64_t n = dispatch_bytes(p, ep.front());
    c.n_a2a = static_cast<double>(n);
    c.a2a = fit_comm(CommKind::all_to_all, CommGroup::ep, ep, n);
  }
  const std::vector<RankId>& esp = *stage_groups(GroupKind::esp, 0).front();
  if (esp.size() > 1) {
    const std::int64_t n = dispatch_bytes(p, esp.front()) * static_cast<std::int64_t>(esp.size());
    c.n_ag = c.n_rs = static_cast<double>(n);
    c.ag = fit_comm(CommKind::all_gather, CommGroup::esp, esp, n);
    c.rs = fit_comm(CommKind::reduce_scatter, CommGroup::esp, esp, n);
  }
  std::int64_t tokens = 0;
  for (std::int64_t t : p.expert_tokens[ep.front().index()]) tokens += t;
  if (tokens > 0) {
    c.n_exp = static_cast<double>(tokens);
    std::vector<std::pair<double, double>> samples;
    for (std::int64_t k : parts) {
      std::int64_t chunk = 0;
      for (std::int64_t t : p.expert_tokens[ep.front().index()]) chunk += split_share(t, k, 0);
      samples.emplace_back(static_cast<double>(chunk), expert_ms(p, k));
    }
    c.exp = fsmoe::fit_linear(samples);
  }
  return c;
}

double FsmoeSchedule::attention_backward_ms() const {
  const ModelSpec& m = job_.model;
  const std::int64_t tp = job_.layout.tp;
  const std::int64_t x = tokens();
  const std::int64_t hid = m.hidden;
  const std::int64_t b = elem_bytes();
  const std::int64_t kv = std::max(m.head_dim(), m.head_dim() * m.kv_heads / tp);
  const std::int64_t q = hid / tp;
  ComputeTask attn;
  attn.kind = KernelKind::attention;
  attn.shape = KernelShape{x, m.seq_len, m.head_dim(), m.heads / tp};
  attn.dtype = m.dtype;
  attn.flops =
      Flops{8.0 * static_cast<double>(x) * static_cast<double>(m.seq_len) * static_cast<double>(q)};
  attn.bytes = Bytes{2 * (x * (q + 2 * kv) + x * q) * b};
  const ComputeTask ln = memory_kernel(KernelKind::layernorm, x, hid, 4 * x * hid * b);
  const SimTime t = costs_.duration(ln).scaled(2) + costs_.duration(gemm(x, q, hid)) +
                    costs_.duration(gemm(q, hid, x)) + costs_.duration(attn) +
                    costs_.duration(gemm(x, hid, q + 2 * kv)) +
                    costs_.duration(gemm(hid, q + 2 * kv, x));
  return t.ms();
}

double FsmoeSchedule::dense_ffn_backward_ms() const {
  const ModelSpec& m = job_.model;
  const std::int64_t x = tokens();
  const std::int64_t f = m.ffn_hidden / job_.layout.tp;
  const std::int64_t up = m.expert_ffn == ExpertFfn::swiglu ? 2 * f : f;
  return (costs_.duration(gemm(x, f, m.hidden)) + costs_.duration(gemm(f, m.hidden, x)) +
          costs_.duration(gemm(x, m.hidden, up)) + costs_.duration(gemm(m.hidden, up, x)))
      .ms();
}

// Data-parallel gradient bytes per rank, as IterationBuilder::emit_gradient_sync counts them.
std::int64_t FsmoeSchedule::attention_grad_bytes() const {
  const ModelSpec& m = job_.model;
  return (m.attention_params() / job_.layout.tp + 4 * m.hidden) * elem_bytes();
}

std::int64_t FsmoeSchedule::gate_grad_bytes() const {
  const ModelSpec& m = job_.model;
  return (m.hidden * m.experts + m.shared_experts * m.expert_params() / job_.layout.tp) *
         elem_bytes();
}

std::int64_t FsmoeSchedule::layer_grad_bytes(std::int64_t layer) const {
  const ModelSpec& m = job_.model;
  return attention_grad_bytes() + (m.is_moe_layer(layer)
                                       ? gate_grad_bytes()
                                       : m.dense_ffn_params() / job_.layout.tp * elem_bytes());
}

// ---------------------------------------------------------------------------------------------
// Planning

int FsmoeSchedule::pipemoe_degree() const {
  // PipeMoE (6.3): A2A and the ESP collective form one communication per chunk; the layer is
  // compute-bound (2 t_c + r t_e) or comm-bound (2 r t_c + t_e); forward and backward (2x
  // expert) share r.
  int best = 1;
  double best_t = 0;
  for (int r = 1; r <= 8; ++r) {
    const fsmoe::ChunkTimes t = fsmoe::chunk_times(forward_, r);
    const double comm = t.a2a + t.ag;
    double total = 0;
    for (const double e : {t.exp, 2 * t.exp}) {
      total += std::max(2 * comm + r * e, 2 * r * comm + e);
    }
    if (r == 1 || total < best_t) {
      best_t = total;
      best = r;
    }
  }
  return best;
}

std::size_t FsmoeSchedule::generalized_index(std::int64_t layer) const {
  const std::int64_t stage = layer / (job_.model.layers / job_.layout.pp);
  const auto& list = stage_moe_layers_[static_cast<std::size_t>(stage)];
  const auto it = std::find(list.begin(), list.end(), layer);
  MOESIM_CHECK(it != list.end(), "layer {} is not a MoE layer", layer);
  return static_cast<std::size_t>(it - list.begin());
}

int FsmoeSchedule::backward_degree(std::int64_t moe_index) const {
  if (variant_ == FsmoeVariant::tutel_improved) return degree_tutel_;
  std::int64_t layer = -1;
  for (std::int64_t l = 0, n = 0; l < job_.model.layers; ++l) {
    if (job_.model.is_moe_layer(l) && n++ == moe_index) layer = l;
  }
  const std::int64_t stage = layer / (job_.model.layers / job_.layout.pp);
  const auto& plan = grad_plans_[static_cast<std::size_t>(stage)];
  return plan.backward_degree[generalized_index(layer)];
}

const fsmoe::GradientPlan& FsmoeSchedule::gradient_plan(std::int64_t stage) const {
  return grad_plans_[static_cast<std::size_t>(stage)];
}

void FsmoeSchedule::plan_gradients() {
  const ModelSpec& m = job_.model;
  // What the planner believes the layer costs: with one comm stream (no IIO) the ESP collective
  // runs in series with the A2A, so it is folded into the A2A line and AG/RS vanish.
  fsmoe::PipelineCosts planner = forward_;
  if (variant_ == FsmoeVariant::fsmoe_no_iio && planner.n_a2a > 0) {
    planner.a2a.alpha_ms += planner.n_ag > 0 ? planner.ag.alpha_ms : 0.0;
    planner.a2a.beta_ms += planner.ag.beta_ms * planner.n_ag / planner.n_a2a;
    planner.n_ag = planner.n_rs = 0;
  }
  const fsmoe::DegreeChoice fwd = fsmoe::find_optimal_degree(planner, 0.0);
  degree_fwd_ = fwd.degree;
  decisions_["fsmoe.degree.forward"] = std::to_string(fwd.degree);
  decisions_["fsmoe.case.forward"] = fmt::format("case {} (continuous r {:.2f}, model {:.3f} ms)",
                                                 fwd.model_case, fwd.r_continuous, fwd.time_ms);

  const std::int64_t per_stage = m.layers / job_.layout.pp;
  const double attn_ms = attention_backward_ms();
  const double ffn_ms = dense_ffn_backward_ms();
  for (std::int64_t s = 0; s < job_.layout.pp; ++s) {
    const auto& moe = stage_moe_layers_[static_cast<std::size_t>(s)];
    const std::int64_t first = s * per_stage, last = first + per_stage - 1;
    std::vector<fsmoe::GeneralizedLayer> layers;
    for (std::size_t i = 0; i < moe.size(); ++i) {
      fsmoe::GeneralizedLayer g;
      g.backward = planner.backward();
      const std::int64_t l = moe[i];
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
    const bool has_dp = stage_groups(GroupKind::dp, s).front()->size() > 1;
    if (has_dp) {
      grad_plans_.push_back(fsmoe::partition_gradients(layers, allreduce_));
    } else {
      fsmoe::GradientPlan none;
      none.in_moe_bytes.assign(layers.size(), 0.0);
      none.dense_bytes.assign(layers.size(), 0.0);
      for (const auto& g : layers) {
        const fsmoe::DegreeChoice d = fsmoe::find_optimal_degree(g.backward, 0.0);
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
  decisions_["fsmoe.degree.backward"] = std::to_string(mode);
  decisions_["fsmoe.degree.backward.layers"] = degree_histogram(p0.backward_degree);
  std::map<int, int> cases;
  for (int c : p0.backward_case) ++cases[c];
  std::string case_text;
  for (const auto& [c, n] : cases) {
    case_text += fmt::format("{}case {}: {} layer{}", case_text.empty() ? "" : ", ", c, n,
                             n == 1 ? "" : "s");
  }
  decisions_["fsmoe.case.backward"] = case_text;
  double in_moe = 0, dense = 0;
  for (double b : p0.in_moe_bytes) in_moe += b;
  for (double b : p0.dense_bytes) dense += b;
  std::int64_t total = 0;
  for (std::int64_t l = 0; l < per_stage; ++l) total += layer_grad_bytes(l);
  decisions_["fsmoe.gradients"] = fmt::format(
      "per rank, stage 0: {} in MoE pipelines, {} beside dense backward, {} after backward "
      "(step 2 moved {})",
      mb(in_moe), mb(dense), mb(static_cast<double>(total) - in_moe - dense),
      mb(p0.step2_moved_bytes));
  std::string per_layer;
  for (std::size_t i = 0; i < p0.in_moe_bytes.size(); ++i) {
    if (i == 8) {
      per_layer += fmt::format(", ... ({} layers)", p0.in_moe_bytes.size());
      break;
    }
    per_layer += fmt::format("{}L{} {:.2f}+{:.2f}", per_layer.empty() ? "" : ", ",
                             stage_moe_layers_.front()[i], p0.in_moe_bytes[i] / 1e6,
                             p0.dense_bytes[i] / 1e6);
  }
  decisions_["fsmoe.gradients.per_layer"] = per_layer + " MB (in-MoE+dense, backward order)";
}

void FsmoeSchedule::plan_schedule() {
  const std::string prefix = variant_ == FsmoeVariant::tutel_improved ? "tutel-improved" : "fsmoe";
  if (job_.model.moe_layer_count() == 0) {
    decisions_[prefix + ".degree"] = "n/a (no MoE layers)";
    for (const auto& moe : stage_moe_layers_) {
      (void)moe;
      grad_plans_.emplace_back();
    }
    return;
  }
  forward_ = fit_costs(plan(0));
  const std::vector<RankId>& dp = *stage_groups(GroupKind::dp, 0).front();
  if (dp.size() > 1) {
    std::vector<std::pair<double, double>> samples;
    const std::int64_t base = layer_grad_bytes(job_.model.layers - 1);
    for (const std::int64_t k : {1, 2, 4, 8, 16}) {
      const std::int64_t bytes = base * k / 4;
      samples.emplace_back(
          static_cast<double>(bytes),
          costs_.estimate(op(CommKind::all_reduce, CommGroup::dp, dp, Bytes{bytes})).ms());
    }
    allreduce_ = fsmoe::fit_linear(samples);
  }
  decisions_[prefix + ".fit"] = fmt::format(
      "ms and ms/byte (ms/token for expert): a2a {:.3g}+{:.3g}n (n={}), ag {:.3g}+{:.3g}n, "
      "rs {:.3g}+{:.3g}n, expert {:.3g}+{:.3g}n (n={}), allreduce {:.3g}+{:.3g}n",
      forward_.a2a.alpha_ms, forward_.a2a.beta_ms, forward_.n_a2a, forward_.ag.alpha_ms,
      forward_.ag.beta_ms, forward_.rs.alpha_ms, forward_.rs.beta_ms, forward_.exp.alpha_ms,
      forward_.exp.beta_ms, forward_.n_exp, allreduce_.alpha_ms, allreduce_.beta_ms);
  if (variant_ == FsmoeVariant::tutel_improved) {
    degree_tutel_ = pipemoe_degree();
    decisions_["tutel-improved.degree"] = std::to_string(degree_tutel_);
    decisions_["tutel-improved.gradients"] =
        "all-reduced after each MoE block's backward (overlaps non-MoE backward only)";
    return;
  }
  plan_gradients();
}

// ---------------------------------------------------------------------------------------------
// Emission

void FsmoeSchedule::emit_grad_allreduce(const Step& s, double bytes, std::string_view name,
                                        StreamId stream) {
  const auto n = static_cast<std::int64_t>(bytes);
  if (n <= 0) return;
  for (const std::vector<RankId>* g : stage_groups(GroupKind::dp, s.stage)) {
    if (g->size() <= 1) continue;
    std::vector<std::vector<TaskId>> deps;
    for (RankId r : *g) deps.push_back(frontier(r));
    const auto members =
        collective_after(name, op(CommKind::all_reduce, CommGroup::dp, *g, Bytes{n}), stream, deps);
    for (std::size_t i = 0; i < g->size(); ++i) {
      grad_sent_[(*g)[i].index()].push_back(members[i]);
    }
  }
}

void FsmoeSchedule::emit_moe_core_forward(const Step& s, const MoeLayerPlan& p) {
  emit_chunked(s, p, Phase::forward,
               variant_ == FsmoeVariant::tutel_improved ? degree_tutel_ : degree_fwd_, 0.0);
}

void FsmoeSchedule::emit_moe_core_backward(const Step& s, const MoeLayerPlan& p) {
  double gar = 0.0;
  if (variant_ != FsmoeVariant::tutel_improved && last_micro_batch(s)) {
    gar = grad_plans_[static_cast<std::size_t>(s.stage)].in_moe_bytes[generalized_index(s.layer)];
  }
  emit_chunked(s, p, Phase::backward, backward_degree(s.moe_index), gar);
}

void FsmoeSchedule::emit_moe_backward(const Step& s) {
  IterationBuilder::emit_moe_backward(s);
  if (!last_micro_batch(s)) return;
  const std::size_t gi = generalized_index(s.layer);
  double bytes = 0.0;
  if (variant_ == FsmoeVariant::tutel_improved) {
    // Everything ready now: the layers since the previous MoE block and this block's gate.
    const auto& moe = stage_moe_layers_[static_cast<std::size_t>(s.stage)];
    const std::int64_t per_stage = job_.model.layers / job_.layout.pp;
    const std::int64_t upper = gi == 0 ? (s.stage + 1) * per_stage - 1 : moe[gi - 1] - 1;
    for (std::int64_t k = s.layer + 1; k <= upper; ++k) {
      bytes += static_cast<double>(layer_grad_bytes(k));
    }
    if (gi > 0) bytes += static_cast<double>(attention_grad_bytes());
    bytes += static_cast<double>(gate_grad_bytes());
  } else {
    bytes = grad_plans_[static_cast<std::size_t>(s.stage)].dense_bytes[gi];
  }
  emit_grad_allreduce(s, bytes, "grad.allreduce.dense", inter_);
  // Bytes already all-reduced by this stage; the rest goes after the backward.
  assigned_[static_cast<std::size_t>(s.stage)] += static_cast<std::int64_t>(bytes);
}

void FsmoeSchedule::emit_chunked(const Step& s, const MoeLayerPlan& p, Phase phase,
                                 std::int64_t degree, double gar_bytes) {
  const auto world = static_cast<std::size_t>(job_.layout.world());
  const bool fwd = phase == Phase::forward;
  const std::string_view in_name = fwd ? "ep.dispatch" : "ep.combine.bwd";
  const std::string_view out_name = fwd ? "ep.combine" : "ep.dispatch.bwd";
  std::vector<std::vector<TaskId>> start(world);
  for (RankId r : *s.ranks) start[r.index()] = frontier(r);
  std::vector<std::vector<std::vector<TaskId>>> gathered(static_cast<std::size_t>(degree),
                                                         std::vector<std::vector<TaskId>>(world));
  for (std::int64_t c = 0; c < degree; ++c) {
    for (RankId r : *s.ranks) frontier(r) = start[r.index()];
    emit_expert_exchange(s, p, false, in_name, inter_, c, degree);
    if (c == degree - 1 && gar_bytes > 0) {
      // Fig. 3d: the gradient all-reduce follows the last chunk's dispatch on the inter-node
      // stream; it needs only the gradients computed before this MoE backward.
      std::vector<std::vector<TaskId>> here(world);
      for (RankId r : *s.ranks) {
        here[r.index()] = frontier(r);
        frontier(r) = start[r.index()];
      }
      emit_grad_allreduce(s, gar_bytes, "grad.allreduce.moe", inter_);
      assigned_[static_cast<std::size_t>(s.stage)] += static_cast<std::int64_t>(gar_bytes);
      for (RankId r : *s.ranks) frontier(r) = here[r.index()];
    }
    emit_esp_collective(s, p, true, "esp.allgather", intra_, c, degree);
    for (RankId r : *s.ranks) gathered[static_cast<std::size_t>(c)][r.index()] = frontier(r);
  }
  for (std::int64_t c = 0; c < degree; ++c) {
    for (RankId r : *s.ranks) {
      frontier(r) = gathered[static_cast<std::size_t>(c)][r.index()];
      std::vector<std::int64_t> tokens = p.expert_tokens[r.index()];
      for (auto& t : tokens) t = split_share(t, degree, c);
      emit_experts(r, tokens, phase, compute_);
    }
    emit_esp_collective(s, p, false, "esp.reducescatter", intra_, c, degree);
    emit_expert_exchange(s, p, true, out_name, inter_, c, degree);
  }
}

void FsmoeSchedule::emit_gradient_sync() {
  const ModelSpec& m = job_.model;
  const ParallelLayout& lay = job_.layout;
  const std::int64_t b = elem_bytes();
  const std::int64_t per_stage = m.layers / lay.pp;
  for (std::int64_t stage = 0; stage < lay.pp; ++stage) {
    std::int64_t params = 0, dense_bytes = 0, expert_bytes = 0;
    for (std::int64_t l = stage * per_stage; l < (stage + 1) * per_stage; ++l) {
      dense_bytes += layer_grad_bytes(l);
      params += layer_grad_bytes(l) / b;
      if (m.is_moe_layer(l)) {
        const std::int64_t e = local_experts() * m.expert_params() / lay.esp;
        params += e;
        expert_bytes += e * b;
      }
    }
    Step s;
    s.stage = stage;
    s.layer = stage * per_stage;
    s.phase = Phase::backward;
    set_info(s);
    const std::int64_t tail = dense_bytes - assigned_[static_cast<std::size_t>(stage)];
    if (tail > 0) {
      group_collective(s, GroupKind::dp, "grad.allreduce", CommKind::all_reduce, CommGroup::dp,
                       Bytes{tail});
    }
    if (expert_bytes > 0) {
      group_collective(s, GroupKind::edp, "grad.allreduce.expert", CommKind::all_reduce,
                       CommGroup::expert_dp, Bytes{expert_bytes});
    }
    Step o = s;
    o.phase = Phase::optimizer;
    o.layer = -1;
    set_info(o);
    // Adam, mixed precision: 28 bytes and ~10 flops per parameter (as IterationBuilder).
    for (RankId r : job_.mapping.stage_ranks(stage)) {
      auto& f = frontier(r);
      const auto& sent = grad_sent_[r.index()];
      f.insert(f.end(), sent.begin(), sent.end());
      kernel(r, "optimizer",
             memory_kernel(KernelKind::optimizer, params, 1, 28 * params,
                           10.0 * static_cast<double>(params)));
    }
  }
}

}  // namespace moesim::strategies
