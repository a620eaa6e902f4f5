#include "sim/strategies/dualpipe_schedule.hpp"

#include <deque>

#include "sim/core/errors.hpp"

namespace moesim::strategies {

std::string_view to_string(DualPipeVariant v) {
  return v == DualPipeVariant::dualpipe ? "dualpipe" : "dualpipev";
}

std::vector<ChunkOp> dualpipe_program(std::int64_t half_ranks, std::int64_t half_rank,
                                      std::int64_t per_phase) {
  const std::int64_t H = half_ranks;
  const std::int64_t h = half_rank;
  MOESIM_CHECK(h >= 0 && h < H && per_phase >= 2 * H, "dualpipe program: h={} H={} n={}", h, H,
               per_phase);
  std::vector<ChunkOp> out;
  const auto f = [&](int step, int phase) {
    out.push_back({ChunkOpKind::forward, step, phase, -1, false});
  };
  const auto b = [&](int step, int phase, bool zb) {
    out.push_back({ChunkOpKind::backward, step, -1, phase, zb});
  };
  const auto w = [&](int step) { out.push_back({ChunkOpKind::weight, step, -1, -1, false}); };
  const auto fb = [&](int step, int fphase, int bphase) {
    out.push_back({ChunkOpKind::forward_backward, step, fphase, bphase, false});
  };
  const std::int64_t outer = H - h - 1;  // steps 3, 5, 7 (and half of step 1)
  const std::int64_t inner = h + 1;      // steps 2, 6, 8
  for (std::int64_t i = 0; i < 2 * outer; ++i) f(1, 0);
  for (std::int64_t i = 0; i < inner; ++i) {
    f(2, 0);
    f(2, 1);
  }
  for (std::int64_t i = 0; i < outer; ++i) {
    b(3, 1, true);
    w(3);
    f(3, 1);
  }
  const bool middle = h == H - 1;
  for (std::int64_t i = 0; i < per_phase - 2 * H + h + 1; ++i) {
    if (i == 0 && middle) {
      // The repository does not overlap the middle device's first pair ("to further reduce
      // bubble size"): F0 then a full B1.
      f(4, 0);
      b(4, 1, false);
    } else {
      fb(4, 0, 1);
    }
    fb(4, 1, 0);
  }
  for (std::int64_t i = 0; i < outer; ++i) {
    b(5, 1, false);
    fb(5, 1, 0);
  }
  // Step 6: zero bubble from the middle of the step on; where it switches depends on h's parity.
  bool zb = false;
  for (std::int64_t i = 0; i < inner; ++i) {
    if (i == inner / 2 && h % 2 == 1) zb = true;
    b(6, 1, zb);
    if (i == inner / 2 && h % 2 == 0) zb = true;
    b(6, 0, zb);
  }
  for (std::int64_t i = 0; i < outer; ++i) {
    w(7);
    b(7, 0, true);
  }
  for (std::int64_t i = 0; i < inner; ++i) w(8);
  return out;
}

DualPipeGeometry::DualPipeGeometry(DualPipeVariant variant, std::int64_t devices,
                                   std::int64_t micro_batches)
    : variant_(variant), devices_(devices), micro_batches_(micro_batches) {
  MOESIM_CHECK(devices >= 1 && micro_batches >= 2 * devices && micro_batches % 2 == 0,
               "dualpipe geometry: {} devices, {} micro-batches", devices, micro_batches);
  MOESIM_CHECK(variant == DualPipeVariant::dualpipev || devices % 2 == 0,
               "dualpipe needs an even number of devices (got {})", devices);
}

std::int64_t DualPipeGeometry::route_length() const {
  return variant_ == DualPipeVariant::dualpipe ? devices_ : 2 * devices_;
}

std::int64_t DualPipeGeometry::per_phase() const {
  return variant_ == DualPipeVariant::dualpipe ? micro_batches_ / 2 : micro_batches_;
}

std::int64_t DualPipeGeometry::half_ranks() const {
  return variant_ == DualPipeVariant::dualpipe ? devices_ / 2 : devices_;
}

std::int64_t DualPipeGeometry::half_rank(std::int64_t device) const {
  return variant_ == DualPipeVariant::dualpipe ? std::min(device, devices_ - 1 - device) : device;
}

std::int64_t DualPipeGeometry::route_of(std::int64_t device, int phase) const {
  if (variant_ == DualPipeVariant::dualpipev) return 0;
  const int second_half = device >= devices_ / 2 ? 1 : 0;
  return phase ^ second_half;
}

std::int64_t DualPipeGeometry::position_of(std::int64_t device, int phase) const {
  if (variant_ == DualPipeVariant::dualpipev)
    return phase == 0 ? device : 2 * devices_ - 1 - device;
  return route_of(device, phase) == 0 ? device : devices_ - 1 - device;
}

std::int64_t DualPipeGeometry::device_at(std::int64_t route, std::int64_t position) const {
  if (variant_ == DualPipeVariant::dualpipev) {
    return position < devices_ ? position : 2 * devices_ - 1 - position;
  }
  return route == 0 ? position : devices_ - 1 - position;
}

int DualPipeGeometry::phase_at(std::int64_t route, std::int64_t position) const {
  if (variant_ == DualPipeVariant::dualpipev) return position < devices_ ? 0 : 1;
  const std::int64_t d = device_at(route, position);
  return static_cast<int>(route) ^ (d >= devices_ / 2 ? 1 : 0);
}

std::int64_t DualPipeGeometry::first_layer(std::int64_t position, std::int64_t layers) const {
  return position * layers / route_length();
}

std::vector<DualPipeItem> dualpipe_order(const DualPipeGeometry& g) {
  const std::int64_t devices = g.devices();
  const std::int64_t n = g.per_phase();
  const std::int64_t length = g.route_length();
  std::vector<std::vector<ChunkOp>> programs;
  for (std::int64_t d = 0; d < devices; ++d) {
    programs.push_back(dualpipe_program(g.half_ranks(), g.half_rank(d), n));
  }
  // done[route][position][index]
  const auto cell = [&](std::int64_t route, std::int64_t position, std::int64_t index) {
    return static_cast<std::size_t>((route * length + position) * n + index);
  };
  const std::size_t cells = static_cast<std::size_t>(g.routes() * length * n);
  std::vector<bool> fwd_done(cells, false), bwd_done(cells, false);
  // Next micro-batch index per (device, phase), forward and backward; W queue per device.
  std::vector<std::int64_t> next_f(static_cast<std::size_t>(2 * devices), 0);
  std::vector<std::int64_t> next_b = next_f;
  std::vector<std::deque<ChunkPass>> weights(static_cast<std::size_t>(devices));
  std::vector<std::size_t> next(static_cast<std::size_t>(devices), 0);

  const auto pass = [&](std::int64_t device, int phase, bool forward) {
    ChunkPass p;
    p.phase = phase;
    p.route = g.route_of(device, phase);
    p.position = g.position_of(device, phase);
    const auto slot = static_cast<std::size_t>(2 * device + phase);
    const std::int64_t index = forward ? next_f[slot] : next_b[slot];
    p.micro_batch = p.route * n + index;
    return p;
  };
  const auto index_of = [&](const ChunkPass& p) { return p.micro_batch - p.route * n; };
  const auto forward_ready = [&](const ChunkPass& p) {
    if (index_of(p) >= n) return false;
    return p.position == 0 || fwd_done[cell(p.route, p.position - 1, index_of(p))];
  };
  const auto backward_ready = [&](const ChunkPass& p) {
    if (index_of(p) >= n) return false;
    if (!fwd_done[cell(p.route, p.position, index_of(p))]) return false;
    return p.position == length - 1 || bwd_done[cell(p.route, p.position + 1, index_of(p))];
  };

  std::size_t total = 0;
  for (const auto& p : programs) total += p.size();
  std::vector<DualPipeItem> order;
  order.reserve(total);
  while (order.size() < total) {
    bool progress = false;
    for (std::int64_t d = 0; d < devices; ++d) {
      auto& at = next[static_cast<std::size_t>(d)];
      const auto& program = programs[static_cast<std::size_t>(d)];
      if (at >= program.size()) continue;
      const ChunkOp& op = program[at];
      DualPipeItem item;
      item.device = d;
      item.kind = op.kind;
      item.step = op.step;
      item.zero_bubble = op.zero_bubble;
      auto& queue = weights[static_cast<std::size_t>(d)];
      const bool has_f =
          op.kind == ChunkOpKind::forward || op.kind == ChunkOpKind::forward_backward;
      const bool has_b =
          op.kind == ChunkOpKind::backward || op.kind == ChunkOpKind::forward_backward;
      if (has_f) item.forward = pass(d, op.forward_phase, true);
      if (has_b) item.backward = pass(d, op.backward_phase, false);
      if (has_f && !forward_ready(item.forward)) continue;
      if (has_b && !backward_ready(item.backward)) continue;
      if (op.kind == ChunkOpKind::weight) {
        MOESIM_CHECK(!queue.empty(), "dualpipe: W with no deferred weight gradient on device {}",
                     d);
        item.backward = queue.front();
        queue.pop_front();
      }
      if (has_f) {
        fwd_done[cell(item.forward.route, item.forward.position, index_of(item.forward))] = true;
        ++next_f[static_cast<std::size_t>(2 * d + op.forward_phase)];
      }
      if (has_b) {
        bwd_done[cell(item.backward.route, item.backward.position, index_of(item.backward))] = true;
        ++next_b[static_cast<std::size_t>(2 * d + op.backward_phase)];
        if (op.zero_bubble) queue.push_back(item.backward);
      }
      order.push_back(item);
      ++at;
      progress = true;
    }
    MOESIM_CHECK(progress, "dualpipe schedule cannot progress ({} of {} items)", order.size(),
                 total);
  }
  for (const auto& q : weights) {
    MOESIM_CHECK(q.empty(), "dualpipe: a deferred weight gradient was never run");
  }
  return order;
}

}  // namespace moesim::strategies
