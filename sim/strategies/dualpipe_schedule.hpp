// The DualPipe and DualPipeV pipeline schedules (DeepSeek-AI, DeepSeek-V3 Technical Report,
// arXiv 2412.19437, section 3.2.1 and Figure 5; deepseek-ai/DualPipe, dualpipe/dualpipe.py and
// dualpipe/dualpipev.py, DualPipe.step / DualPipeV.step).
//
// Vocabulary. A *device* is one pipeline stage of the layout (its dp x tp ranks act together). Each
// device holds two model *chunks*, addressed by *phase* 0 and 1. A micro-batch follows a *route*,
// a sequence of chunks; the chunk at position i of a route holds the i-th slice of the layers.
//  - DualPipe, PP devices: two routes of PP chunks. Route 0 enters at device 0 and runs devices
//    0..PP-1, route 1 enters at device PP-1 and runs PP-1..0 (micro-batches fed from both ends);
//    device r holds stage r (route 0) and stage PP-1-r (route 1), so every stage exists twice (2x
//    parameters). On the first half of the devices phase 0 is route 0; on the second half the
//    roles swap (phase 0 is always the route that enters at the device's own end). N/2
//    micro-batches per route.
//  - DualPipeV ("cut in half"), P devices: one route of 2P chunks, down devices 0..P-1 (phase 0)
//    and back up P-1..0 (phase 1), a V; device r holds chunks r and 2P-1-r (1x parameters). N
//    micro-batches.
//
// The per-device program is the repository's 8 steps, with H = PP/2 (DualPipe) or P (DualPipeV),
// h = min(r, PP-1-r) (DualPipe) or r (DualPipeV), n = micro-batches per phase:
//   1 F0 x 2(H-h-1) | 2 F0 F1 x (h+1) | 3 B1 W F1 x (H-h-1) (zero bubble) |
//   4 F0B1 F1B0 x (n-2H+h+1) (overlapped pairs; on the middle device h = H-1 the first F0B1 runs
//     as F0 then B1, not overlapped) | 5 B1 F1B0 x (H-h-1) | 6 B1 B0 x (h+1) (zero bubble from
//     the middle of the step on) | 7 W B0 x (H-h-1) (zero bubble) | 8 W x (h+1).
// A "zero bubble" B computes only the input gradient and queues the weight gradient; W runs the
// oldest queued one (the repository's WeightGradStore, FIFO). Every other backward is full.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace moesim::strategies {

enum class DualPipeVariant : std::uint8_t { dualpipe, dualpipev };
std::string_view to_string(DualPipeVariant v);

enum class ChunkOpKind : std::uint8_t {
  forward,           ///< F: forward of one chunk for one micro-batch
  backward,          ///< B: backward (input gradient; full when not zero_bubble)
  weight,            ///< W: the weight gradient of the oldest zero-bubble B
  forward_backward,  ///< F&B: a forward and a backward of two micro-batches, overlapped
};

/// One entry of a device's program, before micro-batches are assigned.
struct ChunkOp {
  ChunkOpKind kind = ChunkOpKind::forward;
  int step = 0;              ///< 1..8, the step of the program table
  int forward_phase = -1;    ///< forward and forward_backward
  int backward_phase = -1;   ///< backward and forward_backward
  bool zero_bubble = false;  ///< backward: the weight gradient is deferred to a later W
};

/// The program of one device: `half_ranks` = H, `half_rank` = h, `per_phase` = n (see above).
/// Requires 0 <= h < H and n >= 2H.
std::vector<ChunkOp> dualpipe_program(std::int64_t half_ranks, std::int64_t half_rank,
                                      std::int64_t per_phase);

/// A chunk pass of one micro-batch.
struct ChunkPass {
  int phase = -1;
  std::int64_t micro_batch = -1;  ///< global id: route * per_phase + index (DualPipe), index (V)
  std::int64_t route = 0;
  std::int64_t position = 0;  ///< position of the chunk on its route = its layer slice
};

/// One program entry with its micro-batches resolved: what the graph emits, in emission order.
struct DualPipeItem {
  std::int64_t device = 0;
  ChunkOpKind kind = ChunkOpKind::forward;
  int step = 0;
  ChunkPass forward;   ///< forward, forward_backward
  ChunkPass backward;  ///< backward, forward_backward, and weight (the pass whose W runs)
  bool zero_bubble = false;
};

/// Geometry of one schedule: devices, routes and which chunk holds which layers.
class DualPipeGeometry {
 public:
  /// `devices` = the layout's pp (even for DualPipe, >= 1 for DualPipeV), `micro_batches` = N
  /// (even, >= 2 * devices). Checked by the strategy with a user-facing error first.
  DualPipeGeometry(DualPipeVariant variant, std::int64_t devices, std::int64_t micro_batches);

  DualPipeVariant variant() const { return variant_; }
  std::int64_t devices() const { return devices_; }
  std::int64_t micro_batches() const { return micro_batches_; }
  std::int64_t routes() const { return variant_ == DualPipeVariant::dualpipe ? 2 : 1; }
  /// Chunks on a route: PP (DualPipe) or 2P (DualPipeV).
  std::int64_t route_length() const;
  std::int64_t per_phase() const;
  std::int64_t half_ranks() const;
  std::int64_t half_rank(std::int64_t device) const;
  /// Which route the chunk (device, phase) serves, and its position on that route.
  std::int64_t route_of(std::int64_t device, int phase) const;
  std::int64_t position_of(std::int64_t device, int phase) const;
  /// The device running position `position` of `route`.
  std::int64_t device_at(std::int64_t route, std::int64_t position) const;
  int phase_at(std::int64_t route, std::int64_t position) const;
  /// Layers [first, end) of the chunk at `position` out of `layers` (as even as possible).
  std::int64_t first_layer(std::int64_t position, std::int64_t layers) const;

 private:
  DualPipeVariant variant_;
  std::int64_t devices_;
  std::int64_t micro_batches_;
};

/// Every device's program with micro-batches assigned, merged into one order in which each item
/// comes after the items it depends on (F after the previous chunk's F of the same micro-batch,
/// B after the next chunk's B and the chunk's own F, W after its B) and each device's items keep
/// their program order.
std::vector<DualPipeItem> dualpipe_order(const DualPipeGeometry& geometry);

}  // namespace moesim::strategies
