#include "sim/strategies/fsmoe_planner.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>

#include "sim/core/errors.hpp"

namespace moesim::strategies::fsmoe {

double LinearCost::inverse(double t_ms) const {
  if (beta_ms <= 0.0 || t_ms <= alpha_ms) return 0.0;
  return (t_ms - alpha_ms) / beta_ms;
}

LinearCost fit_linear(const std::vector<std::pair<double, double>>& samples) {
  MOESIM_CHECK(samples.size() >= 2, "fit_linear needs two samples, got {}", samples.size());
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& [x, y] : samples) {
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const double n = static_cast<double>(samples.size());
  const double den = n * sxx - sx * sx;
  MOESIM_CHECK(den > 0, "fit_linear needs two distinct sizes");
  LinearCost fit;
  fit.beta_ms = (n * sxy - sx * sy) / den;
  fit.alpha_ms = (sy - fit.beta_ms * sx) / n;
  if (fit.alpha_ms < 0) {
    fit.alpha_ms = 0;
    fit.beta_ms = sxy / sxx;
  }
  fit.beta_ms = std::max(fit.beta_ms, 0.0);
  return fit;
}

PipelineCosts PipelineCosts::backward() const {
  PipelineCosts b = *this;
  b.exp.alpha_ms *= 2;
  b.exp.beta_ms *= 2;
  if (b.exp_beside_comm) {
    b.exp_beside_comm->alpha_ms *= 2;
    b.exp_beside_comm->beta_ms *= 2;
  }
  return b;
}

ChunkTimes chunk_times(const PipelineCosts& c, double r, double gar) {
  ChunkTimes t;
  // An operator with no work (esp = 1: no all-gather) costs nothing, not its startup.
  t.a2a = c.n_a2a > 0 ? c.a2a.at(c.n_a2a / r) : 0.0;
  t.ag = c.n_ag > 0 ? c.ag.at(c.n_ag / r) : 0.0;
  t.rs = c.n_rs > 0 ? c.rs.at(c.n_rs / r) : 0.0;
  t.exp = c.n_exp > 0 ? c.exp.at(c.n_exp / r) : 0.0;
  t.exp_beside_comm = c.n_exp > 0 && c.exp_beside_comm ? c.exp_beside_comm->at(c.n_exp / r) : t.exp;
  // Chunk 0 starts at t_a2a + t_ag, when its all-gather ends. With IIO the inter-node stream
  // then runs A2A_j over [j t_a2a, (j+1) t_a2a), j = 1..r-1, and the gradient all-reduce over
  // [r t_a2a, r t_a2a + t_gar); with one stream the next collective waits behind chunk 0.
  const double first_start = t.a2a + t.ag;
  const bool first_beside = !c.one_comm_stream && c.n_ag > 0 &&
                            (first_start < r * t.a2a || (gar > 0 && first_start < r * t.a2a + gar));
  t.exp_total = (first_beside ? t.exp_beside_comm : t.exp) + (r - 1) * t.exp_beside_comm;
  return t;
}

int model_case(const PipelineCosts& c, double r, double gar) {
  const ChunkTimes t = chunk_times(c, r, gar);
  const double a2a_span = 2 * (r - 1) * t.a2a;
  const double experts = t.exp_total;  // r t_exp of the paper, priced as the chunks run
  const bool q1 = t.a2a > t.ag;
  const bool q2 = experts > a2a_span;
  const bool q3 = experts > (r - 1) * (t.ag + t.rs);
  const bool q4 = gar > t.ag + t.rs;
  const bool q5 = gar > experts - a2a_span + t.ag + t.rs;
  const bool q6 = gar > r * t.ag + r * t.rs - a2a_span;
  const bool q7 = gar > t.ag + t.rs + experts - a2a_span;
  if ((q1 && !q2 && q4) || (q1 && q2 && q5) || (!q1 && !q3 && q6) || (!q1 && q3 && q7)) return 1;
  if ((q1 && q2 && !q5) || (!q1 && q3 && !q7)) return 2;
  if (q1 && !q2 && !q4) return 3;
  return 4;  // !q1 && !q3 && !q6: the predicates partition the space
}

double case_time(int which, const PipelineCosts& c, double r, double gar) {
  const ChunkTimes t = chunk_times(c, r, gar);
  switch (which) {
    case 1:
      return 2 * r * t.a2a + gar;
    case 2:
      return 2 * t.a2a + t.ag + t.rs + t.exp_total;
    case 3:
      return 2 * r * t.a2a + t.ag + t.rs;
    default:
      return 2 * t.a2a + r * t.ag + r * t.rs;
  }
}

double layer_time(const PipelineCosts& c, double r, double gar) {
  return case_time(model_case(c, r, gar), c, r, gar);
}

int round_degree(double r) {
  if (r < 1.5) return 1;
  if (r < 3.0) return 2;
  if (r < 6.0) return 4;
  return 8;
}

std::vector<int> power_of_two_neighbours(double r) {
  // tools/optim.py, check(): ceil(r) through `upper` [1, 1, 2, 4, 4, 8, 8, 8, 8], floor(r)
  // through `downer` [1, 1, 2, 2, 4, 4, 4, 4, 8], both indices capped at 8.
  constexpr int kUpper[] = {1, 1, 2, 4, 4, 8, 8, 8, 8};
  constexpr int kDowner[] = {1, 1, 2, 2, 4, 4, 4, 4, 8};
  const auto index = [](double v) { return static_cast<std::size_t>(std::clamp(v, 1.0, 8.0)); };
  const int up = kUpper[index(std::ceil(r))];
  const int down = kDowner[index(std::floor(r))];
  if (up == down) return {up};
  return {down, up};
}

DegreeChoice find_optimal_degree(const PipelineCosts& c, double gar) {
  constexpr double kMax = 16.0;
  constexpr double kStep = 1.0 / 16.0;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  double best_r = 1.0;
  double best_t = kInf;
  DegreeChoice out;
  double chosen_t = kInf;
  for (int which = 1; which <= 4; ++which) {
    // min f_which(r) s.t. r in [1, kMax] and case `which` holds at r.
    const auto f = [&](double r) {
      return model_case(c, r, gar) == which ? case_time(which, c, r, gar) : kInf;
    };
    double r0 = 0, t0 = kInf;
    for (double r = 1.0; r <= kMax + 1e-9; r += kStep) {
      const double t = f(r);
      if (t < t0) {
        t0 = t;
        r0 = r;
      }
    }
    if (!std::isfinite(t0)) continue;
    // Golden-section refinement inside the neighbouring grid cells (each closed form is convex
    // in r: a/r + b*r + const).
    double lo = std::max(1.0, r0 - kStep), hi = std::min(kMax, r0 + kStep);
    const double phi = (std::sqrt(5.0) - 1) / 2;
    for (int i = 0; i < 40; ++i) {
      const double m1 = hi - phi * (hi - lo), m2 = lo + phi * (hi - lo);
      if (f(m1) < f(m2)) {
        hi = m2;
      } else {
        lo = m1;
      }
    }
    const double rm = (lo + hi) / 2;
    if (f(rm) < t0) {
      t0 = f(rm);
      r0 = rm;
    }
    if (t0 < best_t) {
      best_t = t0;
      best_r = r0;
    }
    // The case's integer candidates, kept only where the case still holds (optim.py checks
    // every constraint of the case at the rounded degree).
    for (const int d : power_of_two_neighbours(r0)) {
      const double t = f(d);
      if (t < chosen_t) {
        chosen_t = t;
        out.r_continuous = r0;
        out.degree = d;
      }
    }
  }
  if (!std::isfinite(chosen_t)) {
    // No case holds at a neighbouring power of two: round the best continuous degree.
    out.r_continuous = best_r;
    out.degree = round_degree(best_r);
  }
  out.model_case = model_case(c, out.degree, gar);
  out.time_ms = case_time(out.model_case, c, out.degree, gar);
  return out;
}

namespace {
// The choice `d` with its degree replaced by 1 (case and time at r = 1).
DegreeChoice at_one_chunk(const PipelineCosts& c, DegreeChoice d, double gar) {
  d.degree = 1;
  d.model_case = model_case(c, 1.0, gar);
  d.time_ms = case_time(d.model_case, c, 1.0, gar);
  return d;
}
}  // namespace

DegreeChoice forward_degree(const PipelineCosts& c) {
  const DegreeChoice d = find_optimal_degree(c, 0.0);
  const bool small_a2a = c.n_a2a <= 0 || c.a2a.at(c.n_a2a) < 1.0;
  return small_a2a ? at_one_chunk(c, d, 0.0) : d;
}

DegreeChoice first_backward_degree(const PipelineCosts& backward, int forward) {
  const DegreeChoice d = find_optimal_degree(backward, 0.0);
  return forward == 1 ? at_one_chunk(backward, d, 0.0) : d;
}

double overlappable_moe_ms(const PipelineCosts& c, int degree) {
  const double r = degree;
  const ChunkTimes t = chunk_times(c, r);
  double olp = 0;
  switch (model_case(c, r, 0.0)) {
    case 2:
      olp = t.exp_total + t.ag + t.rs - 2 * (r - 1) * t.a2a;
      break;
    case 3:
      olp = t.ag + t.rs;
      break;
    case 4:
      olp = r * t.ag + r * t.rs - 2 * (r - 1) * t.a2a;
      break;
    default:
      break;
  }
  return std::max(olp, 0.0);
}

namespace {
struct Piece {
  int ready_slot = 0;  // slot index from which the bytes may be all-reduced
  double bytes = 0;
};
}  // namespace

GradientPlan partition_gradients(const std::vector<GeneralizedLayer>& layers, const LinearCost& ar,
                                 int quanta) {
  const std::size_t n = layers.size();
  GradientPlan plan;
  plan.in_moe_bytes.assign(n, 0.0);
  plan.dense_bytes.assign(n, 0.0);
  const auto t_ar = [&](double bytes) { return bytes > 0 ? ar.at(bytes) : 0.0; };

  // Step 1: greedy fill, oldest gradients first, slot by slot in backward order. The gradients
  // ready before MoE block i fill its dense slot (the backward after the block, priced as
  // dense_overlap_ms) first and then its MoE pipeline, as optim.py's get_stored_grad walks
  // [dense, MoE] per layer (t_olps = [others, gap]); the gradients block i produces (gate) take
  // what is left of the dense slot.
  std::deque<Piece> pending;
  // Fills `slot` (bytes already in it) up to what `capacity_ms` hides.
  const auto fill = [&](double capacity_ms, double& slot) {
    const double hold = capacity_ms >= t_ar(0) ? ar.inverse(capacity_ms) : 0.0;
    double room = std::max(0.0, hold - slot);
    double total = 0;
    for (const Piece& p : pending) total += p.bytes;
    if (total > 0 && t_ar(slot + total) <= capacity_ms) room = total;
    while (room > 0 && !pending.empty()) {
      Piece& p = pending.front();
      const double take = std::min(room, p.bytes);
      slot += take;
      room -= take;
      p.bytes -= take;
      if (p.bytes <= 0) pending.pop_front();
    }
  };
  for (std::size_t i = 0; i < n; ++i) {
    const GeneralizedLayer& g = layers[i];
    if (g.ready_before_bytes > 0) {
      pending.push_back({static_cast<int>(2 * i), g.ready_before_bytes});
    }
    fill(g.dense_overlap_ms, plan.dense_bytes[i]);
    const int r0 = first_backward_degree(g.backward, g.forward_degree).degree;
    fill(overlappable_moe_ms(g.backward, r0), plan.in_moe_bytes[i]);
    if (g.ready_after_bytes > 0) {
      pending.push_back({static_cast<int>(2 * i + 1), g.ready_after_bytes});
    }
    fill(g.dense_overlap_ms, plan.dense_bytes[i]);
  }

  // Step 2: move the tail, piece by piece, into the MoE slot whose f_moe grows least.
  double tail = 0;
  for (const Piece& p : pending) tail += p.bytes;
  std::vector<Piece> pieces;
  if (tail > 0 && quanta > 0) {
    const double q = tail / quanta;
    for (const Piece& p : pending) {
      for (double left = p.bytes; left > 1e-9; left -= q) {
        pieces.push_back({p.ready_slot, std::min(q, left)});
      }
    }
  }
  const auto f = [&](std::size_t i, double bytes) {
    return find_optimal_degree(layers[i].backward, t_ar(bytes)).time_ms;
  };
  std::vector<double> now(n), next(n);
  std::vector<bool> used(pieces.size(), false);
  const double piece_bytes = pieces.empty() ? 0.0 : pieces.front().bytes;
  for (std::size_t i = 0; i < n; ++i) {
    now[i] = f(i, plan.in_moe_bytes[i]);
    next[i] = f(i, plan.in_moe_bytes[i] + piece_bytes);
  }
  // A piece that costs its MoE pipeline no more than it saves the tail moves (ties included):
  // optim.py leaves step 1's remainder in the MoE pipelines (xs = gars) unless differential
  // evolution beats that by 1e-5 ms (optimize_gar: `if outs.fun > (y_tmp - 1e-5): return gars`),
  // so a share the pipeline cannot hide (case 1: it grows by what the tail saves) stays in it.
  constexpr double kTieMs = 1e-5;
  for (;;) {
    std::size_t best_slot = n, best_piece = pieces.size();
    double best_gain = -kTieMs;
    for (std::size_t i = 0; i < n; ++i) {
      // The latest-ready piece this slot may take, leaving early pieces for early slots.
      std::size_t pick = pieces.size();
      for (std::size_t k = 0; k < pieces.size(); ++k) {
        if (used[k] || pieces[k].ready_slot > static_cast<int>(2 * i)) continue;
        if (pick == pieces.size() || pieces[k].ready_slot >= pieces[pick].ready_slot) pick = k;
      }
      if (pick == pieces.size()) continue;
      const double saving = t_ar(tail) - t_ar(tail - pieces[pick].bytes);
      const double cost = pieces[pick].bytes == piece_bytes
                              ? next[i] - now[i]
                              : f(i, plan.in_moe_bytes[i] + pieces[pick].bytes) - now[i];
      if (saving - cost > best_gain) {
        best_gain = saving - cost;
        best_slot = i;
        best_piece = pick;
      }
    }
    if (best_slot == n) break;
    const double b = pieces[best_piece].bytes;
    used[best_piece] = true;
    tail = std::max(0.0, tail - b);
    plan.step2_moved_bytes += b;
    plan.in_moe_bytes[best_slot] += b;
    now[best_slot] = f(best_slot, plan.in_moe_bytes[best_slot]);
    next[best_slot] = f(best_slot, plan.in_moe_bytes[best_slot] + piece_bytes);
  }
  // What no MoE pipeline takes is all-reduced in the last dense slot of the backward, as soon as
  // it is ready, not after the backward: FSMoE's optim.py (Optimizer.run) gives the first
  // attention slot (the last in backward order) the whole remainder, final_xs_att[0] = total -
  // sum(MoE slots) - other attention slots. Every pending piece is ready by then (ready_slot <=
  // 2n - 1); only the slot's overlap hides it, the rest is exposed as a tail would be.
  double exposed_ms = t_ar(tail);
  if (n > 0 && tail > 0) {
    const double before = t_ar(plan.dense_bytes[n - 1]);
    plan.dense_bytes[n - 1] += tail;
    const double hidden = std::max(layers[n - 1].dense_overlap_ms, before);
    exposed_ms = std::max(0.0, t_ar(plan.dense_bytes[n - 1]) - hidden);
    tail = 0;
  }
  plan.tail_bytes = tail;
  plan.estimate_ms = exposed_ms;
  for (std::size_t i = 0; i < n; ++i) {
    const DegreeChoice d =
        i == 0 && plan.in_moe_bytes[i] <= 0
            ? first_backward_degree(layers[i].backward, layers[i].forward_degree)
            : find_optimal_degree(layers[i].backward, t_ar(plan.in_moe_bytes[i]));
    plan.backward_degree.push_back(d.degree);
    plan.backward_case.push_back(d.model_case);
    plan.estimate_ms += d.time_ms;
  }
  return plan;
}

}  // namespace moesim::strategies::fsmoe
