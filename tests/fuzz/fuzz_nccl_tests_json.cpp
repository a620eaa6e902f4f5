// libFuzzer target: nccl-tests -J JSON output (moesim calibrate).
#include <cstddef>
#include <cstdint>

#include "sim/io/json_reader.hpp"
#include "sim/io/nccl_tests_parser.hpp"
#include "tests/fuzz/fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = moesim::fuzz::text_of(data, size);
  return moesim::fuzz::accept_or_refuse([&] {
    (void)moesim::io::parse_nccl_tests_json(moesim::io::parse_json_text(text, "fuzz.json"),
                                            "fuzz.json");
  });
}
