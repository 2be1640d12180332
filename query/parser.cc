// A hand-written Pratt parser for the grammar of Prometheus 3's
// promql/parser/generated_parser.y, followed by a port of its checkAST type
// checker. Errors match Prometheus's messages and positions; like Prometheus,
// only the first error is reported.
//
// Bounds: the input length is checked first; every recursive descent passes
// through ParseExpr, which counts nesting; and every composite node checks
// the height of the tree it builds (left-deep operator chains are built
// iteratively but still may not exceed max_depth, so that every later
// recursive walk of the tree, including its destructor, is bounded too).
#include "query/parser.h"

#include <re2/re2.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <type_traits>

#include "model/gofloat.h"
#include "query/functions.h"
#include "query/lexer.h"
#include "storage/labels.h"

namespace meridian::promql {
namespace {

// String concatenation over std::string_view (Debian's abseil has its own
// string_view type, so absl::StrCat does not take std::string_view).
void AppendPiece(std::string* o, std::string_view s) { o->append(s); }
void AppendPiece(std::string* o, const char* s) { o->append(s); }
void AppendPiece(std::string* o, const std::string& s) { o->append(s); }
template <typename T>
requires std::is_integral_v<T>
void AppendPiece(std::string* o, T v) { o->append(std::to_string(v)); }
template <typename... A>
std::string Cat(const A&... a) {
  std::string o;
  (AppendPiece(&o, a), ...);
  return o;
}

// Binary operator precedence, lowest first (generated_parser.y).
constexpr int kPrecOr = 1, kPrecAnd = 2, kPrecCmp = 3, kPrecAdd = 4, kPrecMul = 5, kPrecPow = 6;

int BinaryPrec(Tok t) {
  switch (t) {
    case Tok::kLor:
      return kPrecOr;
    case Tok::kLand:
    case Tok::kLunless:
      return kPrecAnd;
    case Tok::kEqlc:
    case Tok::kNeq:
    case Tok::kLte:
    case Tok::kLss:
    case Tok::kGte:
    case Tok::kGtr:
      return kPrecCmp;
    case Tok::kAdd:
    case Tok::kSub:
      return kPrecAdd;
    case Tok::kMul:
    case Tok::kDiv:
    case Tok::kMod:
    case Tok::kAtan2:
      return kPrecMul;
    case Tok::kPow:
      return kPrecPow;
    default:
      return -1;
  }
}

BinOp ToBinOp(Tok t) {
  switch (t) {
    case Tok::kAdd:
      return BinOp::kAdd;
    case Tok::kSub:
      return BinOp::kSub;
    case Tok::kMul:
      return BinOp::kMul;
    case Tok::kDiv:
      return BinOp::kDiv;
    case Tok::kMod:
      return BinOp::kMod;
    case Tok::kPow:
      return BinOp::kPow;
    case Tok::kAtan2:
      return BinOp::kAtan2;
    case Tok::kEqlc:
      return BinOp::kEql;
    case Tok::kNeq:
      return BinOp::kNeq;
    case Tok::kGtr:
      return BinOp::kGtr;
    case Tok::kLss:
      return BinOp::kLss;
    case Tok::kGte:
      return BinOp::kGte;
    case Tok::kLte:
      return BinOp::kLte;
    case Tok::kLand:
      return BinOp::kAnd;
    case Tok::kLor:
      return BinOp::kOr;
    default:
      return BinOp::kUnless;
  }
}

AggOp ToAggOp(Tok t) {
  switch (t) {
    case Tok::kSum:
      return AggOp::kSum;
    case Tok::kAvg:
      return AggOp::kAvg;
    case Tok::kCount:
      return AggOp::kCount;
    case Tok::kMin:
      return AggOp::kMin;
    case Tok::kMax:
      return AggOp::kMax;
    case Tok::kGroup:
      return AggOp::kGroup;
    case Tok::kStddev:
      return AggOp::kStddev;
    case Tok::kStdvar:
      return AggOp::kStdvar;
    case Tok::kTopk:
      return AggOp::kTopk;
    case Tok::kBottomk:
      return AggOp::kBottomk;
    case Tok::kQuantile:
      return AggOp::kQuantile;
    case Tok::kCountValues:
      return AggOp::kCountValues;
    case Tok::kLimitk:
      return AggOp::kLimitK;
    default:
      return AggOp::kLimitRatio;
  }
}

bool HasParam(AggOp op) {
  return op == AggOp::kTopk || op == AggOp::kBottomk || op == AggOp::kQuantile ||
         op == AggOp::kCountValues || op == AggOp::kLimitK || op == AggOp::kLimitRatio;
}

// Prometheus's metric_identifier rule: tokens usable as a metric name.
bool IsMetricIdentifier(Tok t) {
  switch (t) {
    case Tok::kIdentifier:
    case Tok::kMetricIdentifier:
    case Tok::kBy:
    case Tok::kWithout:
    case Tok::kOffset:
    case Tok::kLand:
    case Tok::kLor:
    case Tok::kLunless:
    case Tok::kStart:
    case Tok::kEnd:
      return true;
    default:
      return IsAggregatorTok(t);
  }
}

// Prometheus's maybe_label rule (plus quoted label names).
bool IsGroupingLabel(Tok t) {
  switch (t) {
    case Tok::kBool:
    case Tok::kGroupLeft:
    case Tok::kGroupRight:
    case Tok::kIgnoring:
    case Tok::kOn:
    case Tok::kAtan2:
    case Tok::kString:
      return true;
    default:
      return IsMetricIdentifier(t);
  }
}

bool IsMatchOp(Tok t) {
  return t == Tok::kEql || t == Tok::kNeq || t == Tok::kEqlRegex || t == Tok::kNeqRegex;
}

MatchType ToMatchType(Tok t) {
  switch (t) {
    case Tok::kNeq:
      return MatchType::kNotEqual;
    case Tok::kEqlRegex:
      return MatchType::kRegexMatch;
    case Tok::kNeqRegex:
      return MatchType::kRegexNoMatch;
    default:
      return MatchType::kEqual;
  }
}

// Prometheus's DocumentedType.
std::string_view DocumentedType(ValueType t) {
  switch (t) {
    case ValueType::kVector:
      return "instant vector";
    case ValueType::kMatrix:
      return "range vector";
    default:
      return ValueTypeApiName(t);
  }
}

// Go's fmt "%f".
std::string GoFormatF(double v) { return model::FormatGoFloat(v, 'f', 6); }

// Go's int64(f) on amd64: out-of-range and NaN give math.MinInt64.
int64_t GoFloatToInt64(double f) {
  if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0)) {
    return std::numeric_limits<int64_t>::min();
  }
  return static_cast<int64_t>(f);
}

// The error Go's regexp.Compile reports for Prometheus's "^(?s:" + v + ")$"
// (labels.NewFastRegexMatcher), from RE2's diagnosis of the same pattern.
std::string GoRegexpError(const std::string& v, std::string_view fallback) {
  RE2::Options opts;
  opts.set_log_errors(false);
  RE2 re("^(?s:" + v + ")$", opts);
  std::string_view code;
  switch (re.error_code()) {
    case RE2::NoError:
      return std::string(fallback);
    case RE2::ErrorBadEscape:
      code = "invalid escape sequence";
      break;
    case RE2::ErrorBadCharClass:
      code = "invalid character class";
      break;
    case RE2::ErrorBadCharRange:
      code = "invalid character class range";
      break;
    case RE2::ErrorMissingBracket:
      code = "missing closing ]";
      break;
    case RE2::ErrorMissingParen:
      code = "missing closing )";
      break;
    case RE2::ErrorUnexpectedParen:
      code = "unexpected )";
      break;
    case RE2::ErrorTrailingBackslash:
      code = "trailing backslash at end of expression";
      break;
    case RE2::ErrorRepeatArgument:
      code = "missing argument to repetition operator";
      break;
    case RE2::ErrorRepeatSize:
      code = "invalid repeat count";
      break;
    case RE2::ErrorRepeatOp:
      code = "invalid nested repetition operator";
      break;
    case RE2::ErrorBadPerlOp:
      code = "invalid or unsupported Perl syntax";
      break;
    case RE2::ErrorBadUTF8:
      code = "invalid UTF-8";
      break;
    case RE2::ErrorBadNamedCapture:
      code = "invalid named capture";
      break;
    case RE2::ErrorPatternTooLarge:
      code = "expression too large";
      break;
    default:
      return std::string(fallback);
  }
  return Cat("error parsing regexp: ", code, ": `", re.error_arg(), "`");
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

const Token& Parser::Peek() {
  if (!have_tok_) {
    tok_ = lex_.Next();
    have_tok_ = true;
    if (tok_.type == Tok::kError) Fail(tok_.pos, tok_.message);
  }
  return tok_;
}

Token Parser::Consume() {
  Peek();
  have_tok_ = false;
  switch (tok_.type) {
    case Tok::kRightParen:
    case Tok::kRightBrace:
    case Tok::kRightBracket:
    case Tok::kNumber:
    case Tok::kDuration:
      last_closing_ = tok_.pos + static_cast<int>(tok_.text.size());
      break;
    default:
      break;
  }
  return tok_;
}

void Parser::Fail(int pos, std::string_view msg) {
  if (!err_.ok()) return;
  int line = 1;
  int last_break = -1;
  for (int i = 0; i < pos && i < static_cast<int>(in_.size()); ++i) {
    if (in_[i] == '\n') {
      ++line;
      last_break = i;
    }
  }
  err_ = absl::InvalidArgumentError(Cat(line, ":", pos - last_break, ": parse error: ", msg));
}

void Parser::Unexpected(const Token& t, std::string_view context, std::string_view expected) {
  if (t.type == Tok::kError) return;  // the lexer error is already reported
  std::string msg = "unexpected " + DescribeToken(t);
  if (!context.empty()) msg += Cat(" in ", context);
  if (!expected.empty()) msg += Cat(", expected ", expected);
  Fail(t.pos, msg);
}

bool Parser::CheckHeight(int h, int pos) {
  if (h > opts_.max_depth) {
    Fail(pos, Cat("expression is nested too deeply (the limit is ", opts_.max_depth, " levels)"));
    return false;
  }
  return true;
}

absl::StatusOr<ExprPtr> Parser::ParseQuery() {
  if (in_.size() > opts_.max_query_bytes) {
    return absl::InvalidArgumentError(
        Cat("query is too long: ", in_.size(), " bytes, the limit is ", opts_.max_query_bytes));
  }
  if (Peek().type == Tok::kEOF) Fail(0, "no expression found in input");
  P root;
  if (ok()) root = ParseExpr(0);
  if (ok() && Peek().type != Tok::kEOF) UnexpectedHere(Peek());
  if (ok()) Check(root.e);
  if (!ok()) return err_;
  return std::move(root.e);
}

absl::StatusOr<std::vector<Matcher>> Parser::ParseSelectorOnly() {
  if (in_.size() > opts_.max_query_bytes) {
    return absl::InvalidArgumentError(
        Cat("selector is too long: ", in_.size(), " bytes, the limit is ", opts_.max_query_bytes));
  }
  const Token& t = Peek();
  P vs;
  if (IsMetricIdentifier(t.type)) {
    Token name = Consume();
    vs = ParseVectorSelector(&name, name.pos);
  } else if (t.type == Tok::kLeftBrace) {
    vs = ParseVectorSelector(nullptr, t.pos);
  } else {
    Unexpected(t, "", "");
  }
  if (ok() && Peek().type != Tok::kEOF) Unexpected(Peek(), "", "");
  if (!ok()) return err_;
  return std::move(static_cast<VectorSelector&>(*vs.e).matchers);
}

P Parser::ParseExpr(int min_prec) {
  ++depth_;
  struct Leave {
    int* d;
    ~Leave() { --*d; }
  } leave{&depth_};
  if (depth_ > opts_.max_depth) {
    Fail(Peek().pos,
         Cat("expression is nested too deeply (the limit is ", opts_.max_depth, " levels)"));
    return {};
  }
  P lhs = ParseUnary();
  while (ok()) {
    const int prec = BinaryPrec(Peek().type);
    if (prec < 0 || prec < min_prec) break;
    Token op = Consume();
    auto bin = std::make_unique<BinaryExpr>();
    bin->op = ToBinOp(op.type);
    bin->matching.emplace();
    if (Peek().type == Tok::kBool) {
      Consume();
      bin->return_bool = true;
    }
    if (Peek().type == Tok::kOn || Peek().type == Tok::kIgnoring) {
      bin->matching->on = Consume().type == Tok::kOn;
      if (!ParseGroupingLabels(&bin->matching->matching_labels)) return {};
      Tok g = Peek().type;
      if (g == Tok::kGroupLeft || g == Tok::kGroupRight) {
        Consume();
        bin->matching->card =
            g == Tok::kGroupLeft ? Cardinality::kManyToOne : Cardinality::kOneToMany;
        if (Peek().type == Tok::kLeftParen && !ParseGroupingLabels(&bin->matching->include))
          return {};
      }
    }
    // '^' is right-associative; all others are left-associative.
    P rhs = ParseExpr(prec == kPrecPow ? prec : prec + 1);
    if (!ok()) return {};
    const int h = std::max(lhs.h, rhs.h) + 1;
    if (!CheckHeight(h, op.pos)) return {};
    bin->pos = {lhs.e->pos.start, rhs.e->pos.end};
    bin->lhs = std::move(lhs.e);
    bin->rhs = std::move(rhs.e);
    lhs = P{std::move(bin), h};
  }
  return lhs;
}

P Parser::ParseUnary() {
  Tok t = Peek().type;
  if (t != Tok::kAdd && t != Tok::kSub) return ParsePostfix(ParsePrimary());
  Token op = Consume();
  // Binds tighter than '*' but looser than '^' (%prec MUL): -2^2 == -(2^2).
  P operand = ParseExpr(kPrecPow);
  if (!ok()) return {};
  if (operand.e->kind == ExprKind::kNumber) {
    auto& num = static_cast<NumberLiteral&>(*operand.e);
    if (op.type == Tok::kSub) num.value = -num.value;
    num.pos.start = op.pos;
    return operand;
  }
  if (!CheckHeight(operand.h + 1, op.pos)) return {};
  auto un = std::make_unique<UnaryExpr>();
  un->negate = op.type == Tok::kSub;  // '+' is folded away after type checking
  un->pos = {op.pos, operand.e->pos.end};
  un->expr = std::move(operand.e);
  return P{std::move(un), operand.h + 1};
}

P Parser::ParsePrimary() {
  const Token& t = Peek();
  if (!ok()) return {};
  switch (t.type) {
    case Tok::kNumber:
    case Tok::kDuration: {
      Token tok = Consume();
      auto num = std::make_unique<NumberLiteral>();
      int64_t ms;
      num->value = DurationLiteral(tok, &ms);
      num->pos = {tok.pos, tok.pos + static_cast<int>(tok.text.size())};
      return P{std::move(num), 1};
    }
    case Tok::kString: {
      Token tok = Consume();
      auto str = std::make_unique<StringLiteral>();
      auto v = UnquoteString(tok.text);
      if (!v.ok()) {
        Fail(tok.pos, Cat("error unquoting string ", GoQuote(tok.text), ": invalid syntax"));
        return {};
      }
      str->value = std::move(*v);
      str->pos = {tok.pos, tok.pos + static_cast<int>(tok.text.size())};
      return P{std::move(str), 1};
    }
    case Tok::kLeftParen: {
      Token lp = Consume();
      P inner = ParseExpr(0);
      if (!ok()) return {};
      if (Peek().type != Tok::kRightParen) {
        UnexpectedHere(Peek());
        return {};
      }
      Token rp = Consume();
      if (!CheckHeight(inner.h + 1, lp.pos)) return {};
      auto paren = std::make_unique<ParenExpr>();
      paren->pos = {lp.pos, rp.pos + 1};
      paren->expr = std::move(inner.e);
      return P{std::move(paren), inner.h + 1};
    }
    case Tok::kLeftBrace:
      return ParseVectorSelector(nullptr, t.pos);
    default:
      break;
  }
  if (IsAggregatorTok(t.type) || t.type == Tok::kIdentifier) {
    Token name = Consume();
    Tok next = Peek().type;
    if (name.type == Tok::kIdentifier && next == Tok::kLeftParen) return ParseCall(name);
    if (name.type != Tok::kIdentifier &&
        (next == Tok::kLeftParen || next == Tok::kBy || next == Tok::kWithout)) {
      return ParseAggregate(name);
    }
    return ParseVectorSelector(&name, name.pos);
  }
  if (IsMetricIdentifier(t.type)) {
    Token name = Consume();
    // start() and end() (experimental): the query's start and end time. The
    // words are keywords (for `@ start()`), so they are function calls only
    // when a '(' follows; alone they are metric names.
    if ((name.type == Tok::kStart || name.type == Tok::kEnd) && Peek().type == Tok::kLeftParen) {
      return ParseCall(name);
    }
    return ParseVectorSelector(&name, name.pos);
  }
  UnexpectedHere(t);
  return {};
}

P Parser::ParseVectorSelector(const Token* name, int start) {
  auto vs = std::make_unique<VectorSelector>();
  vs->pos.start = start;
  if (name != nullptr) {
    vs->name = std::string(name->text);
    vs->pos.end = name->pos + static_cast<int>(name->text.size());
  }
  if (Peek().type == Tok::kLeftBrace) {
    if (!ParseMatchers(vs.get())) return {};
  }
  if (name != nullptr) {
    // Prometheus appends the matcher for a name given outside the braces.
    vs->matchers.push_back(*Matcher::Make(MatchType::kEqual, std::string(kMetricName), vs->name));
  }
  return P{std::move(vs), 1};
}

bool Parser::ParseMatchers(VectorSelector* vs) {
  Consume();  // '{'
  if (Peek().type == Tok::kRightBrace) {
    vs->pos.end = Consume().pos + 1;
    return true;
  }
  constexpr std::string_view kCtx = "label matching";
  for (;;) {
    Token label = Peek();
    std::string label_name;
    if (label.type == Tok::kIdentifier) {
      Consume();
      label_name = std::string(label.text);
      if (!IsMatchOp(Peek().type)) {
        Unexpected(Peek(), kCtx, "label matching operator");
        return false;
      }
    } else if (label.type == Tok::kString) {
      Consume();
      label_name = UnquoteString(label.text).value_or("");
    } else {
      Unexpected(label, kCtx, "identifier or \"}\"");
      return false;
    }
    if (IsMatchOp(Peek().type)) {
      Token op = Consume();
      if (Peek().type != Tok::kString) {
        Unexpected(Peek(), kCtx, "string");
        return false;
      }
      Token value = Consume();
      std::string v = UnquoteString(value.text).value_or("");
      auto m = Matcher::Make(ToMatchType(op.type), std::move(label_name), v);
      if (!m.ok()) {
        Fail(label.pos, GoRegexpError(v, std::string(m.status().message())));
        return false;
      }
      vs->matchers.push_back(std::move(*m));
    } else {
      // A lone quoted string is the metric name: {"my.metric"}.
      vs->matchers.push_back(
          *Matcher::Make(MatchType::kEqual, std::string(kMetricName), label_name));
    }
    Tok next = Peek().type;
    if (next == Tok::kComma) {
      Consume();
      if (Peek().type != Tok::kRightBrace) continue;
      next = Tok::kRightBrace;
    }
    if (next == Tok::kRightBrace) {
      vs->pos.end = Consume().pos + 1;
      return true;
    }
    Unexpected(Peek(), kCtx, "\",\" or \"}\"");
    return false;
  }
}

bool Parser::ParseGroupingLabels(std::vector<std::string>* labels) {
  constexpr std::string_view kCtx = "grouping opts";
  if (Peek().type != Tok::kLeftParen) {
    Unexpected(Peek(), kCtx, "\"(\"");
    return false;
  }
  Consume();
  labels->clear();
  if (Peek().type == Tok::kRightParen) {
    Consume();
    return true;
  }
  for (;;) {
    const Token& t = Peek();
    if (!IsGroupingLabel(t.type)) {
      Unexpected(t, kCtx, "label");
      return false;
    }
    Token label = Consume();
    labels->push_back(label.type == Tok::kString ? UnquoteString(label.text).value_or("")
                                                 : std::string(label.text));
    Tok next = Peek().type;
    if (next == Tok::kComma) {
      Consume();
      if (Peek().type != Tok::kRightParen) continue;
      next = Tok::kRightParen;
    }
    if (next == Tok::kRightParen) {
      Consume();
      return true;
    }
    Unexpected(Peek(), kCtx, "\",\" or \")\"");
    return false;
  }
}

bool Parser::ParseArgs(std::vector<P>* args) {
  Consume();  // '('
  if (Peek().type == Tok::kRightParen) {
    Consume();
    return true;
  }
  for (;;) {
    P arg = ParseExpr(0);
    if (!ok()) return false;
    args->push_back(std::move(arg));
    Tok next = Peek().type;
    if (next == Tok::kComma) {
      Token comma = Consume();
      if (Peek().type == Tok::kRightParen || Peek().type == Tok::kComma) {
        Fail(comma.pos, "trailing commas not allowed in function call args");
        return false;
      }
      continue;
    }
    if (next == Tok::kRightParen) {
      Consume();
      return true;
    }
    UnexpectedHere(Peek());
    return false;
  }
}

P Parser::ParseCall(const Token& name) {
  std::vector<P> args;
  if (!ParseArgs(&args)) return {};
  const FunctionInfo* fn = LookupFunction(name.text);
  if (fn == nullptr) {
    Fail(name.pos, Cat("unknown function with name ", GoQuote(name.text)));
    return {};
  }
  if (fn->experimental && !opts_.enable_experimental_functions) {
    Fail(name.pos, Cat("function ", GoQuote(name.text), " is not enabled"));
    return {};
  }
  auto call = std::make_unique<Call>();
  call->func = fn;
  int h = 0;
  for (P& a : args) {
    h = std::max(h, a.h);
    call->args.push_back(std::move(a.e));
  }
  if (!CheckHeight(h + 1, name.pos)) return {};
  call->pos = {name.pos, last_closing_};
  return P{std::move(call), h + 1};
}

P Parser::ParseAggregate(const Token& op) {
  auto agg = std::make_unique<AggregateExpr>();
  agg->op = ToAggOp(op.type);
  ++agg_depth_;
  struct Leave {
    int* d;
    ~Leave() { --*d; }
  } leave{&agg_depth_};
  auto parse_modifier = [&]() {
    agg->without = Consume().type == Tok::kWithout;
    agg->by = !agg->without;
    return ParseGroupingLabels(&agg->grouping);
  };
  std::vector<P> args;
  if (Peek().type == Tok::kBy || Peek().type == Tok::kWithout) {
    if (!parse_modifier()) return {};
    if (Peek().type != Tok::kLeftParen) {
      UnexpectedHere(Peek());
      return {};
    }
    if (!ParseArgs(&args)) return {};
  } else {
    if (!ParseArgs(&args)) return {};
    if ((Peek().type == Tok::kBy || Peek().type == Tok::kWithout) && !parse_modifier()) return {};
  }
  if (!ok()) return {};
  const int end = last_closing_;
  if (args.empty()) {
    Fail(op.pos, "no arguments for aggregate expression provided");
    return {};
  }
  size_t desired = 1;
  if (HasParam(agg->op)) {
    if ((agg->op == AggOp::kLimitK || agg->op == AggOp::kLimitRatio) &&
        !opts_.enable_experimental_functions) {
      Fail(op.pos, Cat(AggOpName(agg->op),
                       "() is experimental and must be enabled with "
                       "--enable-feature=promql-experimental-functions"));
      return {};
    }
    desired = 2;
  }
  if (args.size() != desired) {
    Fail(op.pos, Cat("wrong number of arguments for aggregate expression provided, expected ",
                     desired, ", got ", args.size()));
    return {};
  }
  int h = 0;
  for (const P& a : args) h = std::max(h, a.h);
  if (!CheckHeight(h + 1, op.pos)) return {};
  if (desired == 2) agg->param = std::move(args[0].e);
  agg->expr = std::move(args[desired - 1].e);
  agg->pos = {op.pos, end};
  return P{std::move(agg), h + 1};
}

P Parser::ParsePostfix(P base) {
  while (ok()) {
    switch (Peek().type) {
      case Tok::kLeftBracket:
        ParseRangeOrSubquery(&base);
        break;
      case Tok::kOffset:
        ParseOffset(&base);
        break;
      case Tok::kAt:
        ParseAt(&base);
        break;
      default:
        return base;
    }
  }
  return {};
}

double Parser::NumberValue(const Token& t) {
  std::string s;
  s.reserve(t.text.size());
  for (char c : t.text) {
    if (c != '_') s.push_back(c);
  }
  // strconv.ParseInt(s, 0, 64): 0x hex, leading-0 octal, else decimal.
  {
    int base = 10;
    size_t i = 0;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
      base = 16, i = 2;
    } else if (s.size() > 1 && s[0] == '0') {
      base = 8, i = 1;
    }
    uint64_t v = 0;
    bool valid = i < s.size();
    for (; valid && i < s.size(); ++i) {
      char c = s[i];
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : 99;
      if (d >= base || v > (uint64_t{1} << 63) / base) {
        valid = false;
        break;
      }
      v = v * base + d;
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) valid = false;
    }
    if (valid) return static_cast<double>(static_cast<int64_t>(v));
  }
  // strconv.ParseFloat(s, 64).
  auto fail = [&](std::string_view why) {
    Fail(t.pos,
         Cat("error parsing number: strconv.ParseFloat: parsing ", GoQuote(t.text), ": ", why));
    return 0.0;
  };
  double v;
  switch (model::ParseGoFloat(s, &v)) {
    case model::GoParse::kOk: return v;
    case model::GoParse::kSyntax: return fail("invalid syntax");
    case model::GoParse::kRange: return fail("value out of range");
  }
  return v;
}

double Parser::DurationLiteral(const Token& t, int64_t* ms) {
  if (t.type == Tok::kDuration) {
    auto d = ParsePromDuration(t.text);
    if (!d.ok()) {
      Fail(t.pos, std::string(d.status().message()));
      *ms = 0;
      return 0;
    }
    *ms = *d;
    // time.Duration.Seconds().
    return static_cast<double>(*d / 1000) + static_cast<double>(*d % 1000 * 1'000'000) / 1e9;
  }
  double v = NumberValue(t);
  // time.Duration(v * 1000) * time.Millisecond, with Go's wrapping arithmetic.
  uint64_t ns = static_cast<uint64_t>(GoFloatToInt64(v * 1000)) * 1'000'000u;
  *ms = static_cast<int64_t>(ns) / 1'000'000;
  return v;
}

void Parser::ParseRangeOrSubquery(P* base) {
  Token lb = Consume();
  const Token& first = Peek();
  if (first.type != Tok::kNumber && first.type != Tok::kDuration) {
    Unexpected(first, "subquery selector", "number or duration");
    return;
  }
  int64_t range_ms;
  Token range_tok = Consume();
  DurationLiteral(range_tok, &range_ms);
  if (ok() && range_ms <= 0) Fail(range_tok.pos, "duration must be greater than 0");
  if (!ok()) return;
  if (Peek().type == Tok::kRightBracket) {
    Token rb = Consume();
    auto* vs = base->e->kind == ExprKind::kVectorSelector
                   ? static_cast<VectorSelector*>(base->e.get())
                   : nullptr;
    if (vs == nullptr) {
      Fail(lb.pos, "ranges only allowed for vector selectors");
    } else if (vs->offset_ms != 0) {
      Fail(lb.pos, "no offset modifiers allowed before range");
    } else if (vs->at != AtKind::kNone) {
      Fail(lb.pos, "no @ modifiers allowed before range");
    }
    if (!ok() || !CheckHeight(base->h + 1, lb.pos)) return;
    auto m = std::make_unique<MatrixSelector>();
    m->pos = {vs->pos.start, rb.pos + 1};
    m->range_ms = range_ms;
    m->selector.reset(static_cast<VectorSelector*>(base->e.release()));
    base->e = std::move(m);
    base->h += 1;
    return;
  }
  if (Peek().type != Tok::kColon) {
    Unexpected(Peek(), "subquery or range", "\":\" or \"]\"");
    return;
  }
  Consume();
  int64_t step_ms = 0;
  if (Peek().type == Tok::kNumber || Peek().type == Tok::kDuration) {
    DurationLiteral(Consume(), &step_ms);
    if (!ok()) return;
    if (Peek().type != Tok::kRightBracket) {
      Unexpected(Peek(), "subquery selector", "\"]\"");
      return;
    }
  } else if (Peek().type != Tok::kRightBracket) {
    Unexpected(Peek(), "subquery selector", "number or duration or \"]\"");
    return;
  }
  Token rb = Consume();
  if (!CheckHeight(base->h + 1, lb.pos)) return;
  auto sq = std::make_unique<SubqueryExpr>();
  sq->pos = {base->e->pos.start, rb.pos + 1};
  sq->range_ms = range_ms;
  sq->step_ms = step_ms;
  sq->expr = std::move(base->e);
  base->e = std::move(sq);
  base->h += 1;
}

void Parser::ParseOffset(P* base) {
  Consume();
  bool negative = false;
  if (Peek().type == Tok::kSub) {
    Consume();
    negative = true;
  }
  if (Peek().type != Tok::kNumber && Peek().type != Tok::kDuration) {
    Unexpected(Peek(), "offset", "number or duration");
    return;
  }
  Token d = Consume();
  int64_t ms;
  DurationLiteral(d, &ms);
  if (!ok()) return;
  if (negative) ms = -ms;
  Expr* e = base->e.get();
  int64_t* offset = nullptr;
  switch (e->kind) {
    case ExprKind::kVectorSelector:
      offset = &static_cast<VectorSelector*>(e)->offset_ms;
      break;
    case ExprKind::kMatrixSelector:
      offset = &static_cast<MatrixSelector*>(e)->selector->offset_ms;
      break;
    case ExprKind::kSubquery:
      offset = &static_cast<SubqueryExpr*>(e)->offset_ms;
      break;
    default:
      Fail(e->pos.start,
           "offset modifier must be preceded by an instant vector selector or range vector "
           "selector or a subquery");
      return;
  }
  if (*offset != 0) {
    Fail(e->pos.start, "offset may not be set multiple times");
    return;
  }
  *offset = ms;
  e->pos.end = d.pos + static_cast<int>(d.text.size());
}

void Parser::ParseAt(P* base) {
  Consume();
  constexpr std::string_view kCtx = "@", kExpected = "timestamp";
  Tok t = Peek().type;
  if (t == Tok::kStart || t == Tok::kEnd) {
    Consume();
    if (Peek().type != Tok::kLeftParen) return Unexpected(Peek(), kCtx, kExpected);
    Consume();
    if (Peek().type != Tok::kRightParen) return Unexpected(Peek(), kCtx, kExpected);
    Consume();
    return SetAt(base, t == Tok::kStart ? AtKind::kStart : AtKind::kEnd, 0);
  }
  double sign = 1;
  if (t == Tok::kAdd || t == Tok::kSub) {
    sign = Consume().type == Tok::kSub ? -1 : 1;
  }
  if (Peek().type != Tok::kNumber && Peek().type != Tok::kDuration)
    return Unexpected(Peek(), kCtx, kExpected);
  int64_t unused;
  double ts = sign * DurationLiteral(Consume(), &unused);
  if (!ok()) return;
  SetAt(base, AtKind::kTimestamp, ts);
}

void Parser::SetAt(P* base, AtKind kind, double ts) {
  Expr* e = base->e.get();
  if (kind == AtKind::kTimestamp && (std::isinf(ts) || std::isnan(ts) ||
                                     ts >= 9223372036854775807.0 || ts <= -9223372036854775808.0)) {
    Fail(e->pos.start, "timestamp out of bounds for @ modifier: " + GoFormatF(ts));
    return;
  }
  AtKind* at;
  int64_t* at_ms;
  switch (e->kind) {
    case ExprKind::kVectorSelector: {
      auto* vs = static_cast<VectorSelector*>(e);
      at = &vs->at, at_ms = &vs->at_ms;
      break;
    }
    case ExprKind::kMatrixSelector: {
      auto* vs = static_cast<MatrixSelector*>(e)->selector.get();
      at = &vs->at, at_ms = &vs->at_ms;
      break;
    }
    case ExprKind::kSubquery: {
      auto* sq = static_cast<SubqueryExpr*>(e);
      at = &sq->at, at_ms = &sq->at_ms;
      break;
    }
    default:
      Fail(e->pos.start,
           "@ modifier must be preceded by an instant vector selector or range vector selector or "
           "a subquery");
      return;
  }
  if (*at != AtKind::kNone) {
    Fail(e->pos.start, "@ <timestamp> may not be set multiple times");
    return;
  }
  *at = kind;
  // timestamp.FromFloatSeconds: int64(math.Round(ts * 1000)).
  if (kind == AtKind::kTimestamp) *at_ms = GoFloatToInt64(std::round(ts * 1000));
  e->pos.end = last_closing_;
}

// ---------------------------------------------------------------------------
// checkAST

void Parser::ExpectType(ExprPtr& node, ValueType want, std::string_view context) {
  ValueType t = Check(node);
  if (t != want) {
    Fail(node->pos.start,
         Cat("expected type ", DocumentedType(want), " in ", context, ", got ", DocumentedType(t)));
  }
}

void Parser::CheckBinary(BinaryExpr& n, ValueType lt, ValueType rt) {
  // Prometheus's opRange(): the first non-space byte after the left operand.
  int op_pos = n.lhs->pos.end;
  while (op_pos < static_cast<int>(in_.size()) && (in_[op_pos] == ' ' || in_[op_pos] == '\t' ||
                                                   in_[op_pos] == '\n' || in_[op_pos] == '\r')) {
    ++op_pos;
  }
  const std::string op_name = GoQuote(BinOpName(n.op));
  if (n.return_bool && !IsComparison(n.op)) {
    Fail(op_pos, "bool modifier can only be used on comparison operators");
  }
  if (IsComparison(n.op) && !n.return_bool && lt == ValueType::kScalar &&
      rt == ValueType::kScalar) {
    Fail(op_pos, "comparisons between scalars must use BOOL modifier");
  }
  VectorMatching& vm = *n.matching;
  if (IsSetOperator(n.op) && vm.card == Cardinality::kOneToOne) vm.card = Cardinality::kManyToMany;
  if (vm.on) {
    for (const auto& l1 : vm.matching_labels) {
      for (const auto& l2 : vm.include) {
        if (l1 == l2)
          Fail(op_pos,
               Cat("label ", GoQuote(l1), " must not occur in ON and GROUP clause at once"));
      }
    }
  }
  if (lt != ValueType::kScalar && lt != ValueType::kVector) {
    Fail(n.lhs->pos.start, "binary expression must contain only scalar and instant vector types");
  }
  if (rt != ValueType::kScalar && rt != ValueType::kVector) {
    Fail(n.rhs->pos.start, "binary expression must contain only scalar and instant vector types");
  }
  if (lt != ValueType::kVector || rt != ValueType::kVector) {
    if (!vm.matching_labels.empty())
      Fail(n.pos.start, "vector matching only allowed between instant vectors");
    n.matching.reset();
  } else if (IsSetOperator(n.op)) {
    if (vm.card == Cardinality::kOneToMany || vm.card == Cardinality::kManyToOne) {
      Fail(n.pos.start, Cat("no grouping allowed for ", op_name, " operation"));
    }
    if (vm.card != Cardinality::kManyToMany)
      Fail(n.pos.start, "set operations must always be many-to-many");
  }
  if ((lt == ValueType::kScalar || rt == ValueType::kScalar) && IsSetOperator(n.op)) {
    Fail(n.pos.start, Cat("set operator ", op_name, " not allowed in binary scalar expression"));
  }
}

ValueType Parser::Check(ExprPtr& node, bool bypass_empty_matcher_check) {
  if (node->kind == ExprKind::kBinary) {
    // Left-deep operator chains (a + b + c + ...) are checked iteratively,
    // innermost first, which is the order of Prometheus's recursion. Types
    // are computed bottom-up here: BinaryExpr::type() recurses.
    std::vector<BinaryExpr*> spine;
    for (Expr* e = node.get(); e->kind == ExprKind::kBinary;
         e = static_cast<BinaryExpr*>(e)->lhs.get()) {
      spine.push_back(static_cast<BinaryExpr*>(e));
    }
    ValueType lt = Check(spine.back()->lhs);
    for (auto it = spine.rbegin(); it != spine.rend(); ++it) {
      BinaryExpr& n = **it;
      const ValueType rt = Check(n.rhs);
      CheckBinary(n, lt, rt);
      lt = lt == ValueType::kScalar && rt == ValueType::kScalar ? ValueType::kScalar
                                                                : ValueType::kVector;
    }
    return lt;
  }
  const ValueType typ = node->type();
  switch (node->kind) {
    case ExprKind::kAggregate: {
      auto& n = static_cast<AggregateExpr&>(*node);
      ExpectType(n.expr, ValueType::kVector, "aggregation expression");
      if (n.op == AggOp::kTopk || n.op == AggOp::kBottomk || n.op == AggOp::kQuantile ||
          n.op == AggOp::kLimitK || n.op == AggOp::kLimitRatio) {
        ExpectType(n.param, ValueType::kScalar, "aggregation parameter");
      }
      if (n.op == AggOp::kCountValues)
        ExpectType(n.param, ValueType::kString, "aggregation parameter");
      break;
    }
    case ExprKind::kBinary:
      break;  // handled above
    case ExprKind::kCall: {
      auto& n = static_cast<Call&>(*node);
      const FunctionInfo& f = *n.func;
      const auto nargs = static_cast<int>(f.arg_types.size());
      const auto given = static_cast<int>(n.args.size());
      const std::string fname = GoQuote(f.name);
      if (f.variadic == 0) {
        if (nargs != given) {
          Fail(n.pos.start,
               Cat("expected ", nargs, " argument(s) in call to ", fname, ", got ", given));
        }
      } else {
        const int na = nargs - 1;
        if (na > given) {
          Fail(n.pos.start,
               Cat("expected at least ", na, " argument(s) in call to ", fname, ", got ", given));
        } else if (f.variadic > 0 && na + f.variadic < given) {
          Fail(n.pos.start, Cat("expected at most ", na + f.variadic, " argument(s) in call to ",
                                fname, ", got ", given));
        }
      }
      bool bypass_arg1 = false;
      if (f.name == "info" && given > 1) {
        Expr& a1 = *n.args[1];
        if (a1.type() != ValueType::kVector) {
          Fail(n.pos.start, Cat("expected type instant vector in call to function ", fname,
                                ", got ", DocumentedType(a1.type())));
        }
        if (a1.kind == ExprKind::kVectorSelector &&
            !static_cast<VectorSelector&>(a1).name.empty()) {
          Fail(a1.pos.start, "expected label selectors only, got vector selector instead");
        } else if (a1.kind == ExprKind::kVectorSelector) {
          bypass_arg1 = true;
        } else {
          Fail(a1.pos.start, "expected label selectors only");
        }
      }
      for (int i = 0; i < given; ++i) {
        int ti = i;
        if (i >= nargs) {
          if (f.variadic == 0) break;
          ti = nargs - 1;
        }
        const ValueType t = Check(n.args[i], bypass_arg1 && i == 1);
        if (t != f.arg_types[ti]) {
          Fail(n.args[i]->pos.start,
               Cat("expected type ", DocumentedType(f.arg_types[ti]), " in call to function ",
                   fname, ", got ", DocumentedType(t)));
        }
      }
      break;
    }
    case ExprKind::kParen:
      Check(static_cast<ParenExpr&>(*node).expr);
      break;
    case ExprKind::kStepInvariant:
      Check(static_cast<StepInvariantExpr&>(*node).expr);
      break;
    case ExprKind::kUnary: {
      auto& n = static_cast<UnaryExpr&>(*node);
      const ValueType t = Check(n.expr);
      if (t != ValueType::kScalar && t != ValueType::kVector) {
        Fail(n.pos.start,
             Cat("unary expression only allowed on expressions of type scalar or instant "
                 "vector, got ",
                 GoQuote(DocumentedType(t))));
      }
      if (!n.negate) {  // fold a unary '+' away
        ExprPtr inner = std::move(n.expr);
        inner->pos.start = n.pos.start;
        node = std::move(inner);
      }
      break;
    }
    case ExprKind::kSubquery: {
      auto& n = static_cast<SubqueryExpr&>(*node);
      const ValueType t = Check(n.expr);
      if (t != ValueType::kVector) {
        Fail(n.pos.start, Cat("subquery is only allowed on instant vector, got ",
                              ValueTypeApiName(t), " instead"));
      }
      break;
    }
    case ExprKind::kMatrixSelector: {
      auto& n = static_cast<MatrixSelector&>(*node);
      ExprPtr vs = std::move(n.selector);
      Check(vs);
      n.selector.reset(static_cast<VectorSelector*>(vs.release()));
      break;
    }
    case ExprKind::kVectorSelector: {
      auto& n = static_cast<VectorSelector&>(*node);
      if (!n.name.empty()) {
        // The last matcher is the one for the name given outside the braces.
        for (size_t i = 0; i + 1 < n.matchers.size(); ++i) {
          if (n.matchers[i].name() == kMetricName) {
            Fail(n.pos.start, Cat("metric name must not be set twice: ", GoQuote(n.name), " or ",
                                  GoQuote(n.matchers[i].value())));
          }
        }
        break;
      }
      if (!bypass_empty_matcher_check) {
        bool not_empty = false;
        for (const Matcher& m : n.matchers) not_empty = not_empty || !m.MatchesEmpty();
        if (!not_empty)
          Fail(n.pos.start, "vector selector must contain at least one non-empty matcher");
      }
      break;
    }
    case ExprKind::kNumber:
    case ExprKind::kString:
      break;
  }
  return typ;
}

}  // namespace

absl::StatusOr<ExprPtr> ParseExpr(std::string_view query, const ParseOptions& opts) {
  return Parser(query, opts).ParseQuery();
}

absl::StatusOr<std::vector<Matcher>> ParseMetricSelector(std::string_view selector) {
  ParseOptions opts;
  return Parser(selector, opts).ParseSelectorOnly();
}

absl::StatusOr<int64_t> ParseDuration(std::string_view s) { return ParsePromDuration(s); }

}  // namespace meridian::promql
