// The NVLink rate DeepEP's normal kernels reach (CommOp::relay), as a fraction of the NVLink
// line rate, and the wire factor both network models charge a relay's NVLink bytes with, so
// that the flow lowering (node_relay_all_to_all.cpp) and the analytical price
// (nccl_cost_model.cpp) move them at the same rate.
//
// Source, independent of the DeepEP H800 rows it is tested on (traces/reference/claims/
// deepep-alltoall.json): DeepEP's own SM sweep on B200 (deepseek-ai/DeepEP branch hybrid-ep,
// docs/README_Hybrid-EP.md, "B200 Platform" table, DeepEP Torch API, intranode EP8, 4096 tokens,
// hidden 7168, top-8). Its BF16 dispatch stops rising with the SM count (635, 629, 640, 646 GB/s
// with 36, 40, 44, 48 SMs): there the kernels are bound by NVLink, not by their SMs. The 646
// GB/s count every received token, the GPU's own 1/8 included (tests/test_hybrid_ep.py and
// DeepEP's tests/test_intranode.py count recv_x's bytes); the NVLink carries 7/8 of it, 565
// GB/s of B200's 900 per direction: 0.628 of the line rate, where NCCL reaches 0.802
// (dgx-b200.json). Plain copies do not lose that much: HGX H100 peer copies reach 371-377 of
// 450 GB/s per direction (p2pBandwidthLatencyTest, NVIDIA/nccl#1264), the fraction NCCL reaches
// (370/450, NVIDIA/nccl-tests#212). So the loss is DeepEP's protocol (per-token queues, head and
// tail signalling, chunked flow control), not the NVLink copy itself.
// [assumption] The fraction transfers across NVLink generations and GPUs (H800, H100, H200,
// GB200) as a fraction of the line rate. On H800 it gives 0.628 x 200 = 125.6 GB/s per
// direction; DeepEP's README reports 153 / 158 GB/s counted (134 / 138 on the wire, 0.67-0.69)
// for the FP8 dispatch / BF16 combine, an H20 run 337 GB/s counted with 24 SMs (0.656 of 450,
// deepseek-ai/DeepEP#16): the B200 plateau sits 5-9% below the Hopper figures.
// [assumption] Hybrid-EP (TMA copies) is modelled with the same rate; its own B200 kernel-only
// BF16 dispatch with 16 SMs is 735 GB/s counted, 0.714 of the line rate (same table).
#pragma once

#include "sim/core/ids.hpp"
#include "sim/network/topology.hpp"

namespace moesim::network {

/// DeepEP's normal kernels' NVLink payload rate over the NVLink line rate (see above).
inline constexpr double kDeepEpNvlinkFractionOfLineRate = 646.0 * 7.0 / 8.0 / 900.0;

/// Factor by which a relay's NVLink transfer from src to dst is charged on the wire: the route's
/// slowest link's efficiency over DeepEP's fraction when that link is an NVLink (so its
/// effective capacity moves the payload at the DeepEP rate), 1 otherwise (PCIe, SHM: no DeepEP
/// measurement; and never below 1: a link already slower than DeepEP's rate stays as it is).
double deepep_nvlink_wire_factor(const Topology& topo, RankId src, RankId dst);

}  // namespace moesim::network
