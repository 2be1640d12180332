#include "query/ast.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "query/functions.h"
#include "query/lexer.h"
#include "query/parser.h"

namespace meridian::promql {
namespace {

TEST(AstNamesTest, ValueTypes) {
  EXPECT_EQ(ValueTypeName(ValueType::kScalar), "scalar");
  EXPECT_EQ(ValueTypeName(ValueType::kVector), "instant vector");
  EXPECT_EQ(ValueTypeName(ValueType::kMatrix), "range vector");
  EXPECT_EQ(ValueTypeName(ValueType::kString), "string");
  EXPECT_EQ(ValueTypeName(ValueType::kNone), "none");
  EXPECT_EQ(ValueTypeApiName(ValueType::kScalar), "scalar");
  EXPECT_EQ(ValueTypeApiName(ValueType::kVector), "vector");
  EXPECT_EQ(ValueTypeApiName(ValueType::kMatrix), "matrix");
  EXPECT_EQ(ValueTypeApiName(ValueType::kString), "string");
}

TEST(AstNamesTest, Operators) {
  EXPECT_EQ(AggOpName(AggOp::kSum), "sum");
  EXPECT_EQ(AggOpName(AggOp::kCountValues), "count_values");
  EXPECT_EQ(AggOpName(AggOp::kLimitK), "limitk");
  EXPECT_EQ(AggOpName(AggOp::kLimitRatio), "limit_ratio");
  EXPECT_EQ(BinOpName(BinOp::kAdd), "+");
  EXPECT_EQ(BinOpName(BinOp::kPow), "^");
  EXPECT_EQ(BinOpName(BinOp::kAtan2), "atan2");
  EXPECT_EQ(BinOpName(BinOp::kEql), "==");
  EXPECT_EQ(BinOpName(BinOp::kGte), ">=");
  EXPECT_EQ(BinOpName(BinOp::kUnless), "unless");
  for (BinOp op : {BinOp::kEql, BinOp::kNeq, BinOp::kGtr, BinOp::kLss, BinOp::kGte, BinOp::kLte}) {
    EXPECT_TRUE(IsComparison(op));
    EXPECT_FALSE(IsSetOperator(op));
  }
  for (BinOp op : {BinOp::kAnd, BinOp::kOr, BinOp::kUnless}) {
    EXPECT_TRUE(IsSetOperator(op));
    EXPECT_FALSE(IsComparison(op));
  }
  for (BinOp op : {BinOp::kAdd, BinOp::kSub, BinOp::kMul, BinOp::kDiv, BinOp::kMod, BinOp::kPow,
                   BinOp::kAtan2}) {
    EXPECT_FALSE(IsComparison(op));
    EXPECT_FALSE(IsSetOperator(op));
  }
}

std::unique_ptr<NumberLiteral> Num(double v) {
  auto n = std::make_unique<NumberLiteral>();
  n->value = v;
  return n;
}

std::unique_ptr<VectorSelector> Sel(std::string name, std::vector<Matcher> extra = {}) {
  auto vs = std::make_unique<VectorSelector>();
  vs->name = name;
  vs->matchers = std::move(extra);
  if (!name.empty()) vs->matchers.push_back(*Matcher::Make(MatchType::kEqual, "__name__", name));
  return vs;
}

TEST(FormatTest, Numbers) {
  struct Case {
    double v;
    std::string want;
  };
  const Case cases[] = {
      {0, "0"},
      {-0.0, "-0"},
      {1, "1"},
      {-1.5, "-1.5"},
      {0.1, "0.1"},
      {1e21, "1000000000000000000000"},
      {1e-7, "0.0000001"},
      {123456789.125, "123456789.125"},
      {1.0 / 3, "0.3333333333333333"},
      {1.2345678901234568e20, "123456789012345680000"},
      {-2.5e-5, "-0.000025"},
      {100, "100"},
      {1e100, "1" + std::string(100, '0')},
      {std::numeric_limits<double>::infinity(), "+Inf"},
      {-std::numeric_limits<double>::infinity(), "-Inf"},
      {std::numeric_limits<double>::quiet_NaN(), "NaN"},
  };
  for (const Case& c : cases) EXPECT_EQ(Format(*Num(c.v)), c.want) << c.v;
  EXPECT_EQ(Format(*Num(5e-324)), "0." + std::string(323, '0') + "5");
  EXPECT_EQ(Format(*Num(1.7976931348623157e308)), "17976931348623157" + std::string(292, '0'));
}

TEST(FormatTest, Durations) {
  EXPECT_EQ(FormatPromDuration(0), "0s");
  EXPECT_EQ(FormatPromDuration(1), "1ms");
  EXPECT_EQ(FormatPromDuration(1500), "1s500ms");
  EXPECT_EQ(FormatPromDuration(90 * 60 * 1000), "1h30m");
  EXPECT_EQ(FormatPromDuration(24 * 3600 * 1000LL), "1d");
  EXPECT_EQ(FormatPromDuration(7 * 24 * 3600 * 1000LL), "1w");
  EXPECT_EQ(FormatPromDuration(8 * 24 * 3600 * 1000LL), "8d");  // weeks only when exact
  EXPECT_EQ(FormatPromDuration(365 * 24 * 3600 * 1000LL), "1y");
  EXPECT_EQ(FormatPromDuration(366 * 24 * 3600 * 1000LL), "366d");
  EXPECT_EQ(FormatPromDuration(2 * 365 * 24 * 3600 * 1000LL), "2y");
  EXPECT_EQ(FormatPromDuration(3600 * 1000LL + 1), "1h1ms");
}

TEST(FormatTest, Strings) {
  auto s = std::make_unique<StringLiteral>();
  s->value = std::string("a\"b\\c\n\t\x01\x7f\xff") + "é\xe2\x80\xa8日";
  EXPECT_EQ(Format(*s), "\"a\\\"b\\\\c\\n\\t\\x01\\x7f\\xffé\\u2028日\"");
  EXPECT_EQ(GoQuote(""), "\"\"");
  EXPECT_EQ(GoQuote("\U0001F600"), "\"\U0001F600\"");
  EXPECT_EQ(GoQuote("\xc2\xa0"), "\"\\u00a0\"");
  EXPECT_EQ(GoQuoteRune('\''), "'\\''");
  EXPECT_EQ(GoQuoteRune('"'), "'\"'");
  EXPECT_EQ(GoQuoteRune(-1), "'\xef\xbf\xbd'");
  EXPECT_EQ(GoRuneU('q'), "U+0071 'q'");
  EXPECT_EQ(GoRuneU('\n'), "U+000A");
}

TEST(FormatTest, Selectors) {
  auto vs = Sel("foo", {*Matcher::Make(MatchType::kRegexMatch, "job", "a|b"),
                        *Matcher::Make(MatchType::kNotEqual, "a.b", "x\"y"),
                        *Matcher::Make(MatchType::kRegexNoMatch, "env", "")});
  vs->offset_ms = -90000;
  vs->at = AtKind::kTimestamp;
  vs->at_ms = -1500;
  EXPECT_EQ(Format(*vs), "foo{\"a.b\"!=\"x\\\"y\",env!~\"\",job=~\"a|b\"} @ -1.500 offset -1m30s");

  // A name matcher that differs from the name is printed; an empty one too.
  auto odd = Sel("", {*Matcher::Make(MatchType::kEqual, "__name__", "x:y"),
                      *Matcher::Make(MatchType::kEqual, "a1", "")});
  EXPECT_EQ(Format(*odd), "{__name__=\"x:y\",a1=\"\"}");

  auto m = std::make_unique<MatrixSelector>();
  m->selector = Sel("up");
  m->selector->offset_ms = 60000;
  m->selector->at = AtKind::kEnd;
  m->range_ms = 300000;
  EXPECT_EQ(Format(*m), "up[5m] @ end() offset 1m");
}

TEST(FormatTest, Composite) {
  auto call = std::make_unique<Call>();
  call->func = LookupFunction("rate");
  auto m = std::make_unique<MatrixSelector>();
  m->selector = Sel("http_requests_total");
  m->range_ms = 60000;
  call->args.push_back(std::move(m));

  auto agg = std::make_unique<AggregateExpr>();
  agg->op = AggOp::kQuantile;
  agg->param = Num(0.99);
  agg->expr = std::move(call);
  agg->grouping = {"job", "le", "odd-label"};
  agg->by = true;

  auto sq = std::make_unique<SubqueryExpr>();
  sq->expr = std::move(agg);
  sq->range_ms = 3600000;
  sq->step_ms = 0;
  sq->at = AtKind::kStart;
  sq->offset_ms = 1000;

  auto bin = std::make_unique<BinaryExpr>();
  bin->op = BinOp::kGtr;
  bin->return_bool = true;
  bin->lhs = std::make_unique<ParenExpr>();
  static_cast<ParenExpr&>(*bin->lhs).expr = std::move(sq);
  auto un = std::make_unique<UnaryExpr>();
  un->expr = Sel("x");
  bin->rhs = std::move(un);
  bin->matching = VectorMatching{Cardinality::kOneToMany, true, {"a"}, {"b", "c"}};

  EXPECT_EQ(Format(*bin),
            "(quantile by (job, le, \"odd-label\") (0.99, rate(http_requests_total[1m]))[1h:] @ "
            "start() offset 1s) "
            "> bool on (a) group_right (b, c) -x");

  auto inv = std::make_unique<StepInvariantExpr>();
  inv->expr = std::move(bin);
  EXPECT_EQ(Format(*inv).substr(0, 10), "(quantile ");

  auto without = std::make_unique<AggregateExpr>();
  without->op = AggOp::kCount;
  without->without = true;
  without->expr = Sel("y");
  EXPECT_EQ(Format(*without), "count without () (y)");
}

TEST(FormatTest, FunctionTableTypesMatchCalls) {
  for (const FunctionInfo& f : AllFunctions()) {
    Call c;
    c.func = &f;
    EXPECT_EQ(c.type(), f.return_type) << f.name;
    EXPECT_FALSE(f.name.empty());
  }
}

// Prometheus's prettier_test.go cases (maxCharactersPerLine = 10).
TEST(PrettyTest, PrometheusCases) {
  struct Case {
    const char* in;
    const char* out;
  };
  const Case cases[] = {
      {"sum(foo)", "sum(foo)"},
      {"sum by() (task:errors:rate10s{job=\"s\"})", "sum(\n  task:errors:rate10s{job=\"s\"}\n)"},
      {"sum without(job,foo) (task:errors:rate10s{job=\"s\"})",
       "sum without (job, foo) (\n  task:errors:rate10s{job=\"s\"}\n)"},
      {"topk(10, ask:errors:rate10s{job=\"s\"})",
       "topk(\n  10,\n  ask:errors:rate10s{job=\"s\"}\n)"},
      {"sum by(job,foo) # Comment 1.\n(sum by(job,foo) ( # Comment "
       "2.\ntask:errors:rate10s{job=\"s\"}))",
       "sum by (job, foo) (\n  sum by (job, foo) (\n    task:errors:rate10s{job=\"s\"}\n  )\n)"},
      {"a+b", "a + b"},
      {"a == bool 1", "  a\n== bool\n  1"},
      {"a + ignoring(job) b", "  a\n+ ignoring (job)\n  b"},
      {"foo_1 + foo_2 + foo_3", "    foo_1\n  +\n    foo_2\n+\n  foo_3"},
      {"foo + baar + foo_3", "  foo + baar\n+\n  foo_3"},
      {"foo_1 + ignoring(foo) foo_2 + ignoring(job) group_left foo_3 + on(instance) group_right "
       "foo_4",
       "      foo_1\n    + ignoring (foo)\n      foo_2\n  + ignoring (job) group_left ()\n    "
       "foo_3\n"
       "+ on (instance) group_right ()\n  foo_4"},
      {"rate(foo[1m])", "rate(\n  foo[1m]\n)"},
      {"rate(long_vector_selector[10m:1m] @ start() offset 1m)",
       "rate(\n  long_vector_selector[10m:1m] @ start() offset 1m\n)"},
      {"histogram_quantile(0.9, rate(foo[1m]))",
       "histogram_quantile(\n  0.9,\n  rate(\n    foo[1m]\n  )\n)"},
      {"max_over_time(rate(demo_api_request_duration_seconds_count[1m])[1m:] @ start() offset 1m)",
       "max_over_time(\n  rate(\n    demo_api_request_duration_seconds_count[1m]\n  )[1m:] @ "
       "start() offset 1m\n)"},
      {"(foo)", "(foo)"},
      {"((foo_long))", "(\n  (foo_long)\n)"},
      {"((_foo_long_))", "(\n  (\n    _foo_long_\n  )\n)"},
      {"a @ 1", "a @ 1.000"},
      {"vector_selector @ start()", "vector_selector @ start()"},
      {"(foo_long + bar_long + bar_2_long)",
       "(\n      foo_long\n    +\n      bar_long\n  +\n    bar_2_long\n)"},
      {"1 - ((node_memory_MemAvailable_bytes{job=\"node\"} or "
       "(node_memory_Buffers_bytes{job=\"node\"} + "
       "node_memory_Cached_bytes{job=\"node\"} + node_memory_MemFree_bytes{job=\"node\"} + "
       "node_memory_Slab_bytes{job=\"node\"}) ) / node_memory_MemTotal_bytes{job=\"node\"})",
       "  1\n-\n  (\n      (\n          node_memory_MemAvailable_bytes{job=\"node\"}\n        or\n "
       "         (\n"
       "                  node_memory_Buffers_bytes{job=\"node\"}\n                +\n"
       "                  node_memory_Cached_bytes{job=\"node\"}\n              +\n"
       "                node_memory_MemFree_bytes{job=\"node\"}\n            +\n"
       "              node_memory_Slab_bytes{job=\"node\"}\n          )\n      )\n    /\n"
       "      node_memory_MemTotal_bytes{job=\"node\"}\n  )"},
      {"(node_filesystem_avail_bytes{job=\"node\",fstype!=\"\"} / "
       "node_filesystem_size_bytes{job=\"node\",fstype!=\"\"} "
       "* 100 < 40 and predict_linear(node_filesystem_avail_bytes{job=\"node\",fstype!=\"\"}[6h], "
       "24*60*60) < 0 and "
       "node_filesystem_readonly{job=\"node\",fstype!=\"\"} == 0)",
       "(\n            node_filesystem_avail_bytes{fstype!=\"\",job=\"node\"}\n          /\n"
       "            node_filesystem_size_bytes{fstype!=\"\",job=\"node\"}\n        *\n          "
       "100\n      <\n"
       "        40\n    and\n        predict_linear(\n"
       "          node_filesystem_avail_bytes{fstype!=\"\",job=\"node\"}[6h],\n            24 * "
       "60\n          *\n"
       "            60\n        )\n      <\n        0\n  and\n      "
       "node_filesystem_readonly{fstype!=\"\",job=\"node\"}\n"
       "    ==\n      0\n)"},
      {"-1", "-1"},
      {"-vector_selector", "-vector_selector"},
      {"(-vector_selector)", "(\n  -vector_selector\n)"},
      {"-histogram_quantile(0.9, -rate(foo[1m] @ start()))",
       "-histogram_quantile(\n  0.9,\n  -rate(\n    foo[1m] @ start()\n  )\n)"},
  };
  for (const Case& c : cases) {
    auto e = ParseExpr(c.in);
    ASSERT_TRUE(e.ok()) << c.in << ": " << e.status();
    EXPECT_EQ(PrettyWithLineLimit(**e, 10), c.out) << c.in;
  }
}

TEST(PrettyTest, ShortExpressionsAreFormatted) {
  auto e = ParseExpr("sum by (job) (rate(foo{a=\"b\"}[5m] offset 1m))");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(Pretty(**e), Format(**e));
  std::string long_query =
      "sum by (job) "
      "(rate(http_requests_total{job=\"api-server\",handler=\"/api/v1/query_range/long\"}[5m]))";
  e = ParseExpr(long_query + " / 2");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(
      Pretty(**e),
      "  sum by (job) "
      "(rate(http_requests_total{handler=\"/api/v1/query_range/long\",job=\"api-server\"}[5m]))\n"
      "/\n  2");  // the 98-character aggregation stays on one line
}

}  // namespace
}  // namespace meridian::promql
