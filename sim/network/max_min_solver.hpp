// MaxMinSolver: exact max-min fair rates of flows sharing directed links (progressive filling).
//
// The model (as SimGrid's lmm/System.hpp states its own): resources (links) l with capacity C_l,
// flows f with a set of links route(f), each flow using each of its links once. Rates rho_f >= 0
// are max-min fair when
//   (1) sum over flows f through l of rho_f <= C_l for every link l, and
//   (2) every flow has a bottleneck link l: saturated (equality in (1)) and rho_f >= rho_g for
//       every other flow g through l.
// Equivalently, no rate can increase without decreasing a rate that is not larger. The allocation
// is unique. Progressive filling computes it exactly (up to floating-point rounding):
//   R_l = C_l, n_l = |{unfrozen flows through l}|, share_l = R_l / n_l;
//   repeat: pick the link l with the smallest share; every unfrozen flow through l gets rate
//   share_l and is frozen; each frozen flow subtracts its rate from R_m and 1 from n_m on every
//   link m of its route; until every flow is frozen.
// Freezing at the smallest share never lowers another link's share
//   (R_m - k s) / (n_m - k) >= R_m / n_m  when  s <= R_m / n_m,
// so a heap of shares with lazy re-insertion finds the minimum: an entry whose stored share is
// below the link's current share is stale and is re-inserted with the current one.
// Cost: O(F h + L' log L' + re-insertions), F flows of h hops on the L' links they touch (not all
// links: callers solve one connected component at a time, see flow_network_model.hpp); memory
// O(F h + L).
// A flow with an empty route has no constraint: rate +infinity.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace moesim::network {

class MaxMinSolver {
 public:
  /// Computes rates (units of `capacity` per second) for flows whose routes are
  /// links[route_begin[f] .. route_begin[f] + route_len[f]). Reuses internal buffers.
  void solve(std::span<const double> capacity, std::span<const std::uint32_t> route_begin,
             std::span<const std::uint16_t> route_len, std::span<const std::uint32_t> links,
             std::span<double> rate);
  /// The same rates for one connected component given as lists: `component_links` holds every
  /// link of the component, link_flows[l] its flows (global indices into route_begin, route_len
  /// and rate; any order), and every flow of those lists has all its links in component_links.
  /// Writes rate[f] for the component's `component_flows` flows only. The order of links and of
  /// flows does not change a bit of the result: links are taken by (share, link id), and the
  /// flows frozen at one link all subtract the same share.
  void solve_component(std::span<const double> capacity,
                       std::span<const std::uint32_t> component_links,
                       const std::vector<std::vector<std::uint32_t>>& link_flows,
                       std::size_t component_flows, std::span<const std::uint32_t> route_begin,
                       std::span<const std::uint16_t> route_len,
                       std::span<const std::uint32_t> links, std::span<double> rate);
  /// Frees the per-flow buffers if they hold more than `flow_hops` entries (a million-flow solve
  /// should not keep its tens of MB for the small solves that follow).
  void release_if_larger_than(std::size_t flow_hops);

 private:
  template <class MembersOf, class Freeze>
  void fill(std::size_t unfrozen, std::span<const std::uint32_t> route_begin,
            std::span<const std::uint16_t> route_len, std::span<const std::uint32_t> links,
            std::span<double> rate, MembersOf members_of, Freeze freeze);

  std::vector<std::uint32_t> count_;  ///< per link id, zero between calls
  std::vector<std::uint32_t> slot_;   ///< per link id: its index in touched_
  std::vector<std::uint32_t> touched_;
  std::vector<std::uint32_t> offset_;
  /// Flows of each touched link, CSR; not a vector: resizing one zero-fills what the solve
  /// overwrites anyway (33 MB at 1,024 GPUs).
  std::unique_ptr<std::uint32_t[]> members_;
  std::size_t members_capacity_ = 0;
  std::vector<double> remaining_;
  std::vector<char> frozen_;
  std::vector<std::uint32_t> frozen_stamp_;  ///< solve_component: per flow, frozen if == epoch_
  std::uint32_t epoch_ = 0;
  __extension__ std::vector<unsigned __int128> heap_;  ///< packed (share, link id)
  std::vector<std::uint32_t> fill_;
};

}  // namespace moesim::network
