// libFuzzer target: topology JSON (topologies/, --topology FILE).
#include <cstddef>
#include <cstdint>

#include "sim/io/topology_json.hpp"
#include "tests/fuzz/fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = moesim::fuzz::text_of(data, size);
  return moesim::fuzz::accept_or_refuse([&] {
    const auto t = moesim::io::topology_from_json_text(text, "fuzz.json");
    (void)t.bisection_bandwidth();
  });
}
