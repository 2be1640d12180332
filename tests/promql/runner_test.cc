#include "tests/promql/runner.h"

#include <filesystem>
#include <map>

#include "gtest/gtest.h"
#include "tests/promql/expr_walk.h"

namespace meridian::promqltest {
namespace {

TEST(AtModifierVariantsTest, SetsAtOnSelectorsOutsideSubqueries) {
  auto v = AtModifierVariants("rate(m[5m]) + sum(x)", 60'000);
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->size(), 5u);
  std::vector<int64_t> times;
  for (const auto& a : *v) times.push_back(a.eval_ms);
  EXPECT_EQ(times, (std::vector<int64_t>{-600'000, 0, 12'000, 60'000, 600'000}));
  const std::string& e = (*v)[0].expr;
  EXPECT_NE(e.find("m[5m] @ 60"), std::string::npos) << e;
  EXPECT_NE(e.find("x @ 60"), std::string::npos) << e;
}

TEST(AtModifierVariantsTest, ZeroTimeUsesOtherTimes) {
  auto v = AtModifierVariants("m", 0);
  ASSERT_TRUE(v.ok()) << v.status();
  std::vector<int64_t> times;
  for (const auto& a : *v) times.push_back(a.eval_ms);
  EXPECT_EQ(times, (std::vector<int64_t>{-1000, 0, 1000}));
}

TEST(AtModifierVariantsTest, KeepsNumericAtReplacesStartEnd) {
  auto v = AtModifierVariants("a @ 100 + b @ start() + c @ end()", 60'000);
  ASSERT_TRUE(v.ok()) << v.status();
  const std::string& e = (*v)[0].expr;
  EXPECT_NE(e.find("a @ 100"), std::string::npos) << e;
  EXPECT_EQ(e.find("start()"), std::string::npos) << e;
  EXPECT_EQ(e.find("end()"), std::string::npos) << e;
}

TEST(AtModifierVariantsTest, SubqueryGetsAtButNotItsInside) {
  auto v = AtModifierVariants("max_over_time(rate(m[1m])[5m:1m])", 120'000);
  ASSERT_TRUE(v.ok()) << v.status();
  const std::string& e = (*v)[0].expr;
  EXPECT_NE(e.find("[5m:1m] @ 120"), std::string::npos) << e;
  EXPECT_EQ(e.find("m[1m] @"), std::string::npos) << e;
}

TEST(AtModifierVariantsTest, TimeDependentFunctionsHaveNone) {
  for (const char* q : {"time()", "timestamp(m)", "hour(m)", "predict_linear(m[5m], 60)"}) {
    auto v = AtModifierVariants(q, 60'000);
    ASSERT_TRUE(v.ok()) << q << ": " << v.status();
    EXPECT_TRUE(v->empty()) << q;
  }
  // Inside a subquery they are not looked at (as in test.go).
  auto v = AtModifierVariants("max_over_time(vector(time())[5m:1m])", 60'000);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_FALSE(v->empty());
}

TEST(SelectorMatchersTest, FindsAllSelectors) {
  auto m = SelectorMatchers(R"(sum(rate(a{x="1"}[5m])) / on() b + max_over_time(c[5m:1m]))");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->size(), 3u);
}

class ScriptRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() /
            ("promql-runner-test-" +
             std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::map<int, CaseResult> Run(std::string_view text) {
    promql::Engine engine(promql::EngineOptions{});
    ScriptRunner runner(&engine, {.storage_dir = dir_});
    std::map<int, CaseResult> out;
    absl::Status st = runner.Run(ParseScript(text), [&](const CaseResult& r) { out[r.line] = r; });
    EXPECT_TRUE(st.ok()) << st;
    return out;
  }

  std::string dir_;
};

TEST_F(ScriptRunnerTest, PassFailAndSkip) {
  auto r = Run(R"(load 1m
  m{a="1"} 1+1x10
  m{a="2"} 10+10x10
  h 1 {{schema:0 sum:1 count:1}}

eval instant at 5m m
  m{a="1"} 6
  m{a="2"} 60

eval instant at 5m m{a="1"}
  m{a="1"} 7

eval range from 0 to 2m step 1m sum(m)
  {} 11 22 33

eval instant at 5m h
  {} {{schema:0 sum:1 count:1}}

eval instant at 0 h
  h 1

eval instant at 5m count(h)
  {} 7

clear

eval instant at 5m m
)");
  ASSERT_EQ(r.size(), 7u);
  EXPECT_EQ(r[6].outcome, Outcome::kPass) << r[6].detail;
  EXPECT_EQ(r[10].outcome, Outcome::kFail);
  EXPECT_NE(r[10].detail.find("expected:"), std::string::npos) << r[10].detail;
  EXPECT_EQ(r[13].outcome, Outcome::kPass) << r[13].detail;
  EXPECT_EQ(r[16].outcome, Outcome::kSkip) << "expects a histogram";
  EXPECT_EQ(r[19].outcome, Outcome::kPass)
      << "reads a histogram series but its float sample answers: " << r[19].detail;
  EXPECT_EQ(r[22].outcome, Outcome::kSkip) << "reads a histogram series and fails without it";
  EXPECT_EQ(r[27].outcome, Outcome::kPass) << "clear empties the storage: " << r[27].detail;
}

TEST_F(ScriptRunnerTest, ExpectedFailuresAndAnnotations) {
  auto r = Run(R"(load 1m
  a{x="1"} 1
  b{x="1"} 2

eval instant at 0 label_replace({__name__=~"a|b"}, "__name__", "", "", "")
  expect fail

eval instant at 0 a
  expect fail

eval instant at 0 a
  expect ordered
  a{x="1"} 1
)");
  EXPECT_EQ(r[5].outcome, Outcome::kPass) << r[5].detail;
  EXPECT_EQ(r[8].outcome, Outcome::kFail) << "a fine query with expect fail";
  EXPECT_EQ(r[11].outcome, Outcome::kPass) << r[11].detail;
}

}  // namespace
}  // namespace meridian::promqltest
