#include "sim/io/kernel_traits_json.hpp"

#include "sim/core/errors.hpp"

namespace moesim::io {

calibration::KernelTraits read_kernel_traits(const JsonReader& r, KernelKind kind) {
  calibration::KernelTraits t;
  if (const auto pass = r.find("pass")) {
    const auto d = parse_op_direction(pass->as_string());
    if (!d || *d == OpDirection::none) pass->fail("unknown pass", "forward or backward");
    t.pass = *d;
  }
  if (kind == KernelKind::attention) {
    for (const char* key : {"causal", "fused"}) {
      if (!r.find(key)) {
        throw input_error(r.file(), r.path() + "/" + key,
                          "missing required field of an attention row", {},
                          "true or false (causal: the mask applies; fused: one flash-style "
                          "kernel, not QK^T GEMM, softmax, PV GEMM)");
      }
    }
    t.causal = r.at("causal").as_bool();
    t.fused = r.at("fused").as_bool();
  } else {
    for (const char* key : {"causal", "fused"}) {
      if (const auto v = r.find(key)) {
        v->fail_got("only an attention row has this key", to_string(kind), "kind attention");
      }
    }
  }
  return t;
}

}  // namespace moesim::io
