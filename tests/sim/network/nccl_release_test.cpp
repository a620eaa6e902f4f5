// The NCCL release a collective runs under (CollectiveConfig::nccl, nccl_release.hpp): parsing
// of --nccl-version and the features a release gates in the argmin (no LL128 nor tree inside a
// node before 2.5, no PXN before 2.12, no NVLS before 2.17); the default is today's NCCL.
#include "sim/network/nccl_release.hpp"

#include <gtest/gtest.h>

#include <string>

#include "sim/core/errors.hpp"
#include "sim/io/topology_json.hpp"
#include "sim/network/nccl_cost_model.hpp"
#include "tests/sim/network/comm_op_over.hpp"
#include "tests/testdata.hpp"

namespace moesim::network {
namespace {

Topology nccl_release_preset(const std::string& name) {
  return io::load_topology(testing::source_path("topologies/" + name + ".json"));
}

CommOp nccl_release_all_reduce(std::int64_t bytes) {
  return test_support::comm_op_over(CommKind::all_reduce, {0, 1, 2, 3, 4, 5, 6, 7}, bytes);
}

bool nccl_release_offers(const Topology& t, const CommOp& op, const CollectiveConfig& cfg,
                         Algorithm a, std::optional<Protocol> p = std::nullopt) {
  for (const AlgoTime& c : nccl_candidates(t, op, cfg)) {
    if (c.algorithm == a && (!p || c.protocol == *p)) return true;
  }
  return false;
}

TEST(NcclRelease, ParsesReleasesAndLatest) {
  EXPECT_TRUE(parse_nccl_release("latest", "--nccl-version").is_latest());
  const NcclRelease r = parse_nccl_release("2.4.8", "--nccl-version");
  EXPECT_EQ(r.major, 2);
  EXPECT_EQ(r.minor, 4);
  EXPECT_EQ(r.patch, 8);
  EXPECT_EQ(to_string(r), "2.4.8");
  EXPECT_EQ(to_string(parse_nccl_release("2.18", "--nccl-version")), "2.18.0");
  EXPECT_EQ(to_string(NcclRelease{}), "latest");
}

TEST(NcclRelease, RejectsWhatIsNoRelease) {
  for (const char* bad : {"", "2", "2.", "2.x", "3.1", "1.3.4", "2.4.8.1", "v2.4", "2.-1"}) {
    SCOPED_TRACE(bad);
    try {
      parse_nccl_release(bad, "--nccl-version");
      ADD_FAILURE() << "accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("--nccl-version: not an NCCL release ("),
                std::string::npos)
          << e.what();
    }
  }
}

TEST(NcclRelease, FeaturesByRelease) {
  const NcclRelease v24 = parse_nccl_release("2.4.8", "f");
  const NcclRelease v211 = parse_nccl_release("2.11.4", "f");
  const NcclRelease v216 = parse_nccl_release("2.16.5", "f");
  const NcclRelease v217 = parse_nccl_release("2.17.1", "f");
  EXPECT_FALSE(v24.has_ll128());
  EXPECT_FALSE(v24.has_intra_node_tree());
  EXPECT_TRUE(v211.has_ll128());
  EXPECT_FALSE(v211.has_pxn());
  EXPECT_TRUE(parse_nccl_release("2.12.7", "f").has_pxn());
  EXPECT_FALSE(v216.has_nvls());
  EXPECT_TRUE(v217.has_nvls());
  const NcclRelease latest;
  EXPECT_TRUE(latest.has_ll128() && latest.has_intra_node_tree() && latest.has_pxn() &&
              latest.has_nvls());
}

TEST(NcclRelease, V100RingRunsNoLl128UnderNccl24) {
  // 2 MiB on the DGX-1: today's argmin picks LL128 there; 2.4 had only LL and Simple.
  const Topology t = nccl_release_preset("dgx1-v100");
  const CommOp op = nccl_release_all_reduce(2 << 20);
  CollectiveConfig cfg;
  cfg.algorithm = CollectiveConfig::Choice::ring;
  EXPECT_EQ(nccl_best(t, op, cfg).protocol, Protocol::ll128);
  cfg.nccl = parse_nccl_release("2.4.8", "f");
  EXPECT_FALSE(nccl_release_offers(t, op, cfg, Algorithm::ring, Protocol::ll128));
  EXPECT_NE(nccl_best(t, op, cfg).protocol, Protocol::ll128);
}

TEST(NcclRelease, Nccl24PricesNoTreeInsideOneNode) {
  const Topology t = nccl_release_preset("dgx1-v100");
  const CommOp op = nccl_release_all_reduce(64 << 10);
  CollectiveConfig cfg;
  EXPECT_TRUE(nccl_release_offers(t, op, cfg, Algorithm::tree));
  cfg.nccl = parse_nccl_release("2.4.8", "f");
  EXPECT_FALSE(nccl_release_offers(t, op, cfg, Algorithm::tree));
  EXPECT_TRUE(nccl_release_offers(t, op, cfg, Algorithm::ring));
}

TEST(NcclRelease, NvlsFirstIn217AndPxnIn212) {
  const Topology t = nccl_release_preset("dgx-h100");
  const CommOp op = nccl_release_all_reduce(64 << 20);
  CollectiveConfig cfg;
  cfg.nccl = parse_nccl_release("2.17.1", "f");
  EXPECT_TRUE(nccl_release_offers(t, op, cfg, Algorithm::nvls));
  cfg.nccl = parse_nccl_release("2.16.5", "f");
  EXPECT_FALSE(nccl_release_offers(t, op, cfg, Algorithm::nvls));
  EXPECT_TRUE(cfg.uses_pxn());  // 2.16 has PXN
  cfg.nccl = parse_nccl_release("2.11.4", "f");
  EXPECT_FALSE(cfg.uses_pxn());
  cfg.nccl = NcclRelease{};
  cfg.pxn = false;
  EXPECT_FALSE(cfg.uses_pxn());
}

}  // namespace
}  // namespace moesim::network
