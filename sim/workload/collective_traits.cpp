#include "sim/workload/collective_traits.hpp"

#include <array>

namespace moesim {
namespace {

using L = CollectiveLowering;
using S = SizeConvention;

// The one table of collective kinds, in CommKind order (checked below). nccl-tests names: its
// binaries all_reduce_perf, all_gather_perf, reduce_scatter_perf, alltoall_perf, broadcast_perf,
// reduce_perf, sendrecv_perf (NVIDIA/nccl-tests, src/Makefile); "alltoallv" is this project's
// name for the variable-size exchange in kernels/ and bench/nccl (nccl-tests has none).
constexpr std::array<CollectiveTraits, 8> kTraits{{
    {CommKind::all_reduce, "all_reduce", "all_reduce", S::buffer, L::reduction, 2, true, false,
     false, true},
    {CommKind::all_gather, "all_gather", "all_gather", S::gathered_output, L::ring, 1, false, false,
     false, true},
    {CommKind::reduce_scatter, "reduce_scatter", "reduce_scatter", S::scattered_input, L::ring, 1,
     true, false, false, true},
    {CommKind::all_to_all, "all_to_all", "alltoall", S::send_buffer, L::exchange, 1, false, false,
     false, true},
    {CommKind::all_to_all_v, "all_to_all_v", "alltoallv", S::matrix, L::exchange, 1, false, false,
     false, false},
    {CommKind::broadcast, "broadcast", "broadcast", S::buffer, L::rooted_chain, 0, false, true,
     false, true},
    {CommKind::reduce, "reduce", "reduce", S::buffer, L::rooted_chain, 0, true, true, false, true},
    {CommKind::send_recv, "send_recv", "sendrecv", S::message, L::point_to_point, 0, false, false,
     true, true},
}};

constexpr bool in_kind_order() {
  for (std::size_t i = 0; i < kTraits.size(); ++i) {
    if (static_cast<std::size_t>(kTraits[i].kind) != i) return false;
  }
  return true;
}
static_assert(in_kind_order(), "kTraits rows must follow the CommKind enumerators");

}  // namespace

double CollectiveTraits::bus_factor(std::size_t ranks) const {
  if (ranks == 0) return 0.0;
  if (ring_passes == 0) return 1.0;
  const double n = static_cast<double>(ranks);
  return static_cast<double>(ring_passes) * (n - 1.0) / n;
}

std::int64_t CollectiveTraits::steps(std::size_t ranks) const {
  if (ring_passes == 0) return 1;
  return ring_passes * (static_cast<std::int64_t>(ranks) - 1);
}

bool CollectiveTraits::per_rank_chunks() const {
  return size == S::gathered_output || size == S::scattered_input || size == S::send_buffer;
}

const CollectiveTraits& traits_of(CommKind kind) { return kTraits[static_cast<std::size_t>(kind)]; }

std::span<const CollectiveTraits> all_collective_traits() { return kTraits; }

std::optional<CommKind> comm_kind_from_nccl_tests_name(std::string_view name) {
  const auto slash = name.find_last_of('/');
  const std::string_view base = slash == std::string_view::npos ? name : name.substr(slash + 1);
  const CollectiveTraits* best = nullptr;
  for (const CollectiveTraits& t : kTraits) {
    if (base.find(t.nccl_tests_name) == std::string_view::npos) continue;
    if (best == nullptr || t.nccl_tests_name.size() > best->nccl_tests_name.size()) best = &t;
  }
  if (best == nullptr) return std::nullopt;
  return best->kind;
}

std::string comm_kind_names() {
  std::string out;
  for (const CollectiveTraits& t : kTraits) out += (out.empty() ? "" : ", ") + std::string(t.name);
  return out;
}

std::string_view to_string(CommKind kind) { return traits_of(kind).name; }

std::optional<CommKind> parse_comm_kind(std::string_view name) {
  for (const CollectiveTraits& t : kTraits) {
    if (t.name == name) return t.kind;
  }
  return std::nullopt;
}

}  // namespace moesim
