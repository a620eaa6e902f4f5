// Strongly typed indices. Each wraps a dense 32-bit index so that containers can be vectors and
// a rank can never be passed where a task is expected.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

namespace moesim {

template <class Tag>
struct Id {
  std::uint32_t value = 0;
  constexpr auto operator<=>(const Id&) const = default;
  constexpr std::size_t index() const { return value; }
};

struct RankTag {};
struct TaskTag {};
struct StreamTag {};
struct CommTag {};

/// A rank of the training job; one rank is one GPU.
using RankId = Id<RankTag>;
/// A task of a TaskGraph.
using TaskId = Id<TaskTag>;
/// A named stream ("compute", "comm.inter", ...), interned per TaskGraph; the same StreamId on
/// two ranks names two different hardware queues.
using StreamId = Id<StreamTag>;
/// A communication operation (collective or point-to-point) of a TaskGraph.
using CommId = Id<CommTag>;

}  // namespace moesim

template <class Tag>
struct std::hash<moesim::Id<Tag>> {
  std::size_t operator()(const moesim::Id<Tag>& id) const noexcept {
    return std::hash<std::uint32_t>{}(id.value);
  }
};
