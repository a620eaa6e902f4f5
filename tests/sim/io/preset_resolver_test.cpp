#include "sim/io/preset_resolver.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "sim/io/gpu_spec_json.hpp"
#include "sim/io/model_json.hpp"
#include "sim/io/topology_json.hpp"
#include "tests/input_error_text.hpp"
#include "tests/testdata.hpp"

namespace moesim::io {
namespace {

// A preset name resolves to <dir>/<name>.json in each of the three preset directories.
TEST(PresetResolver, NamesResolveInTheirDirectory) {
  EXPECT_EQ(resolve_preset(model_presets_dir(), "mixtral-8x7b"),
            model_presets_dir().dir + "/mixtral-8x7b.json");
  EXPECT_EQ(resolve_preset(topology_presets_dir(), "dgx-h100"),
            topology_presets_dir().dir + "/dgx-h100.json");
  EXPECT_EQ(resolve_preset(gpu_presets_dir(), "h100"), gpu_presets_dir().dir + "/h100.json");
}

// Anything that looks like a path is read as given, whichever kind of preset it stands for:
// "my.json" (no directory) is a file for --gpu exactly as for --model.
TEST(PresetResolver, PathsAreReadAsGiven) {
  for (const PresetDirectory& d :
       {model_presets_dir(), topology_presets_dir(), gpu_presets_dir()}) {
    EXPECT_EQ(resolve_preset(d, "my.json"), "my.json") << d.flag;
    EXPECT_EQ(resolve_preset(d, "a/b"), "a/b") << d.flag;
  }
}

// The same file loads by name and by a bare file name in the working directory (this failed for
// --gpu before the three loaders shared one rule).
TEST(PresetResolver, AGpuFileInTheWorkingDirectoryLoads) {
  const auto dir = std::filesystem::temp_directory_path() / "moesim_preset_resolver_test";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(testing::source_path("topologies/gpus/h100.json"), dir / "my.json",
                             std::filesystem::copy_options::overwrite_existing);
  const auto previous = std::filesystem::current_path();
  std::filesystem::current_path(dir);
  const compute::GpuSpec by_file = load_gpu_spec("my.json");
  std::filesystem::current_path(previous);
  EXPECT_EQ(by_file.name, load_gpu_spec("h100").name);
  std::filesystem::remove_all(dir);
}

// An unknown name names the flag and lists what exists.
TEST(PresetResolver, UnknownNamesListThePresets) {
  const std::string gpu = testing::input_error_text([] { load_gpu_spec("h900"); });
  EXPECT_NE(gpu.find("--gpu: unknown GPU (got \"h900\", expected a .json file or one of: "),
            std::string::npos)
      << gpu;
  EXPECT_NE(gpu.find("h100"), std::string::npos) << gpu;
  const std::string model = testing::input_error_text([] { load_model("gpt5"); });
  EXPECT_NE(model.find("--model: unknown model preset (got \"gpt5\""), std::string::npos) << model;
  const std::string topo = testing::input_error_text([] { load_topology("dgx-h900"); });
  EXPECT_NE(topo.find("--topology: unknown topology preset (got \"dgx-h900\""), std::string::npos)
      << topo;
}

}  // namespace
}  // namespace moesim::io
