// Megatron's pipeline driver and gradient sync (megatron_pipeline.hpp): 1F1B, Megatron's
// interleaved virtual pipeline and the combined 1F1B steps (pipeline_schedule.hpp), each step's
// layers in virtual stage v = chunk x pp + stage, transfers to the neighbouring virtual stage, and
// the gradient sync over every chunk's layers.
#include "sim/strategies/megatron_pipeline.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "sim/strategies/megatron_mtp.hpp"
#include "sim/strategies/pipeline_schedule.hpp"

namespace moesim::strategies {

Chain MegatronPipeline::emit() {
  const ModelSpec& m = ctx_.job().model;
  const std::int64_t pp = ctx_.job().layout.pp;
  const std::int64_t vp = moe_.options().vp;
  const std::int64_t mbs = ctx_.job().layout.micro_batches;
  const std::int64_t virtual_stages = pp * vp;
  std::vector<std::int64_t> moe_index(static_cast<std::size_t>(m.layers), -1);
  for (std::int64_t l = 0; l < m.layers; ++l)
    moe_index[static_cast<std::size_t>(l)] = m.moe_index_of(l);
  const auto world = static_cast<std::size_t>(ctx_.job().layout.world());
  const StreamId pp_stream = pp > 1 ? ctx_.graph().stream("pp") : StreamId{};
  std::vector<std::vector<RankId>> stage_ranks(static_cast<std::size_t>(pp));
  for (std::int64_t s = 0; s < pp; ++s) {
    stage_ranks[static_cast<std::size_t>(s)] = ctx_.job().mapping.stage_ranks(s);
  }
  // Per (virtual stage, micro-batch), per rank: the chain at the end of its forward, and what
  // its next forward / backward of that micro-batch waits for (a received transfer, or the
  // same rank's previous chunk when pp = 1).
  const auto key = [&](std::int64_t v, std::int64_t mb) {
    return static_cast<std::size_t>(v * mbs + mb);
  };
  const std::size_t keys = static_cast<std::size_t>(virtual_stages * mbs);
  std::vector<std::vector<After>> forward_end(keys);
  std::vector<std::vector<After>> inbox_fwd(keys);
  std::vector<std::vector<After>> inbox_bwd(keys);
  const std::int64_t act_bytes = ctx_.tokens() * m.hidden * ctx_.elem_bytes();
  const auto slot = [&](std::vector<After>& v, RankId r) -> After& {
    if (v.empty()) v.resize(world);
    return v[r.index()];
  };

  std::vector<PipelineStep> steps;
  if (moe_.options().a2a_overlap) {
    steps = combined_pipeline_order(pp, vp, mbs);
  } else if (vp > 1) {
    for (const PipelineItem& it : interleaved_pipeline_order(pp, vp, mbs)) {
      steps.push_back(it.forward ? PipelineStep{it, std::nullopt} : PipelineStep{std::nullopt, it});
    }
  } else {
    for (const PipelineItem& it : pipeline_order(pp, mbs, ctx_.job().layout.pp_schedule)) {
      steps.push_back(it.forward ? PipelineStep{it, std::nullopt} : PipelineStep{std::nullopt, it});
    }
  }

  Chain fchain(world);
  Chain bchain(world);
  Chain last(world);
  for (const PipelineStep& step : steps) {
    const std::int64_t stage = step.stage();
    const auto& ranks = stage_ranks[static_cast<std::size_t>(stage)];
    Step f;
    Step b;
    const auto prepare = [&](const PipelineItem& it, Chain& chain, Step& st) {
      const std::int64_t v = it.chunk * pp + it.stage;
      const std::size_t k = key(v, it.micro_batch);
      for (RankId r : ranks) {
        After& a = chain[r];
        a.clear();
        if (!it.forward) a = slot(forward_end[k], r);
        const After& in = slot(it.forward ? inbox_fwd[k] : inbox_bwd[k], r);
        a.insert(a.end(), in.begin(), in.end());
      }
      st.stage = it.stage;
      st.micro_batch = it.micro_batch;
      st.phase = it.forward ? Phase::forward : Phase::backward;
      st.ranks = &ranks;
      st.chain = &chain;
    };
    const auto layers_of = [&](const std::optional<PipelineItem>& it) {
      return it ? moe_.chunk_layers(it->chunk * pp + it->stage) : MegatronMoeBlock::ChunkLayers{};
    };
    const MegatronMoeBlock::ChunkLayers fl = layers_of(step.forward);
    const MegatronMoeBlock::ChunkLayers bl = layers_of(step.backward);
    const auto layer_of = [&](const PipelineItem& it, const MegatronMoeBlock::ChunkLayers& c,
                              std::int64_t i) {
      return it.forward ? c.first + i : c.first + c.count - 1 - i;
    };
    // The embedding on virtual stage 0, the output head on the last (models with a vocab).
    const auto ends = [&](const std::optional<PipelineItem>& it, Step& st, bool before) {
      if (!it) return;
      const std::int64_t v = it->chunk * pp + it->stage;
      ctx_.emit_model_ends(st, v == 0, v == virtual_stages - 1, before);
    };
    // The MTP modules (models with mtp_layers) between the last virtual stage's layers and its
    // heads (megatron_mtp.hpp).
    const auto holds_mtp = [&](const std::optional<PipelineItem>& it) {
      return it && m.mtp_layers > 0 && it->chunk * pp + it->stage == virtual_stages - 1;
    };
    if (step.forward) prepare(*step.forward, fchain, f);
    if (step.backward) prepare(*step.backward, bchain, b);
    ends(step.forward, f, true);
    ends(step.backward, b, true);
    if (holds_mtp(step.backward)) emit_mtp_backward(ctx_, layers_, b);
    for (std::int64_t i = 0; i < std::max(fl.count, bl.count); ++i) {
      const bool with_f = i < fl.count;
      const bool with_b = i < bl.count;
      if (with_f) {
        f.layer = layer_of(*step.forward, fl, i);
        f.moe_index = moe_index[static_cast<std::size_t>(f.layer)];
      }
      if (with_b) {
        b.layer = layer_of(*step.backward, bl, i);
        b.moe_index = moe_index[static_cast<std::size_t>(b.layer)];
      }
      if (with_f && with_b) {
        moe_.emit_layer_pair(f, b);
      } else {
        layers_.emit(with_f ? f : b);
      }
    }
    if (holds_mtp(step.forward)) emit_mtp_forward(ctx_, layers_, f);
    ends(step.forward, f, false);
    ends(step.backward, b, false);
    // Hand each part's output to its neighbouring virtual stage.
    const auto hand_off = [&](const PipelineItem& it, Chain& chain) {
      const std::int64_t v = it.chunk * pp + it.stage;
      const std::int64_t to = it.forward ? v + 1 : v - 1;
      if (it.forward) {
        for (RankId r : ranks) slot(forward_end[key(v, it.micro_batch)], r) = chain[r];
      }
      for (RankId r : ranks) last.join(r, chain[r]);
      if (to < 0 || to >= virtual_stages) return;
      auto& inbox = (it.forward ? inbox_fwd : inbox_bwd)[key(to, it.micro_batch)];
      const std::int64_t to_stage = to % pp;
      if (to_stage == it.stage) {
        for (RankId r : ranks) slot(inbox, r) = chain[r];
        return;
      }
      Step info;
      info.phase = it.forward ? Phase::forward : Phase::backward;
      info.layer = -1;
      ctx_.set_info(info);
      for (const auto& [peer, received] : ctx_.emit_stage_transfer(
               ranks, to_stage, it.forward, Bytes{act_bytes}, pp_stream, chain)) {
        slot(inbox, peer).assign(1, received);
      }
    };
    for (RankId r : ranks) last[r].clear();
    if (step.forward) hand_off(*step.forward, fchain);
    if (step.backward) hand_off(*step.backward, bchain);
  }
  return last;
}

void MegatronGradientSync::emit(Chain& chain) {
  const std::int64_t pp = ctx_.job().layout.pp;
  const std::int64_t vp = moe_.options().vp;
  emit_mtp_embedding_group_sync(ctx_, chain);
  for (std::int64_t stage = 0; stage < pp; ++stage) {
    const std::vector<RankId> ranks = ctx_.job().mapping.stage_ranks(stage);
    std::int64_t params = 0;
    Step s{.stage = stage, .phase = Phase::backward, .ranks = &ranks, .chain = &chain};
    // Chunk 0's backward ends last: reduce the later chunks' layers first, last layer first.
    params += ctx_.emit_model_ends_gradient_sync(s, stage == 0, stage == pp - 1);
    if (stage == pp - 1) params += emit_mtp_gradient_sync(ctx_, s);
    for (std::int64_t c = vp - 1; c >= 0; --c) {
      const MegatronMoeBlock::ChunkLayers chunk = moe_.chunk_layers(c * pp + stage);
      for (std::int64_t i = chunk.count - 1; i >= 0; --i) {
        s.layer = chunk.first + i;
        ctx_.set_info(s);
        params += ctx_.ops().dense_params(s.layer) + ctx_.ops().local_expert_params(s.layer);
        ctx_.emit_work(s, ctx_.ops().gradient_sync(s.layer), ctx_.comm());
      }
    }
    Step opt = s;
    opt.phase = Phase::optimizer;
    opt.layer = -1;
    ctx_.set_info(opt);
    ctx_.emit_work(s, ctx_.ops().optimizer(params), ctx_.compute());
  }
}

}  // namespace moesim::strategies
