// Internal to the query module: the PromQL parser, shared by parser.cc
// (expressions: operators, calls, aggregations, postfix modifiers),
// parser_selector.cc (selectors, matchers, numbers, durations, ranges and
// subqueries, offset and @) and typecheck.cc (the port of Prometheus's
// checkAST). Not a public interface.
#ifndef MERIDIAN_QUERY_PARSER_INTERNAL_H_
#define MERIDIAN_QUERY_PARSER_INTERNAL_H_

#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "model/matcher.h"
#include "model/status.h"
#include "query/ast.h"
#include "query/lexer.h"
#include "query/parser.h"

namespace meridian::promql::parser_internal {

// String concatenation over std::string_view (Debian's abseil has its own
// string_view type, so absl::StrCat does not take std::string_view).
inline void AppendPiece(std::string* o, std::string_view s) { o->append(s); }
inline void AppendPiece(std::string* o, const char* s) { o->append(s); }
inline void AppendPiece(std::string* o, const std::string& s) { o->append(s); }
template <typename T>
requires std::is_integral_v<T>
inline void AppendPiece(std::string* o, T v) { o->append(std::to_string(v)); }
template <typename... A>
std::string Cat(const A&... a) {
  std::string o;
  (AppendPiece(&o, a), ...);
  return o;
}

// A parsed subtree and its height (for the depth bound).
struct P {
  ExprPtr e;
  int h = 0;
};

class Parser {
 public:
  Parser(std::string_view in, const ParseOptions& opts) : in_(in), opts_(opts), lex_(in) {}

  absl::StatusOr<ExprPtr> ParseQuery();
  absl::StatusOr<std::vector<Matcher>> ParseSelectorOnly();

 private:
  bool ok() const { return err_.ok(); }
  const Token& Peek();
  Token Consume();
  void Fail(int pos, std::string_view msg);
  void Unexpected(const Token& t, std::string_view context, std::string_view expected);
  // A syntax error where the grammar has no specific error rule: the
  // innermost enclosing aggregation (if any) gives the context.
  void UnexpectedHere(const Token& t) { Unexpected(t, agg_depth_ > 0 ? "aggregation" : "", ""); }
  bool CheckHeight(int h, int pos);

  P ParseExpr(int min_prec);
  P ParseUnary();
  P ParsePrimary();
  // Out of line so that its locals stay out of the ParseExpr -> ParseUnary ->
  // ParsePrimary frame, which recurses up to max_depth times: under ASan (no
  // stack slot sharing) one nesting level costs ~8.4 KiB with it inlined and
  // ~6.1 KiB without (gcc 12 -fstack-usage), and 1000 levels of
  // abs(abs(...)) must fit in the 8 MiB main-thread stack.
  [[gnu::noinline]] P ParsePostfix(P base);
  P ParseVectorSelector(const Token* name, int start);
  P ParseCall(const Token& name);
  P ParseAggregate(const Token& op);
  bool ParseArgs(std::vector<P>* args);
  bool ParseGroupingLabels(std::vector<std::string>* labels);
  bool ParseMatchers(VectorSelector* vs);
  void ParseRangeOrSubquery(P* base);
  void ParseOffset(P* base);
  void ParseAt(P* base);
  double NumberValue(const Token& t);
  // A number_duration_literal in seconds; durations are exact in *ms.
  double DurationLiteral(const Token& t, int64_t* ms);
  void SetAt(P* base, AtKind kind, double ts);

  ValueType Check(ExprPtr& node, bool bypass_empty_matcher_check = false);
  void ExpectType(ExprPtr& node, ValueType want, std::string_view context);
  // The checks of one binary expression, its operands already checked.
  void CheckBinary(BinaryExpr& n, ValueType lt, ValueType rt);
  void CheckCall(Call& n);
  void CheckVectorSelector(VectorSelector& n, bool bypass_empty_matcher_check);

  std::string_view in_;
  const ParseOptions& opts_;
  Lexer lex_;
  Token tok_;
  bool have_tok_ = false;
  absl::Status err_;
  int depth_ = 0;
  int agg_depth_ = 0;
  int last_closing_ = 0;  // end of the last consumed ) } ] number or duration
};

// Prometheus's metric_identifier rule: tokens usable as a metric name
// (parser_selector.cc).
bool IsMetricIdentifier(Tok t);

}  // namespace meridian::promql::parser_internal

#endif  // MERIDIAN_QUERY_PARSER_INTERNAL_H_
