// Hybrid-EP's chunked dispatch pipeline (CommOp::relay with chunk_rounds > 0): the time its
// NVLink forwarding adds after the last RDMA chunk lands, which DeepEP's normal kernels, with
// their small per-channel chunks, do not pay at this scale (max of the legs there).
//
// Source, the kernel (NVIDIA, deepseek-ai/DeepEP branch hybrid-ep,
// csrc/hybrid_ep/backend/hybrid_ep_backend.cuh, dispatch: N2N_warp_group_device_function and
// G2S_warp_group_device_function; docs/Hybrid-EP_Implementation.md section 8.1): the tokens of
// a rank are cut into chunks of num_of_tokens_per_chunk_dispatch_api tokens (128 by default,
// deep_ep/hybrid_ep_buffer.py), dealt round-robin to the kernel's blocks (one per SM), so each
// block runs `rounds` = ceil(chunks / blocks) rounds. A block's RDMA warp posts all its chunks
// to every other node at once (one QP per block and remote node, one RDMA write per token and
// one atomic flag per chunk), so all QPs share the NIC and round r's chunks land at about
// r / rounds of the network leg. The block's single G2S warp forwards, in order, for each
// round: its own node's chunk (already in memory), then every other node's chunk, spinning on
// that chunk's flag first; its S2G warps write each token over NVLink to every GPU of the node
// that hosts one of its experts. So the NVLink pipeline stalls behind the RDMA arrivals, and
// after the last chunk lands the block still forwards the last round's remote chunks.
// [assumption] Every (round, node) chunk costs the same share of the NVLink leg (uniform
// routing), and all blocks progress together, sharing the NIC and the NVLink evenly.
#pragma once

namespace moesim::network {

/// Finish time, s, of one GPU's chunked dispatch from the time its network leg (net_s) and its
/// NVLink leg (nvl_s) take on their own, the chunk rounds of every block and the group's
/// nodes. rounds <= 0: the legs overlap fully (DeepEP's normal kernels): max(net_s, nvl_s).
double chunked_relay_finish_s(double net_s, double nvl_s, int rounds, int nodes);

}  // namespace moesim::network
