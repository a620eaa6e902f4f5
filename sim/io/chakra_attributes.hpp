// Internal to sim/io/chakra_*.cpp: the generated Chakra schema and typed access to a node's
// attributes (Chakra keeps per-node facts as a list of named, typed AttributeProto values).
// Only compiled with protobuf (MOESIM_HAS_CHAKRA).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chakra_et.pb.h"

namespace moesim::io::chakra {

namespace pb = ChakraProtoMsg;

/// GlobalMetadata.version moesim writes: the Chakra schema its field numbers come from.
inline constexpr const char* kSchemaVersion = "0.0.4";

inline void add_int(pb::Node& n, const char* name, std::int64_t v) {
  auto* a = n.add_attr();
  a->set_name(name);
  a->set_int64_val(v);
}
inline void add_string(pb::Node& n, const char* name, std::string_view v) {
  auto* a = n.add_attr();
  a->set_name(name);
  a->set_string_val(std::string(v));
}
inline void add_bool(pb::Node& n, const char* name, bool v) {
  auto* a = n.add_attr();
  a->set_name(name);
  a->set_bool_val(v);
}
inline void add_ints(pb::Node& n, const char* name, const std::vector<std::int64_t>& v) {
  auto* a = n.add_attr();
  a->set_name(name);
  for (std::int64_t x : v) a->mutable_int64_list()->add_values(x);
}

inline const pb::AttributeProto* find_attr(const pb::Node& n, std::string_view name) {
  for (const auto& a : n.attr()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

/// Any integer-valued attribute (producers differ in the integer type they pick).
inline std::optional<std::int64_t> int_attr(const pb::Node& n, std::string_view name) {
  const auto* a = find_attr(n, name);
  if (!a) return std::nullopt;
  switch (a->value_case()) {
    case pb::AttributeProto::kInt64Val:
      return a->int64_val();
    case pb::AttributeProto::kInt32Val:
      return a->int32_val();
    case pb::AttributeProto::kUint32Val:
      return a->uint32_val();
    case pb::AttributeProto::kUint64Val:
      return static_cast<std::int64_t>(a->uint64_val());
    case pb::AttributeProto::kSint64Val:
      return a->sint64_val();
    case pb::AttributeProto::kBoolVal:
      return a->bool_val() ? 1 : 0;
    default:
      return std::nullopt;
  }
}
inline std::optional<std::string> string_attr(const pb::Node& n, std::string_view name) {
  const auto* a = find_attr(n, name);
  if (!a || a->value_case() != pb::AttributeProto::kStringVal) return std::nullopt;
  return a->string_val();
}
inline std::optional<std::vector<std::int64_t> > ints_attr(const pb::Node& n,
                                                           std::string_view name) {
  const auto* a = find_attr(n, name);
  if (!a) return std::nullopt;
  std::vector<std::int64_t> out;
  if (a->value_case() == pb::AttributeProto::kInt64List) {
    out.assign(a->int64_list().values().begin(), a->int64_list().values().end());
  } else if (a->value_case() == pb::AttributeProto::kUint64List) {
    for (std::uint64_t v : a->uint64_list().values()) out.push_back(static_cast<std::int64_t>(v));
  } else {
    return std::nullopt;
  }
  return out;
}

}  // namespace moesim::io::chakra
