// GradientBuckets: how PyTorch DDP groups a model's gradients for an all-reduce that overlaps the
// backward pass, used by the strategies whose frameworks do so (deepspeed-moe, tutel, lancet,
// parm; option grad_sync=overlap|after, bucket_mb=N).
//
// PyTorch DDP (torch/nn/parallel/distributed.py, bucket_cap_mb; torch/csrc/distributed/c10d/
// reducer.cpp, compute_bucket_assignment_by_size): parameters are assigned to buckets in the
// reverse order of model.parameters(), i.e. about the order backward produces their gradients;
// a bucket is closed once its size reaches the limit (the first bucket 1 MiB,
// dist._DEFAULT_FIRST_BUCKET_BYTES, every later one bucket_cap_mb = 25 MiB), a tensor is never
// split, so a bucket may exceed the limit by its last tensor. A bucket's all-reduce is launched
// once every gradient in it is ready, buckets in order, on the process group's NCCL stream (a
// stream of its own, so it overlaps the rest of the backward). DeepSpeed's ZeRO-1/2 with
// overlap_comm launches its gradient reductions from the same kind of backward hooks in buckets
// (reduce_bucket_size); here every framework uses DDP's sizes unless bucket_mb says otherwise.
// Expert gradients are a bucket sequence of their own, all-reduced over the expert-DP group
// (DeepSpeed-MoE's expert parameter groups; Tutel's skip_allreduce parameters).
//
// Reconstruction [R]: gradients are counted per layer (a layer's dense, resp. local expert,
// gradients as one tensor), not per parameter tensor; a layer's gradients are ready when its last
// backward kernel of the iteration's last micro-batch on the rank has run (no_sync on earlier
// micro-batches, as under gradient accumulation).
#pragma once

#include <cstdint>
#include <vector>

#include "sim/strategies/strategy_options.hpp"

namespace moesim::strategies {

/// One layer's gradient bytes, in the order backward produces them (last layer first).
struct LayerGradient {
  std::int64_t layer = 0;
  std::int64_t bytes = 0;
};

struct GradientBucket {
  std::vector<std::int64_t> layers;  ///< in the order they were added
  std::int64_t bytes = 0;
  /// The layer whose gradients complete the bucket: the last one added.
  std::int64_t ready_layer() const { return layers.back(); }
};

struct GradientSyncOptions {
  static constexpr std::int64_t kMiB = 1 << 20;
  /// Lina's chunk size as FSMoE ran PipeMoE+Lina: 30 MB gradient chunks (FSMoE, ASPLOS 2025,
  /// section 6), read as MiB.
  static constexpr std::int64_t kLinaChunkMiB = 30;
  bool overlap = true;                         ///< bucketed, overlapped with backward
  std::int64_t first_bucket_bytes = 1 * kMiB;  ///< dist._DEFAULT_FIRST_BUCKET_BYTES
  std::int64_t bucket_bytes = 25 * kMiB;       ///< bucket_cap_mb default
  /// Lina (Li et al., USENIX ATC 2023): the gradients cut into fixed-size chunks (a layer's
  /// gradient may straddle two), each chunk's all-reduce giving way to every other operation on
  /// its ranks (all-to-alls first), so it fills the gaps between exchanges.
  bool lina = false;
};

/// Lina's chunks of `chunk_bytes` over `gradients` (ready order, 0-byte layers skipped): every
/// chunk full but the last; a chunk is ready with the layer that completes it.
std::vector<GradientBucket> assign_gradient_chunks(const std::vector<LayerGradient>& gradients,
                                                   std::int64_t chunk_bytes);

/// DDP's assignment of `gradients` (ready order) to buckets; layers of 0 bytes are skipped.
std::vector<GradientBucket> assign_gradient_buckets(const std::vector<LayerGradient>& gradients,
                                                    std::int64_t first_bucket_bytes,
                                                    std::int64_t bucket_bytes);

/// Reads grad_sync=overlap|after|lina and bucket_mb=N (MiB: the later buckets' cap, or Lina's
/// chunk, default 30 with lina).
GradientSyncOptions read_gradient_sync(StrategyOptions& options, GradientSyncOptions fallback);

/// The option text for --help.
inline constexpr const char* kGradientSyncHelp =
    "grad_sync=overlap|after|lina (gradient all-reduce in PyTorch DDP buckets launched during "
    "the backward, after it, or as Lina: fixed-size chunks that give way to all-to-alls), "
    "bucket_mb=N (bucket cap, or Lina's chunk, MiB); default overlap, 25 (lina: 30)";

}  // namespace moesim::strategies
