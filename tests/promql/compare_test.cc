#include "tests/promql/compare.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"
#include "model/sample.h"

namespace meridian::promqltest {
namespace {

Labels L(std::vector<Label> ls) { return Labels::FromUnsorted(std::move(ls)); }

EvalCmd ParseEval(std::string_view text) {
  Script s = ParseScript(text);
  EXPECT_EQ(s.commands.size(), 1u);
  return std::get<EvalCmd>(s.commands.at(0));
}

TEST(AlmostEqualTest, PrometheusSemantics) {
  EXPECT_TRUE(AlmostEqual(1, 1));
  EXPECT_TRUE(AlmostEqual(1, 1 + 1e-7));
  EXPECT_FALSE(AlmostEqual(1, 1 + 1e-5));
  EXPECT_TRUE(AlmostEqual(std::nan(""), std::nan("")));
  EXPECT_FALSE(AlmostEqual(std::nan(""), StaleNaN()));
  EXPECT_TRUE(AlmostEqual(StaleNaN(), StaleNaN()));
  EXPECT_FALSE(AlmostEqual(0, 1e-300));  // near zero the tolerance is absolute and tiny
  double inf = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(AlmostEqual(inf, inf));
  EXPECT_FALSE(AlmostEqual(inf, -inf));
}

TEST(CompareTest, Vector) {
  EvalCmd cmd = ParseEval("eval instant at 1m x\n  x{a=\"1\"} 1\n  x{a=\"2\"} 2\n");
  promql::Vector v = {{L({{"__name__", "x"}, {"a", "2"}}), 60000, 2},
                      {L({{"__name__", "x"}, {"a", "1"}}), 60000, 1}};
  EXPECT_TRUE(CompareResult(cmd, v).ok());
  v[0].v = 3;
  EXPECT_FALSE(CompareResult(cmd, v).ok());
  v.pop_back();
  v[0].v = 2;
  EXPECT_FALSE(CompareResult(cmd, v).ok()) << "missing series";
  v.push_back({L({{"__name__", "x"}, {"a", "1"}}), 60000, 1});
  v.push_back({L({{"__name__", "x"}, {"a", "3"}}), 60000, 1});
  EXPECT_FALSE(CompareResult(cmd, v).ok()) << "unexpected series";
  EXPECT_FALSE(CompareResult(cmd, promql::Scalar{0, 1}).ok());
}

TEST(CompareTest, OrderedVector) {
  EvalCmd cmd =
      ParseEval("eval instant at 1m x\n  expect ordered\n  x{a=\"2\"} 2\n  x{a=\"1\"} 1\n");
  promql::Vector v = {{L({{"a", "2"}, {"__name__", "x"}}), 0, 2},
                      {L({{"a", "1"}, {"__name__", "x"}}), 0, 1}};
  EXPECT_TRUE(CompareResult(cmd, v).ok());
  std::swap(v[0], v[1]);
  EXPECT_FALSE(CompareResult(cmd, v).ok());
  EXPECT_FALSE(CompareResult(cmd, promql::Matrix{}).ok()) << "ordered never matches a matrix";
}

TEST(CompareTest, RangeMatrix) {
  EvalCmd cmd = ParseEval("eval range from 0 to 2m step 1m x\n  x 1 _ 3\n");
  promql::Matrix m = {{L({{"__name__", "x"}}), {{0, 1}, {120000, 3}}}};
  EXPECT_TRUE(CompareResult(cmd, m).ok());
  m[0].points[1].t_ms = 60000;
  EXPECT_FALSE(CompareResult(cmd, m).ok()) << "wrong timestamp";
  m[0].points = {{0, 1}, {60000, 2}, {120000, 3}};
  EXPECT_FALSE(CompareResult(cmd, m).ok()) << "extra point";
  promql::Matrix unsorted = {{L({{"a", "2"}}), {}}, {L({{"a", "1"}}), {}}};
  EXPECT_FALSE(CheckMatrixSorted(unsorted).ok());
}

TEST(CompareTest, ScalarAndString) {
  EvalCmd sc = ParseEval("eval instant at 0 1 + 1\n  2\n");
  EXPECT_TRUE(CompareResult(sc, promql::Scalar{0, 2}).ok());
  EXPECT_FALSE(CompareResult(sc, promql::Scalar{0, 3}).ok());
  EXPECT_FALSE(CompareResult(sc, promql::Vector{}).ok());
  EvalCmd str = ParseEval("eval instant at 0 \"a\"\n  expect string \"a\"\n");
  EXPECT_TRUE(CompareResult(str, promql::String{0, "a"}).ok());
  EXPECT_FALSE(CompareResult(str, promql::String{0, "b"}).ok());
}

TEST(AnnotationsTest, ExpectLines) {
  EvalCmd cmd = ParseEval("eval instant at 0 x\n  expect warn msg: w1\n  expect no_info\n");
  EXPECT_TRUE(CheckAnnotations(cmd, {"w1"}, {}).ok());
  EXPECT_FALSE(CheckAnnotations(cmd, {}, {}).ok()) << "missing warning";
  EXPECT_FALSE(CheckAnnotations(cmd, {"w1", "w2"}, {}).ok()) << "unexpected warning";
  EXPECT_FALSE(CheckAnnotations(cmd, {"w1"}, {"i"}).ok()) << "no_info";
  EvalCmd plain = ParseEval("eval instant at 0 x\n");
  EXPECT_TRUE(CheckAnnotations(plain, {"w"}, {"i"}).ok()) << "plain eval ignores annotations";
  EvalCmd re =
      ParseEval("eval instant at 0 x\n  expect info regex: might not be a (counter|gauge)\n");
  EXPECT_TRUE(CheckAnnotations(re, {}, {"PromQL info: metric might not be a counter (1:1)"}).ok());
}

TEST(ExpectedFailureTest, Messages) {
  EvalCmd any = ParseEval("eval instant at 0 x\n  expect fail\n");
  EXPECT_TRUE(CheckExpectedFailure(any, "whatever").ok());
  EvalCmd msg = ParseEval("eval instant at 0 x\n  expect fail msg: exact text\n");
  EXPECT_TRUE(CheckExpectedFailure(msg, "exact text").ok());
  EXPECT_FALSE(CheckExpectedFailure(msg, "exact text!").ok());
  EvalCmd re = ParseEval("eval instant at 0 x\n  expect fail regex: same label ?set\n");
  EXPECT_TRUE(
      CheckExpectedFailure(re, "vector cannot contain metrics with the same labelset").ok());
  EvalCmd legacy = ParseEval("eval_fail instant at 0 x\n  expected_fail_regexp ^a.c$\n");
  EXPECT_TRUE(CheckExpectedFailure(legacy, "abc").ok());
  EXPECT_FALSE(CheckExpectedFailure(legacy, "abcd").ok());
}

}  // namespace
}  // namespace meridian::promqltest
