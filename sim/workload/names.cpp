// String forms of the workload enums: the spelling used in every file format and CLI flag.
// (CommKind's names live in its traits table, collective_traits.cpp.)
#include <array>
#include <string_view>
#include <utility>

#include "sim/workload/comm_op.hpp"
#include "sim/workload/compute_op.hpp"
#include "sim/workload/dtype.hpp"
#include "sim/workload/task.hpp"

namespace moesim {
namespace {

template <class Enum, std::size_t N>
using NameTable = std::array<std::pair<Enum, std::string_view>, N>;

template <class Enum, std::size_t N>
std::string_view name_in(const NameTable<Enum, N>& table, Enum value) {
  for (const auto& [e, name] : table) {
    if (e == value) return name;
  }
  return "?";
}

template <class Enum, std::size_t N>
std::optional<Enum> parse_in(const NameTable<Enum, N>& table, std::string_view name) {
  for (const auto& [e, n] : table) {
    if (n == name) return e;
  }
  return std::nullopt;
}

constexpr NameTable<DType, 4> kDTypes{
    {{DType::fp32, "fp32"}, {DType::fp16, "fp16"}, {DType::bf16, "bf16"}, {DType::fp8, "fp8"}}};

constexpr NameTable<KernelKind, 11> kKernelKinds{{{KernelKind::gemm, "gemm"},
                                                  {KernelKind::attention, "attention"},
                                                  {KernelKind::softmax, "softmax"},
                                                  {KernelKind::layernorm, "layernorm"},
                                                  {KernelKind::elementwise, "elementwise"},
                                                  {KernelKind::gate, "gate"},
                                                  {KernelKind::permute, "permute"},
                                                  {KernelKind::unpermute, "unpermute"},
                                                  {KernelKind::optimizer, "optimizer"},
                                                  {KernelKind::memcpy, "memcpy"},
                                                  {KernelKind::other, "other"}}};

constexpr NameTable<GemmRole, 4> kGemmRoles{{{GemmRole::none, "none"},
                                             {GemmRole::forward, "forward"},
                                             {GemmRole::input_gradient, "input_gradient"},
                                             {GemmRole::weight_gradient, "weight_gradient"}}};

constexpr NameTable<OpDirection, 3> kOpDirections{{{OpDirection::none, "none"},
                                                   {OpDirection::forward, "forward"},
                                                   {OpDirection::backward, "backward"}}};

constexpr NameTable<ActivationKind, 4> kActivationKinds{{{ActivationKind::none, "none"},
                                                         {ActivationKind::gelu, "gelu"},
                                                         {ActivationKind::relu, "relu"},
                                                         {ActivationKind::swiglu, "swiglu"}}};

constexpr NameTable<CommGroup, 8> kCommGroups{{{CommGroup::tp, "tp"},
                                               {CommGroup::ep, "ep"},
                                               {CommGroup::esp, "esp"},
                                               {CommGroup::dp, "dp"},
                                               {CommGroup::expert_dp, "expert_dp"},
                                               {CommGroup::pp, "pp"},
                                               {CommGroup::world, "world"},
                                               {CommGroup::other, "other"}}};

constexpr NameTable<Phase, 4> kPhases{{{Phase::forward, "forward"},
                                       {Phase::backward, "backward"},
                                       {Phase::optimizer, "optimizer"},
                                       {Phase::other, "other"}}};

}  // namespace

std::string_view to_string(DType t) { return name_in(kDTypes, t); }
std::optional<DType> parse_dtype(std::string_view name) { return parse_in(kDTypes, name); }
std::string_view to_string(KernelKind k) { return name_in(kKernelKinds, k); }
std::optional<KernelKind> parse_kernel_kind(std::string_view name) {
  return parse_in(kKernelKinds, name);
}
std::string_view to_string(CommGroup g) { return name_in(kCommGroups, g); }
std::optional<CommGroup> parse_comm_group(std::string_view name) {
  return parse_in(kCommGroups, name);
}
std::string_view to_string(Phase p) { return name_in(kPhases, p); }
std::optional<Phase> parse_phase(std::string_view name) { return parse_in(kPhases, name); }

std::string_view to_string(GemmRole r) { return name_in(kGemmRoles, r); }
std::optional<GemmRole> parse_gemm_role(std::string_view name) {
  return parse_in(kGemmRoles, name);
}
std::string_view to_string(OpDirection d) { return name_in(kOpDirections, d); }
std::optional<OpDirection> parse_op_direction(std::string_view name) {
  return parse_in(kOpDirections, name);
}
std::string_view to_string(ActivationKind k) { return name_in(kActivationKinds, k); }
std::optional<ActivationKind> parse_activation_kind(std::string_view name) {
  return parse_in(kActivationKinds, name);
}

}  // namespace moesim
