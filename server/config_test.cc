#include "server/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <vector>

namespace meridian::server {
namespace {

absl::StatusOr<Config> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "meridian");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return ParseConfig(static_cast<int>(argv.size()), argv.data());
}

TEST(ConfigTest, DefaultsNeedNoFlags) {
  auto c = Parse({});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->listen, "0.0.0.0:9097");
  EXPECT_EQ(c->data_dir, "meridian-data");
  EXPECT_TRUE(c->sync_wal);
}

TEST(ConfigTest, FlagsBothForms) {
  auto c = Parse({"--listen", "127.0.0.1:1234", "--data-dir=/tmp/x", "--retention", "90d",
                  "--sync-wal=false"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, "127.0.0.1:1234");
  EXPECT_EQ(c->data_dir, "/tmp/x");
  EXPECT_EQ(c->retention_ms, 90LL * 86400 * 1000);
  EXPECT_FALSE(c->sync_wal);
}

TEST(ConfigTest, FileThenFlagsOverride) {
  std::string path = testing::TempDir() + "/meridian_config_test.yml";
  {
    std::ofstream f(path);
    f << "# comment\nlisten: 127.0.0.1:9999\nretention: 1h  # inline\ndata-dir: \"/d\"\n";
  }
  auto c = Parse({"--config", path, "--listen", "127.0.0.1:1"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, "127.0.0.1:1");
  EXPECT_EQ(c->retention_ms, 3600000);
  EXPECT_EQ(c->data_dir, "/d");
  std::remove(path.c_str());
}

TEST(ConfigTest, ErrorsNameTheProblem) {
  auto unknown = Parse({"--no-such-flag", "1"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown setting \"no-such-flag\""), std::string::npos);
  auto bad = Parse({"--retention", "forever"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("invalid value for retention"), std::string::npos);
  auto missing = Parse({"--config", "/nonexistent/meridian.yml"});
  EXPECT_FALSE(missing.ok());
  auto help = Parse({"--help"});
  EXPECT_EQ(help.status().code(), absl::StatusCode::kCancelled);
  EXPECT_NE(help.status().message().find("--data-dir"), std::string::npos);
}

}  // namespace
}  // namespace meridian::server
