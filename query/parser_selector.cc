// The PromQL parser's selectors and literals: vector selectors and their
// matchers (with Go's regexp error texts), the selector-only entry point of
// the match[] parameter, number and duration literals, range and subquery
// brackets, offset and the @ modifier. See parser.cc.
#include <re2/re2.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

#include "model/gofloat.h"
#include "model/labels.h"
#include "query/parser_internal.h"

namespace meridian::promql::parser_internal {
namespace {

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

}  // namespace

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
    case model::GoParse::kOk:
      return v;
    case model::GoParse::kSyntax:
      return fail("invalid syntax");
    case model::GoParse::kRange:
      return fail("value out of range");
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

}  // namespace meridian::promql::parser_internal
