#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "query/engine.h"
#include "rules/group.h"
#include "rules/manager.h"
#include "rules/rule_file.h"
#include "storage/storage.h"

namespace meridian::rules {
namespace {

constexpr int64_t T = 1'700'000'000'000;  // ms
constexpr int64_t kS = 1000;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/meridian_rules_test_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Labels L(std::vector<Label> ls) { return Labels::FromUnsorted(std::move(ls)); }

class RulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StorageOptions so;
    so.dir = dir_.path() + "/data";
    so.sync_wal = false;
    auto st = Storage::Open(so);
    ASSERT_TRUE(st.ok()) << st.status();
    storage_ = *std::move(st);
  }

  void Write(const Labels& ls, std::vector<Sample> samples) {
    std::vector<LabelView> views;
    for (const Label& l : ls) views.push_back({l.name, l.value});
    AppendBatch b;
    b.series.push_back({views, samples});
    AppendResult r;
    ASSERT_TRUE(storage_->Append("t1", b, &r).ok());
    ASSERT_TRUE(r.errors.empty());
  }

  // Raw samples of the series with exactly these labels, in [T - 1h, T + 1h].
  std::vector<Sample> Raw(const Labels& ls) {
    std::vector<Matcher> ms;
    for (const Label& l : ls) ms.push_back(*Matcher::Make(MatchType::kEqual, l.name, l.value));
    auto q = storage_->ForTenant("t1")->NewQuerier(T - 3600 * kS, T + 3600 * kS);
    EXPECT_TRUE(q.ok());
    auto set = (*q)->Select(ms, {.start_ms = T - 3600 * kS, .end_ms = T + 3600 * kS});
    EXPECT_TRUE(set.ok());
    std::vector<Sample> out;
    while ((*set)->Next()) {
      if (!((*set)->labels() == ls)) continue;
      EXPECT_TRUE((*set)->Samples(&out).ok());
    }
    return out;
  }

  std::unique_ptr<Group> MakeGroup(const std::string& yaml, int64_t interval_ms = 10 * kS) {
    auto groups = ParseRuleFile(yaml);
    EXPECT_TRUE(groups.ok()) << groups.status();
    return std::make_unique<Group>((*groups)[0], "rules.yml", "t1", interval_ms, storage_.get(),
                                   Tenants(), &engine_);
  }

  TenantQueryable Tenants() {
    return [this](std::string_view t) { return storage_->ForTenant(t); };
  }

  // Group `index` of rules/testdata/`file` (files promtool accepts).
  std::unique_ptr<Group> LoadGroup(const std::string& file, size_t index = 0) {
    auto groups = LoadRuleFile(std::string(MERIDIAN_RULES_TESTDATA) + "/" + file);
    EXPECT_TRUE(groups.ok()) << groups.status();
    GroupSpec spec = (*groups)[index];
    int64_t interval = spec.interval_ms ? spec.interval_ms : 10 * kS;
    return std::make_unique<Group>(std::move(spec), file, "t1", interval, storage_.get(), Tenants(),
                                   &engine_);
  }

  TempDir dir_;
  std::unique_ptr<Storage> storage_;
  promql::Engine engine_{promql::EngineOptions{}};
};

MATCHER_P2(IsSample, t, v, "") { return arg.t_ms == t && arg.v == v; }
MATCHER_P(IsStale, t, "") { return arg.t_ms == t && IsStaleNaN(arg.v); }

TEST(XxHashTest, KnownVectors) {
  EXPECT_EQ(XxHash64(""), 0xEF46DB3751D8E999ULL);
  EXPECT_EQ(XxHash64("a"), 0xD24EC4F1A98C6E5BULL);
  EXPECT_EQ(XxHash64("abc"), 0x44BC2CF5AD770999ULL);
  // 32 bytes and more take the striped path.
  EXPECT_EQ(XxHash64("Nobody inspects the spammish repetition"), 0xFBCEA83C8A378BF1ULL);
}

TEST_F(RulesTest, EvalTimestampIsTheSlotOfPrometheus) {
  auto g = MakeGroup("groups:\n- name: g\n  rules:\n  - record: a\n    expr: vector(1)\n");
  const int64_t interval_ns = 10'000'000'000;
  std::string key = std::string("file\xff") + "rules.yml" + "\xff" + "name\xff" + "g\xff";
  const int64_t offset = static_cast<int64_t>(XxHash64(key) % interval_ns);
  const int64_t now = T * 1'000'000 + 123'456'789;
  const int64_t ts = g->EvalTimestampNs(now);
  EXPECT_LE(ts, now);
  EXPECT_GT(ts, now - interval_ns);
  EXPECT_EQ((ts - offset) % interval_ns, 0);
  EXPECT_EQ(g->EvalTimestampNs(ts), ts);
  EXPECT_EQ(g->EvalTimestampNs(ts - 1), ts - interval_ns);
}

TEST_F(RulesTest, EvalTimestampMatchesPrometheus242) {
  // Prometheus 2.42 evaluated group "g" of /tmp/rules-pt/r.yml (interval 1s)
  // at *.815 s: its samples' timestamps ended in .815.
  auto groups = ParseRuleFile("groups:\n- name: g\n  rules: []\n");
  ASSERT_TRUE(groups.ok());
  Group g((*groups)[0], "/tmp/rules-pt/r.yml", "t1", 1000, storage_.get(), Tenants(), &engine_);
  EXPECT_EQ(g.EvalTimestampNs(T * 1'000'000) % 1'000'000'000 / 1'000'000, 815);
}

TEST_F(RulesTest, RecordingRulesAndStaleMarkers) {
  Write(L({{"__name__", "x"}, {"job", "a"}, {"i", "1"}}), {{T, 1}, {T + 60 * kS, 3}});
  // i=2 goes away: its scrape ends with a stale marker.
  Write(L({{"__name__", "x"}, {"job", "a"}, {"i", "2"}}), {{T, 10}, {T + 60 * kS, StaleNaN()}});
  auto g = LoadGroup("recording.yml");
  g->Eval(T + 30 * kS);
  g->Eval(T + 90 * kS);
  EXPECT_THAT(Raw(L({{"__name__", "job:x:sum"}, {"job", "a"}, {"team", "gpu"}})),
              ::testing::ElementsAre(IsSample(T + 30 * kS, 11.0), IsSample(T + 90 * kS, 3.0)));
  EXPECT_THAT(Raw(L({{"__name__", "x:doubled"}, {"job", "a"}, {"i", "1"}})),
              ::testing::ElementsAre(IsSample(T + 30 * kS, 2.0), IsSample(T + 90 * kS, 6.0)));
  EXPECT_THAT(Raw(L({{"__name__", "x:doubled"}, {"job", "a"}, {"i", "2"}})),
              ::testing::ElementsAre(IsSample(T + 30 * kS, 20.0), IsStale(T + 90 * kS)));
  GroupStatus st = g->Status();
  ASSERT_EQ(st.rules.size(), 2u);
  EXPECT_EQ(st.rules[0].health, "ok");
  EXPECT_EQ(st.rules[0].query, "sum by (job) (x)");
  EXPECT_EQ(st.rules[0].labels, L({{"team", "gpu"}}));
  EXPECT_EQ(g->counters().evaluations.load(), 4u);
  EXPECT_EQ(g->counters().failures.load(), 0u);
}

TEST_F(RulesTest, IntervalShorterThanScrapeInterval) {
  // Scraped every 30 s; the group runs every 10 s and sees the last sample
  // (lookback); the second rule sees the first rule's result of the same slot.
  Write(L({{"__name__", "y"}}), {{T, 1}, {T + 30 * kS, 2}, {T + 60 * kS, 3}});
  auto g = LoadGroup("fast.yml");
  for (int64_t t = T; t <= T + 60 * kS; t += 10 * kS) g->Eval(t);
  EXPECT_THAT(Raw(L({{"__name__", "y:copy"}})),
              ::testing::ElementsAre(IsSample(T, 1.0), IsSample(T + 10 * kS, 1.0),
                                     IsSample(T + 20 * kS, 1.0), IsSample(T + 30 * kS, 2.0),
                                     IsSample(T + 40 * kS, 2.0), IsSample(T + 50 * kS, 2.0),
                                     IsSample(T + 60 * kS, 3.0)));
  EXPECT_THAT(Raw(L({{"__name__", "y:copy10"}})),
              ::testing::ElementsAre(IsSample(T, 10.0), IsSample(T + 10 * kS, 10.0),
                                     IsSample(T + 20 * kS, 10.0), IsSample(T + 30 * kS, 20.0),
                                     IsSample(T + 40 * kS, 20.0), IsSample(T + 50 * kS, 20.0),
                                     IsSample(T + 60 * kS, 30.0)));
}

TEST_F(RulesTest, AlertGoesPendingFiringResolved) {
  Write(L({{"__name__", "z"}, {"inst", "a"}}),
        {{T, 10}, {T + 10 * kS, 10}, {T + 20 * kS, 12}, {T + 30 * kS, 12}, {T + 40 * kS, 1}});
  auto g = LoadGroup("alerting.yml");
  const Labels pending = L({{"__name__", "ALERTS"},
                            {"alertname", "HighZ"},
                            {"alertstate", "pending"},
                            {"inst", "a"},
                            {"severity", "page"}});
  const Labels firing = L({{"__name__", "ALERTS"},
                           {"alertname", "HighZ"},
                           {"alertstate", "firing"},
                           {"inst", "a"},
                           {"severity", "page"}});
  const Labels for_state = L({{"__name__", "ALERTS_FOR_STATE"},
                              {"alertname", "HighZ"},
                              {"inst", "a"},
                              {"severity", "page"}});
  auto state = [&] { return g->Status().rules[0]; };

  g->Eval(T);
  RuleStatus s = state();
  EXPECT_EQ(s.state, AlertState::kPending);
  ASSERT_EQ(s.alerts.size(), 1u);
  EXPECT_EQ(s.alerts[0].active_at_ns, T * 1'000'000);
  EXPECT_EQ(s.alerts[0].labels, L({{"alertname", "HighZ"}, {"inst", "a"}, {"severity", "page"}}));
  EXPECT_EQ(s.alerts[0].annotations, L({{"summary", "a is 10"}}));

  g->Eval(T + 10 * kS);
  EXPECT_EQ(state().state, AlertState::kPending);
  g->Eval(T + 20 * kS);
  s = state();
  EXPECT_EQ(s.state, AlertState::kFiring);
  EXPECT_EQ(s.alerts[0].annotations, L({{"summary", "a is 12"}}));
  EXPECT_EQ(s.alerts[0].value, 12);
  g->Eval(T + 30 * kS);
  g->Eval(T + 40 * kS);
  s = state();
  EXPECT_EQ(s.state, AlertState::kInactive);
  EXPECT_TRUE(s.alerts.empty());
  EXPECT_EQ(s.health, "ok");

  EXPECT_THAT(Raw(pending), ::testing::ElementsAre(IsSample(T, 1.0), IsSample(T + 10 * kS, 1.0),
                                                   IsStale(T + 20 * kS)));
  EXPECT_THAT(Raw(firing),
              ::testing::ElementsAre(IsSample(T + 20 * kS, 1.0), IsSample(T + 30 * kS, 1.0),
                                     IsStale(T + 40 * kS)));
  const double active = static_cast<double>(T / 1000);
  EXPECT_THAT(Raw(for_state),
              ::testing::ElementsAre(IsSample(T, active), IsSample(T + 10 * kS, active),
                                     IsSample(T + 20 * kS, active), IsSample(T + 30 * kS, active),
                                     IsStale(T + 40 * kS)));
}

// `for` state after a restart (Prometheus 2.42's RestoreForState with its
// defaults: 1 h outage tolerance, 10 m grace period). The ALERTS_FOR_STATE
// series are written as the group wrote them before an outage of 5 minutes.
TEST_F(RulesTest, RestoreForStateAfterARestart) {
  constexpr int64_t kM = 60 * kS;
  auto g = MakeGroup(R"(groups:
- name: r
  rules:
  - alert: Long
    expr: long_cond > 0
    for: 30m
  - alert: NearlyDone
    expr: near_cond > 0
    for: 30m
  - alert: WasFiring
    expr: firing_cond > 0
    for: 20m
  - alert: Short
    expr: short_cond > 0
    for: 5m
  - alert: Ended
    expr: ended_cond > 0
    for: 30m
  - alert: TooOld
    expr: old_cond > 0
    for: 30m
)");
  g->RequireRestore(60 * kM, 10 * kM);
  EXPECT_TRUE(g->needs_restore());
  const int64_t down = T - 5 * kM;  // the last evaluation before the outage
  auto for_state = [&](const std::string& alert) {
    return L({{"__name__", "ALERTS_FOR_STATE"}, {"alertname", alert}, {"i", "1"}});
  };
  auto alerts = [&](const std::string& alert, const std::string& state) {
    return L({{"__name__", "ALERTS"}, {"alertname", alert}, {"alertstate", state}, {"i", "1"}});
  };
  for (const char* c :
       {"long_cond", "near_cond", "firing_cond", "short_cond", "ended_cond", "old_cond"}) {
    std::vector<Sample> every_minute;
    for (int64_t t = T - kM; t <= T + 15 * kM; t += kM) every_minute.push_back({t, 1});
    Write(L({{"__name__", c}, {"i", "1"}}), every_minute);
  }
  auto secs = [](int64_t ms) { return static_cast<double>(ms / 1000); };
  Write(for_state("Long"), {{down - kM, secs(down - 10 * kM)}, {down, secs(down - 10 * kM)}});
  Write(for_state("NearlyDone"), {{down, secs(down - 25 * kM)}});
  Write(for_state("WasFiring"), {{down, secs(down - 40 * kM)}});
  Write(for_state("Short"), {{down, secs(down - 4 * kM)}});
  Write(for_state("Ended"), {{down - kM, secs(down - 10 * kM)}, {down, StaleNaN()}});
  Write(for_state("TooOld"), {{T - 70 * kM, secs(T - 80 * kM)}});

  // The first two evaluations keep state but write nothing.
  g->Eval(T);
  g->Eval(T + 10 * kS);
  EXPECT_TRUE(Raw(alerts("Long", "pending")).empty());
  EXPECT_EQ(Raw(for_state("Long")).size(), 2u);
  EXPECT_EQ(Raw(for_state("Short")).size(), 1u);

  const int64_t now = T + 10 * kS + 300;  // ms; restoration runs after the second evaluation
  g->RestoreForState(now * 1'000'000);
  EXPECT_FALSE(g->needs_restore());
  std::map<std::string, int64_t> active_at;
  for (const RuleStatus& r : g->Status().rules) {
    ASSERT_EQ(r.alerts.size(), 1u) << r.spec.alert;
    active_at[r.spec.alert] = r.alerts[0].active_at_ns / 1'000'000;
  }
  // 10 of 30 minutes pending when it went down: 20 to go from now.
  EXPECT_EQ(active_at["Long"], now - 10 * kM);
  // 5 minutes to go is less than the grace period: it fires 10 m from now.
  EXPECT_EQ(active_at["NearlyDone"], now + 10 * kM - 30 * kM);
  // Firing when it went down, `for` under the grace period, ended, or too
  // long ago: not restored (the first evaluation's ActiveAt stays).
  EXPECT_EQ(active_at["WasFiring"], T);
  EXPECT_EQ(active_at["Short"], T);
  EXPECT_EQ(active_at["Ended"], T);
  EXPECT_EQ(active_at["TooOld"], T);

  // From now on the series are written, with the restored ActiveAt.
  g->Eval(T + 20 * kS);
  EXPECT_THAT(Raw(alerts("Long", "pending")), ::testing::ElementsAre(IsSample(T + 20 * kS, 1)));
  EXPECT_THAT(Raw(for_state("Long")).back(), IsSample(T + 20 * kS, secs(now - 10 * kM)));
  EXPECT_THAT(Raw(for_state("Short")).back(), IsSample(T + 20 * kS, secs(T)));
  // NearlyDone fires a grace period after the restoration, not before.
  const int64_t fire = now + 10 * kM;
  g->Eval(fire - 300 - 10 * kS);
  EXPECT_TRUE(Raw(alerts("NearlyDone", "firing")).empty());
  g->Eval(fire - 300 + 10 * kS);
  EXPECT_THAT(Raw(alerts("NearlyDone", "firing")),
              ::testing::ElementsAre(IsSample(fire - 300 + 10 * kS, 1)));
}

// Without RequireRestore (a group loaded by a reload, or a test) alerts write
// their series from the first evaluation.
TEST_F(RulesTest, GroupsThatDoNotRestoreWriteFromTheStart) {
  auto g = MakeGroup(
      "groups:\n- name: r\n  rules:\n  - alert: A\n    expr: vector(1)\n"
      "    for: 30m\n");
  EXPECT_FALSE(g->needs_restore());
  g->Eval(T);
  EXPECT_THAT(Raw(L({{"__name__", "ALERTS"}, {"alertname", "A"}, {"alertstate", "pending"}})),
              ::testing::ElementsAre(IsSample(T, 1)));
}

TEST_F(RulesTest, KeepFiringForAndLimit) {
  Write(L({{"__name__", "k"}, {"i", "1"}}), {{T, 1}});
  Write(L({{"__name__", "k"}, {"i", "2"}}), {{T, 1}});
  auto g = LoadGroup("limits.yml", 0);
  g->Eval(T);
  GroupStatus st = g->Status();
  EXPECT_EQ(st.rules[0].health, "err");
  EXPECT_EQ(st.rules[0].last_error, "exceeded limit of 1 with 2 alerts");
  EXPECT_EQ(st.rules[1].last_error, "exceeded limit of 1 with 2 series");
  EXPECT_EQ(g->counters().failures.load(), 2u);
  EXPECT_TRUE(Raw(L({{"__name__", "k:copy"}, {"i", "1"}})).empty());

  Write(L({{"__name__", "w"}}), {{T, 1}, {T + 10 * kS, StaleNaN()}});
  auto k = LoadGroup("limits.yml", 1);
  k->Eval(T);
  EXPECT_EQ(k->Status().rules[0].state, AlertState::kFiring);  // for: 0 fires at once
  k->Eval(T + 10 * kS);                                        // gone, kept firing since T+10s
  EXPECT_EQ(k->Status().rules[0].state, AlertState::kFiring);
  EXPECT_EQ(k->Status().rules[0].alerts[0].keep_firing_since_ns, (T + 10 * kS) * 1'000'000);
  k->Eval(T + 20 * kS);
  EXPECT_EQ(k->Status().rules[0].state, AlertState::kFiring);
  k->Eval(T + 30 * kS);  // 20 s >= 15 s: resolved
  EXPECT_EQ(k->Status().rules[0].state, AlertState::kInactive);
}

TEST_F(RulesTest, QueryErrorsAreRuleErrors) {
  auto g = MakeGroup(R"(
groups:
  - name: g
    rules:
      - record: s
        expr: '"a string"'
      - record: dup
        expr: label_replace(vector(1), "a", "1", "", "") or label_replace(vector(2), "b", "1", "", "")
        labels:
          a: ""
)");
  g->Eval(T);
  GroupStatus st = g->Status();
  EXPECT_EQ(st.rules[0].health, "err");
  EXPECT_EQ(st.rules[0].last_error, "rule result is not a vector or scalar");
  EXPECT_EQ(st.rules[1].health, "ok");  // the empty label value removes nothing present
}

TEST(RuleFileTest, ParsesPrometheusFormat) {
  auto g = ParseRuleFile(R"(
groups:
  - name: a
    interval: 30s
    limit: 10
    rules:
      - record: x:y
        expr: sum(x)
        labels: {team: ml}
      - alert: Hot
        expr: x > 1
        for: 5m
        keep_firing_for: 1m
        annotations: {summary: "hot"}
  - name: b
    rules: []
)");
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->size(), 2u);
  EXPECT_EQ((*g)[0].interval_ms, 30 * kS);
  EXPECT_EQ((*g)[0].limit, 10);
  EXPECT_EQ((*g)[0].rules[0].labels, (std::vector<Label>{{"team", "ml"}}));
  EXPECT_EQ((*g)[0].rules[1].for_ms, 300 * kS);
  EXPECT_EQ((*g)[0].rules[1].keep_firing_for_ms, 60 * kS);
  EXPECT_TRUE((*g)[1].rules.empty());
  EXPECT_TRUE(ParseRuleFile("").ok());
}

TEST(RuleFileTest, RejectsWhatPromtoolRejects) {
  auto err = [](const char* y) {
    auto g = ParseRuleFile(y);
    return g.ok() ? std::string("OK") : std::string(g.status().message());
  };
  EXPECT_EQ(err("groups:\n- name: a\n  tenant: x\n  rules: []\n"),
            "yaml: unmarshal errors:\n  line 3: field tenant not found in type rulefmt.RuleGroup");
  EXPECT_EQ(err("groups:\n- name: a\n  rules:\n  - record: x\n    expr: a\n    for: 1m\n"),
            "4:13: group \"a\", rule 1, \"x\": invalid field 'for' in recording rule");
  EXPECT_EQ(err("groups:\n- name: a\n  rules:\n  - record: 1x\n    expr: a\n"),
            "4:13: group \"a\", rule 1, \"1x\": invalid recording rule name: 1x");
  EXPECT_EQ(err("groups:\n- name: a\n  rules:\n  - alert: A\n    record: b\n    expr: a\n"),
            "5:13: 4:12: group \"a\", rule 1, \"A\": only one of 'record' and 'alert' must be set");
  EXPECT_NE(err("groups:\n- name: a\n  rules:\n  - record: x\n    expr: sum(\n")
                .find("could not parse expression"),
            std::string::npos);
  EXPECT_EQ(err("groups:\n- name: a\n  rules: []\n- name: a\n  rules: []\n"),
            "4:3: groupname: \"a\" is repeated in the same file");
  EXPECT_NE(err("groups: [\n"), "OK");
  EXPECT_NE(err("groups:\n- name: a\n  interval: 5x\n"), "OK");
}

// promtool (Debian's prometheus package) and meridian agree on every test
// rule file: the good ones load, the bad ones fail with promtool's message.
std::string RunPromtool(const std::string& file, int* rc) {
  std::string cmd = "/usr/bin/promtool check rules '" + file + "' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  *rc = pclose(p);
  return out;
}

TEST(RuleFileTest, PromtoolAndMeridianAgreeOnTestFiles) {
  if (access("/usr/bin/promtool", X_OK) != 0) {
    GTEST_SKIP() << "/usr/bin/promtool not installed; scripts/install-deps.sh installs the "
                    "Debian prometheus package";
  }
  const std::string dir = MERIDIAN_RULES_TESTDATA;
  int good = 0, bad = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".yml") continue;
    int rc;
    std::string out = RunPromtool(e.path().string(), &rc);
    EXPECT_EQ(rc, 0) << e.path() << ": " << out;
    EXPECT_NE(out.find("SUCCESS"), std::string::npos) << out;
    auto g = LoadRuleFile(e.path().string());
    EXPECT_TRUE(g.ok()) << e.path() << ": " << g.status();
    ++good;
  }
  for (const auto& e : std::filesystem::directory_iterator(dir + "/bad")) {
    int rc;
    std::string out = RunPromtool(e.path().string(), &rc);
    EXPECT_NE(rc, 0) << e.path() << ": " << out;
    auto g = LoadRuleFile(e.path().string());
    ASSERT_FALSE(g.ok()) << e.path();
    // promtool prints "FILE: MESSAGE" (a YAML error: "FILE: yaml: ..." over lines).
    EXPECT_NE(out.find(std::string(g.status().message())), std::string::npos)
        << "promtool:\n"
        << out << "meridian:\n"
        << g.status().message();
    ++bad;
  }
  EXPECT_GE(good, 5);
  EXPECT_GE(bad, 4);
}

TEST(TemplateTest, ExpandsLabelsAndValue) {
  Labels ls = L({{"instance", "gpu-1"}, {"job", "w"}});
  EXPECT_EQ(ExpandTemplate("{{ $labels.instance }} at {{ $value }}", ls, 0.5), "gpu-1 at 0.5");
  EXPECT_EQ(ExpandTemplate("{{.Labels.job}}/{{ .Value }}", ls, 1e6), "w/1e+06");
  EXPECT_EQ(ExpandTemplate("{{ $labels.missing }}|{{ humanize $value }}", ls, 2),
            "|{{ humanize $value }}");
}

TEST_F(RulesTest, ManagerReloadKeepsOldRulesOnParseError) {
  const std::string rules_dir = dir_.path() + "/rules";
  std::filesystem::create_directories(rules_dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(rules_dir + "/" + name) << text;
  };
  write("a.yml", "groups:\n- name: a\n  rules:\n  - record: r1\n    expr: vector(1)\n");
  Manager m(storage_.get(), Tenants(), &engine_, {.sources = {{"t1", rules_dir + "/*.yml"}}});
  ASSERT_TRUE(m.Reload().ok());
  ASSERT_EQ(m.Groups("t1").size(), 1u);
  EXPECT_TRUE(m.Groups("other").empty());

  write("b.yml", "groups:\n- name: b\n  rules:\n  - record: r2\n    expr: sum(\n");
  absl::Status st = m.Reload();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("b.yml: "), std::string::npos) << st;
  EXPECT_EQ(st.message().find(rules_dir), std::string::npos) << "no directory in the error";
  auto groups = m.Groups("t1");
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].rules[0].spec.record, "r1");
  EXPECT_NE(m.MetricsText().find("meridian_rule_config_last_reload_successful 0"),
            std::string::npos);

  write("b.yml", "groups:\n- name: b\n  rules:\n  - record: r2\n    expr: vector(2)\n");
  ASSERT_TRUE(m.Reload().ok());
  groups = m.Groups("t1");
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[1].name, "b");
  EXPECT_NE(m.MetricsText().find("meridian_rule_config_last_reload_successful 1"),
            std::string::npos);
}

TEST_F(RulesTest, ReloadHandsOverAlertStateAndMarksRemovedSeriesStale) {
  const std::string rules_dir = dir_.path() + "/rules";
  std::filesystem::create_directories(rules_dir);
  auto write = [&](const std::string& text) { std::ofstream(rules_dir + "/r.yml") << text; };
  const std::string alert =
      "  - name: a\n    interval: 1s\n    rules:\n"
      "    - alert: Up\n      expr: vector(1)\n      for: 1h\n";
  write("groups:\n" + alert +
        "  - name: gone\n    interval: 1s\n    rules:\n    - record: gone:one\n"
        "      expr: vector(1)\n");
  Manager m(storage_.get(), Tenants(), &engine_, {.sources = {{"t1", rules_dir + "/*.yml"}}});
  ASSERT_TRUE(m.Reload().ok());
  m.Start();
  auto evaluated = [&] {
    for (const GroupStatus& g : m.Groups("t1")) {
      if (g.last_evaluation_ns == 0) return false;
    }
    return true;
  };
  for (int i = 0; i < 100 && !evaluated(); ++i) usleep(50'000);
  ASSERT_TRUE(evaluated());
  auto groups = m.Groups("t1");
  ASSERT_EQ(groups[0].rules[0].alerts.size(), 1u);
  const int64_t active_at = groups[0].rules[0].alerts[0].active_at_ns;

  // Group "a" changes (one more rule), group "gone" goes away.
  write("groups:\n" + alert + "    - record: extra\n      expr: vector(2)\n");
  ASSERT_TRUE(m.Reload().ok());
  groups = m.Groups("t1");
  ASSERT_EQ(groups.size(), 1u);
  ASSERT_EQ(groups[0].rules.size(), 2u);
  ASSERT_EQ(groups[0].rules[0].alerts.size(), 1u) << "the alert survives the reload";
  EXPECT_EQ(groups[0].rules[0].alerts[0].active_at_ns, active_at);
  m.Stop();

  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  auto q = storage_->ForTenant("t1")->NewQuerier(now_ms - 60'000, now_ms + 60'000);
  ASSERT_TRUE(q.ok());
  auto set = (*q)->Select({*Matcher::Make(MatchType::kEqual, "__name__", "gone:one")},
                          {.start_ms = now_ms - 60'000, .end_ms = now_ms + 60'000});
  ASSERT_TRUE(set.ok());
  ASSERT_TRUE((*set)->Next());
  std::vector<Sample> samples;
  ASSERT_TRUE((*set)->Samples(&samples).ok());
  ASSERT_GE(samples.size(), 2u);
  EXPECT_EQ(samples.front().v, 1);
  EXPECT_TRUE(IsStaleNaN(samples.back().v)) << "a removed group's series end with a stale marker";
}

}  // namespace
}  // namespace meridian::rules
