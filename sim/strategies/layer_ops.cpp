#include "sim/strategies/layer_ops.hpp"

#include <algorithm>

#include "sim/strategies/cost_models.hpp"

namespace moesim::strategies {

std::string_view to_string(Block block) {
  switch (block) {
    case Block::attention:
      return "attention";
    case Block::dense_ffn:
      return "dense_ffn";
    case Block::gate_permute:
      return "gate_permute";
    case Block::experts:
      return "experts";
    case Block::shared_experts:
      return "shared_experts";
    case Block::gradient_sync:
      return "gradient_sync";
    case Block::optimizer:
      return "optimizer";
    case Block::embedding:
      return "embedding";
    case Block::output_head:
      return "output_head";
    case Block::mtp_projection:
      return "mtp_projection";
  }
  return "?";
}

std::vector<const KernelOp*> BlockWork::kernels() const {
  std::vector<const KernelOp*> out;
  for (const LayerOp& op : ops) {
    if (const auto* k = std::get_if<KernelOp>(&op)) out.push_back(k);
  }
  return out;
}

std::vector<const CollectiveOp*> BlockWork::collectives() const {
  std::vector<const CollectiveOp*> out;
  for (const LayerOp& op : ops) {
    if (const auto* c = std::get_if<CollectiveOp>(&op)) out.push_back(c);
  }
  return out;
}

struct LayerOps::FfnNames {
  std::string_view up, act, down, down_dx, down_dw, act_bwd, up_dx, up_dw;
};

namespace {

constexpr std::string_view kTpAllReduce = "tp.allreduce";

ActivationKind activation_of(const ModelSpec& m) {
  return m.expert_ffn == ExpertFfn::swiglu ? ActivationKind::swiglu : ActivationKind::gelu;
}

KernelOp with_direction(std::string_view name, ComputeTask t, Direction d) {
  if (t.op.gemm_role == GemmRole::none) {
    t.op.direction = d == Direction::forward ? OpDirection::forward : OpDirection::backward;
  } else {
    t.op.direction =
        t.op.gemm_role == GemmRole::forward ? OpDirection::forward : OpDirection::backward;
  }
  return KernelOp{name, std::move(t), d};
}

}  // namespace

LayerOps::LayerOps(const ModelSpec& model, const ParallelLayout& layout)
    : model_(model), layout_(layout), b_(dtype_bytes(model.dtype)) {}

ComputeTask LayerOps::gemm(std::int64_t m, std::int64_t n, std::int64_t k, GemmRole role) const {
  ComputeTask t;
  t.kind = KernelKind::gemm;
  t.shape = KernelShape{m, n, k, 1};
  t.dtype = model_.dtype;
  t.flops = Flops{2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k)};
  t.bytes = Bytes{(m * k + k * n + m * n) * b_};
  t.op.gemm_role = role;
  return t;
}

ComputeTask LayerOps::linear(std::int64_t m, std::int64_t n, std::int64_t k, GemmRole role) const {
  if (!model_.fp8_linear) return gemm(m, n, k, role);
  // FP8 operands (1 byte), the product in the model dtype.
  ComputeTask t = gemm(m, n, k, role);
  t.dtype = DType::fp8;
  t.bytes = Bytes{m * k + k * n + m * n * b_};
  return t;
}

KernelOp LayerOps::fp8_casts(std::int64_t elements, Direction direction) const {
  // Transformer Engine's current-scaling recipe (Float8CurrentScaling): an amax pass over the
  // bf16 tensor, then one cast writing the FP8 tensor and its transpose (Hopper's FP8 GEMMs take
  // only the TN layout, so the weight gradient reads the transposed copy): 2 + 2 bytes read,
  // 1 + 1 written per element. Weights are cast once per iteration and cached across
  // micro-batches (TE's is_first_microbatch), so only activations and gradients are charged.
  return with_direction(direction == Direction::forward ? "fp8.cast" : "fp8.cast.bwd",
                        memory_kernel(KernelKind::elementwise, elements, 1, 6 * elements,
                                      2.0 * static_cast<double>(elements)),
                        direction);
}

ComputeTask LayerOps::memory_kernel(KernelKind kind, std::int64_t m, std::int64_t n,
                                    std::int64_t bytes, double flops) const {
  ComputeTask t;
  t.kind = kind;
  t.shape = KernelShape{m, n, 0, 1};
  t.dtype = model_.dtype;
  t.flops = Flops{flops};
  t.bytes = Bytes{bytes};
  return t;
}

ComputeOp LayerOps::attention_op() const {
  ComputeOp op;
  op.sequence = model_.seq_len;
  // Unset (the kernel computes every key of its rows): fused, no mask skipped.
  op.causal = model_.attention_kernel.has_value();
  op.fused = model_.attention_kernel != AttentionKernel::dense_masked;
  return op;
}

BlockWork LayerOps::attention(Pass pass, std::int64_t x, std::int64_t layer) const {
  const ModelSpec& m = model_;
  if (m.is_mla()) return mla_attention(pass, x, layer);
  const std::int64_t tp = layout_.tp;
  const std::int64_t hid = m.hidden;
  const std::int64_t hd = m.head_dim();
  const std::int64_t kv = std::max(hd, hd * m.kv_heads / tp);
  const std::int64_t q = m.query_width() / tp;
  const std::int64_t keys = m.attended_keys(layer);
  const bool fwd = pass == Pass::forward;
  ComputeTask attn;
  attn.kind = KernelKind::attention;
  attn.shape = KernelShape{x, keys, hd, m.heads / tp};
  attn.dtype = m.dtype;
  attn.op = attention_op();
  attn.flops = Flops{(fwd ? 4.0 : 8.0) * static_cast<double>(x) * m.keys_per_query(layer) *
                     static_cast<double>(q)};
  attn.bytes = Bytes{(fwd ? 1 : 2) * (x * (q + 2 * kv) + x * q) * b_};
  const CollectiveOp reduce{
      kTpAllReduce,  CommKind::all_reduce, GroupKind::tp,
      CommGroup::tp, Bytes{x * hid * b_},  fwd ? Direction::forward : Direction::input_gradient};
  BlockWork w{Block::attention, {}};
  const auto d = Direction::input_gradient;
  const auto dw = Direction::weight_gradient;
  const double xh = static_cast<double>(x * hid);
  if (fwd) {
    const auto f = Direction::forward;
    w.ops = {
        with_direction("ln1",
                       memory_kernel(KernelKind::layernorm, x, hid, 2 * x * hid * b_, 5.0 * xh), f),
        with_direction("qkv", linear(x, q + 2 * kv, hid, GemmRole::forward), f),
        with_direction("attention", attn, f),
        with_direction("attn.proj", linear(x, hid, q, GemmRole::forward), f),
        reduce,
        with_direction("ln2",
                       memory_kernel(KernelKind::layernorm, x, hid, 3 * x * hid * b_, 6.0 * xh), f),
    };
    // Inputs of qkv (x M) and of the out-projection (x q).
    if (m.fp8_linear) w.ops.insert(w.ops.begin() + 1, fp8_casts(x * (hid + q), f));
  } else {
    w.ops = {
        with_direction("ln2.bwd", memory_kernel(KernelKind::layernorm, x, hid, 4 * x * hid * b_),
                       d),
        with_direction("attn.proj.dX", linear(x, q, hid, GemmRole::input_gradient), d),
        with_direction("attn.proj.dW", linear(q, hid, x, GemmRole::weight_gradient), dw),
        with_direction("attention.bwd", attn, d),
        with_direction("qkv.dX", linear(x, hid, q + 2 * kv, GemmRole::input_gradient), d),
        with_direction("qkv.dW", linear(hid, q + 2 * kv, x, GemmRole::weight_gradient), dw),
        reduce,
        with_direction("ln1.bwd", memory_kernel(KernelKind::layernorm, x, hid, 4 * x * hid * b_),
                       d),
    };
    // Gradients entering the out-projection (x M) and qkv (x (q + 2 kv)).
    if (m.fp8_linear) w.ops.insert(w.ops.begin() + 1, fp8_casts(x * (hid + q + 2 * kv), d));
  }
  return w;
}

BlockWork LayerOps::norm_recompute(std::int64_t x) const {
  // The forward ln1 / ln2 kernels of attention() again (same bytes and flops), on the gradient
  // chain: Megatron-Core's CheckpointWithoutOutput drops each norm's output after the forward
  // and re-runs the norm when the backward reaches the module that consumed it
  // (megatron/core/transformer/transformer_layer.py, recompute_modules "layernorm").
  const std::int64_t hid = model_.hidden;
  const double xh = static_cast<double>(x * hid);
  const auto d = Direction::input_gradient;
  return BlockWork{
      Block::attention,
      {with_direction("ln2.recompute",
                      memory_kernel(KernelKind::layernorm, x, hid, 3 * x * hid * b_, 6.0 * xh), d),
       with_direction("ln1.recompute",
                      memory_kernel(KernelKind::layernorm, x, hid, 2 * x * hid * b_, 5.0 * xh),
                      d)}};
}

BlockWork LayerOps::mla_attention(Pass pass, std::int64_t x, std::int64_t layer) const {
  // DeepSeek-V3 (arXiv 2412.19437 section 2.1.1, eqs. 1-11; deepseek-ai/DeepSeek-V3
  // inference/model.py class MLA): q = W_qb norm(W_qa h) (or W_q h without a q LoRA),
  // [c_kv, k_rope] = W_kva h, [k_nope, v] = W_kvb norm(c_kv), scores over qk_nope + qk_rope
  // dims per head, output W_o over heads * v_head_dim. Heads are split over tp; the two
  // down-projections (W_qa, W_kva) and their norms are replicated on every tp rank.
  const ModelSpec& m = model_;
  const ModelSpec::Mla& a = m.mla;
  const std::int64_t tp = layout_.tp;
  const std::int64_t hid = m.hidden;
  const std::int64_t heads = m.heads / tp;
  const std::int64_t qk = a.qk_nope_head_dim + a.qk_rope_head_dim;
  const std::int64_t q_out = heads * qk;
  const std::int64_t kv_a_out = a.kv_lora_rank + a.qk_rope_head_dim;
  const std::int64_t kv_b_out = heads * (a.qk_nope_head_dim + a.v_head_dim);
  const std::int64_t o_in = heads * a.v_head_dim;
  const bool fwd = pass == Pass::forward;
  ComputeTask attn;
  attn.kind = KernelKind::attention;
  const std::int64_t keys = m.attended_keys(layer);
  attn.shape = KernelShape{x, keys, qk, heads};
  attn.dtype = m.dtype;
  attn.op = attention_op();
  attn.flops = Flops{(fwd ? 2.0 : 4.0) * static_cast<double>(x) * m.keys_per_query(layer) *
                     static_cast<double>(heads * (qk + a.v_head_dim))};
  attn.bytes = Bytes{(fwd ? 1 : 2) * x * (2 * q_out + 2 * o_in) * b_};
  const CollectiveOp reduce{
      kTpAllReduce,  CommKind::all_reduce, GroupKind::tp,
      CommGroup::tp, Bytes{x * hid * b_},  fwd ? Direction::forward : Direction::input_gradient};
  const auto norm = [&](std::int64_t width, std::int64_t bytes_per, double flops_per) {
    return memory_kernel(KernelKind::layernorm, x, width, bytes_per * x * width * b_,
                         flops_per * static_cast<double>(x * width));
  };
  // Projections in forward order: name, output width, input width.
  struct Proj {
    std::string_view name, dx, dw;
    std::int64_t out, in;
  };
  std::vector<Proj> q_path;
  if (a.q_lora_rank > 0) {
    q_path = {{"q_a", "q_a.dX", "q_a.dW", a.q_lora_rank, hid},
              {"q_b", "q_b.dX", "q_b.dW", q_out, a.q_lora_rank}};
  } else {
    q_path = {{"q", "q.dX", "q.dW", q_out, hid}};
  }
  const Proj kv_a{"kv_a", "kv_a.dX", "kv_a.dW", kv_a_out, hid};
  const Proj kv_b{"kv_b", "kv_b.dX", "kv_b.dW", kv_b_out, a.kv_lora_rank};
  const auto f = Direction::forward;
  const auto d = Direction::input_gradient;
  const auto dw = Direction::weight_gradient;
  const auto forward_gemm = [&](const Proj& p) {
    return with_direction(p.name, linear(x, p.out, p.in, GemmRole::forward), f);
  };
  const auto backward_gemms = [&](BlockWork& w, const Proj& p) {
    w.ops.push_back(with_direction(p.dx, linear(x, p.in, p.out, GemmRole::input_gradient), d));
    w.ops.push_back(with_direction(p.dw, linear(p.in, p.out, x, GemmRole::weight_gradient), dw));
  };
  BlockWork w{Block::attention, {}};
  const double xh = static_cast<double>(x * hid);
  // FP8 casts of every projection's input (forward) or incoming gradient (backward).
  std::int64_t cast_in = o_in + kv_a.in + kv_b.in;
  std::int64_t cast_out = hid + kv_a.out + kv_b.out;
  for (const Proj& p : q_path) {
    cast_in += p.in;
    cast_out += p.out;
  }
  if (fwd) {
    w.ops.push_back(with_direction(
        "ln1", memory_kernel(KernelKind::layernorm, x, hid, 2 * x * hid * b_, 5.0 * xh), f));
    if (m.fp8_linear) w.ops.push_back(fp8_casts(x * cast_in, f));
    w.ops.push_back(forward_gemm(q_path.front()));
    if (q_path.size() == 2) {
      w.ops.push_back(with_direction("q_a.norm", norm(a.q_lora_rank, 2, 5.0), f));
      w.ops.push_back(forward_gemm(q_path.back()));
    }
    w.ops.push_back(forward_gemm(kv_a));
    w.ops.push_back(with_direction("kv_a.norm", norm(a.kv_lora_rank, 2, 5.0), f));
    w.ops.push_back(forward_gemm(kv_b));
    w.ops.push_back(with_direction("attention", attn, f));
    w.ops.push_back(with_direction("attn.proj", linear(x, hid, o_in, GemmRole::forward), f));
    w.ops.push_back(reduce);
    w.ops.push_back(with_direction(
        "ln2", memory_kernel(KernelKind::layernorm, x, hid, 3 * x * hid * b_, 6.0 * xh), f));
  } else {
    w.ops.push_back(with_direction(
        "ln2.bwd", memory_kernel(KernelKind::layernorm, x, hid, 4 * x * hid * b_), d));
    if (m.fp8_linear) w.ops.push_back(fp8_casts(x * cast_out, d));
    w.ops.push_back(
        with_direction("attn.proj.dX", linear(x, o_in, hid, GemmRole::input_gradient), d));
    w.ops.push_back(
        with_direction("attn.proj.dW", linear(o_in, hid, x, GemmRole::weight_gradient), dw));
    w.ops.push_back(with_direction("attention.bwd", attn, d));
    backward_gemms(w, kv_b);
    w.ops.push_back(with_direction("kv_a.norm.bwd", norm(a.kv_lora_rank, 4, 0.0), d));
    backward_gemms(w, kv_a);
    if (q_path.size() == 2) {
      backward_gemms(w, q_path.back());
      w.ops.push_back(with_direction("q_a.norm.bwd", norm(a.q_lora_rank, 4, 0.0), d));
    }
    backward_gemms(w, q_path.front());
    w.ops.push_back(reduce);
    w.ops.push_back(with_direction(
        "ln1.bwd", memory_kernel(KernelKind::layernorm, x, hid, 4 * x * hid * b_), d));
  }
  return w;
}

BlockWork LayerOps::ffn(Block block, Pass pass, std::int64_t x, std::int64_t f, bool tp_reduce,
                        const FfnNames& n) const {
  BlockWork w{block, {}};
  if (x <= 0) return w;
  const ModelSpec& m = model_;
  const std::int64_t up = m.expert_ffn == ExpertFfn::swiglu ? 2 * f : f;
  const double xf = static_cast<double>(x * f);
  const auto act = [&](std::int64_t bytes, double flops) {
    ComputeTask t = memory_kernel(KernelKind::elementwise, x, f, bytes, flops);
    t.op.activation = activation_of(m);
    return t;
  };
  const auto d = Direction::input_gradient;
  if (pass == Pass::forward) {
    const auto fw = Direction::forward;
    w.ops = {with_direction(n.up, linear(x, up, m.hidden, GemmRole::forward), fw),
             with_direction(n.act, act((x * up + x * f) * b_, 4.0 * xf), fw),
             with_direction(n.down, linear(x, m.hidden, f, GemmRole::forward), fw)};
    // Inputs of the up (x M) and down (x f) GEMMs.
    if (m.fp8_linear) w.ops.insert(w.ops.begin(), fp8_casts(x * (m.hidden + f), fw));
  } else {
    const auto dw = Direction::weight_gradient;
    w.ops = {with_direction(n.down_dx, linear(x, f, m.hidden, GemmRole::input_gradient), d),
             with_direction(n.down_dw, linear(f, m.hidden, x, GemmRole::weight_gradient), dw),
             with_direction(n.act_bwd, act((2 * x * up + x * f) * b_, 8.0 * xf), d),
             with_direction(n.up_dx, linear(x, m.hidden, up, GemmRole::input_gradient), d),
             with_direction(n.up_dw, linear(m.hidden, up, x, GemmRole::weight_gradient), dw)};
    // Gradients entering the down (x M) and up (x up) GEMMs.
    if (m.fp8_linear) w.ops.insert(w.ops.begin(), fp8_casts(x * (m.hidden + up), d));
  }
  if (tp_reduce) {
    w.ops.push_back(CollectiveOp{kTpAllReduce, CommKind::all_reduce, GroupKind::tp, CommGroup::tp,
                                 Bytes{x * m.hidden * b_},
                                 pass == Pass::forward ? Direction::forward : d});
  }
  return w;
}

BlockWork LayerOps::dense_ffn(Pass pass, std::int64_t tokens) const {
  static constexpr FfnNames kNames{"ffn1",    "ffn.act",     "ffn2",    "ffn2.dX",
                                   "ffn2.dW", "ffn.act.bwd", "ffn1.dX", "ffn1.dW"};
  return ffn(Block::dense_ffn, pass, tokens, model_.ffn_hidden / layout_.tp, true, kNames);
}

BlockWork LayerOps::shared_experts(Pass pass, std::int64_t tokens) const {
  static constexpr FfnNames kNames{"shared1",    "shared.act",     "shared2",    "shared2.dX",
                                   "shared2.dW", "shared.act.bwd", "shared1.dX", "shared1.dW"};
  if (model_.shared_experts == 0) return BlockWork{Block::shared_experts, {}};
  return ffn(Block::shared_experts, pass, tokens,
             model_.shared_experts * model_.expert_ffn_hidden / layout_.tp, true, kNames);
}

BlockWork LayerOps::expert(Pass pass, std::int64_t tokens) const {
  static constexpr FfnNames kNames{"expert1",    "expert.act",     "expert2",    "expert2.dX",
                                   "expert2.dW", "expert.act.bwd", "expert1.dX", "expert1.dW"};
  return ffn(Block::experts, pass, tokens, model_.expert_ffn_hidden / layout_.esp, false, kNames);
}

BlockWork LayerOps::experts(Pass pass, const std::vector<std::int64_t>& tokens_per_expert) const {
  BlockWork w{Block::experts, {}};
  for (std::int64_t t : tokens_per_expert) {
    BlockWork one = expert(pass, t);
    for (LayerOp& op : one.ops) w.ops.push_back(std::move(op));
  }
  return w;
}

BlockWork LayerOps::gate_permute(Pass pass, std::int64_t x, std::int64_t slots,
                                 const std::vector<std::int64_t>& tokens_per_expert) const {
  const ModelSpec& m = model_;
  const auto routing = [&](ComputeTask t, bool counts) {
    t.op.top_k = static_cast<std::int32_t>(m.top_k);
    t.op.experts = static_cast<std::int32_t>(m.experts);
    if (counts) t.op.tokens_per_expert = tokens_per_expert;
    return t;
  };
  const ComputeTask permute =
      memory_kernel(KernelKind::permute, x * m.top_k, m.hidden, (x + slots) * m.hidden * b_);
  BlockWork w{Block::gate_permute, {}};
  if (pass == Pass::forward) {
    const auto f = Direction::forward;
    w.ops = {
        with_direction("gate", gemm(x, m.experts, m.hidden, GemmRole::forward), f),
        with_direction("gate.topk",
                       routing(memory_kernel(KernelKind::gate, x, m.experts,
                                             4 * x * m.experts + 8 * x * m.top_k,
                                             5.0 * static_cast<double>(x * m.experts)),
                               false),
                       f),
        with_direction("permute", routing(permute, true), f),
    };
  } else {
    const auto d = Direction::input_gradient;
    w.ops = {
        with_direction("permute.bwd", routing(permute, true), d),
        with_direction(
            "gate.topk.bwd",
            routing(memory_kernel(KernelKind::gate, x, m.experts, 8 * x * m.experts), false), d),
        with_direction("gate.dX", gemm(x, m.hidden, m.experts, GemmRole::input_gradient), d),
        with_direction("gate.dW", gemm(m.hidden, m.experts, x, GemmRole::weight_gradient),
                       Direction::weight_gradient),
    };
  }
  return w;
}

BlockWork LayerOps::unpermute(Pass pass, std::int64_t x, std::int64_t slots,
                              const std::vector<std::int64_t>& tokens_per_expert) const {
  const ModelSpec& m = model_;
  const bool fwd = pass == Pass::forward;
  ComputeTask t =
      memory_kernel(KernelKind::unpermute, x * m.top_k, m.hidden, (x + slots) * m.hidden * b_,
                    fwd ? 2.0 * static_cast<double>(x * m.top_k * m.hidden) : 0.0);
  t.op.top_k = static_cast<std::int32_t>(m.top_k);
  t.op.experts = static_cast<std::int32_t>(m.experts);
  t.op.tokens_per_expert = tokens_per_expert;
  return BlockWork{Block::gate_permute,
                   {with_direction(fwd ? "unpermute" : "unpermute.bwd", std::move(t),
                                   fwd ? Direction::forward : Direction::input_gradient)}};
}

BlockWork LayerOps::embedding(Pass pass, std::int64_t x) const {
  const ModelSpec& m = model_;
  BlockWork w{Block::embedding, {}};
  if (m.vocab_size == 0) return w;
  const std::int64_t hid = m.hidden;
  if (pass == Pass::forward) {
    // VocabParallelEmbedding: each tp rank looks up the rows of its vocabulary shard (the others
    // masked to zero), then the shards are summed over tp.
    w.ops = {
        with_direction("embedding", memory_kernel(KernelKind::memcpy, x, hid, 2 * x * hid * b_),
                       Direction::forward),
        CollectiveOp{"embedding.allreduce", CommKind::all_reduce, GroupKind::tp, CommGroup::tp,
                     Bytes{x * hid * b_}, Direction::forward}};
  } else {
    // Scatter-add of the x incoming gradient rows into the table's gradient (read the row,
    // read and write the table row): the embedding's only product, a weight gradient.
    w.ops = {with_direction(
        "embedding.bwd",
        memory_kernel(KernelKind::memcpy, x, hid, 3 * x * hid * b_, static_cast<double>(x * hid)),
        Direction::weight_gradient)};
  }
  return w;
}

BlockWork LayerOps::output_head(Pass pass, std::int64_t x) const {
  const ModelSpec& m = model_;
  BlockWork w{Block::output_head, {}};
  if (m.vocab_size == 0) return w;
  const std::int64_t hid = m.hidden;
  const std::int64_t v = m.vocab_size / layout_.tp;  // the rank's vocabulary shard
  const double xv = static_cast<double>(x * v);
  const double xh = static_cast<double>(x * hid);
  // Vocab-parallel cross-entropy (Megatron-LM tensor_parallel/cross_entropy.py): the logits'
  // max, the target logit and the sum of exponentials are each all-reduced over tp (x fp32
  // values each). Forward reads the logits twice (max, then exp-sum) and keeps the softmax in
  // fp32 for the backward; the backward reads it and writes the logits' gradient [R].
  const auto ce_reduce = [&](std::string_view name) {
    return CollectiveOp{name,          CommKind::all_reduce, GroupKind::tp,
                        CommGroup::tp, Bytes{4 * x},         Direction::forward};
  };
  if (pass == Pass::forward) {
    const auto f = Direction::forward;
    w.ops = {
        with_direction("final_norm",
                       memory_kernel(KernelKind::layernorm, x, hid, 2 * x * hid * b_, 5.0 * xh), f),
        // The output layer is Megatron's ColumnParallelLinear, not a TE module: model dtype.
        with_direction("lm_head", gemm(x, v, hid, GemmRole::forward), f),
        with_direction("cross_entropy",
                       memory_kernel(KernelKind::softmax, x, v, x * v * (2 * b_ + 4), 5.0 * xv), f),
        ce_reduce("ce.max.allreduce"),
        ce_reduce("ce.target.allreduce"),
        ce_reduce("ce.sumexp.allreduce"),
    };
  } else {
    const auto d = Direction::input_gradient;
    w.ops = {
        with_direction("cross_entropy.bwd",
                       memory_kernel(KernelKind::softmax, x, v, x * v * (4 + b_), 2.0 * xv), d),
        with_direction("lm_head.dX", gemm(x, hid, v, GemmRole::input_gradient), d),
        with_direction("lm_head.dW", gemm(hid, v, x, GemmRole::weight_gradient),
                       Direction::weight_gradient),
        CollectiveOp{kTpAllReduce, CommKind::all_reduce, GroupKind::tp, CommGroup::tp,
                     Bytes{x * hid * b_}, d},
        with_direction("final_norm.bwd",
                       memory_kernel(KernelKind::layernorm, x, hid, 4 * x * hid * b_), d),
    };
  }
  return w;
}

BlockWork LayerOps::mtp_projection(Pass pass, std::int64_t x) const {
  const ModelSpec& m = model_;
  BlockWork w{Block::mtp_projection, {}};
  if (m.mtp_layers == 0) return w;
  const std::int64_t hid = m.hidden;
  const std::int64_t out = hid / layout_.tp;  // eh_proj is column-parallel
  const double xh = static_cast<double>(x * hid);
  const auto norm = [&](std::int64_t bytes_per, double flops_per) {
    return memory_kernel(KernelKind::layernorm, x, hid, bytes_per * x * hid * b_, flops_per * xh);
  };
  if (pass == Pass::forward) {
    const auto f = Direction::forward;
    w.ops = {
        with_direction("mtp.embedding", memory_kernel(KernelKind::memcpy, x, hid, 2 * x * hid * b_),
                       f),
        CollectiveOp{"mtp.embedding.allreduce", CommKind::all_reduce, GroupKind::tp, CommGroup::tp,
                     Bytes{x * hid * b_}, f},
        with_direction("mtp.enorm", norm(2, 5.0), f),
        with_direction("mtp.hnorm", norm(2, 5.0), f),
        with_direction("mtp.concat",
                       memory_kernel(KernelKind::memcpy, x, 2 * hid, 4 * x * hid * b_), f),
    };
    if (m.fp8_linear) w.ops.push_back(fp8_casts(x * 2 * hid, f));
    w.ops.push_back(with_direction("mtp.eh_proj", linear(x, out, 2 * hid, GemmRole::forward), f));
    w.ops.push_back(CollectiveOp{"mtp.eh_proj.allgather", CommKind::all_gather, GroupKind::tp,
                                 CommGroup::tp, Bytes{x * hid * b_}, f});
  } else {
    const auto d = Direction::input_gradient;
    if (m.fp8_linear) w.ops.push_back(fp8_casts(x * out, d));
    w.ops.push_back(
        with_direction("mtp.eh_proj.dX", linear(x, 2 * hid, out, GemmRole::input_gradient), d));
    w.ops.push_back(with_direction("mtp.eh_proj.dW",
                                   linear(2 * hid, out, x, GemmRole::weight_gradient),
                                   Direction::weight_gradient));
    w.ops.push_back(CollectiveOp{kTpAllReduce, CommKind::all_reduce, GroupKind::tp, CommGroup::tp,
                                 Bytes{2 * x * hid * b_}, d});
    w.ops.push_back(with_direction(
        "mtp.concat.bwd", memory_kernel(KernelKind::memcpy, x, 2 * hid, 4 * x * hid * b_), d));
    w.ops.push_back(with_direction("mtp.enorm.bwd", norm(4, 0.0), d));
    w.ops.push_back(with_direction("mtp.hnorm.bwd", norm(4, 0.0), d));
    w.ops.push_back(with_direction(
        "mtp.embedding.bwd",
        memory_kernel(KernelKind::memcpy, x, hid, 3 * x * hid * b_, static_cast<double>(x * hid)),
        Direction::weight_gradient));
  }
  return w;
}

std::int64_t LayerOps::mtp_projection_params() const {
  if (model_.mtp_layers == 0) return 0;
  return 2 * model_.hidden * (model_.hidden / layout_.tp) + 3 * model_.hidden;
}

BlockWork LayerOps::mtp_projection_gradient_sync() const {
  BlockWork w{Block::gradient_sync, {}};
  const std::int64_t params = mtp_projection_params();
  if (params == 0) return w;
  w.ops.push_back(CollectiveOp{"grad.allreduce.mtp", CommKind::all_reduce, GroupKind::dp,
                               CommGroup::dp, Bytes{params * b_}, Direction::weight_gradient});
  return w;
}

std::int64_t LayerOps::embedding_params() const {
  return model_.vocab_size / layout_.tp * model_.hidden;
}

std::int64_t LayerOps::output_head_params() const {
  return model_.vocab_size == 0 ? 0
                                : model_.vocab_size / layout_.tp * model_.hidden + model_.hidden;
}

BlockWork LayerOps::end_gradient_sync(Block block) const {
  BlockWork w{Block::gradient_sync, {}};
  const std::int64_t params = block == Block::embedding ? embedding_params() : output_head_params();
  if (params == 0) return w;
  w.ops.push_back(CollectiveOp{
      block == Block::embedding ? "grad.allreduce.embedding" : "grad.allreduce.output_head",
      CommKind::all_reduce, GroupKind::dp, CommGroup::dp, Bytes{params * b_},
      Direction::weight_gradient});
  return w;
}

KernelOp LayerOps::token_slice(std::string_view name, std::int64_t rows) const {
  return with_direction(
      name, memory_kernel(KernelKind::memcpy, rows, model_.hidden, 2 * rows * model_.hidden * b_),
      Direction::forward);
}

std::int64_t LayerOps::dense_params(std::int64_t layer) const {
  const ModelSpec& m = model_;
  std::int64_t dense = m.attention_params() / layout_.tp + 4 * m.hidden;
  if (m.is_moe_layer(layer)) {
    dense += m.hidden * m.experts + m.shared_experts * m.expert_params() / layout_.tp;
  } else {
    dense += m.dense_ffn_params() / layout_.tp;
  }
  return dense;
}

std::int64_t LayerOps::local_expert_params(std::int64_t layer) const {
  if (!model_.is_moe_layer(layer)) return 0;
  return model_.experts / layout_.ep * model_.expert_params() / layout_.esp;
}

BlockWork LayerOps::gradient_sync(std::int64_t layer) const {
  BlockWork w{Block::gradient_sync, {}};
  w.ops.push_back(CollectiveOp{"grad.allreduce", CommKind::all_reduce, GroupKind::dp, CommGroup::dp,
                               Bytes{dense_params(layer) * b_}, Direction::weight_gradient});
  const std::int64_t expert = local_expert_params(layer);
  if (expert > 0) {
    w.ops.push_back(CollectiveOp{"grad.allreduce.expert", CommKind::all_reduce, GroupKind::edp,
                                 CommGroup::expert_dp, Bytes{expert * b_},
                                 Direction::weight_gradient});
  }
  return w;
}

BlockWork LayerOps::optimizer(std::int64_t parameters) const {
  ComputeTask t = memory_kernel(KernelKind::optimizer, parameters, 1, 28 * parameters,
                                10.0 * static_cast<double>(parameters));
  t.op.parameters = parameters;
  return BlockWork{Block::optimizer, {KernelOp{"optimizer", std::move(t), Direction::forward}}};
}

SimTime kernel_time(const BlockWork& work, const CostModels& costs, RankId rank, bool beside_comm) {
  SimTime t = SimTime::zero();
  for (const KernelOp* k : work.kernels()) {
    t += beside_comm ? costs.duration_beside_comm(k->task, rank) : costs.duration(k->task, rank);
  }
  return t;
}

}  // namespace moesim::strategies
