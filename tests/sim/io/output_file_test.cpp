// Output files (sim/io/output_file.hpp): temporary + rename for regular files, symlinks and
// devices written through, an input never overwritten, and no output left when another fails.
#include "sim/io/output_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "sim/core/errors.hpp"

namespace moesim::io {
namespace {
namespace fs = std::filesystem;

class OutputFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("moesim-output-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  static std::string read(const std::string& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::size_t entries() const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir_), {}));
  }
  fs::path dir_;
};

TEST_F(OutputFileTest, ReplacesARegularFileWhole) {
  std::ofstream(path("out.json")) << "old";
  write_file_atomically(path("out.json"), "new\n");
  EXPECT_EQ(read(path("out.json")), "new\n");
  EXPECT_EQ(entries(), 1U);  // no temporary left behind
}

TEST_F(OutputFileTest, WritesThroughASymlink) {
  std::ofstream(path("real.json")) << "old";
  fs::create_symlink("real.json", path("link.json"));
  write_file_atomically(path("link.json"), "new\n");
  EXPECT_TRUE(fs::is_symlink(path("link.json")));
  EXPECT_EQ(read(path("real.json")), "new\n");
}

TEST_F(OutputFileTest, WritesThroughACharacterDevice) {
  write_file_atomically("/dev/null", "discarded\n");
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
}

TEST_F(OutputFileTest, RefusesAnInputOfTheRun) {
  std::ofstream(path("model.json")) << "{}";
  fs::create_hard_link(path("model.json"), path("alias.json"));
  for (const std::string& spelling :
       {path("model.json"), path("alias.json"), (dir_ / "." / "model.json").string()}) {
    try {
      check_output_path(spelling, "--json", {path("model.json")});
      FAIL() << spelling;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("output file is an input of this run"),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_NO_THROW(check_output_path(path("other.json"), "--json", {path("model.json")}));
}

TEST_F(OutputFileTest, RefusesTwoFlagsWritingOneFile) {
  EXPECT_THROW(check_outputs({{"--trace", path("o.json")}, {"--json", path("o.json")}}),
               InputError);
}

TEST_F(OutputFileTest, NothingLeftWhenTheSecondOutputFails) {
  // /dev/full accepts the open and fails every write with ENOSPC.
  EXPECT_THROW(
      write_outputs({{"--trace", path("trace.json"), "trace"}, {"--json", "/dev/full", "summary"}}),
      InputError);
  EXPECT_EQ(entries(), 0U);
}

}  // namespace
}  // namespace moesim::io
