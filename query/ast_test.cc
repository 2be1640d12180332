#include "query/ast.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "query/functions.h"
#include "query/lexer.h"

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
  for (BinOp op : {BinOp::kAdd, BinOp::kSub, BinOp::kMul, BinOp::kDiv, BinOp::kMod, BinOp::kPow, BinOp::kAtan2}) {
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
    const char* want;
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
      {std::numeric_limits<double>::infinity(), "+Inf"},
      {-std::numeric_limits<double>::infinity(), "-Inf"},
      {std::numeric_limits<double>::quiet_NaN(), "NaN"},
  };
  for (const Case& c : cases) EXPECT_EQ(Format(*Num(c.v)), c.want) << c.v;
  EXPECT_EQ(Format(*Num(5e-324)), "0." + std::string(323, '0') + "5");
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
  auto odd = Sel("", {*Matcher::Make(MatchType::kEqual, "__name__", "x:y"), *Matcher::Make(MatchType::kEqual, "a1", "")});
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
            "(quantile by (job, le, \"odd-label\") (0.99, rate(http_requests_total[1m]))[1h:] @ start() offset 1s) "
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

}  // namespace
}  // namespace meridian::promql
