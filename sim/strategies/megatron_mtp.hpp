// Multi-token prediction (ModelSpec::mtp_layers) in Megatron-Core's pipeline
// (NVIDIA/Megatron-LM, megatron/core/transformer/multi_token_prediction.py, gpt_model.py,
// distributed/finalize_model_grads.py; DeepSeek-V3, arXiv 2412.19437 section 2.2). A
// reconstruction from the public code's structure:
//  - the MTP block sits on the last (virtual) pipeline stage, after the decoder: per depth the
//    embedding of the tokens one further ahead, hnorm / enorm, the 2M -> M eh_proj
//    (LayerOps::mtp_projection) and one transformer layer built like the model's last one
//    (layer index layers + depth, emitted through the strategy's LayerSchedule); then the main
//    loss and one shared-LM-head loss per depth (EmissionContext::emit_model_ends);
//  - its gradients are all-reduced over dp with the stage's other layers; with pp > 1 the last
//    stage holds a copy of the word embedding for the MTP input, whose gradients are
//    all-reduced over dp and then with the first stage's (the embedding group,
//    _allreduce_word_embedding_grads);
//  - in megatron-a2a-overlap's combined steps the MTP layers run unpaired (after the paired
//    layers in the forward, before them in the backward) [R];
//  - the MTP loss weight costs nothing here: MTPLossAutoScaler scales the per-token MTP loss
//    (x values) and returns the main gradient unchanged, elementwise work on x numbers that no
//    task is emitted for (ModelSpec::mtp_layers says why); the MTP layer's MoE is charged the
//    last main layer's routing counts [R] (ModelSpec::moe_index_of says why).
#pragma once

#include "sim/strategies/iteration_pieces.hpp"

namespace moesim::strategies {

/// Every MTP module's forward on the item of `s` (last virtual stage, after its layers, before
/// the heads): the projection, then the layer.
void emit_mtp_forward(EmissionContext& ctx, LayerSchedule& layers, Step s);
/// Their backward (after the heads' backward, before the stage's layers): the last depth first,
/// each its layer then its projection.
void emit_mtp_backward(EmissionContext& ctx, LayerSchedule& layers, Step s);
/// The MTP modules' gradient all-reduces on the last stage, last depth first; returns their
/// parameters per rank for the optimizer (the embedding copy's included when pp > 1).
std::int64_t emit_mtp_gradient_sync(EmissionContext& ctx, Step s);
/// With pp > 1, the embedding group's all-reduce of the word embedding's gradients between the
/// first and the last stage (each rank with its peer at the same tp, dp), after both stages'
/// backward (`chain`: each rank's last task).
void emit_mtp_embedding_group_sync(EmissionContext& ctx, Chain& chain);

}  // namespace moesim::strategies
