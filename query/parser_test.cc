#include "query/parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "query/functions.h"
#include "query/lexer.h"

namespace meridian::promql {
namespace {

std::string ParseAndFormat(std::string_view q, const ParseOptions& opts = {}) {
  auto e = ParseExpr(q, opts);
  if (!e.ok()) return "ERROR: " + std::string(e.status().message());
  return Format(**e);
}

std::string ParseError(std::string_view q, const ParseOptions& opts = {}) {
  auto e = ParseExpr(q, opts);
  if (e.ok()) return "OK: " + Format(**e);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << q;
  return std::string(e.status().message());
}

template <typename T>
const T& As(const Expr& e) {
  return static_cast<const T&>(e);
}

// Dismantles a (possibly very deep) tree without recursion.
void DestroyIteratively(ExprPtr root) {
  std::vector<ExprPtr> stack;
  stack.push_back(std::move(root));
  while (!stack.empty()) {
    ExprPtr e = std::move(stack.back());
    stack.pop_back();
    switch (e->kind) {
      case ExprKind::kBinary: {
        auto& b = static_cast<BinaryExpr&>(*e);
        stack.push_back(std::move(b.lhs));
        stack.push_back(std::move(b.rhs));
        break;
      }
      case ExprKind::kParen:
        stack.push_back(std::move(static_cast<ParenExpr&>(*e).expr));
        break;
      case ExprKind::kUnary:
        stack.push_back(std::move(static_cast<UnaryExpr&>(*e).expr));
        break;
      default:
        break;
    }
  }
}

// ---------------------------------------------------------------------------
// Round trips: input -> Prometheus's canonical form (format_query).

struct RoundTrip {
  const char* in;
  const char* out;
};

class RoundTripTest : public testing::TestWithParam<RoundTrip> {};

TEST_P(RoundTripTest, Formats) {
  EXPECT_EQ(ParseAndFormat(GetParam().in), GetParam().out) << GetParam().in;
}

INSTANTIATE_TEST_SUITE_P(
    Parser, RoundTripTest,
    testing::Values(
        // Literals.
        RoundTrip{"1", "1"}, RoundTrip{"1.5", "1.5"}, RoundTrip{".5", "0.5"}, RoundTrip{"5.", "5"},
        RoundTrip{"1e3", "1000"}, RoundTrip{"1E-3", "0.001"}, RoundTrip{"0x1F", "31"},
        RoundTrip{"0X_1f", "31"}, RoundTrip{"010", "8"}, RoundTrip{"08", "8"},
        RoundTrip{"1_000", "1000"}, RoundTrip{"1e21", "1000000000000000000000"},
        RoundTrip{"1e-7", "0.0000001"}, RoundTrip{"Inf", "+Inf"}, RoundTrip{"inF", "+Inf"},
        RoundTrip{"-Inf", "-Inf"}, RoundTrip{"NaN", "NaN"}, RoundTrip{"nan", "NaN"},
        RoundTrip{"-1", "-1"}, RoundTrip{"+1", "1"}, RoundTrip{"- - 1", "1"},
        RoundTrip{"-(1)", "-(1)"}, RoundTrip{"5m", "300"}, RoundTrip{"1h30m", "5400"},
        RoundTrip{"100ms", "0.1"}, RoundTrip{"-5m", "-300"},
        RoundTrip{"99999999999999999999", "100000000000000000000"},
        RoundTrip{"0.1 + 0.2", "0.1 + 0.2"},
        RoundTrip{R"("a\n\t\\\"\x41\u00e9\U0001F600\101")", R"("a\n\t\\\"Aé😀A")"},
        RoundTrip{R"('it\'s "q"')", R"("it's \"q\"")"},
        RoundTrip{R"(`raw\n"x"`)", R"("raw\\n\"x\"")"},
        RoundTrip{R"("\a\b\f\r\v\x00\x7f\xff")", R"("\a\b\f\r\v\x00\x7f\xff")"},
        // Selectors.
        RoundTrip{"foo", "foo"}, RoundTrip{"foo:bar_baz", "foo:bar_baz"}, RoundTrip{":foo", ":foo"},
        RoundTrip{R"(foo{a="b"})", R"(foo{a="b"})"},
        RoundTrip{R"(foo{c!="d", a=~"b.*" , e!~'f',})", R"(foo{a=~"b.*",c!="d",e!~"f"})"},
        RoundTrip{R"({__name__="foo"})", R"({__name__="foo"})"},
        RoundTrip{R"({__name__=~"foo|bar"})", R"({__name__=~"foo|bar"})"},
        RoundTrip{R"({"my.metric"})", R"({__name__="my.metric"})"},
        RoundTrip{R"({"my.metric", "some.label"="v"})",
                  R"({"some.label"="v",__name__="my.metric"})"},
        RoundTrip{R"(foo{"a"="b"})", R"(foo{a="b"})"},
        RoundTrip{R"(foo{a="new\nline"})", R"(foo{a="new\nline"})"},
        RoundTrip{R"({__name__="", a="b"})", R"({__name__="",a="b"})"},
        // Keywords as metric names and label names.
        RoundTrip{"sum", "sum"}, RoundTrip{"sum + avg", "sum + avg"}, RoundTrip{"by", "by"},
        RoundTrip{"offset", "offset"}, RoundTrip{"without{a=\"b\"}", "without{a=\"b\"}"},
        RoundTrip{"start + end", "start + end"}, RoundTrip{"foo and and", "foo and and"},
        RoundTrip{"count{a=\"b\"}", "count{a=\"b\"}"},
        RoundTrip{R"(foo{by="x", offset="y", on="z", bool="w"})",
                  R"(foo{bool="w",by="x",offset="y",on="z"})"},
        RoundTrip{"sum by (by, offset, on, bool, group_left, atan2, sum) (x)",
                  "sum by (by, offset, on, bool, group_left, atan2, sum) (x)"},
        RoundTrip{"SUM BY (Job) (X)", "sum by (Job) (X)"},
        // Ranges, offsets, @.
        RoundTrip{"foo[5m]", "foo[5m]"}, RoundTrip{"foo[1h30m]", "foo[1h30m]"},
        RoundTrip{"foo[90m]", "foo[1h30m]"}, RoundTrip{"foo[1y]", "foo[1y]"},
        RoundTrip{"foo[2w]", "foo[2w]"}, RoundTrip{"foo[14d]", "foo[2w]"},
        RoundTrip{"foo[10d]", "foo[10d]"}, RoundTrip{"foo[100ms]", "foo[100ms]"},
        RoundTrip{"foo[1500ms]", "foo[1s500ms]"}, RoundTrip{"foo[5]", "foo[5s]"},
        RoundTrip{"foo[1.5]", "foo[1s500ms]"}, RoundTrip{"foo[ 5m ]", "foo[5m]"},
        RoundTrip{"foo offset 5m", "foo offset 5m"}, RoundTrip{"foo OFFSET -5m", "foo offset -5m"},
        RoundTrip{"foo offset 5", "foo offset 5s"}, RoundTrip{"foo offset 0s", "foo"},
        RoundTrip{"foo[5m] offset 1w", "foo[5m] offset 1w"},
        RoundTrip{"foo @ 1609746000", "foo @ 1609746000.000"},
        RoundTrip{"foo @ 1.5", "foo @ 1.500"}, RoundTrip{"foo @ -10", "foo @ -10.000"},
        RoundTrip{"foo @ +10", "foo @ 10.000"}, RoundTrip{"foo @ 1m", "foo @ 60.000"},
        RoundTrip{"foo @ 0.0005", "foo @ 0.001"}, RoundTrip{"foo @ start()", "foo @ start()"},
        RoundTrip{"foo @ end()", "foo @ end()"},
        // start(), end(), step() and range() (experimental): scalar functions of
        // the query's time range; start and end alone stay metric names.
        RoundTrip{"start()", "start()"}, RoundTrip{"end( )", "end()"},
        RoundTrip{"step()", "step()"}, RoundTrip{"range()", "range()"},
        RoundTrip{"end() - start()", "end() - start()"},
        RoundTrip{"(end() + start()) / 2", "(end() + start()) / 2"},
        RoundTrip{"vector(start())", "vector(start())"},
        RoundTrip{"metric * step()", "metric * step()"},
        RoundTrip{"start() + range()", "start() + range()"},
        RoundTrip{"foo @ start() + end()", "foo @ start() + end()"},
        RoundTrip{"start{a=\"b\"} + end", "start{a=\"b\"} + end"},
        // min_of, max_of and histogram_quantiles (experimental).
        RoundTrip{"min_of(3, 5)", "min_of(3, 5)"}, RoundTrip{"max_of(-2, -5)", "max_of(-2, -5)"},
        RoundTrip{"min_of(NaN, step())", "min_of(NaN, step())"},
        RoundTrip{"histogram_quantiles(foo, \"q\", 0.1, 0.5)",
                  "histogram_quantiles(foo, \"q\", 0.1, 0.5)"},
        RoundTrip{"histogram_quantiles(rate(foo_bucket[5m]), \"q\", 0.9)",
                  "histogram_quantiles(rate(foo_bucket[5m]), \"q\", 0.9)"},
        RoundTrip{"foo offset 1m @ 10", "foo @ 10.000 offset 1m"},
        RoundTrip{"foo @ 10 offset 1m", "foo @ 10.000 offset 1m"},
        RoundTrip{"foo[5m] @ 10 offset 1m", "foo[5m] @ 10.000 offset 1m"},
        RoundTrip{"foo[5m] offset 1m @ end()", "foo[5m] @ end() offset 1m"},
        // Subqueries.
        RoundTrip{"foo[30m:1m]", "foo[30m:1m]"}, RoundTrip{"foo[30m:]", "foo[30m:]"},
        RoundTrip{"foo[30m:0s]", "foo[30m:]"},
        RoundTrip{"rate(foo[5m])[30m:1m] offset 1h @ end()",
                  "rate(foo[5m])[30m:1m] @ end() offset 1h"},
        RoundTrip{"(foo + bar)[5m:]", "(foo + bar)[5m:]"},
        RoundTrip{"foo[5m:][10m:1m]",
                  "ERROR: 1:1: parse error: subquery is only allowed on instant vector, got matrix "
                  "instead"},
        RoundTrip{"min_over_time(rate(foo[5m])[30m:1m] @ 100)",
                  "min_over_time(rate(foo[5m])[30m:1m] @ 100.000)"},
        // Operators and precedence (parentheses are kept as written).
        RoundTrip{"1 + 2 * 3", "1 + 2 * 3"}, RoundTrip{"(1 + 2) * 3", "(1 + 2) * 3"},
        RoundTrip{"-2^2", "-2 ^ 2"}, RoundTrip{"2^3^2", "2 ^ 3 ^ 2"},
        RoundTrip{"a atan2 b", "a atan2 b"}, RoundTrip{"a % b", "a % b"},
        RoundTrip{"a == bool b", "a == bool b"}, RoundTrip{"1 < bool 2", "1 < bool 2"},
        RoundTrip{"a and on(b) c", "a and on (b) c"},
        RoundTrip{"a or ignoring(b, c) d", "a or ignoring (b, c) d"},
        RoundTrip{"a unless on() b", "a unless on () b"},
        RoundTrip{"a + on(b) group_left(c) d", "a + on (b) group_left (c) d"},
        RoundTrip{"a + on(b) group_left d", "a + on (b) group_left () d"},
        RoundTrip{"a - ignoring(b) group_right(c, e) d", "a - ignoring (b) group_right (c, e) d"},
        RoundTrip{"a > bool on(b) c", "a > bool on (b) c"},
        RoundTrip{"a + ignoring() b",
                  "a + b"},  // Prometheus prints nothing for an empty ignoring()
        RoundTrip{"1 + on() 2", "1 + 2"}, RoundTrip{"-foo", "-foo"}, RoundTrip{"+foo", "foo"},
        RoundTrip{"- foo offset 5m", "-foo offset 5m"}, RoundTrip{"1 - -1", "1 - -1"},
        // Functions and aggregations.
        RoundTrip{"rate(foo[5m])", "rate(foo[5m])"}, RoundTrip{"time()", "time()"},
        RoundTrip{"label_join(a, \"b\", \",\", \"c\", \"d\", \"e\")",
                  "label_join(a, \"b\", \",\", \"c\", \"d\", \"e\")"},
        RoundTrip{"round(foo)", "round(foo)"}, RoundTrip{"round(foo, 5)", "round(foo, 5)"},
        RoundTrip{"sum(foo)", "sum(foo)"}, RoundTrip{"sum by (job) (foo)", "sum by (job) (foo)"},
        RoundTrip{"sum(foo) by (job)", "sum by (job) (foo)"},
        RoundTrip{"sum without (a, b) (foo)", "sum without (a, b) (foo)"},
        RoundTrip{"sum(foo) without ()", "sum without () (foo)"},
        RoundTrip{"sum by () (foo)", "sum(foo)"},
        RoundTrip{"sum by (a,) (foo)", "sum by (a) (foo)"},
        RoundTrip{"max by (\"foo.bar\", job) (x)", "max by (\"foo.bar\", job) (x)"},
        RoundTrip{"topk(3, foo) by (a)", "topk by (a) (3, foo)"},
        RoundTrip{"bottomk(3, foo)", "bottomk(3, foo)"},
        RoundTrip{"quantile(0.9, foo)", "quantile(0.9, foo)"},
        RoundTrip{"count_values(\"v\", foo)", "count_values(\"v\", foo)"},
        RoundTrip{"limitk(2, foo)", "limitk(2, foo)"},
        RoundTrip{"limit_ratio(0.5, foo)", "limit_ratio(0.5, foo)"},
        RoundTrip{"group(foo)", "group(foo)"}, RoundTrip{"stddev(foo)", "stddev(foo)"},
        RoundTrip{"stdvar(foo)", "stdvar(foo)"},
        RoundTrip{"sum by (job) (rate(foo{a=\"b\"}[5m] offset 1m))",
                  "sum by (job) (rate(foo{a=\"b\"}[5m] offset 1m))"},
        RoundTrip{"histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))",
                  "histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))"},
        RoundTrip{"absent(nonexistent{job=\"x\"})", "absent(nonexistent{job=\"x\"})"},
        RoundTrip{"info(foo, {a=\"b\"})", "info(foo, {a=\"b\"})"},
        RoundTrip{"vector(1) + scalar(foo)", "vector(1) + scalar(foo)"},
        // Comments and whitespace.
        RoundTrip{"1 + # a comment\n 2", "1 + 2"}, RoundTrip{"# c\nfoo", "foo"},
        RoundTrip{"foo{a=\"b\", # inside braces\n c=\"d\"}", "foo{a=\"b\",c=\"d\"}"},
        RoundTrip{"\tsum (\n  foo\n)\r\n", "sum(foo)"}));

// ---------------------------------------------------------------------------
// Tree shape: precedence and associativity.

TEST(ParserTest, PrecedenceShapes) {
  struct Case {
    const char* in;
    const char* parenthesized;
  };
  // Prints the tree with explicit parentheses around every binary/unary node.
  std::function<std::string(const Expr&)> show = [&](const Expr& e) -> std::string {
    switch (e.kind) {
      case ExprKind::kBinary: {
        const auto& b = As<BinaryExpr>(e);
        std::string o = "(";  // appends: `"(" + std::string` trips GCC 12's -Wrestrict at -O3
        o += show(*b.lhs);
        o += " ";
        o += BinOpName(b.op);
        o += " ";
        o += show(*b.rhs);
        return o + ")";
      }
      case ExprKind::kUnary:
        return "(-" + show(*As<UnaryExpr>(e).expr) + ")";
      default:
        return Format(e);
    }
  };
  const Case cases[] = {
      {"a or b and c", "(a or (b and c))"},
      {"a and b or c", "((a and b) or c)"},
      {"a unless b and c", "((a unless b) and c)"},
      {"a or b == c", "(a or (b == c))"},
      {"a == b + c", "(a == (b + c))"},
      {"a + b * c", "(a + (b * c))"},
      {"a - b - c", "((a - b) - c)"},
      {"a / b * c % d", "(((a / b) * c) % d)"},
      {"a * b atan2 c", "((a * b) atan2 c)"},
      {"a ^ b ^ c", "(a ^ (b ^ c))"},
      {"a * b ^ c", "(a * (b ^ c))"},
      {"-a ^ b", "(-(a ^ b))"},
      {"-a * b", "((-a) * b)"},
      {"-a + b", "((-a) + b)"},
      {"a ^ -b ^ c", "(a ^ (-(b ^ c)))"},
      {"2 ^ -3 * 4", "((2 ^ -3) * 4)"},
      {"-2 ^ 2", "(-(2 ^ 2))"},
      {"a > b < c", "((a > b) < c)"},
      {"a + b offset 5m", "(a + b offset 5m)"},
      {"-a offset 5m", "(-a offset 5m)"},
  };
  for (const Case& c : cases) {
    auto e = ParseExpr(c.in);
    ASSERT_TRUE(e.ok()) << c.in << ": " << e.status();
    EXPECT_EQ(show(**e), c.parenthesized) << c.in;
  }
}

TEST(ParserTest, NumberFolding) {
  auto e = ParseExpr("-2^2");
  ASSERT_TRUE(e.ok());
  ASSERT_EQ((*e)->kind, ExprKind::kUnary);
  EXPECT_TRUE(As<UnaryExpr>(**e).negate);

  e = ParseExpr("-5");
  ASSERT_TRUE(e.ok());
  ASSERT_EQ((*e)->kind, ExprKind::kNumber);
  EXPECT_EQ(As<NumberLiteral>(**e).value, -5);
  EXPECT_EQ((*e)->pos.start, 0);

  e = ParseExpr("+foo");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->kind, ExprKind::kVectorSelector);  // unary '+' folded away

  e = ParseExpr("(1)");
  ASSERT_TRUE(e.ok());
  ASSERT_EQ((*e)->kind, ExprKind::kParen);
  EXPECT_EQ((*e)->type(), ValueType::kScalar);
}

TEST(ParserTest, NumberValues) {
  struct Case {
    const char* in;
    double want;
  };
  const Case cases[] = {
      {"0x10", 16},
      {"0xff", 255},
      {"017", 15},
      {"019", 19},
      {"1_0_0", 100},
      {"1.5e2", 150},
      {"9007199254740993", 9007199254740992},
      {"1e-400", 0},
      {"2m", 120},
      {"1s100ms", 1.1},
      {"1y", 31536000},
  };
  for (const Case& c : cases) {
    auto e = ParseExpr(c.in);
    ASSERT_TRUE(e.ok()) << c.in << ": " << e.status();
    ASSERT_EQ((*e)->kind, ExprKind::kNumber) << c.in;
    EXPECT_DOUBLE_EQ(As<NumberLiteral>(**e).value, c.want) << c.in;
  }
  auto e = ParseExpr("NaN");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(std::isnan(As<NumberLiteral>(**e).value));
}

TEST(ParserTest, StringEscapes) {
  struct Case {
    const char* in;
    std::string want;
  };
  const Case cases[] = {
      {R"("\n\t\\\"")", "\n\t\\\""},
      {R"("\x41\x7a")", "Az"},
      {R"("\u00e9")", "\xc3\xa9"},
      {R"("\U0001F600")", "\xf0\x9f\x98\x80"},
      {R"("\101\060")", "A0"},
      {R"("\377")", std::string("\xff")},
      {R"("\xff")", std::string("\xff")},
      {R"('a\'b"c')", "a'b\"c"},
      {R"(`a\nb`)", "a\\nb"},
      {"`multi\nline`", "multi\nline"},
      {R"("\a\b\f\r\v")", "\a\b\f\r\v"},
      {"\"日本\"", "日本"},
  };
  for (const Case& c : cases) {
    auto e = ParseExpr(c.in);
    ASSERT_TRUE(e.ok()) << c.in << ": " << e.status();
    ASSERT_EQ((*e)->kind, ExprKind::kString);
    EXPECT_EQ(As<StringLiteral>(**e).value, c.want) << c.in;
    EXPECT_EQ((*e)->type(), ValueType::kString);
  }
}

TEST(ParserTest, VectorSelectorFields) {
  auto e = ParseExpr(R"(foo{a="b", c=~"d|e"} offset -5m @ 1.2345)");
  ASSERT_TRUE(e.ok()) << e.status();
  const auto& vs = As<VectorSelector>(**e);
  EXPECT_EQ(vs.name, "foo");
  ASSERT_EQ(vs.matchers.size(), 3u);
  EXPECT_EQ(vs.matchers[0].ToString(), "a=\"b\"");
  EXPECT_EQ(vs.matchers[1].type(), MatchType::kRegexMatch);
  EXPECT_TRUE(vs.matchers[1].Matches("e"));
  EXPECT_FALSE(vs.matchers[1].Matches("de"));
  // The matcher for a name outside the braces is appended, as in Prometheus.
  EXPECT_EQ(vs.matchers[2].name(), "__name__");
  EXPECT_EQ(vs.matchers[2].value(), "foo");
  EXPECT_EQ(vs.offset_ms, -300000);
  EXPECT_EQ(vs.at, AtKind::kTimestamp);
  EXPECT_EQ(vs.at_ms, 1235);  // math.Round(1234.5)
  EXPECT_EQ(vs.pos.start, 0);

  e = ParseExpr(R"({"my.metric", "some.label"="v"})");
  ASSERT_TRUE(e.ok()) << e.status();
  const auto& u = As<VectorSelector>(**e);
  EXPECT_EQ(u.name, "");
  ASSERT_EQ(u.matchers.size(), 2u);
  EXPECT_EQ(u.matchers[0].name(), "__name__");
  EXPECT_EQ(u.matchers[0].value(), "my.metric");
  EXPECT_EQ(u.matchers[1].name(), "some.label");

  e = ParseExpr("foo @ -0.0005");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(As<VectorSelector>(**e).at_ms, -1);  // rounds half away from zero
}

TEST(ParserTest, MatrixAndSubqueryFields) {
  auto e = ParseExpr("foo[1h30m] offset 1m @ start()");
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ((*e)->kind, ExprKind::kMatrixSelector);
  const auto& m = As<MatrixSelector>(**e);
  EXPECT_EQ(m.range_ms, 5400000);
  EXPECT_EQ(m.selector->offset_ms, 60000);
  EXPECT_EQ(m.selector->at, AtKind::kStart);
  EXPECT_EQ(m.type(), ValueType::kMatrix);

  e = ParseExpr("sum(foo)[30m:15s] offset 1d @ end()");
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ((*e)->kind, ExprKind::kSubquery);
  const auto& s = As<SubqueryExpr>(**e);
  EXPECT_EQ(s.range_ms, 1800000);
  EXPECT_EQ(s.step_ms, 15000);
  EXPECT_EQ(s.offset_ms, 86400000);
  EXPECT_EQ(s.at, AtKind::kEnd);
  EXPECT_EQ(s.expr->kind, ExprKind::kAggregate);

  e = ParseExpr("foo[5m:]");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(As<SubqueryExpr>(**e).step_ms, 0);
}

TEST(ParserTest, BinaryMatching) {
  auto e = ParseExpr("a * on(x, y) group_left(z) b");
  ASSERT_TRUE(e.ok()) << e.status();
  const auto& b = As<BinaryExpr>(**e);
  ASSERT_TRUE(b.matching.has_value());
  EXPECT_EQ(b.matching->card, Cardinality::kManyToOne);
  EXPECT_TRUE(b.matching->on);
  EXPECT_EQ(b.matching->matching_labels, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(b.matching->include, (std::vector<std::string>{"z"}));

  e = ParseExpr("a and b");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(As<BinaryExpr>(**e).matching->card, Cardinality::kManyToMany);  // set operators

  e = ParseExpr("a / ignoring(x) group_right b");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(As<BinaryExpr>(**e).matching->card, Cardinality::kOneToMany);
  EXPECT_FALSE(As<BinaryExpr>(**e).matching->on);

  e = ParseExpr("a + 1");
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(As<BinaryExpr>(**e).matching.has_value());  // only between two vectors
  EXPECT_EQ((*e)->type(), ValueType::kVector);

  e = ParseExpr("1 > bool 2");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(As<BinaryExpr>(**e).return_bool);
  EXPECT_EQ((*e)->type(), ValueType::kScalar);
}

TEST(ParserTest, AggregateFields) {
  auto e = ParseExpr("topk without (a) (5, foo)");
  ASSERT_TRUE(e.ok()) << e.status();
  const auto& a = As<AggregateExpr>(**e);
  EXPECT_EQ(a.op, AggOp::kTopk);
  EXPECT_TRUE(a.without);
  EXPECT_FALSE(a.by);
  EXPECT_EQ(a.grouping, (std::vector<std::string>{"a"}));
  ASSERT_NE(a.param, nullptr);
  EXPECT_EQ(a.param->kind, ExprKind::kNumber);

  e = ParseExpr("sum by () (foo)");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(As<AggregateExpr>(**e).by);
  EXPECT_TRUE(As<AggregateExpr>(**e).grouping.empty());
}

TEST(ParserTest, CallFields) {
  auto e = ParseExpr("label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")");
  ASSERT_TRUE(e.ok()) << e.status();
  const auto& c = As<Call>(**e);
  EXPECT_EQ(c.func, LookupFunction("label_replace"));
  EXPECT_EQ(c.args.size(), 5u);
  EXPECT_EQ(c.type(), ValueType::kVector);
  EXPECT_EQ(ParseExpr("time()").value()->type(), ValueType::kScalar);
}

TEST(ParserTest, Positions) {
  auto e = ParseExpr("  sum(rate(foo[5m]))  ");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->pos.start, 2);
  EXPECT_EQ((*e)->pos.end, 20);
  const auto& call = As<Call>(*As<AggregateExpr>(**e).expr);
  EXPECT_EQ(call.pos.start, 6);
  EXPECT_EQ(call.args[0]->pos.start, 11);
  EXPECT_EQ(call.args[0]->pos.end, 18);
}

// ---------------------------------------------------------------------------
// Errors: exactly Prometheus's messages ("line:col: parse error: ...").

struct ErrorCase {
  const char* in;
  const char* err;
};

class ErrorTest : public testing::TestWithParam<ErrorCase> {};

TEST_P(ErrorTest, Message) {
  EXPECT_EQ(ParseError(GetParam().in), GetParam().err) << GetParam().in;
}

INSTANTIATE_TEST_SUITE_P(
    Parser, ErrorTest,
    testing::Values(
        ErrorCase{"", "1:1: parse error: no expression found in input"},
        ErrorCase{"  # only a comment", "1:1: parse error: no expression found in input"},
        ErrorCase{"-", "1:2: parse error: unexpected end of input"},
        ErrorCase{"1+", "1:3: parse error: unexpected end of input"},
        ErrorCase{"1 +\n", "2:1: parse error: unexpected end of input"},
        ErrorCase{"foo +\n\n  +", "3:4: parse error: unexpected end of input"},
        ErrorCase{"(", "1:2: parse error: unclosed left parenthesis"},
        ErrorCase{")", "1:2: parse error: unexpected right parenthesis ')'"},
        ErrorCase{"1)", "1:3: parse error: unexpected right parenthesis ')'"},
        ErrorCase{"((1)", "1:5: parse error: unclosed left parenthesis"},
        ErrorCase{"(1))", "1:5: parse error: unexpected right parenthesis ')'"},
        ErrorCase{"*test", "1:1: parse error: unexpected <op:*>"},
        ErrorCase{"1 +* 2", "1:4: parse error: unexpected <op:*>"},
        ErrorCase{"++-++-+-+-<", "1:11: parse error: unexpected <op:<>"},
        ErrorCase{"-=", "1:2: parse error: unexpected \"=\""},
        ErrorCase{"e-+=/(0)", "1:4: parse error: unexpected \"=\""},
        ErrorCase{"foo bar", "1:5: parse error: unexpected identifier \"bar\""},
        ErrorCase{"foo 1", "1:5: parse error: unexpected number \"1\""},
        ErrorCase{"foo \"a\"", "1:5: parse error: unexpected string \"\\\"a\\\"\""},
        ErrorCase{"foo \"abcdefghijkl\"",
                  "1:5: parse error: unexpected string \"\\\"abcdefghi\"..."},
        ErrorCase{"foo sum", "1:5: parse error: unexpected <aggr:sum>"},
        ErrorCase{"foo by", "1:5: parse error: unexpected <by>"},
        ErrorCase{"foo:bar baz:qux", "1:9: parse error: unexpected metric identifier \"baz:qux\""},
        ErrorCase{"foo{a=\"b\"}{c=\"d\"}", "1:11: parse error: unexpected \"{\""},
        ErrorCase{"start(", "1:7: parse error: unclosed left parenthesis"},
        ErrorCase{"start(foo)",
                  "1:1: parse error: expected 0 argument(s) in call to \"start\", got 1"},
        ErrorCase{"end() @ 10",
                  "1:1: parse error: @ modifier must be preceded by an instant vector selector "
                  "or range vector selector or a subquery"},
        ErrorCase{"step(1)", "1:1: parse error: expected 0 argument(s) in call to \"step\", got 1"},
        ErrorCase{"min_of(1)",
                  "1:1: parse error: expected 2 argument(s) in call to \"min_of\", got 1"},
        ErrorCase{"max_of(1, foo)",
                  "1:11: parse error: expected type scalar in call to function \"max_of\", got "
                  "instant vector"},
        ErrorCase{"histogram_quantiles(foo, \"q\")",
                  "1:1: parse error: expected at least 3 argument(s) in call to "
                  "\"histogram_quantiles\", got 2"},
        ErrorCase{"histogram_quantiles(foo, \"q\", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)",
                  "1:1: parse error: expected at most 12 argument(s) in call to "
                  "\"histogram_quantiles\", got 13"},
        ErrorCase{"histogram_quantiles(foo, 0.5, 0.9)",
                  "1:26: parse error: expected type string in call to function "
                  "\"histogram_quantiles\", got scalar"},
        ErrorCase{"bool", "1:1: parse error: unexpected <bool>"},
        ErrorCase{"1 !~ 1", "1:3: parse error: unexpected character after '!': '~'"},
        ErrorCase{"1 =~ 1", "1:3: parse error: unexpected character after '=': '~'"},
        ErrorCase{"1 ! 1", "1:3: parse error: unexpected character after '!': ' '"},
        ErrorCase{"foo $", "1:5: parse error: unexpected character: '$'"},
        ErrorCase{"foo é", "1:5: parse error: unexpected character: 'é'"},
        ErrorCase{"}", "1:1: parse error: unexpected character: '}'"},
        ErrorCase{"]", "1:1: parse error: unexpected right bracket ']'"},
        // Strings.
        ErrorCase{"\"abc", "1:1: parse error: unterminated quoted string"},
        ErrorCase{"\"ab\nc\"", "1:1: parse error: unterminated quoted string"},
        ErrorCase{"`abc", "1:1: parse error: unterminated raw string"},
        ErrorCase{"1 + \"\\q\"", "1:5: parse error: unknown escape sequence U+0071 'q'"},
        ErrorCase{"\"\\x4\"", "1:1: parse error: illegal character U+0022 '\"' in escape sequence"},
        ErrorCase{"\"\\u12", "1:1: parse error: escape sequence not terminated"},
        ErrorCase{"\"\\", "1:1: parse error: escape sequence not terminated"},
        ErrorCase{"\"\\UFFFFFFFF\"",
                  "1:1: parse error: escape sequence is an invalid Unicode code point"},
        ErrorCase{"\"\\uD800\"",
                  "1:1: parse error: escape sequence is an invalid Unicode code point"},
        ErrorCase{"\"\\400\"",
                  "1:1: parse error: escape sequence is an invalid Unicode code point"},
        ErrorCase{"'\\\"'", "1:1: parse error: unknown escape sequence U+0022 '\"'"},
        ErrorCase{"some_metric{a=\"\xff\"}", "1:15: parse error: invalid UTF-8 rune"},
        ErrorCase{"label_replace(a, `b`, `c\xff`, `d`, `.*`)",
                  "1:23: parse error: invalid UTF-8 rune"},
        // Numbers and durations.
        ErrorCase{"1e400",
                  "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"1e400\": "
                  "value out of range"},
        ErrorCase{"0xFFFFFFFFFFFFFFFFF",
                  "1:1: parse error: error parsing number: strconv.ParseFloat: parsing "
                  "\"0xFFFFFFFFFFFFFFFFF\": invalid syntax"},
        ErrorCase{"1..2", "1:1: parse error: bad number or duration syntax: \"1..\""},
        ErrorCase{"1e", "1:1: parse error: bad number or duration syntax: \"1e\""},
        ErrorCase{"1__0", "1:1: parse error: bad number or duration syntax: \"1__\""},
        ErrorCase{"0x1.5", "1:1: parse error: bad number or duration syntax: \"0x1.\""},
        ErrorCase{"5x", "1:1: parse error: bad number or duration syntax: \"5\""},
        ErrorCase{"foo[5mm]", "1:5: parse error: bad number or duration syntax: \"5mm\""},
        ErrorCase{"foo[5m1]", "1:5: parse error: bad number or duration syntax: \"5m1\""},
        ErrorCase{"foo[5m:1m1]", "1:8: parse error: bad number or duration syntax: \"1m1\""},
        ErrorCase{"foo[5y1hs]", "1:5: parse error: not a valid duration string: \"5y1hs\""},
        ErrorCase{"foo[5m1h]", "1:5: parse error: not a valid duration string: \"5m1h\""},
        ErrorCase{"foo[5m1m]", "1:5: parse error: not a valid duration string: \"5m1m\""},
        ErrorCase{"foo[300y]", "1:5: parse error: duration out of range"},
        ErrorCase{"foo[0m]", "1:5: parse error: duration must be greater than 0"},
        ErrorCase{"foo[0]", "1:5: parse error: duration must be greater than 0"},
        ErrorCase{"foo[0s:1m]", "1:5: parse error: duration must be greater than 0"},
        ErrorCase{"foo offset 0s", "OK: foo"},
        ErrorCase{"foo[\"5m\"]", "1:5: parse error: bad number or duration syntax: \"\""},
        ErrorCase{"foo[]", "1:5: parse error: bad number or duration syntax: \"\""},
        ErrorCase{"foo[", "1:5: parse error: bad number or duration syntax: \"\""},
        ErrorCase{"foo[5m", "1:7: parse error: unclosed left bracket"},
        ErrorCase{"foo[5m:1m:1m]", "1:10: parse error: unexpected colon ':'"},
        ErrorCase{"foo[5m 1m]",
                  "1:8: parse error: unexpected duration \"1m\" in subquery or range, expected "
                  "\":\" or \"]\""},
        ErrorCase{
            "foo[5m:1m 2m]",
            "1:11: parse error: unexpected duration \"2m\" in subquery selector, expected \"]\""},
        ErrorCase{"foo[5m:,]",
                  "1:8: parse error: unexpected \",\" in subquery selector, expected number or "
                  "duration or \"]\""},
        ErrorCase{"foo[5m[1m]]", "1:7: parse error: unexpected left bracket '['"},
        // Selectors.
        ErrorCase{"{", "1:2: parse error: unexpected end of input inside braces"},
        ErrorCase{"some{", "1:6: parse error: unexpected end of input inside braces"},
        ErrorCase{"some}", "1:5: parse error: unexpected character: '}'"},
        ErrorCase{
            "some_metric{a=b}",
            "1:15: parse error: unexpected identifier \"b\" in label matching, expected string"},
        ErrorCase{"some_metric{a:b=\"b\"}",
                  "1:14: parse error: unexpected character inside braces: ':'"},
        ErrorCase{"foo{a*\"b\"}", "1:6: parse error: unexpected character inside braces: '*'"},
        ErrorCase{"foo{a>=\"b\"}", "1:6: parse error: unexpected character inside braces: '>'"},
        ErrorCase{"foo{a!\"b\"}",
                  "1:6: parse error: unexpected character after '!' inside braces: '\"'"},
        ErrorCase{"foo{{}", "1:5: parse error: unexpected left brace '{'"},
        ErrorCase{"foo{gibberish}",
                  "1:14: parse error: unexpected \"}\" in label matching, expected label matching "
                  "operator"},
        ErrorCase{"foo{1}", "1:5: parse error: unexpected character inside braces: '1'"},
        ErrorCase{
            "foo{,}",
            "1:5: parse error: unexpected \",\" in label matching, expected identifier or \"}\""},
        ErrorCase{
            "foo{a=\"b\",,}",
            "1:11: parse error: unexpected \",\" in label matching, expected identifier or \"}\""},
        ErrorCase{"foo{__name__= =}",
                  "1:15: parse error: unexpected \"=\" in label matching, expected string"},
        ErrorCase{"foo{__name__ == \"bar\"}",
                  "1:15: parse error: unexpected \"=\" in label matching, expected string"},
        ErrorCase{"foo{__name__=\"bar\" lol}",
                  "1:20: parse error: unexpected identifier \"lol\" in label matching, expected "
                  "\",\" or \"}\""},
        ErrorCase{"foo{\"a\" b}",
                  "1:9: parse error: unexpected identifier \"b\" in label matching, expected \",\" "
                  "or \"}\""},
        ErrorCase{
            "foo{\"a\"=b}",
            "1:9: parse error: unexpected identifier \"b\" in label matching, expected string"},
        ErrorCase{"{}",
                  "1:1: parse error: vector selector must contain at least one non-empty matcher"},
        ErrorCase{"{x=\"\"}",
                  "1:1: parse error: vector selector must contain at least one non-empty matcher"},
        ErrorCase{"{x=~\".*\"}",
                  "1:1: parse error: vector selector must contain at least one non-empty matcher"},
        ErrorCase{"{x!~\".+\"}",
                  "1:1: parse error: vector selector must contain at least one non-empty matcher"},
        ErrorCase{"{x!=\"a\"}",
                  "1:1: parse error: vector selector must contain at least one non-empty matcher"},
        ErrorCase{"{\"\"}",
                  "1:1: parse error: vector selector must contain at least one non-empty matcher"},
        ErrorCase{"1 + rate({}[5m])",
                  "1:10: parse error: vector selector must contain at least one non-empty matcher"},
        ErrorCase{"foo{__name__=\"bar\"}",
                  "1:1: parse error: metric name must not be set twice: \"foo\" or \"bar\""},
        ErrorCase{"foo{\"bar\"}",
                  "1:1: parse error: metric name must not be set twice: \"foo\" or \"bar\""},
        ErrorCase{"foo{__name__=~\"b.*\"}",
                  "1:1: parse error: metric name must not be set twice: \"foo\" or \"b.*\""},
        // Offsets, @, ranges.
        ErrorCase{"1 offset 1d",
                  "1:1: parse error: offset modifier must be preceded by an instant vector "
                  "selector or range vector selector or a subquery"},
        ErrorCase{"sum(foo) offset 1d",
                  "1:1: parse error: offset modifier must be preceded by an instant vector "
                  "selector or range vector selector or a subquery"},
        ErrorCase{"foo offset 1s offset 2s",
                  "1:1: parse error: offset may not be set multiple times"},
        ErrorCase{"foo[5m] offset 1s offset 2s",
                  "1:1: parse error: offset may not be set multiple times"},
        ErrorCase{
            "some_metric[5m] OFFSET",
            "1:23: parse error: unexpected end of input in offset, expected number or duration"},
        ErrorCase{
            "foo offset -",
            "1:13: parse error: unexpected end of input in offset, expected number or duration"},
        ErrorCase{"foo offset bar",
                  "1:12: parse error: unexpected identifier \"bar\" in offset, expected number or "
                  "duration"},
        ErrorCase{"some_metric[5m] OFFSET 1mm",
                  "1:24: parse error: bad number or duration syntax: \"1mm\""},
        ErrorCase{"some_metric OFFSET 1m[5m]",
                  "1:22: parse error: no offset modifiers allowed before range"},
        ErrorCase{"some_metric @ 123 [5m]",
                  "1:19: parse error: no @ modifiers allowed before range"},
        ErrorCase{"(foo + bar)[5m]", "1:12: parse error: ranges only allowed for vector selectors"},
        ErrorCase{"rate(food[1m])[1h] offset 1h",
                  "1:15: parse error: ranges only allowed for vector selectors"},
        ErrorCase{"foo[5m][1m]", "1:8: parse error: ranges only allowed for vector selectors"},
        ErrorCase{"rate(some_metric[5m]) @ 1234",
                  "1:1: parse error: @ modifier must be preceded by an instant vector selector or "
                  "range vector selector or a subquery"},
        ErrorCase{"foo @ 10 @ 20", "1:1: parse error: @ <timestamp> may not be set multiple times"},
        ErrorCase{"foo @ start() @ end()",
                  "1:1: parse error: @ <timestamp> may not be set multiple times"},
        ErrorCase{"foo @ +Inf", "1:1: parse error: timestamp out of bounds for @ modifier: +Inf"},
        ErrorCase{"foo @ -Inf", "1:1: parse error: timestamp out of bounds for @ modifier: -Inf"},
        ErrorCase{"foo @ NaN", "1:1: parse error: timestamp out of bounds for @ modifier: NaN"},
        ErrorCase{
            "foo @ 9.3e18",
            "1:1: parse error: timestamp out of bounds for @ modifier: 9300000000000000000.000000"},
        ErrorCase{"foo @", "1:6: parse error: unexpected end of input in @, expected timestamp"},
        ErrorCase{"foo @ start",
                  "1:12: parse error: unexpected end of input in @, expected timestamp"},
        ErrorCase{"foo @ start(1)",
                  "1:13: parse error: unexpected number \"1\" in @, expected timestamp"},
        ErrorCase{"foo @ bar",
                  "1:7: parse error: unexpected identifier \"bar\" in @, expected timestamp"},
        ErrorCase{
            "test[5d] OFFSET 10s [10m:5s]",
            "1:1: parse error: subquery is only allowed on instant vector, got matrix instead"},
        ErrorCase{
            "(foo + bar{nm=\"val\"})[5m:][10m:5s]",
            "1:1: parse error: subquery is only allowed on instant vector, got matrix instead"},
        ErrorCase{
            "\"x\"[5m:]",
            "1:1: parse error: subquery is only allowed on instant vector, got string instead"},
        // Operators.
        ErrorCase{"1 and 1",
                  "1:1: parse error: set operator \"and\" not allowed in binary scalar expression"},
        ErrorCase{"1 or 1",
                  "1:1: parse error: set operator \"or\" not allowed in binary scalar expression"},
        ErrorCase{
            "1 unless 1",
            "1:1: parse error: set operator \"unless\" not allowed in binary scalar expression"},
        ErrorCase{"foo and 1",
                  "1:1: parse error: set operator \"and\" not allowed in binary scalar expression"},
        ErrorCase{"1 or foo",
                  "1:1: parse error: set operator \"or\" not allowed in binary scalar expression"},
        ErrorCase{"1 == 1", "1:3: parse error: comparisons between scalars must use BOOL modifier"},
        ErrorCase{"(1) < (2)",
                  "1:5: parse error: comparisons between scalars must use BOOL modifier"},
        ErrorCase{"a - on(b) ignoring(c) d", "1:11: parse error: unexpected <ignoring>"},
        ErrorCase{"a == on(b) bool c", "1:12: parse error: unexpected <bool>"},
        ErrorCase{"a * group_left(b) c", "1:5: parse error: unexpected <group_left>"},
        ErrorCase{"a + on b",
                  "1:8: parse error: unexpected identifier \"b\" in grouping opts, expected \"(\""},
        ErrorCase{"foo and on(bar) group_left(baz) bar",
                  "1:1: parse error: no grouping allowed for \"and\" operation"},
        ErrorCase{"foo and on(bar) group_right(baz) bar",
                  "1:1: parse error: no grouping allowed for \"and\" operation"},
        ErrorCase{"foo or on(bar) group_left(baz) bar",
                  "1:1: parse error: no grouping allowed for \"or\" operation"},
        ErrorCase{"foo unless on(bar) group_left(baz) bar",
                  "1:1: parse error: no grouping allowed for \"unless\" operation"},
        ErrorCase{
            "http_requests{group=\"production\"} + on(instance) group_left(job,instance) "
            "cpu_count{type=\"smp\"}",
            "1:35: parse error: label \"instance\" must not occur in ON and GROUP clause at once"},
        ErrorCase{"foo + bool bar",
                  "1:5: parse error: bool modifier can only be used on comparison operators"},
        ErrorCase{"foo + bool 10",
                  "1:5: parse error: bool modifier can only be used on comparison operators"},
        ErrorCase{"foo and bool 10",
                  "1:5: parse error: bool modifier can only be used on comparison operators"},
        ErrorCase{"1 + on(a) foo",
                  "1:1: parse error: vector matching only allowed between instant vectors"},
        ErrorCase{"1 + on() group_left foo", "OK: 1 + foo"},
        ErrorCase{"1 + ignoring(a) foo",
                  "1:1: parse error: vector matching only allowed between instant vectors"},
        ErrorCase{"\"a\" + 1",
                  "1:1: parse error: binary expression must contain only scalar and instant vector "
                  "types"},
        ErrorCase{"1 + foo[5m]",
                  "1:5: parse error: binary expression must contain only scalar and instant vector "
                  "types"},
        ErrorCase{"-\"string\"",
                  "1:1: parse error: unary expression only allowed on expressions of type scalar "
                  "or instant vector, got \"string\""},
        ErrorCase{"-test[5m]",
                  "1:1: parse error: unary expression only allowed on expressions of type scalar "
                  "or instant vector, got \"range vector\""},
        ErrorCase{"+test[5m]",
                  "1:1: parse error: unary expression only allowed on expressions of type scalar "
                  "or instant vector, got \"range vector\""},
        // Aggregations.
        ErrorCase{"sum without(and, by, avg, count, alert, annotations)(some_metric)",
                  "OK: sum without (and, by, avg, count, alert, annotations) (some_metric)"},
        ErrorCase{"sum without(==)(some_metric)",
                  "1:13: parse error: unexpected <op:==> in grouping opts, expected label"},
        ErrorCase{"sum without(,)(some_metric)",
                  "1:13: parse error: unexpected \",\" in grouping opts, expected label"},
        ErrorCase{"sum without(foo,,)(some_metric)",
                  "1:17: parse error: unexpected \",\" in grouping opts, expected label"},
        ErrorCase{"sum by (a b) (x)",
                  "1:11: parse error: unexpected identifier \"b\" in grouping opts, expected \",\" "
                  "or \")\""},
        ErrorCase{"sum by (1) (x)",
                  "1:9: parse error: unexpected number \"1\" in grouping opts, expected label"},
        ErrorCase{"sum some_metric by (test)",
                  "1:5: parse error: unexpected identifier \"some_metric\""},
        ErrorCase{
            "sum (some_metric) by test",
            "1:22: parse error: unexpected identifier \"test\" in grouping opts, expected \"(\""},
        ErrorCase{"sum by (a)", "1:11: parse error: unexpected end of input in aggregation"},
        ErrorCase{"sum by (a) x", "1:12: parse error: unexpected identifier \"x\" in aggregation"},
        ErrorCase{"sum(foo + )", "1:11: parse error: unexpected \")\" in aggregation"},
        ErrorCase{"sum(rate(x y))",
                  "1:12: parse error: unexpected identifier \"y\" in aggregation"},
        ErrorCase{"sum () by (test)",
                  "1:1: parse error: no arguments for aggregate expression provided"},
        ErrorCase{"MIN keep_common (some_metric)",
                  "1:5: parse error: unexpected identifier \"keep_common\""},
        ErrorCase{"MIN (some_metric) keep_common",
                  "1:19: parse error: unexpected identifier \"keep_common\""},
        ErrorCase{"sum (some_metric) without (test) by (test)",
                  "1:34: parse error: unexpected <by>"},
        ErrorCase{"sum without (test) (some_metric) by (test)",
                  "1:34: parse error: unexpected <by>"},
        ErrorCase{"topk(some_metric)",
                  "1:1: parse error: wrong number of arguments for aggregate expression provided, "
                  "expected 2, got 1"},
        ErrorCase{"sum(a, b)",
                  "1:1: parse error: wrong number of arguments for aggregate expression provided, "
                  "expected 1, got 2"},
        ErrorCase{"topk(some_metric,)",
                  "1:17: parse error: trailing commas not allowed in function call args"},
        ErrorCase{
            "topk(some_metric, other_metric)",
            "1:6: parse error: expected type scalar in aggregation parameter, got instant vector"},
        ErrorCase{"count_values(5, other_metric)",
                  "1:14: parse error: expected type string in aggregation parameter, got scalar"},
        ErrorCase{"sum(foo[5m])",
                  "1:5: parse error: expected type instant vector in aggregation expression, got "
                  "range vector"},
        ErrorCase{"quantile(\"a\", rate(x))",
                  "1:20: parse error: expected type range vector in call to function \"rate\", got "
                  "instant vector"},
        // Functions.
        ErrorCase{"floor()",
                  "1:1: parse error: expected 1 argument(s) in call to \"floor\", got 0"},
        ErrorCase{"floor(some_metric, other_metric)",
                  "1:1: parse error: expected 1 argument(s) in call to \"floor\", got 2"},
        ErrorCase{"floor(1)",
                  "1:7: parse error: expected type instant vector in call to function \"floor\", "
                  "got scalar"},
        ErrorCase{"hour(some_metric, some_metric, some_metric)",
                  "1:1: parse error: expected at most 1 argument(s) in call to \"hour\", got 3"},
        ErrorCase{
            "label_join(a, \"b\")",
            "1:1: parse error: expected at least 3 argument(s) in call to \"label_join\", got 2"},
        ErrorCase{"label_join(a, \"b\", \",\", \"c\", 1)",
                  "1:30: parse error: expected type string in call to function \"label_join\", got "
                  "scalar"},
        ErrorCase{"time(some_metric)",
                  "1:1: parse error: expected 0 argument(s) in call to \"time\", got 1"},
        ErrorCase{"non_existent_function_far_bar()",
                  "1:1: parse error: unknown function with name \"non_existent_function_far_bar\""},
        ErrorCase{"foo()", "1:1: parse error: unknown function with name \"foo\""},
        ErrorCase{"a>b()", "1:3: parse error: unknown function with name \"b\""},
        ErrorCase{"rate(some_metric)",
                  "1:6: parse error: expected type range vector in call to function \"rate\", got "
                  "instant vector"},
        ErrorCase{"rate(avg)",
                  "1:6: parse error: expected type range vector in call to function \"rate\", got "
                  "instant vector"},
        ErrorCase{"rate(foo[5m:1m] offset 1m)", "OK: rate(foo[5m:1m] offset 1m)"},
        ErrorCase{"abs(foo, )",
                  "1:8: parse error: trailing commas not allowed in function call args"},
        ErrorCase{"abs(,foo)", "1:5: parse error: unexpected \",\""},
        ErrorCase{"abs(foo", "1:8: parse error: unclosed left parenthesis"},
        ErrorCase{"histogram_quantile(foo, bar)",
                  "1:20: parse error: expected type scalar in call to function "
                  "\"histogram_quantile\", got instant vector"},
        ErrorCase{"info(foo, bar)",
                  "1:11: parse error: expected label selectors only, got vector selector instead"},
        ErrorCase{"info(foo, 1)",
                  "1:1: parse error: expected type instant vector in call to function \"info\", "
                  "got scalar"},
        ErrorCase{"info(foo, {})", "OK: info(foo, )"},
        // Regex errors surface as parse errors at the label.
        ErrorCase{"foo{a=~\"(\"}",
                  "1:5: parse error: error parsing regexp: missing closing ): `^(?s:()$`"},
        ErrorCase{"foo{a!~\"[a\"}",
                  "1:5: parse error: error parsing regexp: missing closing ]: `[a)$`"},
        ErrorCase{
            "foo{a=~\"a**\"}",
            "1:5: parse error: error parsing regexp: invalid nested repetition operator: `**`"},
        ErrorCase{
            "foo{a=~\"*\"}",
            "1:5: parse error: error parsing regexp: missing argument to repetition operator: `*`"},
        ErrorCase{"foo{a=~\"\\\\q\"}",
                  "1:5: parse error: error parsing regexp: invalid escape sequence: `\\q`"},
        ErrorCase{"foo{x=\"(\"}", "OK: foo{x=\"(\"}"}));

// ---------------------------------------------------------------------------
// Options.

TEST(ParserTest, ExperimentalFunctionsCanBeDisabled) {
  ParseOptions opts;
  opts.enable_experimental_functions = false;
  EXPECT_EQ(ParseError("sort_by_label(foo, \"a\")", opts),
            "1:1: parse error: function \"sort_by_label\" is not enabled");
  EXPECT_EQ(ParseError("limitk(1, foo)", opts),
            "1:1: parse error: limitk() is experimental and must be enabled with "
            "--enable-feature=promql-experimental-functions");
  EXPECT_EQ(ParseError("limit_ratio(0.5, foo)", opts),
            "1:1: parse error: limit_ratio() is experimental and must be enabled with "
            "--enable-feature=promql-experimental-functions");
  EXPECT_EQ(ParseError("start()", opts), "1:1: parse error: function \"start\" is not enabled");
  EXPECT_EQ(ParseError("step()", opts), "1:1: parse error: function \"step\" is not enabled");
  EXPECT_EQ(ParseError("min_of(1, 2)", opts),
            "1:1: parse error: function \"min_of\" is not enabled");
  EXPECT_EQ(ParseAndFormat("foo @ start()", opts), "foo @ start()");
  EXPECT_EQ(ParseAndFormat("rate(foo[5m])", opts), "rate(foo[5m])");
  EXPECT_EQ(ParseAndFormat("sort_by_label(foo, \"a\", \"b\")"), "sort_by_label(foo, \"a\", \"b\")");
}

TEST(ParserTest, QueryTooLong) {
  ParseOptions opts;
  opts.max_query_bytes = 10;
  auto e = ParseExpr("foo + bar + baz", opts);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e.status().message(), "query is too long: 15 bytes, the limit is 10");
  EXPECT_TRUE(ParseExpr("foo + bar", opts).ok());
}

TEST(ParserTest, DepthLimit) {
  ParseOptions opts;
  opts.max_depth = 3;
  EXPECT_TRUE(ParseExpr("((1))", opts).ok());
  EXPECT_EQ(ParseError("(((1)))", opts),
            "1:4: parse error: expression is nested too deeply (the limit is 3 levels)");
  EXPECT_TRUE(ParseExpr("1 + 2 + 3", opts).ok());
  EXPECT_EQ(ParseError("1 + 2 + 3 + 4", opts),
            "1:11: parse error: expression is nested too deeply (the limit is 3 levels)");
  EXPECT_EQ(ParseError("abs(abs(abs(foo)))", opts),
            "1:13: parse error: expression is nested too deeply (the limit is 3 levels)");
}

// ---------------------------------------------------------------------------
// Hostile inputs: bounded by the options, linear time, no deep recursion.

TEST(ParserHostileTest, FiftyThousandNestedParens) {
  std::string q(50000, '(');
  q += "1";
  q.append(50000, ')');
  auto e = ParseExpr(q);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(),
            "1:1001: parse error: expression is nested too deeply (the limit is 1000 levels)");
}

TEST(ParserHostileTest, NestingUpToTheLimitIsFine) {
  // Just under max_depth (1000): parsing, checking, printing and destroying
  // the tree recurse at most that deep (also under ASan's larger frames).
  std::string q;
  for (int i = 0; i < 490; ++i) q += "abs((";
  q += "foo";
  for (int i = 0; i < 490; ++i) q += "))";
  auto e = ParseExpr(q);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(Format(**e), q);
  std::string minus(990, '-');
  auto m = ParseExpr(minus + "foo");
  ASSERT_TRUE(m.ok()) << m.status();
}

TEST(ParserHostileTest, FiftyThousandUnclosedParens) {
  auto e = ParseExpr(std::string(50000, '('));
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParserHostileTest, FiftyThousandUnaryMinus) {
  std::string q(50000, '-');
  q += "1";
  auto e = ParseExpr(q);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("nested too deeply"), std::string::npos);
  EXPECT_EQ(ParseAndFormat("--------1"), "1");
}

TEST(ParserHostileTest, DeepFunctionNesting) {
  std::string q;
  for (int i = 0; i < 20000; ++i) q += "abs(";
  q += "foo";
  q.append(20000, ')');
  auto e = ParseExpr(q);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("nested too deeply"), std::string::npos);
}

TEST(ParserHostileTest, HundredKilobyteChainIsBoundedByMaxDepth) {
  std::string q = "1";
  while (q.size() < 100000) q += "+1";
  // With the default bound, the left-deep chain is rejected as soon as its
  // height passes max_depth.
  auto e = ParseExpr(q);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(),
            "1:2000: parse error: expression is nested too deeply (the limit is 1000 levels)");

  // With the bound raised, the 50,000-operator chain parses (in linear time).
  ParseOptions opts;
  opts.max_depth = 1'000'000;
  auto big = ParseExpr(q, opts);
  ASSERT_TRUE(big.ok()) << big.status();
  ASSERT_EQ((*big)->kind, ExprKind::kBinary);
  EXPECT_EQ((*big)->pos.end, static_cast<int>(q.size()));
  EXPECT_EQ((*big)->kind, ExprKind::kBinary);
  std::string formatted = Format(**big);  // iterative along the left spine
  EXPECT_EQ(formatted.size(), q.size() * 2 - 1);
  DestroyIteratively(std::move(*big));
}

TEST(ParserHostileTest, HundredKilobyteShallowArithmetic) {
  // 100 kB of arithmetic in parenthesized groups of 400 terms: wide, not deep.
  std::string q;
  while (q.size() < 100000) {
    if (!q.empty()) q += " - ";
    q += "(1";
    for (int i = 0; i < 400; ++i) q += "+1";
    q += ")";
  }
  auto e = ParseExpr(q);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ((*e)->type(), ValueType::kScalar);
  const std::string formatted = Format(**e);
  auto again = ParseExpr(formatted);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Format(**again), formatted);
}

TEST(ParserHostileTest, OneMegabyteQueryIsRejectedBySize) {
  std::string q(1 << 20, ' ');
  q.replace(0, 3, "foo");
  auto e = ParseExpr(q);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(), "query is too long: 1048576 bytes, the limit is 262144");
}

TEST(ParserHostileTest, LargeFlatInputsParse) {
  // A selector with 10,000 matchers and a call with 10,000 arguments.
  std::string sel = "foo{";
  for (int i = 0; i < 10000; ++i) {
    sel += "l";
    sel += std::to_string(i);
    sel += "=\"v\",";
  }
  sel += "}";
  auto e = ParseExpr(sel);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(As<VectorSelector>(**e).matchers.size(), 10001u);

  std::string call = "label_join(foo, \"dst\", \",\"";
  for (int i = 0; i < 10000; ++i) call += ", \"l" + std::to_string(i) + "\"";
  call += ")";
  e = ParseExpr(call);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(As<Call>(**e).args.size(), 10003u);

  // A 200 kB identifier and a 200 kB string.
  std::string ident(200000, 'a');
  EXPECT_TRUE(ParseExpr(ident).ok());
  // (Built in place: `"\"" + std::string(...)` trips GCC 12's -Wrestrict at -O3.)
  std::string str(200002, 'x');
  str.front() = '"';
  str.back() = '"';
  EXPECT_TRUE(ParseExpr(str).ok());
  // An error after a long prefix still reports the right column.
  EXPECT_EQ(ParseError(ident + " )"), "1:200003: parse error: unexpected right parenthesis ')'");
}

TEST(ParserHostileTest, GarbageDoesNotCrash) {
  const char* inputs[] = {"\x00",
                          "\xff\xfe",
                          "{{{{",
                          "[[[[",
                          "]]]]",
                          "@@@",
                          "offset offset offset",
                          "sum(",
                          "sum by",
                          "foo[5m:5m:5m]",
                          "a @ start(",
                          "\"\\u",
                          "'",
                          "`",
                          "foo{a=\"\\",
                          "0x",
                          "0x_",
                          ".",
                          "..",
                          "1e+",
                          "#",
                          "{\"",
                          "by (",
                          "on",
                          "group_left",
                          "foo{a=~\"\\\\\"}",
                          "foo @ 1e400"};
  for (const char* in : inputs) {
    auto e = ParseExpr(std::string_view(in, in[0] == '\0' ? 1 : std::strlen(in)));
    EXPECT_FALSE(e.ok()) << in;
  }
}

// Random token soup: nothing crashes, and whatever parses prints to a form
// that parses back to the same form (also through Pretty's line splitting).
TEST(ParserFuzzTest, RandomTokenSoupRoundTrips) {
  const char* tokens[] = {
      "foo",
      "bar:baz",
      "sum",
      "by",
      "without",
      "(",
      ")",
      "(",
      ")",
      "{",
      "}",
      "a=\"b\"",
      "c!~\"d.*\"",
      "\"s\"",
      "'q'",
      "1",
      "0x1f",
      "2.5e3",
      "Inf",
      "NaN",
      "5m",
      "1h30m",
      "[5m]",
      "[1h:5m]",
      "[30m:]",
      "offset 5m",
      "offset -1m",
      "@ 100",
      "@ start()",
      "@ end()",
      "+",
      "-",
      "*",
      "/",
      "%",
      "^",
      "atan2",
      "==",
      "!=",
      ">",
      "<",
      ">=",
      "<=",
      "bool",
      "and",
      "or",
      "unless",
      "on(a)",
      "ignoring(b)",
      "group_left(c)",
      "group_right",
      "rate(",
      "abs(",
      "time()",
      "topk(",
      "count_values(",
      "quantile(",
      "label_join(",
      "histogram_quantile(",
      "vector(",
      "scalar(",
      ",",
      " ",
      "# c\n",
      "by (x)",
      "without ()",
      "sum(",
      "max by (le) (",
      "{__name__=\"x\"}",
      "{\"u.t\"}",
      "start",
      "end",
      "offset",
      ":",
      "]",
      "[",
  };
  const size_t n = sizeof(tokens) / sizeof(tokens[0]);
  uint64_t state = 42;
  auto next = [&]() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  int parsed = 0;
  for (int iter = 0; iter < 30000; ++iter) {
    std::string q;
    const int len = 1 + static_cast<int>(next() % 12);
    for (int i = 0; i < len; ++i) {
      q += tokens[next() % n];
      if (next() % 2) q += ' ';
    }
    auto e = ParseExpr(q);
    if (!e.ok()) {
      EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << q;
      EXPECT_NE(e.status().message().find("parse error: "), std::string::npos)
          << q << " -> " << e.status();
      continue;
    }
    ++parsed;
    const std::string f = Format(**e);
    auto again = ParseExpr(f);
    ASSERT_TRUE(again.ok()) << q << " -> " << f << " -> " << again.status();
    EXPECT_EQ(Format(**again), f) << q;
    auto pretty = ParseExpr(Pretty(**e));
    ASSERT_TRUE(pretty.ok()) << q << " -> " << Pretty(**e);
    EXPECT_EQ(Format(**pretty), f) << q;
    const std::string narrow = PrettyWithLineLimit(**e, 10);
    auto split = ParseExpr(narrow);
    ASSERT_TRUE(split.ok()) << q << " -> " << narrow << " -> " << split.status();
    EXPECT_EQ(Format(**split), f) << q;
  }
  EXPECT_GT(parsed, 300);
}

// ---------------------------------------------------------------------------
// ParseMetricSelector and ParseDuration.

TEST(ParseMetricSelectorTest, Selectors) {
  auto m = ParseMetricSelector(R"(up{job="x", instance=~"a.*"})");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 3u);
  EXPECT_EQ((*m)[0].ToString(), "job=\"x\"");
  EXPECT_EQ((*m)[1].ToString(), "instance=~\"a.*\"");
  EXPECT_EQ((*m)[2].ToString(), "__name__=\"up\"");

  m = ParseMetricSelector(R"({__name__=~"a.*"})");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 1u);

  m = ParseMetricSelector(R"({"my.metric"})");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)[0].value(), "my.metric");

  m = ParseMetricSelector("sum");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)[0].value(), "sum");
}

TEST(ParseMetricSelectorTest, Errors) {
  struct Case {
    const char* in;
    const char* err;
  };
  const Case cases[] = {
      {"", "1:1: parse error: unexpected end of input"},
      {"up offset 5m", "1:4: parse error: unexpected <offset>"},
      {"rate(up[5m])", "1:5: parse error: unexpected \"(\""},
      {"up[5m]", "1:3: parse error: unexpected \"[\""},
      {"1", "1:1: parse error: unexpected number \"1\""},
      {"up{", "1:4: parse error: unexpected end of input inside braces"},
      {"up{a=~\"(\"}", "1:4: parse error: error parsing regexp: missing closing ): `^(?s:()$`"},
  };
  for (const Case& c : cases) {
    auto m = ParseMetricSelector(c.in);
    ASSERT_FALSE(m.ok()) << c.in;
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(m.status().message(), c.err) << c.in;
  }
}

TEST(ParseDurationTest, Valid) {
  struct Case {
    const char* in;
    int64_t ms;
  };
  const Case cases[] = {
      {"0", 0},
      {"0s", 0},
      {"5m", 300000},
      {"1h30m", 5400000},
      {"100ms", 100},
      {"1y", 31536000000},
      {"1w", 604800000},
      {"1d", 86400000},
      {"1s500ms", 1500},
      {"90m", 5400000},
      {"1y2w3d4h5m6s7ms",
       31536000000 + 2 * 604800000 + 3 * 86400000 + 4 * 3600000 + 5 * 60000 + 6000 + 7},
      {"292y", 292LL * 31536000000},
  };
  for (const Case& c : cases) {
    auto d = ParseDuration(c.in);
    ASSERT_TRUE(d.ok()) << c.in << ": " << d.status();
    EXPECT_EQ(*d, c.ms) << c.in;
  }
}

TEST(ParseDurationTest, Invalid) {
  struct Case {
    const char* in;
    const char* err;
  };
  const Case cases[] = {
      {"", "empty duration string"},
      {"5", "not a valid duration string: \"5\""},
      {"1.5m", "not a valid duration string: \"1.5m\""},
      {"-5m", "not a valid duration string: \"-5m\""},
      {"5m1h", "not a valid duration string: \"5m1h\""},
      {"1hs", "not a valid duration string: \"1hs\""},
      {"5M", "not a valid duration string: \"5M\""},
      {"1m 2s", "not a valid duration string: \"1m 2s\""},
      {"293y", "duration out of range"},
      {"99999999999999999999999s", "duration out of range"},
  };
  for (const Case& c : cases) {
    auto d = ParseDuration(c.in);
    ASSERT_FALSE(d.ok()) << c.in;
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(d.status().message(), c.err) << c.in;
  }
}

// ---------------------------------------------------------------------------
// The function table.

TEST(FunctionTableTest, Signatures) {
  const FunctionInfo* rate = LookupFunction("rate");
  ASSERT_NE(rate, nullptr);
  EXPECT_EQ(rate->arg_types, (std::vector<ValueType>{ValueType::kMatrix}));
  EXPECT_EQ(rate->return_type, ValueType::kVector);
  EXPECT_FALSE(rate->experimental);
  EXPECT_EQ(LookupFunction("nope"), nullptr);
  EXPECT_EQ(LookupFunction("sum"), nullptr);  // an aggregation, not a function

  EXPECT_EQ(LookupFunction("label_join")->variadic, -1);
  EXPECT_EQ(LookupFunction("round")->variadic, 1);
  EXPECT_EQ(LookupFunction("time")->return_type, ValueType::kScalar);
  EXPECT_EQ(LookupFunction("scalar")->return_type, ValueType::kScalar);
  EXPECT_TRUE(LookupFunction("double_exponential_smoothing")->experimental);
  EXPECT_TRUE(LookupFunction("mad_over_time")->experimental);
  EXPECT_TRUE(LookupFunction("info")->experimental);
  EXPECT_FALSE(LookupFunction("histogram_avg")->experimental);
  for (const char* n : {"start", "end", "step", "range"}) {
    const FunctionInfo* f = LookupFunction(n);
    ASSERT_NE(f, nullptr) << n;
    EXPECT_TRUE(f->arg_types.empty()) << n;
    EXPECT_EQ(f->return_type, ValueType::kScalar) << n;
    EXPECT_TRUE(f->experimental) << n;
  }
  for (const char* n : {"min_of", "max_of"}) {
    const FunctionInfo* f = LookupFunction(n);
    ASSERT_NE(f, nullptr) << n;
    EXPECT_EQ(f->arg_types, (std::vector<ValueType>{ValueType::kScalar, ValueType::kScalar})) << n;
    EXPECT_EQ(f->return_type, ValueType::kScalar) << n;
    EXPECT_TRUE(f->experimental) << n;
  }
  const FunctionInfo* hq = LookupFunction("histogram_quantiles");
  ASSERT_NE(hq, nullptr);
  EXPECT_EQ(hq->arg_types, (std::vector<ValueType>{ValueType::kVector, ValueType::kString,
                                                   ValueType::kScalar, ValueType::kScalar}));
  EXPECT_EQ(hq->variadic, 9);
  EXPECT_TRUE(hq->experimental);

  const char* names[] = {"abs",
                         "absent",
                         "absent_over_time",
                         "acos",
                         "acosh",
                         "asin",
                         "asinh",
                         "atan",
                         "atanh",
                         "avg_over_time",
                         "ceil",
                         "changes",
                         "clamp",
                         "clamp_max",
                         "clamp_min",
                         "cos",
                         "cosh",
                         "count_over_time",
                         "day_of_month",
                         "day_of_week",
                         "day_of_year",
                         "days_in_month",
                         "deg",
                         "delta",
                         "deriv",
                         "exp",
                         "floor",
                         "histogram_avg",
                         "histogram_count",
                         "histogram_fraction",
                         "histogram_quantile",
                         "histogram_stddev",
                         "histogram_stdvar",
                         "histogram_sum",
                         "hour",
                         "idelta",
                         "increase",
                         "irate",
                         "label_replace",
                         "label_join",
                         "last_over_time",
                         "ln",
                         "log10",
                         "log2",
                         "mad_over_time",
                         "max_over_time",
                         "min_over_time",
                         "minute",
                         "month",
                         "pi",
                         "predict_linear",
                         "present_over_time",
                         "quantile_over_time",
                         "rad",
                         "rate",
                         "resets",
                         "round",
                         "scalar",
                         "sgn",
                         "sin",
                         "sinh",
                         "sort",
                         "sort_desc",
                         "sort_by_label",
                         "sort_by_label_desc",
                         "sqrt",
                         "stddev_over_time",
                         "stdvar_over_time",
                         "sum_over_time",
                         "tan",
                         "tanh",
                         "time",
                         "timestamp",
                         "vector",
                         "year",
                         "double_exponential_smoothing",
                         "info",
                         "ts_of_min_over_time",
                         "ts_of_max_over_time",
                         "ts_of_last_over_time",
                         "first_over_time"};
  for (const char* n : names) EXPECT_NE(LookupFunction(n), nullptr) << n;
  auto all = AllFunctions();
  for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].name, all[i].name);
  for (const FunctionInfo& f : all) EXPECT_EQ(LookupFunction(f.name), &f);
}

}  // namespace
}  // namespace meridian::promql
