// The PromQL lexer (query/lexer.h), a port of Prometheus's promql/parser/lex.go;
// the Go-compatible text helpers declared next to it are in go_text.cc.
#include "query/lexer.h"

#include <cmath>

#include "absl/strings/ascii.h"

namespace meridian::promql {
namespace {

bool IsSpace(int r) { return r == ' ' || r == '\t' || r == '\n' || r == '\r'; }
bool IsDigit(int r) { return r >= '0' && r <= '9'; }
bool IsAlpha(int r) { return r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'); }
bool IsAlphaNumeric(int r) { return IsAlpha(r) || IsDigit(r); }

struct Keyword {
  std::string_view word;
  Tok tok;
};
// Prometheus's `key` map (lex.go), matched case-insensitively.
constexpr Keyword kKeywords[] = {
    {"and", Tok::kLand},
    {"or", Tok::kLor},
    {"unless", Tok::kLunless},
    {"atan2", Tok::kAtan2},
    {"sum", Tok::kSum},
    {"avg", Tok::kAvg},
    {"count", Tok::kCount},
    {"min", Tok::kMin},
    {"max", Tok::kMax},
    {"group", Tok::kGroup},
    {"stddev", Tok::kStddev},
    {"stdvar", Tok::kStdvar},
    {"topk", Tok::kTopk},
    {"bottomk", Tok::kBottomk},
    {"count_values", Tok::kCountValues},
    {"quantile", Tok::kQuantile},
    {"limitk", Tok::kLimitk},
    {"limit_ratio", Tok::kLimitRatio},
    {"offset", Tok::kOffset},
    {"by", Tok::kBy},
    {"without", Tok::kWithout},
    {"on", Tok::kOn},
    {"ignoring", Tok::kIgnoring},
    {"group_left", Tok::kGroupLeft},
    {"group_right", Tok::kGroupRight},
    {"bool", Tok::kBool},
    {"start", Tok::kStart},
    {"end", Tok::kEnd},
    {"inf", Tok::kNumber},
    {"nan", Tok::kNumber},
};

}  // namespace

bool IsOperatorTok(Tok t) { return t >= Tok::kAdd && t <= Tok::kAtan2; }
bool IsAggregatorTok(Tok t) { return t >= Tok::kAvg && t <= Tok::kLimitRatio; }
bool IsKeywordTok(Tok t) { return t >= Tok::kBool && t <= Tok::kWithout; }

std::string DescribeToken(const Token& t) {
  auto item_string = [&]() -> std::string {
    switch (t.type) {
      case Tok::kEOF:
        return "EOF";
      case Tok::kError:
        return t.message;
      case Tok::kIdentifier:
      case Tok::kMetricIdentifier:
        return GoQuote(t.text);
      default:
        break;
    }
    // Built by appends: `"<" + std::string` trips GCC 12's -Wrestrict at -O3.
    auto wrap = [&](std::string_view pre) {
      std::string o(pre);
      o.append(t.text);
      o += '>';
      return o;
    };
    if (IsKeywordTok(t.type)) return wrap("<");
    if (IsOperatorTok(t.type)) return wrap("<op:");
    if (IsAggregatorTok(t.type)) return wrap("<aggr:");
    if (t.text.size() > 10) {
      // %.10q: the first 10 runes, quoted, then "...".
      size_t i = 0;
      for (int runes = 0; runes < 10 && i < t.text.size(); ++runes) {
        int w;
        DecodeRune(t.text, i, &w);
        i += w;
      }
      return GoQuote(t.text.substr(0, i)) + "...";
    }
    return GoQuote(t.text);
  };
  switch (t.type) {
    case Tok::kEOF:
      return "end of input";
    case Tok::kError:
      return "error " + item_string();
    case Tok::kComment:
      return "comment " + item_string();
    case Tok::kIdentifier:
      return "identifier " + item_string();
    case Tok::kMetricIdentifier:
      return "metric identifier " + item_string();
    case Tok::kString:
      return "string " + item_string();
    case Tok::kNumber:
      return "number " + item_string();
    case Tok::kDuration:
      return "duration " + item_string();
    default:
      return item_string();
  }
}

// ---------------------------------------------------------------------------
// Lexer

int Lexer::Peek() const { return pos_ < in_.size() ? static_cast<unsigned char>(in_[pos_]) : -1; }

int32_t Lexer::NextRune() {
  int32_t r = DecodeRune(in_, pos_, &last_width_);
  pos_ += last_width_;
  return r;
}

bool Lexer::Accept(std::string_view valid) {
  int c = Peek();
  if (c >= 0 && c < 0x80 && valid.find(static_cast<char>(c)) != std::string_view::npos) {
    ++pos_;
    last_width_ = 1;
    return true;
  }
  return false;
}

Token Lexer::Emit(Tok t) {
  Token tok;
  tok.type = t;
  tok.pos = static_cast<int>(start_);
  tok.text = in_.substr(start_, pos_ - start_);
  start_ = pos_;
  return tok;
}

Token Lexer::Error(std::string msg) { return Error(std::move(msg), static_cast<int>(start_)); }

Token Lexer::Error(std::string msg, int pos) {
  Token tok;
  tok.type = Tok::kError;
  tok.pos = pos;
  tok.message = std::move(msg);
  done_ = true;
  return tok;
}

Token Lexer::Next() {
  if (done_) {
    Token eof;
    eof.pos = static_cast<int>(in_.size());
    return eof;
  }
  for (;;) {
    Token t;
    if (number_next_) {
      number_next_ = false;
      t = LexNumberOrDuration();
    } else if (brace_open_) {
      t = LexInsideBraces();
    } else {
      t = LexStatements();
    }
    if (t.type == Tok::kComment) continue;
    if (t.type == Tok::kEOF || t.type == Tok::kError) done_ = true;
    return t;
  }
}

Token Lexer::LexLineComment() {
  while (pos_ < in_.size() && in_[pos_] != '\n' && in_[pos_] != '\r') ++pos_;
  return Emit(Tok::kComment);
}

Token Lexer::LexStatements() {
  while (IsSpace(Peek())) ++pos_;
  start_ = pos_;
  if (Peek() == '#') return LexLineComment();
  int32_t r = NextRune();
  switch (r) {
    case kEofRune:
      if (paren_depth_ != 0) return Error("unclosed left parenthesis");
      if (bracket_open_) return Error("unclosed left bracket");
      return Emit(Tok::kEOF);
    case ',':
      return Emit(Tok::kComma);
    case '*':
      return Emit(Tok::kMul);
    case '/':
      return Emit(Tok::kDiv);
    case '%':
      return Emit(Tok::kMod);
    case '+':
      return Emit(Tok::kAdd);
    case '-':
      return Emit(Tok::kSub);
    case '^':
      return Emit(Tok::kPow);
    case '@':
      return Emit(Tok::kAt);
    case '=':
      if (Peek() == '=') {
        ++pos_;
        return Emit(Tok::kEqlc);
      }
      if (Peek() == '~') return Error("unexpected character after '=': '~'");
      return Emit(Tok::kEql);
    case '!': {
      int32_t t = NextRune();
      if (t != '=') return Error("unexpected character after '!': " + GoQuoteRune(t));
      return Emit(Tok::kNeq);
    }
    case '<':
      if (Peek() == '=') {
        ++pos_;
        return Emit(Tok::kLte);
      }
      return Emit(Tok::kLss);
    case '>':
      if (Peek() == '=') {
        ++pos_;
        return Emit(Tok::kGte);
      }
      return Emit(Tok::kGtr);
    case '"':
    case '\'':
      return LexString(static_cast<char>(r));
    case '`':
      return LexRawString();
    case '(':
      ++paren_depth_;
      return Emit(Tok::kLeftParen);
    case ')': {
      Token t = Emit(Tok::kRightParen);
      if (--paren_depth_ < 0) return Error("unexpected right parenthesis ')'");
      return t;
    }
    case '{':
      brace_open_ = true;
      return Emit(Tok::kLeftBrace);
    case '[': {
      if (bracket_open_) return Error("unexpected left bracket '['");
      got_colon_ = false;
      Token t = Emit(Tok::kLeftBracket);
      while (IsSpace(Peek())) ++pos_;
      start_ = pos_;
      bracket_open_ = true;
      number_next_ = true;
      return t;
    }
    case ']':
      if (!bracket_open_) return Error("unexpected right bracket ']'");
      bracket_open_ = false;
      return Emit(Tok::kRightBracket);
    default:
      break;
  }
  if (IsDigit(r) || (r == '.' && IsDigit(Peek()))) {
    Backup();
    return LexNumberOrDuration();
  }
  if (IsAlpha(r) || r == ':') {
    if (!bracket_open_) {
      Backup();
      return LexKeywordOrIdentifier();
    }
    if (got_colon_) return Error("unexpected colon " + GoQuoteRune(r));
    got_colon_ = true;
    return Emit(Tok::kColon);
  }
  return Error("unexpected character: " + GoQuoteRune(r));
}

Token Lexer::LexInsideBraces() {
  while (IsSpace(Peek())) ++pos_;
  start_ = pos_;
  if (Peek() == '#') return LexLineComment();
  int32_t r = NextRune();
  switch (r) {
    case kEofRune:
      return Error("unexpected end of input inside braces");
    case ',':
      return Emit(Tok::kComma);
    case '"':
    case '\'':
      return LexString(static_cast<char>(r));
    case '`':
      return LexRawString();
    case '=':
      if (Peek() == '~') {
        ++pos_;
        return Emit(Tok::kEqlRegex);
      }
      return Emit(Tok::kEql);
    case '!': {
      int32_t nr = NextRune();
      if (nr == '~') return Emit(Tok::kNeqRegex);
      if (nr == '=') return Emit(Tok::kNeq);
      return Error("unexpected character after '!' inside braces: " + GoQuoteRune(nr));
    }
    case '{':
      return Error("unexpected left brace '{'");
    case '}':
      brace_open_ = false;
      return Emit(Tok::kRightBrace);
    default:
      break;
  }
  if (IsAlpha(r)) {
    Backup();
    return LexIdentifier();
  }
  return Error("unexpected character inside braces: " + GoQuoteRune(r));
}

bool Lexer::LexEscape(char quote, Token* err) {
  int32_t ch = NextRune();
  int n;
  uint32_t base, max;
  switch (ch) {
    case 'a':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
    case 'v':
    case '\\':
      return true;
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
      n = 3, base = 8, max = 255;
      break;
    case 'x':
      ch = NextRune();
      n = 2, base = 16, max = 255;
      break;
    case 'u':
      ch = NextRune();
      n = 4, base = 16, max = 0x10FFFF;
      break;
    case 'U':
      ch = NextRune();
      n = 8, base = 16, max = 0x10FFFF;
      break;
    case kEofRune:
      *err = Error("escape sequence not terminated");
      return false;
    default:
      if (ch == quote) return true;
      *err = Error("unknown escape sequence " + GoRuneU(ch));
      return false;
  }
  uint32_t x = 0;
  while (n > 0) {
    auto d = static_cast<uint32_t>(DigitVal(ch));
    if (d >= base) {
      *err = ch == kEofRune ? Error("escape sequence not terminated")
                            : Error("illegal character " + GoRuneU(ch) + " in escape sequence");
      return false;
    }
    x = x * base + d;
    if (--n > 0) ch = NextRune();
  }
  if (x > max || (x >= 0xD800 && x < 0xE000)) {
    *err = Error("escape sequence is an invalid Unicode code point");
    return false;
  }
  return true;
}

Token Lexer::LexString(char quote) {
  for (;;) {
    int32_t r = NextRune();
    if (r == '\\') {
      Token err;
      if (!LexEscape(quote, &err)) return err;
      continue;
    }
    if (r == kRuneError) return Error("invalid UTF-8 rune");
    if (r == kEofRune || r == '\n') return Error("unterminated quoted string");
    if (r == quote) return Emit(Tok::kString);
  }
}

Token Lexer::LexRawString() {
  for (;;) {
    int32_t r = NextRune();
    if (r == kRuneError) return Error("invalid UTF-8 rune");
    if (r == kEofRune) return Error("unterminated raw string");
    if (r == '`') return Emit(Tok::kString);
  }
}

bool Lexer::ScanNumber() {
  const size_t initial = pos_;
  std::string_view digits = "0123456789";
  bool hex = false;
  if (Accept("0") && Accept("xX")) {
    Accept("_");
    digits = "0123456789abcdefABCDEF";
    hex = true;
  }
  auto is = [&](std::string_view set) {
    int c = Peek();
    return c >= 0 && c < 0x80 && set.find(static_cast<char>(c)) != std::string_view::npos;
  };
  auto is_loop = [&] { return is(digits) || is("._eE"); };
  Accept(".");
  Accept(digits);
  bool dot_consumed = false;
  bool exponent_consumed = false;
  while (is_loop()) {
    if (is(".") && dot_consumed) {
      Accept(".");
      return false;
    }
    if (is("eE") && exponent_consumed) {
      Accept("eE");
      return false;
    }
    if (Accept(".")) {
      dot_consumed = true;
      if (Accept("_.")) return false;
      if (hex) return false;
      continue;
    }
    if (Accept("eE")) {
      exponent_consumed = true;
      Accept("+-");
      if (Accept("._eE") || Peek() < 0) return false;
      continue;
    }
    if (Accept("_")) {
      if (Accept("._eE") || Peek() < 0) return false;
      continue;
    }
    while (Accept(digits)) {
    }
  }
  if (pos_ == initial) return false;
  return !IsAlphaNumeric(Peek());
}

bool Lexer::AcceptRemainingDuration() {
  if (!Accept("smhdwy")) return false;
  Accept("s");
  while (Accept("0123456789")) {
    while (Accept("0123456789")) {
    }
    if (!Accept("smhdw")) return false;
    Accept("s");
  }
  return !IsAlphaNumeric(NextRune());
}

Token Lexer::LexNumberOrDuration() {
  if (ScanNumber()) return Emit(Tok::kNumber);
  if (AcceptRemainingDuration()) {
    Backup();
    return Emit(Tok::kDuration);
  }
  return Error("bad number or duration syntax: " + GoQuote(in_.substr(start_, pos_ - start_)));
}

Token Lexer::LexKeywordOrIdentifier() {
  while (IsAlphaNumeric(Peek()) || Peek() == ':') ++pos_;
  std::string_view word = in_.substr(start_, pos_ - start_);
  std::string lower = absl::AsciiStrToLower(std::string(word));
  for (const Keyword& k : kKeywords) {
    if (k.word == lower) return Emit(k.tok);
  }
  return Emit(word.find(':') == std::string_view::npos ? Tok::kIdentifier : Tok::kMetricIdentifier);
}

Token Lexer::LexIdentifier() {
  while (IsAlphaNumeric(Peek())) ++pos_;
  return Emit(Tok::kIdentifier);
}

}  // namespace meridian::promql
