// dualpipe / dualpipev: DeepSeek's bidirectional pipeline (DeepSeek-V3 Technical Report, arXiv
// 2412.19437, section 3.2.1, Figures 4 and 5; deepseek-ai/DualPipe, dualpipe/dualpipe.py,
// dualpipe/dualpipev.py and README.md). The schedule itself (routes, chunks, the 8-step program)
// is dualpipe_schedule.hpp; this file emits it through the op catalogue.
//
//  - Each pipeline device holds two chunks. dualpipe: stage r and stage PP-1-r of the layers
//    (two copies of every stage, 2x parameters; the copies' gradients are all-reduced together,
//    over the dp groups of both devices). dualpipev: chunks r and 2P-1-r of a V of 2P chunks.
//  - A chunk's forward and backward are split at the expert exchange into attention (with the
//    gate and permute), dispatch, MLP (shared and routed experts) and combine. In an overlapped
//    F&B pair the two passes are interleaved on the compute stream so that each pass's all-to-all
//    runs under the other's compute: attention(F) under combine(B), MLP(B) under dispatch(F),
//    MLP(F) under dispatch(B), attention(B) under combine(F) (the pairing of the report's
//    Figure 4). The report also gives communication 20 of the 132 SMs; that share is the
//    DeepEP all-to-all's model, not this schedule's, and is not charged here.
//  - Zero-bubble backward: a "zero bubble" B runs only the catalogue's input-gradient kernels
//    (Direction::input_gradient) and queues the weight-gradient ones; a W step runs the oldest
//    queue entry (the repository's WeightGradStore). Every other backward runs both in catalogue
//    order.
//  - Dropless routing with the routed counts (all-to-all-v), as DeepSeek-V3 trains ("does not
//    drop any tokens", report section 2.1.2); node-limited routing is the DeepEP model's.
//  - Pipeline transfers are asynchronous send/recv pairs, on streams per kind (activations,
//    gradients), direction and sender parity, so a transfer waits only for its own data. The
//    repository batches each chunk's sends with the next chunk's receives (batch_isend_irecv, then
//    wait); that coupling is not modelled.
//  - The model's ends (models with a vocab_size): the repository's DualPipe.step takes the inputs
//    on the first and the last rank (route 0 enters at rank 0, route 1 at rank PP-1) and runs the
//    criterion right after the forward of a route's last stage, `is_last_stage` = (first rank,
//    phase 1) or (last rank, phase 0), whose backward then starts from loss.backward()
//    (dualpipe.py, _forward_compute_chunk / _backward_compute_chunk). So the embedding runs
//    before the layers of each route's first chunk, the final norm + LM head + loss after its
//    last chunk's, on devices 0 and PP-1 both (each holds one route's embedding and the other's
//    head: 2 copies, gradients all-reduced together like the layers'). DualPipeV's V starts and
//    ends on device 0, which holds both ends (dualpipev.py was not read: the same rule applied
//    to its route). In a zero-bubble B the head's weight-gradient kernels and the embedding's
//    are deferred to W like the layers'.
//  - Layers: with DualPipe, the chunk at position p of either route holds pipeline stage p of
//    the layout's split (ParallelLayout::first_layer_of_stage, uneven stages included);
//    DualPipeV's 2P chunks split the layers as evenly as possible.
//  - Multi-token prediction (ModelSpec::mtp_layers): the MTP modules run in each route's last
//    chunk after its layers, before the heads. Their MoE is charged the last main layer's
//    routing counts [R] (ModelSpec::moe_index_of) and the MTP loss weight has no task (a scale
//    on x per-token losses, ModelSpec::mtp_layers).
// Options: overlap=on|off (off: every F&B pair runs as F then B, to measure the overlap).
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "sim/core/errors.hpp"
#include "sim/strategies/dualpipe_schedule.hpp"
#include "sim/strategies/iteration_pieces.hpp"
#include "sim/strategies/registry.hpp"

namespace moesim::strategies {
namespace {

TokenPlanOptions dualpipe_token_options() {
  TokenPlanOptions o;
  o.pad_to_capacity = false;
  o.apply_capacity = false;
  o.split_tokens_over_tp = false;
  return o;
}

/// DualPipe's pipeline driver: emits every item of dualpipe_order() from the catalogue's blocks
/// (its own segmentation of a layer, not a LayerSchedule: F&B pairs interleave at the expert
/// exchanges); gradient_sync() then reduces both copies' gradients together.
class DualPipeDriver final : public PipelineDriver {
 public:
  DualPipeDriver(EmissionContext& ctx, DualPipeVariant variant, bool overlap)
      : ctx_(ctx),
        geometry_(variant, ctx.job().layout.pp, ctx.job().layout.micro_batches),
        overlap_(overlap) {
    const TrainingJob& job = ctx.job();
    const auto world = static_cast<std::size_t>(job.layout.world());
    local_index_.resize(world);
    for (std::int64_t s = 0; s < job.layout.pp; ++s) {
      ranks_.push_back(job.mapping.stage_ranks(s));
      const auto& r = ranks_.back();
      for (std::size_t i = 0; i < r.size(); ++i) local_index_[r[i].index()] = i;
    }
    moe_index_.assign(static_cast<std::size_t>(job.model.total_layers()), -1);
    for (std::int64_t l = 0; l < job.model.total_layers(); ++l) {
      moe_index_[static_cast<std::size_t>(l)] = job.model.moe_index_of(l);
    }
    const std::size_t cells =
        static_cast<std::size_t>(geometry_.routes() * geometry_.route_length() * per_phase());
    forward_end_.resize(cells);
    backward_end_.resize(cells);
    inbox_f_.resize(cells);
    inbox_b_.resize(cells);
    tail_ = Chain(world);
  }

  /// Every item; returns each rank's last task (where the gradient sync starts).
  Chain emit() override;
  /// Per layer, the gradient all-reduces (over the group and its mirror for dualpipe), then
  /// the optimizer; `tail` ends as each rank's last task.
  void gradient_sync(Chain& tail);
  void record_decisions();

 private:
  using Segment = std::function<void()>;
  /// A weight-gradient kernel a zero-bubble B left for a later W (all ranks of the stage, or one).
  struct DeferredKernel {
    std::int64_t layer = 0;
    bool every_rank = true;
    RankId rank;
    KernelOp op;
  };
  /// One chunk pass being emitted: its Step (with the chain it owns) and its layers.
  struct PassContext {
    ChunkPass pass;
    std::int64_t device = 0;
    std::int64_t first = 0;
    std::int64_t end = 0;
    Phase phase = Phase::forward;
    std::unique_ptr<Chain> chain;
  };

  std::int64_t per_phase() const { return geometry_.per_phase(); }
  /// First layer of the chunk at `position` of a route (position = route length: the end).
  std::int64_t first_layer(std::int64_t position) const {
    if (geometry_.variant() == DualPipeVariant::dualpipe) {
      return ctx_.job().layout.first_layer_of_stage(position);
    }
    return geometry_.first_layer(position, ctx_.job().model.layers);
  }
  /// The chunk holds the embedding (first) or the output head (last) of its route.
  bool holds_embedding(const PassContext& c) const { return c.pass.position == 0; }
  bool holds_output_head(const PassContext& c) const {
    return c.pass.position == geometry_.route_length() - 1;
  }
  /// The chunk's layers in forward order: its share of the main layers, then, with the output
  /// head, the MTP layers (ModelSpec::mtp_layers, indices layers ..).
  std::vector<std::int64_t> layers_of(const PassContext& c) const {
    std::vector<std::int64_t> out;
    for (std::int64_t l = c.first; l < c.end; ++l) out.push_back(l);
    if (holds_output_head(c)) {
      const ModelSpec& m = ctx_.job().model;
      for (std::int64_t l = m.layers; l < m.total_layers(); ++l) out.push_back(l);
    }
    return out;
  }
  /// An MTP layer's input block (embedding of the shifted tokens, norms, projection) before its
  /// attention (forward) or after its attention's backward; nothing for a main layer.
  void mtp_projection_forward(const Step& s) {
    if (!ctx_.job().model.is_mtp_layer(s.layer)) return;
    ctx_.emit_work(s, ctx_.ops().mtp_projection(Pass::forward, ctx_.tokens()), ctx_.compute());
  }
  void mtp_projection_backward(const Step& s, std::vector<DeferredKernel>* defer) {
    if (!ctx_.job().model.is_mtp_layer(s.layer)) return;
    emit_backward_work(s, ctx_.ops().mtp_projection(Pass::backward, ctx_.tokens()), defer);
  }
  /// The embedding before a route's first chunk and the output head after its last one.
  void add_model_ends_forward(const PassContext& c, std::vector<Segment>& out);
  void add_model_ends_backward(const PassContext& c, std::vector<DeferredKernel>* defer,
                               std::vector<Segment>& out);
  /// `work`'s all-reduces on `device`'s groups, joined with `mirror`'s copies when mirrored.
  void emit_mirrored_sync(Step& s, const BlockWork& work, std::int64_t device, std::int64_t mirror,
                          bool mirrored);
  std::string chunk_layers_text() const;
  std::size_t cell(const ChunkPass& p) const {
    const std::int64_t index = p.micro_batch - p.route * per_phase();
    return static_cast<std::size_t>(
        (p.route * geometry_.route_length() + p.position) * per_phase() + index);
  }
  Step step_of(const PassContext& c, std::int64_t layer) const {
    Step s;
    s.stage = c.device;
    s.micro_batch = c.pass.micro_batch;
    s.layer = layer;
    s.moe_index = moe_index_[static_cast<std::size_t>(layer)];
    s.phase = c.phase;
    s.ranks = &ranks_[static_cast<std::size_t>(c.device)];
    s.chain = c.chain.get();
    return s;
  }

  PassContext open(const ChunkPass& p, std::int64_t device, bool forward);
  void forward_segments(const PassContext& c, std::vector<Segment>& out);
  void backward_segments(const PassContext& c, std::vector<DeferredKernel>* defer,
                         std::vector<Segment>& out);
  void close_forward(const PassContext& c);
  void close_backward(const PassContext& c);
  void emit_weights(const ChunkPass& p, std::int64_t device);
  void emit_backward_work(const Step& s, const BlockWork& w, std::vector<DeferredKernel>* defer);
  void emit_rank_backward_work(const Step& s, RankId r, const BlockWork& w,
                               std::vector<DeferredKernel>* defer);
  void emit_item(const DualPipeItem& item);
  /// Activations (forward) or gradients to the device of `to`, on the stream of that direction.
  void transfer(const PassContext& c, const ChunkPass& to, bool forward);
  void remember_tail(const PassContext& c);
  /// Phase and layer of the tasks emitted next.
  void set_phase(Phase phase, std::int64_t layer) {
    Step s;
    s.phase = phase;
    s.layer = layer;
    ctx_.set_info(s);
  }

  EmissionContext& ctx_;
  DualPipeGeometry geometry_;
  bool overlap_;
  std::vector<std::vector<RankId>> ranks_;  // [device]
  std::vector<std::size_t> local_index_;    // [rank] -> index in its stage
  std::vector<std::int64_t> moe_index_;
  // Per (route, position, index) cell, per local rank.
  std::vector<std::vector<After>> forward_end_, backward_end_, inbox_f_, inbox_b_;
  std::map<std::size_t, std::vector<DeferredKernel>> deferred_;
  std::map<std::string, StreamId> pp_streams_;
  Chain tail_;
  std::int64_t overlapped_pairs_ = 0;
};

DualPipeDriver::PassContext DualPipeDriver::open(const ChunkPass& p, std::int64_t device,
                                                 bool forward) {
  PassContext c;
  c.pass = p;
  c.device = device;
  c.first = first_layer(p.position);
  c.end = first_layer(p.position + 1);
  c.phase = forward ? Phase::forward : Phase::backward;
  c.chain = std::make_unique<Chain>(static_cast<std::size_t>(ctx_.job().layout.world()));
  const std::size_t k = cell(p);
  const auto& ranks = ranks_[static_cast<std::size_t>(device)];
  auto& inbox = forward ? inbox_f_[k] : inbox_b_[k];
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    After& a = (*c.chain)[ranks[i]];
    if (!forward && !forward_end_[k].empty()) a = forward_end_[k][i];
    if (!inbox.empty()) a.insert(a.end(), inbox[i].begin(), inbox[i].end());
  }
  inbox.clear();
  inbox.shrink_to_fit();
  return c;
}

void DualPipeDriver::forward_segments(const PassContext& c, std::vector<Segment>& out) {
  // The un-permute of a MoE layer waits for its combine: it opens the next segment.
  std::optional<Step> pending;
  const auto unpermute = [this](const Step& s) {
    ctx_.set_info(s);
    const MoeLayerPlan& p = ctx_.plan(s.moe_index);
    for (RankId r : *s.ranks) {
      ctx_.emit_rank_work(s, r,
                          ctx_.ops().unpermute(Pass::forward, ctx_.tokens(), ctx_.permuted_slots(p),
                                               p.kept[r.index()]),
                          ctx_.compute());
    }
  };
  for (const std::int64_t layer : layers_of(c)) {
    const Step s = step_of(c, layer);
    const std::optional<Step> before = pending;
    pending.reset();
    if (s.moe_index < 0) {
      out.push_back([this, s, before, unpermute] {
        if (before) unpermute(*before);
        ctx_.set_info(s);
        mtp_projection_forward(s);
        ctx_.emit_attention_forward(s);
        ctx_.emit_dense_ffn_forward(s);
      });
      continue;
    }
    out.push_back([this, s, before, unpermute] {  // attention, gate, permute -> dispatch
      if (before) unpermute(*before);
      ctx_.set_info(s);
      mtp_projection_forward(s);
      ctx_.emit_attention_forward(s);
      const MoeLayerPlan& p = ctx_.plan(s.moe_index);
      for (RankId r : *s.ranks) {
        ctx_.emit_rank_work(s, r,
                            ctx_.ops().gate_permute(Pass::forward, ctx_.tokens(),
                                                    ctx_.permuted_slots(p), p.kept[r.index()]),
                            ctx_.compute());
      }
      ctx_.emit_expert_exchange(s, p, false, "ep.dispatch", ctx_.comm());
      ctx_.emit_esp_collective(s, p, true, "esp.allgather", ctx_.comm());
    });
    out.push_back([this, s] {  // shared and routed experts -> combine
      ctx_.set_info(s);
      const MoeLayerPlan& p = ctx_.plan(s.moe_index);
      ctx_.emit_shared_experts_forward(s);
      for (RankId r : *s.ranks) {
        ctx_.emit_experts(s, r, p.expert_tokens[r.index()], Phase::forward, ctx_.compute());
      }
      ctx_.emit_esp_collective(s, p, false, "esp.reducescatter", ctx_.comm());
      ctx_.emit_expert_exchange(s, p, true, "ep.combine", ctx_.comm());
    });
    pending = s;
  }
  if (pending) {
    const Step last = *pending;
    out.push_back([last, unpermute] { unpermute(last); });
  }
  add_model_ends_forward(c, out);
}

void DualPipeDriver::add_model_ends_forward(const PassContext& c, std::vector<Segment>& out) {
  if (ctx_.job().model.vocab_size == 0 || out.empty()) return;
  Step s = step_of(c, c.first);
  s.layer = -1;
  s.moe_index = -1;
  // Inside the first and last segments, so an overlapped pair keeps its pairing.
  if (holds_embedding(c)) {
    Segment inner = std::move(out.front());
    out.front() = [this, s, inner] {
      ctx_.emit_model_ends(s, true, false, true);
      inner();
    };
  }
  if (holds_output_head(c)) {
    Segment inner = std::move(out.back());
    out.back() = [this, s, inner] {
      inner();
      ctx_.emit_model_ends(s, false, true, false);
    };
  }
}

void DualPipeDriver::add_model_ends_backward(const PassContext& c,
                                             std::vector<DeferredKernel>* defer,
                                             std::vector<Segment>& out) {
  if (ctx_.job().model.vocab_size == 0 || out.empty()) return;
  Step s = step_of(c, c.first);
  s.layer = -1;
  s.moe_index = -1;
  // Backward: the loss and LM head first, the embedding last.
  if (holds_output_head(c)) {
    Segment inner = std::move(out.front());
    out.front() = [this, s, inner, defer] {
      ctx_.set_info(s);
      // The MTP depths' losses too (one head pass each), as the forward ran them.
      for (std::int64_t d = 0; d <= ctx_.job().model.mtp_layers; ++d) {
        emit_backward_work(s, ctx_.ops().output_head(Pass::backward, ctx_.tokens()), defer);
      }
      inner();
    };
  }
  if (holds_embedding(c)) {
    Segment inner = std::move(out.back());
    out.back() = [this, s, inner, defer] {
      inner();
      ctx_.set_info(s);
      emit_backward_work(s, ctx_.ops().embedding(Pass::backward, ctx_.tokens()), defer);
    };
  }
}

void DualPipeDriver::emit_backward_work(const Step& s, const BlockWork& w,
                                        std::vector<DeferredKernel>* defer) {
  if (defer == nullptr) {
    ctx_.emit_work(s, w, ctx_.compute());
    return;
  }
  BlockWork keep{w.block, {}};
  for (const LayerOp& op : w.ops) {
    const auto* k = std::get_if<KernelOp>(&op);
    if (k != nullptr && k->direction == Direction::weight_gradient) {
      defer->push_back(DeferredKernel{s.layer, true, RankId{}, *k});
    } else {
      keep.ops.push_back(op);
    }
  }
  ctx_.emit_work(s, keep, ctx_.compute());
}

void DualPipeDriver::emit_rank_backward_work(const Step& s, RankId r, const BlockWork& w,
                                             std::vector<DeferredKernel>* defer) {
  if (defer == nullptr) {
    ctx_.emit_rank_work(s, r, w, ctx_.compute());
    return;
  }
  BlockWork keep{w.block, {}};
  for (const LayerOp& op : w.ops) {
    const auto& k = std::get<KernelOp>(op);
    if (k.direction == Direction::weight_gradient) {
      defer->push_back(DeferredKernel{s.layer, false, r, k});
    } else {
      keep.ops.push_back(op);
    }
  }
  ctx_.emit_rank_work(s, r, keep, ctx_.compute());
}

void DualPipeDriver::backward_segments(const PassContext& c, std::vector<DeferredKernel>* defer,
                                       std::vector<Segment>& out) {
  // The gate and attention backward of a MoE layer wait for its dispatch's backward: they open
  // the next segment.
  std::optional<Step> pending;
  const auto attention = [this, defer](const Step& s) {
    ctx_.set_info(s);
    const MoeLayerPlan& p = ctx_.plan(s.moe_index);
    for (RankId r : *s.ranks) {
      emit_rank_backward_work(s, r,
                              ctx_.ops().gate_permute(Pass::backward, ctx_.tokens(),
                                                      ctx_.permuted_slots(p), p.kept[r.index()]),
                              defer);
    }
    emit_backward_work(s, ctx_.ops().attention(Pass::backward, ctx_.tokens(), s.layer), defer);
    mtp_projection_backward(s, defer);
  };
  const std::vector<std::int64_t> layers = layers_of(c);
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
    const Step s = step_of(c, *it);
    const std::optional<Step> before = pending;
    pending.reset();
    if (s.moe_index < 0) {
      out.push_back([this, s, before, attention, defer] {
        if (before) attention(*before);
        ctx_.set_info(s);
        emit_backward_work(s, ctx_.ops().dense_ffn(Pass::backward, ctx_.tokens()), defer);
        emit_backward_work(s, ctx_.ops().attention(Pass::backward, ctx_.tokens(), s.layer), defer);
        mtp_projection_backward(s, defer);
      });
      continue;
    }
    out.push_back([this, s, before, attention, defer] {  // shared, unpermute -> combine.bwd
      if (before) attention(*before);
      ctx_.set_info(s);
      const MoeLayerPlan& p = ctx_.plan(s.moe_index);
      emit_backward_work(s, ctx_.ops().shared_experts(Pass::backward, ctx_.tokens()), defer);
      for (RankId r : *s.ranks) {
        emit_rank_backward_work(s, r,
                                ctx_.ops().unpermute(Pass::backward, ctx_.tokens(),
                                                     ctx_.permuted_slots(p), p.kept[r.index()]),
                                defer);
      }
      ctx_.emit_expert_exchange(s, p, false, "ep.combine.bwd", ctx_.comm());
      ctx_.emit_esp_collective(s, p, true, "esp.allgather", ctx_.comm());
    });
    out.push_back([this, s, defer] {  // experts -> dispatch.bwd
      ctx_.set_info(s);
      const MoeLayerPlan& p = ctx_.plan(s.moe_index);
      for (RankId r : *s.ranks) {
        emit_rank_backward_work(
            s, r, ctx_.ops().experts(Pass::backward, p.expert_tokens[r.index()]), defer);
      }
      ctx_.emit_esp_collective(s, p, false, "esp.reducescatter", ctx_.comm());
      ctx_.emit_expert_exchange(s, p, true, "ep.dispatch.bwd", ctx_.comm());
    });
    pending = s;
  }
  if (pending) {
    const Step last = *pending;
    out.push_back([last, attention] { attention(last); });
  }
  add_model_ends_backward(c, defer, out);
}

void DualPipeDriver::transfer(const PassContext& c, const ChunkPass& to, bool forward) {
  const std::int64_t peer_device = geometry_.device_at(to.route, to.position);
  const std::size_t k = cell(to);
  const auto& ranks = ranks_[static_cast<std::size_t>(c.device)];
  auto& inbox = forward ? inbox_f_[k] : inbox_b_[k];
  inbox.assign(ranks.size(), After{});
  if (peer_device == c.device) {  // the turn of the V: the next chunk is on this device
    for (std::size_t i = 0; i < ranks.size(); ++i) inbox[i] = (*c.chain)[ranks[i]];
    return;
  }
  // One stream per kind, direction and parity of the sending device: a device's sends and its
  // receives of one direction then sit on different streams, so a receive waiting for its
  // sender never holds up the device's own sends.
  const bool up = peer_device > c.device;
  const std::string name = fmt::format("pp.{}.{}.{}", forward ? "act" : "grad", up ? "up" : "down",
                                       c.device % 2 == 0 ? "even" : "odd");
  auto it = pp_streams_.find(name);
  if (it == pp_streams_.end()) it = pp_streams_.emplace(name, ctx_.graph().stream(name)).first;
  set_phase(c.phase, -1);
  const std::int64_t bytes = ctx_.tokens() * ctx_.job().model.hidden * ctx_.elem_bytes();
  for (const auto& [peer, received] :
       ctx_.emit_stage_transfer(ranks, peer_device, forward, Bytes{bytes}, it->second, *c.chain)) {
    inbox[local_index_[peer.index()]] = After{received};
  }
}

void DualPipeDriver::remember_tail(const PassContext& c) {
  for (RankId r : ranks_[static_cast<std::size_t>(c.device)]) tail_.join(r, (*c.chain)[r]);
}

void DualPipeDriver::close_forward(const PassContext& c) {
  const auto& ranks = ranks_[static_cast<std::size_t>(c.device)];
  auto& end = forward_end_[cell(c.pass)];
  end.resize(ranks.size());
  for (std::size_t i = 0; i < ranks.size(); ++i) end[i] = (*c.chain)[ranks[i]];
  if (c.pass.position + 1 < geometry_.route_length()) {
    ChunkPass next = c.pass;
    next.position += 1;
    transfer(c, next, true);
  }
  remember_tail(c);
}

void DualPipeDriver::close_backward(const PassContext& c) {
  const auto& ranks = ranks_[static_cast<std::size_t>(c.device)];
  const std::size_t k = cell(c.pass);
  forward_end_[k].clear();
  forward_end_[k].shrink_to_fit();
  auto& end = backward_end_[k];
  end.resize(ranks.size());
  for (std::size_t i = 0; i < ranks.size(); ++i) end[i] = (*c.chain)[ranks[i]];
  if (c.pass.position > 0) {
    ChunkPass prev = c.pass;
    prev.position -= 1;
    transfer(c, prev, false);
  }
  remember_tail(c);
}

void DualPipeDriver::emit_weights(const ChunkPass& p, std::int64_t device) {
  const std::size_t k = cell(p);
  auto found = deferred_.find(k);
  MOESIM_CHECK(found != deferred_.end(), "dualpipe: W for a pass that deferred nothing");
  const auto& ranks = ranks_[static_cast<std::size_t>(device)];
  Chain chain(static_cast<std::size_t>(ctx_.job().layout.world()));
  for (std::size_t i = 0; i < ranks.size(); ++i) chain[ranks[i]] = backward_end_[k][i];
  for (const DeferredKernel& d : found->second) {
    set_phase(Phase::backward, d.layer);
    if (d.every_rank) {
      for (RankId r : ranks) ctx_.kernel(chain, r, d.op.name, d.op.task, ctx_.compute());
    } else {
      ctx_.kernel(chain, d.rank, d.op.name, d.op.task, ctx_.compute());
    }
  }
  deferred_.erase(found);
  for (RankId r : ranks) tail_.join(r, chain[r]);
}

void DualPipeDriver::emit_item(const DualPipeItem& item) {
  const std::int64_t d = item.device;
  switch (item.kind) {
    case ChunkOpKind::forward: {
      PassContext f = open(item.forward, d, true);
      std::vector<Segment> segs;
      forward_segments(f, segs);
      for (auto& s : segs) s();
      close_forward(f);
      break;
    }
    case ChunkOpKind::backward: {
      PassContext b = open(item.backward, d, false);
      std::vector<DeferredKernel>* defer =
          item.zero_bubble ? &deferred_[cell(item.backward)] : nullptr;
      std::vector<Segment> segs;
      backward_segments(b, defer, segs);
      for (auto& s : segs) s();
      close_backward(b);
      break;
    }
    case ChunkOpKind::weight:
      emit_weights(item.backward, d);
      break;
    case ChunkOpKind::forward_backward: {
      PassContext f = open(item.forward, d, true);
      PassContext b = open(item.backward, d, false);
      std::vector<Segment> fs, bs;
      forward_segments(f, fs);
      backward_segments(b, nullptr, bs);
      if (overlap_) {
        // B's first segment (ending in its combine) leads, then F's, alternating.
        ++overlapped_pairs_;
        for (std::size_t i = 0; i < std::max(fs.size(), bs.size()); ++i) {
          if (i < bs.size()) bs[i]();
          if (i < fs.size()) fs[i]();
        }
      } else {
        for (auto& s : fs) s();
        for (auto& s : bs) s();
      }
      close_forward(f);
      close_backward(b);
      break;
    }
  }
}

void DualPipeDriver::emit_mirrored_sync(Step& s, const BlockWork& work, std::int64_t device,
                                        std::int64_t mirror, bool mirrored) {
  if (!mirrored) {
    ctx_.emit_work(s, work, ctx_.comm());
    return;
  }
  // Both copies' gradients are summed: one all-reduce over the group and its mirror.
  for (const CollectiveOp* c : work.collectives()) {
    for (const std::vector<RankId>* g : ctx_.stage_groups(c->groups, device)) {
      std::vector<RankId> both = *g;
      for (RankId r : *g) {
        const RankCoords& rc = ctx_.job().mapping.coords(r);
        both.push_back(ctx_.job().mapping.rank_at(rc.tp, rc.dp, mirror));
      }
      ctx_.collective(*s.chain, c->name, ctx_.op(c->kind, c->label, both, c->bytes), ctx_.comm());
    }
  }
}

void DualPipeDriver::gradient_sync(Chain& tail) {
  const std::int64_t length = geometry_.route_length();
  const bool mirrored = geometry_.variant() == DualPipeVariant::dualpipe;
  const bool ends = ctx_.job().model.vocab_size > 0;
  std::vector<std::int64_t> params(ranks_.size(), 0);
  for (std::int64_t pos = 0; pos < length; ++pos) {
    // The chunk at `pos` of route 0; with DualPipe its copy on route 1 runs on the mirror device.
    const std::int64_t device = geometry_.device_at(0, pos);
    const std::int64_t mirror = mirrored ? geometry_.device_at(1, pos) : device;
    Step s{.stage = device,
           .phase = Phase::backward,
           .ranks = &ranks_[static_cast<std::size_t>(device)],
           .chain = &tail};
    const auto add_params = [&](std::int64_t p) {
      params[static_cast<std::size_t>(device)] += p;
      if (mirrored) params[static_cast<std::size_t>(mirror)] += p;
    };
    if (ends && pos == length - 1) {  // the output head's backward ran first
      set_phase(Phase::backward, -1);
      add_params(ctx_.ops().output_head_params());
      emit_mirrored_sync(s, ctx_.ops().end_gradient_sync(Block::output_head), device, mirror,
                         mirrored);
      // The MTP modules ran after this chunk's layers (the embedding they read is the device's
      // copy of the route's first chunk: devices 0 and PP-1 hold both ends).
      const ModelSpec& m = ctx_.job().model;
      for (std::int64_t layer = m.total_layers() - 1; layer >= m.layers; --layer) {
        s.layer = layer;
        ctx_.set_info(s);
        add_params(ctx_.ops().dense_params(layer) + ctx_.ops().local_expert_params(layer) +
                   ctx_.ops().mtp_projection_params());
        emit_mirrored_sync(s, ctx_.ops().gradient_sync(layer), device, mirror, mirrored);
        emit_mirrored_sync(s, ctx_.ops().mtp_projection_gradient_sync(), device, mirror, mirrored);
      }
    }
    for (std::int64_t layer = first_layer(pos + 1) - 1; layer >= first_layer(pos); --layer) {
      s.layer = layer;
      ctx_.set_info(s);
      add_params(ctx_.ops().dense_params(layer) + ctx_.ops().local_expert_params(layer));
      emit_mirrored_sync(s, ctx_.ops().gradient_sync(layer), device, mirror, mirrored);
    }
    if (ends && pos == 0) {
      set_phase(Phase::backward, -1);
      add_params(ctx_.ops().embedding_params());
      emit_mirrored_sync(s, ctx_.ops().end_gradient_sync(Block::embedding), device, mirror,
                         mirrored);
    }
  }
  set_phase(Phase::optimizer, -1);
  for (std::size_t d = 0; d < ranks_.size(); ++d) {
    Step s{.stage = static_cast<std::int64_t>(d),
           .phase = Phase::optimizer,
           .ranks = &ranks_[d],
           .chain = &tail};
    ctx_.emit_work(s, ctx_.ops().optimizer(params[d]), ctx_.compute());
  }
}

Chain DualPipeDriver::emit() {
  const std::vector<DualPipeItem> order = dualpipe_order(geometry_);
  for (const DualPipeItem& item : order) emit_item(item);
  MOESIM_CHECK(deferred_.empty(), "dualpipe: deferred weight gradients left over");
  return tail_;
}

void DualPipeDriver::record_decisions() {
  const std::string_view name = to_string(geometry_.variant());
  ctx_.decisions()[std::string(name) + ".schedule"] = Decision::choice(
      std::string(name),
      fmt::format("{} devices, {} micro-batches, {} per route, {}", geometry_.devices(),
                  geometry_.micro_batches(), per_phase(), chunk_layers_text()));
  ctx_.decisions()[std::string(name) + ".overlapped_pairs"] = Decision::count(
      overlapped_pairs_, "pairs", overlap_ ? "F&B pairs interleaved, all devices" : "overlap=off");
  ctx_.decisions()[std::string(name) + ".parameter_copies"] = Decision::count(
      geometry_.variant() == DualPipeVariant::dualpipe ? 2 : 1, "copies",
      geometry_.variant() == DualPipeVariant::dualpipe
          ? "of every stage's parameters (gradients of both copies all-reduced together)"
          : "of every stage's parameters");
  if (const std::int64_t mtp = ctx_.job().model.mtp_layers; mtp > 0) {
    ctx_.decisions()[std::string(name) + ".mtp"] = Decision::count(
        mtp, "layers",
        geometry_.variant() == DualPipeVariant::dualpipe
            ? fmt::format("multi-token prediction with each route's last chunk: devices {} "
                          "and 0",
                          geometry_.devices() - 1)
            : "multi-token prediction with the V's last chunk: device 0");
  }
  if (ctx_.job().model.vocab_size > 0) {
    ctx_.decisions()[std::string(name) + ".model_ends"] = Decision::choice(
        "route ends",
        geometry_.variant() == DualPipeVariant::dualpipe
            ? fmt::format("embedding before each route's first chunk, final norm + LM head + "
                          "loss after its last: devices 0 and {} hold both (2 copies)",
                          geometry_.devices() - 1)
            : "embedding before the V's first chunk, final norm + LM head + loss after its "
              "last: both on device 0");
  }
}

std::string DualPipeDriver::chunk_layers_text() const {
  const std::int64_t length = geometry_.route_length();
  std::int64_t lo = first_layer(1) - first_layer(0), hi = lo;
  for (std::int64_t p = 1; p < length; ++p) {
    lo = std::min(lo, first_layer(p + 1) - first_layer(p));
    hi = std::max(hi, first_layer(p + 1) - first_layer(p));
  }
  if (lo == hi) return fmt::format("chunks of {} layers", lo);
  return fmt::format("chunks of {} to {} layers", lo, hi);
}

/// The gradient-sync piece over DualPipeDriver::gradient_sync.
class DualPipeGradientSync final : public GradientSync {
 public:
  explicit DualPipeGradientSync(DualPipeDriver& driver) : driver_(driver) {}
  void emit(Chain& after_backward) override { driver_.gradient_sync(after_backward); }

 private:
  DualPipeDriver& driver_;
};

class DualPipe final : public Strategy {
 public:
  DualPipe(std::string name, DualPipeVariant variant, bool overlap)
      : name_(std::move(name)), variant_(variant), overlap_(overlap) {}
  std::string_view name() const override { return name_; }
  std::string_view summary() const override {
    return variant_ == DualPipeVariant::dualpipe
               ? "DualPipe (DeepSeek-V3): micro-batches from both pipeline ends, 2 chunks per "
                 "device, overlapped F&B pairs, zero-bubble W"
               : "DualPipeV: DualPipe cut in half, a V of 2 chunks per device, 1x parameters";
  }
  void check_job(const TrainingJob& job) const override {
    require_layer_split(job.layout, name_);
    const ParallelLayout& l = job.layout;
    if (variant_ == DualPipeVariant::dualpipev && l.uneven_stages()) {
      // The layout's stages are DualPipeV's devices, each holding two chunks of the V.
      throw input_error("", "--parallel",
                        "first_stage_layers / last_stage_layers: not supported by dualpipev",
                        fmt::format("{} with {}", name_, l.describe()),
                        "dualpipe, or dualpipev with an even split");
    }
    const bool even_pp = variant_ == DualPipeVariant::dualpipev || l.pp % 2 == 0;
    if (!even_pp || l.micro_batches < 2 * l.pp || l.micro_batches % 2 != 0) {
      throw input_error(
          "", "--parallel",
          fmt::format("{} needs {}mb even and >= 2*pp", name_,
                      variant_ == DualPipeVariant::dualpipe ? "an even pp and " : ""),
          fmt::format("pp={}, mb={}", l.pp, l.micro_batches),
          variant_ == DualPipeVariant::dualpipe ? "e.g. pp=2,mb=4" : "e.g. pp=1,mb=2");
    }
    const std::int64_t chunks = variant_ == DualPipeVariant::dualpipe ? l.pp : 2 * l.pp;
    if (job.model.layers < chunks) {
      throw input_error("", "--parallel", fmt::format("{} needs a layer per chunk", name_),
                        fmt::format("layers={}, chunks={}", job.model.layers, chunks),
                        fmt::format("layers >= {}", chunks));
    }
  }
  BuildResult build_iteration(const TrainingJob& job, const CostModels& costs) const override {
    check_job(job);
    EmissionContext ctx(job, costs, dualpipe_token_options());
    DualPipeDriver pipeline(ctx, variant_, overlap_);
    DualPipeGradientSync gradients(pipeline);
    // emit_iteration's steps without its token-plan decisions: DualPipe reports its own.
    Chain tail = pipeline.emit();
    gradients.emit(tail);
    pipeline.record_decisions();
    return ctx.take_result();
  }

 private:
  std::string name_;
  DualPipeVariant variant_;
  bool overlap_;
};

std::unique_ptr<Strategy> configure(DualPipeVariant v, StrategyOptions& options) {
  const bool overlap = options.get_bool("overlap", true);
  const std::string base(to_string(v));
  return std::make_unique<DualPipe>(options.empty() ? base : base + ":" + options.text(), v,
                                    overlap);
}

}  // namespace

std::unique_ptr<Strategy> make_dualpipe() {
  return std::make_unique<DualPipe>("dualpipe", DualPipeVariant::dualpipe, true);
}
std::unique_ptr<Strategy> make_dualpipev() {
  return std::make_unique<DualPipe>("dualpipev", DualPipeVariant::dualpipev, true);
}
std::unique_ptr<Strategy> configure_dualpipe(StrategyOptions& options) {
  return configure(DualPipeVariant::dualpipe, options);
}
std::unique_ptr<Strategy> configure_dualpipev(StrategyOptions& options) {
  return configure(DualPipeVariant::dualpipev, options);
}

}  // namespace moesim::strategies
