// libFuzzer target: the --routing generator parser, and the generator it makes drawing one
// iteration's counts (the binomial, gamma and Dirichlet samplers on fuzzed parameters).
#include <cstddef>
#include <cstdint>

#include "sim/workload/routing.hpp"
#include "tests/fuzz/fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = moesim::fuzz::text_of(data, size);
  return moesim::fuzz::accept_or_refuse([&] {
    const auto model = moesim::parse_routing_generator(text, size, "--routing");
    if (!model) return;
    moesim::RoutingShape shape;
    shape.moe_layers = 2;
    shape.sources = 3;
    shape.experts = 8;
    shape.tokens_per_source = 1000;
    shape.top_k = 2;
    const moesim::RoutingCounts counts = model->counts(static_cast<std::int64_t>(size % 4), shape);
    // Every source routes top_k * tokens assignments, each expert at most `tokens` of them.
    for (std::int64_t l = 0; l < shape.moe_layers; ++l) {
      for (std::int64_t s = 0; s < shape.sources; ++s) {
        std::int64_t sum = 0;
        for (std::int64_t e = 0; e < shape.experts; ++e) {
          const std::int64_t c = counts.at(l, s, e);
          if (c < 0 || c > shape.tokens_per_source) __builtin_trap();
          sum += c;
        }
        if (sum != shape.top_k * shape.tokens_per_source) __builtin_trap();
      }
    }
  });
}
