#include "tests/promql/script.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "gtest/gtest.h"
#include "model/sample.h"
#include "tests/promql/baseline.h"

namespace meridian::promqltest {
namespace {

std::vector<double> Floats(std::string_view seq) {
  auto vals = ParseSequence(seq);
  EXPECT_TRUE(vals.ok()) << seq << ": " << vals.status();
  std::vector<double> out;
  if (!vals.ok()) return out;
  for (const auto& v : *vals) out.push_back(v.omitted ? -999 : v.v);
  return out;
}

constexpr double kMissing = -999;

TEST(SequenceTest, Expansion) {
  struct Case {
    std::string_view seq;
    std::vector<double> want;
  };
  const Case cases[] = {
      {"1+2x3", {1, 3, 5, 7}},
      {"1x2", {1, 1, 1}},
      {"5 4 3", {5, 4, 3}},
      {"10-2x3", {10, 8, 6, 4}},
      {"-1-1x2", {-1, -2, -3}},
      {"-5+5x2", {-5, 0, 5}},
      {"+3x1", {3, 3}},
      {"_", {kMissing}},
      {"_x3", {kMissing, kMissing, kMissing}},
      {"1 _x2 4", {1, kMissing, kMissing, 4}},
      {"0+10x0", {0}},
      {"1e3 1.5e-1+1e-1x1", {1000, 0.15, 0.15 + 0.1}},
      {".5 0.25", {0.5, 0.25}},
      {"  1\t 2  ", {1, 2}},
      {"", {}},
  };
  for (const auto& c : cases) EXPECT_EQ(Floats(c.seq), c.want) << c.seq;
}

TEST(SequenceTest, AccumulatesByAddition) {
  // 0.1 added ten times is not 1.0 in binary; Prometheus's grammar adds.
  auto v = Floats("0+0.1x10");
  double acc = 0;
  for (int i = 0; i < 10; ++i) acc += 0.1;
  ASSERT_EQ(v.size(), 11u);
  EXPECT_EQ(v.back(), acc);
}

TEST(SequenceTest, SpecialValues) {
  auto vals = ParseSequence("stale NaN Inf -Inf +Inf nan -inf");
  ASSERT_TRUE(vals.ok()) << vals.status();
  ASSERT_EQ(vals->size(), 7u);
  EXPECT_TRUE(IsStaleNaN((*vals)[0].v));
  EXPECT_TRUE(std::isnan((*vals)[1].v));
  EXPECT_FALSE(IsStaleNaN((*vals)[1].v));
  EXPECT_EQ((*vals)[2].v, std::numeric_limits<double>::infinity());
  EXPECT_EQ((*vals)[3].v, -std::numeric_limits<double>::infinity());
  EXPECT_EQ((*vals)[4].v, std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan((*vals)[5].v));
  EXPECT_EQ((*vals)[6].v, -std::numeric_limits<double>::infinity());
}

TEST(SequenceTest, HistogramLiteralsCountPositions) {
  auto vals = ParseSequence(
      "1 {{schema:1 sum:3 count:22 buckets:[5 10 7]}} {{count:1}}x2 "
      "{{sum:1}}+{{sum:2}}x1 4");
  ASSERT_TRUE(vals.ok()) << vals.status();
  ASSERT_EQ(vals->size(), 1u + 1 + 3 + 2 + 1);
  EXPECT_FALSE((*vals)[0].histogram);
  for (size_t i = 1; i < 7; ++i) EXPECT_TRUE((*vals)[i].histogram) << i;
  EXPECT_EQ((*vals)[7].v, 4);
}

TEST(SequenceTest, Errors) {
  for (std::string_view bad : {"1+", "1x", "abc", "1+2", "_x", "stalex3", "{{count:1", "1 2x3y"}) {
    EXPECT_FALSE(ParseSequence(bad).ok()) << bad;
  }
}

TEST(DurationTest, Parse) {
  EXPECT_EQ(*ParseDurationMs("0"), 0);
  EXPECT_EQ(*ParseDurationMs("1h30m"), 5'400'000);
  EXPECT_EQ(*ParseDurationMs("100ms"), 100);
  EXPECT_EQ(*ParseDurationMs("9m10s"), 550'000);
  EXPECT_EQ(*ParseDurationMs("1d"), 86'400'000);
  EXPECT_EQ(*ParseDurationMs("2w"), 14 * 86'400'000LL);
  EXPECT_EQ(*ParseDurationMs("1y"), 365 * 86'400'000LL);
  EXPECT_EQ(*ParseDurationMs("1m1s1ms"), 61'001);
  for (std::string_view bad : {"", "1", "m", "1x", "30m1h", "1m1m", "-1m", "1.5m"}) {
    EXPECT_FALSE(ParseDurationMs(bad).ok()) << bad;
  }
}

TEST(SeriesLineTest, Labels) {
  auto s = ParseSeriesLine(
      R"(http_requests{job="api-server", instance="0", group='production',} 0+10x2)");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->labels.ToString(),
            R"(http_requests{group="production", instance="0", job="api-server"})");
  EXPECT_EQ(s->values.size(), 3u);

  s = ParseSeriesLine(R"({__name__="a:b", x="y\"z\n"} 1)");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->labels.MetricName(), "a:b");
  EXPECT_EQ(s->labels.Get("x"), "y\"z\n");

  s = ParseSeriesLine(R"({"utf8.metric", "odd label"="v"} 1)");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->labels.MetricName(), "utf8.metric");
  EXPECT_EQ(s->labels.Get("odd label"), "v");

  s = ParseSeriesLine("{} 3");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->labels.empty());

  s = ParseSeriesLine("metric");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->values.empty());

  EXPECT_FALSE(ParseSeriesLine(R"(m{a="b" 1)").ok());
  EXPECT_FALSE(ParseSeriesLine(R"(m{a=b} 1)").ok());
}

TEST(NumberTest, GoSemantics) {
  EXPECT_EQ(*ParseNumber("12"), 12);
  EXPECT_EQ(*ParseNumber("-3.5"), -3.5);
  EXPECT_EQ(*ParseNumber("0x10"), 16);
  EXPECT_EQ(*ParseNumber("010"), 8);  // ParseInt base 0: octal
  EXPECT_EQ(*ParseNumber("1e3"), 1000);
  EXPECT_EQ(*ParseNumber("+Inf"), std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(*ParseNumber("NaN")));
  EXPECT_FALSE(ParseNumber("{} 1").has_value());
  EXPECT_FALSE(ParseNumber("foo").has_value());
  EXPECT_FALSE(ParseNumber("abc").has_value());
  EXPECT_FALSE(ParseNumber("").has_value());
}

TEST(UnquoteTest, GoEscapes) {
  EXPECT_EQ(*UnquoteGo(R"("a\tb\\\"")"), "a\tb\\\"");
  EXPECT_EQ(*UnquoteGo("`raw\\n`"), "raw\\n");
  EXPECT_EQ(*UnquoteGo(R"('it\'s')"), "it's");
  EXPECT_EQ(*UnquoteGo(R"("\xc5\u00e9\101")"),
            "\xc5\xc3\xa9"
            "A");
  EXPECT_FALSE(UnquoteGo(R"("a)").ok());
  EXPECT_FALSE(UnquoteGo(R"("\q")").ok());
}

const EvalCmd& EvalAt(const Script& s, size_t i) { return std::get<EvalCmd>(s.commands.at(i)); }

TEST(ScriptTest, LoadClearEval) {
  Script s = ParseScript(R"(# comment
load 5m
  a{x="1"} 1+1x3
  b 0 _ stale

eval instant at 10m a
  a{x="1"} 3

clear
eval range from 0 to 10m step 5m sum(a)
  {} 1 2 _

eval instant at 1m 2 * 3
  6
)");
  ASSERT_EQ(s.commands.size(), 5u);
  const auto& load = std::get<LoadCmd>(s.commands[0]);
  EXPECT_EQ(load.line, 2);
  EXPECT_EQ(load.interval_ms, 300'000);
  ASSERT_EQ(load.series.size(), 2u);
  EXPECT_TRUE(load.series[1].values[1].omitted);
  EXPECT_TRUE(IsStaleNaN(load.series[1].values[2].v));

  const auto& e1 = EvalAt(s, 1);
  EXPECT_EQ(e1.line, 6);
  EXPECT_FALSE(e1.is_range);
  EXPECT_EQ(e1.eval_ms, 600'000);
  EXPECT_EQ(e1.expr, "a");
  ASSERT_EQ(e1.series.size(), 1u);
  EXPECT_EQ(e1.series[0].pos, 1);

  EXPECT_TRUE(std::holds_alternative<ClearCmd>(s.commands[2]));
  const auto& e2 = EvalAt(s, 3);
  EXPECT_TRUE(e2.is_range);
  EXPECT_EQ(e2.start_ms, 0);
  EXPECT_EQ(e2.end_ms, 600'000);
  EXPECT_EQ(e2.step_ms, 300'000);
  EXPECT_EQ(e2.expr, "sum(a)");
  ASSERT_EQ(e2.series.size(), 1u);
  EXPECT_TRUE(e2.series[0].labels.empty());
  EXPECT_EQ(e2.series[0].values.size(), 3u);

  const auto& e3 = EvalAt(s, 4);
  EXPECT_TRUE(e3.expect_scalar);
  EXPECT_EQ(e3.scalar, 6);
}

TEST(ScriptTest, RangeExprContainingKeywords) {
  Script s = ParseScript(
      "eval range from 1m to 2m step 30s label_replace(a, \"to\", \"step\", \"x\", \"y\")\n");
  const auto& e = EvalAt(s, 0);
  EXPECT_EQ(e.start_ms, 60'000);
  EXPECT_EQ(e.end_ms, 120'000);
  EXPECT_EQ(e.step_ms, 30'000);
  EXPECT_EQ(e.expr, "label_replace(a, \"to\", \"step\", \"x\", \"y\")");
}

TEST(ScriptTest, ExpectLines) {
  Script s = ParseScript(R"(eval instant at 1m foo
  expect fail msg: vector cannot contain metrics with the same labelset

eval instant at 1m bar
  expect fail regex: bad.*thing

eval instant at 1m baz
  expect warn
  expect info msg: PromQL info: metric might not be a counter (1:6)
  expect no_warn
  x 1

eval instant at 1m qux
  expect ordered
  expect no_info
  b 2
  a 1

eval_fail instant at 1m q
  expected_fail_message some error

eval_ordered instant at 1m q2
)");
  ASSERT_EQ(s.commands.size(), 6u);
  const auto& fail = EvalAt(s, 0);
  EXPECT_TRUE(fail.IsFail());
  ASSERT_EQ(fail.expects.size(), 1u);
  EXPECT_EQ(fail.expects[0].message, "vector cannot contain metrics with the same labelset");

  const auto& re = EvalAt(s, 1);
  ASSERT_EQ(re.expects.size(), 1u);
  EXPECT_EQ(re.expects[0].regex, "bad.*thing");

  // warn + no_warn together is invalid.
  EXPECT_TRUE(std::holds_alternative<ParseErrorCmd>(s.commands[2]));

  const auto& ord = EvalAt(s, 3);
  EXPECT_TRUE(ord.IsOrdered());
  ASSERT_EQ(ord.series.size(), 2u);
  EXPECT_EQ(ord.series[0].pos, 1);
  EXPECT_EQ(ord.series[1].pos, 2);

  const auto& legacy = EvalAt(s, 4);
  EXPECT_TRUE(legacy.IsFail());
  EXPECT_EQ(legacy.expected_fail_message, "some error");
  EXPECT_TRUE(EvalAt(s, 5).IsOrdered());
}

TEST(ScriptTest, ExpectRangeVectorAndString) {
  Script s = ParseScript(R"(eval instant at 1m some_metric[1m]
  expect range vector from 10s to 1m step 10s
  some_metric{env="a"} 2 3 4 5 6

eval instant at 50m "Foo"
	expect string `Foo`

eval instant at 1m m
  m 1 2
)");
  const auto& rv = EvalAt(s, 0);
  EXPECT_TRUE(rv.exclude_from_range_query);
  EXPECT_EQ(rv.start_ms, 10'000);
  EXPECT_EQ(rv.end_ms, 60'000);
  EXPECT_EQ(rv.step_ms, 10'000);
  ASSERT_EQ(rv.series.size(), 1u);
  EXPECT_EQ(rv.series[0].values.size(), 5u);
  const auto& str = EvalAt(s, 1);
  EXPECT_EQ(str.expected_string, "Foo");
  EXPECT_TRUE(str.exclude_from_range_query);
  // Several values in an instant eval need `expect range vector`.
  EXPECT_TRUE(std::holds_alternative<ParseErrorCmd>(s.commands[2]));
}

TEST(ScriptTest, CommentEndsBlockAndHistogramsAreFlagged) {
  Script s = ParseScript(R"(load 1m
  a 1 2
# a comment ends the block
  b 3

load_with_nhcb 1m
  h_bucket{le="1"} 1 {{count:1}}

eval instant at 1m h
  {} {{count:1}}
)");
  ASSERT_GE(s.commands.size(), 4u);
  EXPECT_EQ(std::get<LoadCmd>(s.commands[0]).series.size(), 1u);
  // `b 3` after the comment is not a command.
  EXPECT_TRUE(std::holds_alternative<ParseErrorCmd>(s.commands[1]));
  const auto& nhcb = std::get<LoadCmd>(s.commands[2]);
  EXPECT_TRUE(nhcb.with_nhcb);
  EXPECT_TRUE(nhcb.series[0].has_histogram);
  EXPECT_TRUE(EvalAt(s, 3).expects_histogram);
}

TEST(ScriptTest, DuplicateExpectedSeriesLastWins) {
  Script s = ParseScript("eval instant at 0 a\n  a 1\n  a 2\n");
  const auto& e = EvalAt(s, 0);
  ASSERT_EQ(e.series.size(), 1u);
  EXPECT_EQ(e.series[0].values[0].v, 2);
}

TEST(BaselineTest, RoundTrip) {
  auto b = ParseBaseline("# header\n\nfunctions.test:12 reason one\nat_modifier.test:3\n");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->Contains("functions.test:12"));
  EXPECT_TRUE(b->Contains("at_modifier.test:3"));
  EXPECT_FALSE(b->Contains("functions.test:13"));
  EXPECT_FALSE(ParseBaseline("no-line-number reason\n").ok());
  std::string text = FormatBaseline({{"a.test:10", "x"}, {"a.test:9", "y"}});
  EXPECT_LT(text.find("a.test:9 y"), text.find("a.test:10 x"));
  EXPECT_TRUE(ParseBaseline(text).ok());
}

// Every command of Prometheus's own scripts must parse (start_timestamps.test
// uses `@st` lines, which this runner does not support; that file is skipped).
TEST(TestdataTest, AllScriptsParse) {
  const char* env = std::getenv("MERIDIAN_PROMQL_TESTDATA");
  std::filesystem::path dir =
      env != nullptr && *env != '\0' ? env : MERIDIAN_PROMQL_TESTDATA_DEFAULT;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    GTEST_SKIP() << "promql testdata not found at " << dir;
  int files = 0, evals = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".test") continue;
    ++files;
    std::ifstream in(entry.path());
    std::stringstream ss;
    ss << in.rdbuf();
    Script s = ParseScript(ss.str());
    for (const auto& c : s.commands) {
      evals += std::holds_alternative<EvalCmd>(c);
      if (const auto* e = std::get_if<ParseErrorCmd>(&c)) {
        if (entry.path().filename() == "start_timestamps.test") continue;
        ADD_FAILURE() << entry.path().filename() << ":" << e->line << ": " << e->message;
      }
    }
  }
  EXPECT_GT(files, 10);
  EXPECT_GT(evals, 1000);
}

}  // namespace
}  // namespace meridian::promqltest
