// Rules end to end: the same rule file loaded by the real Prometheus 2.42
// (Debian) and by meridian must give the same /api/v1/rules and
// /api/v1/alerts answers (timings aside) and the same evaluation slots;
// reloads (POST /-/reload, SIGHUP) keep the old rules when a file is broken;
// rule files are bound to the tenant named in meridian's config.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "tests/integration/harness.h"

namespace meridian::testing {
namespace {

using OJson = nlohmann::ordered_json;

// Replaces what depends on when each process evaluated: durations, the wall
// clock, and the whole seconds of activeAt (its fraction is the group's slot
// offset and must match).
void Normalize(OJson* j) {
  if (j->is_object()) {
    for (auto& [k, v] : j->items()) {
      if (k == "evaluationTime") {
        v = 0;
      } else if (k == "lastEvaluation") {
        v = v.get<std::string>() == "0001-01-01T00:00:00Z" ? "never" : "set";
      } else if (k == "activeAt" || k == "keepFiringSince") {
        std::string s = v.get<std::string>();
        v = s.substr(s.find('.') == std::string::npos ? s.size() : s.find('.'));
      } else {
        Normalize(&v);
      }
    }
  } else if (j->is_array()) {
    for (auto& v : *j) Normalize(&v);
  }
}

struct Answer {
  int status = 0;
  std::string body;
  OJson json;
};

Answer Get(httplib::Client& c, const std::string& path, const httplib::Headers& h = {}) {
  Answer a;
  auto r = c.Get(path, h);
  if (!r) return a;
  a.status = r->status;
  a.body = r->body;
  a.json = OJson::parse(r->body, nullptr, false);
  return a;
}

// True once every rule of every group was evaluated at least `n` times (as
// far as lastEvaluation shows: set, and we waited n intervals after).
bool AllEvaluated(httplib::Client& c) {
  Answer a = Get(c, "/api/v1/rules");
  if (a.status != 200 || a.json.is_discarded()) return false;
  for (const auto& g : a.json["data"]["groups"]) {
    for (const auto& r : g["rules"]) {
      if (r["lastEvaluation"] == "0001-01-01T00:00:00Z") return false;
    }
  }
  return !a.json["data"]["groups"].empty();
}

TEST(RulesTest, RulesApiMatchesPrometheus) {
  if (std::string why = PrometheusMissing(); !why.empty()) GTEST_SKIP() << why;
  TempDir dir;
  // One path for both: the file name is part of a group's slot offset.
  const std::string rules = dir.path() + "/api.yml";
  std::filesystem::copy_file(std::string(MERIDIAN_SOURCE_DIR) + "/rules/testdata/api.yml", rules);
  const int prom_port = FreePort();
  auto prom = StartPrometheus(
      dir.path(), prom_port, "global:\n  evaluation_interval: 1s\nrule_files: ['" + rules + "']\n");
  Meridian meridian("", {"--rule-files", rules});
  ASSERT_TRUE(meridian.WaitReady()) << meridian.process().Log();
  httplib::Client pc("127.0.0.1", prom_port);
  auto mc = meridian.Client();
  bool ready = false;
  for (int i = 0; i < 300 && !ready; ++i) {
    ready = AllEvaluated(pc) && AllEvaluated(*mc);
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(ready) << prom->Log() << meridian.process().Log();
  // A few more evaluations: the "bad" rule fails once rule outputs exist.
  std::this_thread::sleep_for(std::chrono::milliseconds(4500));

  for (const char* path : {"/api/v1/rules", "/api/v1/alerts", "/api/v1/rules?type=record",
                           "/api/v1/rules?type=ALERT", "/api/v1/rules?type=bogus"}) {
    SCOPED_TRACE(path);
    Answer p = Get(pc, path), m = Get(*mc, path);
    ASSERT_FALSE(p.json.is_discarded()) << p.body;
    ASSERT_FALSE(m.json.is_discarded()) << m.body;
    EXPECT_EQ(m.status, p.status);
    Normalize(&p.json);
    Normalize(&m.json);
    // Key order included: ordered_json keeps each object's order.
    EXPECT_EQ(m.json.dump(), p.json.dump())
        << "meridian:   " << m.body << "\nprometheus: " << p.body;
    // Go's encoder escapes HTML characters; so must we.
    if (std::string(path) == "/api/v1/rules") {
      EXPECT_NE(m.body.find("vector(3) \\u003e 0"), std::string::npos) << m.body;
      EXPECT_NE(p.body.find("vector(3) \\u003e 0"), std::string::npos) << p.body;
    }
  }

  // The recorded series sit on the same slots (group "g", interval 1s).
  auto fraction = [](httplib::Client& c) {
    Answer a = Get(c, "/api/v1/query?query=" + UrlEncode("job:one[3s]"));
    std::set<std::string> out;
    for (const auto& s : a.json["data"]["result"]) {
      for (const auto& v : s["values"]) {
        std::string t = v[0].dump();
        out.insert(t.substr(t.find('.') == std::string::npos ? t.size() : t.find('.')));
      }
    }
    return out;
  };
  std::set<std::string> pf = fraction(pc), mf = fraction(*mc);
  EXPECT_EQ(pf.size(), 1u);
  EXPECT_EQ(mf, pf);
}

TEST(RulesTest, ReloadKeepsOldRulesAndBindsTenant) {
  TempDir dir;
  const std::string rules_dir = dir.path() + "/rules";
  std::filesystem::create_directories(rules_dir);
  std::ofstream(rules_dir + "/a.yml") << "groups:\n- name: a\n  interval: 1s\n  rules:\n  - "
                                         "record: tenant:one\n    expr: vector(1)\n";
  Meridian meridian("", {"--rule-files", "gpu-platform=" + rules_dir + "/*.yml"});
  ASSERT_TRUE(meridian.WaitReady()) << meridian.process().Log();
  auto c = meridian.Client();
  const httplib::Headers gpu = {{"THANOS-TENANT", "gpu-platform"}};
  auto groups = [&](const httplib::Headers& h) {
    Answer a = Get(*c, "/api/v1/rules", h);
    std::vector<std::string> names;
    for (const auto& g : a.json["data"]["groups"]) names.push_back(g["name"]);
    return names;
  };
  EXPECT_EQ(groups(gpu), std::vector<std::string>{"a"});
  EXPECT_TRUE(groups({}).empty()) << "the default tenant has no rules";

  // The group's results land in its tenant only.
  bool recorded = false;
  for (int i = 0; i < 50 && !recorded; ++i) {
    Answer a = Get(*c, "/api/v1/query?query=tenant:one", gpu);
    recorded = a.status == 200 && a.json["data"]["result"].size() == 1;
    if (!recorded) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(recorded);
  EXPECT_TRUE(Get(*c, "/api/v1/query?query=tenant:one").json["data"]["result"].empty());

  // A broken file: the reload fails, names the file (not its directory), and
  // the old rules keep running.
  std::ofstream(rules_dir + "/b.yml")
      << "groups:\n- name: b\n  rules:\n  - record: x\n    expr: sum(\n";
  auto r = c->Post("/-/reload");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body.rfind("failed to reload config: b.yml: 5:11: group \"b\", rule 1, \"x\": "
                          "could not parse expression",
                          0),
            0u)
      << r->body;
  EXPECT_EQ(r->body.find(dir.path()), std::string::npos) << r->body;
  EXPECT_EQ(groups(gpu), std::vector<std::string>{"a"});
  auto metrics = c->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("meridian_rule_config_last_reload_successful 0"), std::string::npos);
  EXPECT_NE(metrics->body.find("meridian_rule_evaluations_total{rule_group=\"" + rules_dir +
                               "/a.yml;a\",tenant=\"gpu-platform\"}"),
            std::string::npos);
  auto get_reload = c->Get("/-/reload");
  ASSERT_TRUE(get_reload);
  EXPECT_NE(get_reload->status, 200);

  // Fixed, and reloaded by SIGHUP.
  std::ofstream(rules_dir + "/b.yml")
      << "groups:\n- name: b\n  rules:\n  - record: x\n    expr: vector(2)\n";
  meridian.process().Kill(SIGHUP);
  bool reloaded = false;
  for (int i = 0; i < 50 && !reloaded; ++i) {
    reloaded = groups(gpu) == std::vector<std::string>{"a", "b"};
    if (!reloaded) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(reloaded) << meridian.process().Log();
  metrics = c->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("meridian_rule_config_last_reload_successful 1"), std::string::npos);
  EXPECT_TRUE(meridian.process().running()) << "SIGHUP must not stop meridian";
}

TEST(RulesTest, BrokenRuleFileAtStartIsAnError) {
  TempDir dir;
  std::ofstream(dir.path() + "/bad.yml") << "groups:\n- name: a\n  tenant: x\n";
  Meridian meridian("", {"--rule-files", dir.path() + "/bad.yml"});
  EXPECT_FALSE(meridian.WaitReady(std::chrono::seconds(3)));
  EXPECT_NE(meridian.process().Log().find("field tenant not found in type rulefmt.RuleGroup"),
            std::string::npos)
      << meridian.process().Log();
}

}  // namespace
}  // namespace meridian::testing
