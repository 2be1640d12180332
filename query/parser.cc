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
//
// The parser is split in three files around one class (parser_internal.h):
// this one parses expressions (operators, calls, aggregations, the postfix
// modifiers), parser_selector.cc selectors, literals, ranges, offset and @,
// and typecheck.cc is the checkAST port.
#include "query/parser.h"

#include <string>

#include "model/labels.h"
#include "query/functions.h"
#include "query/parser_internal.h"

namespace meridian::promql::parser_internal {
namespace {

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

}  // namespace

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

}  // namespace meridian::promql::parser_internal

namespace meridian::promql {

using parser_internal::Parser;

absl::StatusOr<ExprPtr> ParseExpr(std::string_view query, const ParseOptions& opts) {
  return Parser(query, opts).ParseQuery();
}

absl::StatusOr<std::vector<Matcher>> ParseMetricSelector(std::string_view selector) {
  ParseOptions opts;
  return Parser(selector, opts).ParseSelectorOnly();
}

absl::StatusOr<int64_t> ParseDuration(std::string_view s) { return ParsePromDuration(s); }

}  // namespace meridian::promql
