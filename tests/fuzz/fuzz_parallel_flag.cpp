// libFuzzer target: the --parallel parser.
#include <cstddef>
#include <cstdint>

#include "sim/workload/parallel_layout.hpp"
#include "tests/fuzz/fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = moesim::fuzz::text_of(data, size);
  return moesim::fuzz::accept_or_refuse(
      [&] { (void)moesim::parse_parallel_layout(text, "--parallel"); });
}
