#include "query/lexer.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "absl/strings/ascii.h"

namespace meridian::promql {
namespace {

constexpr int32_t kRuneError = 0xFFFD;
constexpr int32_t kEofRune = -1;

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

// Go's unicode.IsPrint, approximated for non-ASCII: everything except
// controls, non-ASCII spaces, format characters, private use, surrogates and
// noncharacters.
bool IsPrintRune(int32_t r) {
  if (r < 0x80) return r >= 0x20 && r < 0x7F;
  if (r <= 0x9F || r == 0xA0 || r == 0xAD) return false;
  if (r == 0x1680 || (r >= 0x2000 && r <= 0x200F) || (r >= 0x2028 && r <= 0x202F)) return false;
  if ((r >= 0x205F && r <= 0x206F) || r == 0x3000 || r == 0xFEFF) return false;
  if (r >= 0xD800 && r <= 0xF8FF) return false;  // surrogates and private use
  if (r >= 0xFFF9 && r <= 0xFFFB) return false;
  if ((r & 0xFFFE) == 0xFFFE) return false;  // noncharacters
  if (r >= 0xF0000) return false;            // planes 15-16: private use
  return r <= 0x10FFFF;
}

// Decodes one UTF-8 rune from s at i. Returns -1 at the end, 0xFFFD (width 1)
// for invalid encodings, as Go's utf8.DecodeRuneInString.
int32_t DecodeRune(std::string_view s, size_t i, int* width) {
  if (i >= s.size()) {
    *width = 0;
    return kEofRune;
  }
  auto b = static_cast<unsigned char>(s[i]);
  *width = 1;
  if (b < 0x80) return b;
  int n;
  int32_t r;
  int32_t min;
  if (b >= 0xC2 && b <= 0xDF) {
    n = 1, r = b & 0x1F, min = 0x80;
  } else if (b >= 0xE0 && b <= 0xEF) {
    n = 2, r = b & 0x0F, min = 0x800;
  } else if (b >= 0xF0 && b <= 0xF4) {
    n = 3, r = b & 0x07, min = 0x10000;
  } else {
    return kRuneError;
  }
  if (i + n >= s.size()) return kRuneError;
  for (int k = 1; k <= n; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return kRuneError;
    r = (r << 6) | (c & 0x3F);
  }
  if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) return kRuneError;
  *width = n + 1;
  return r;
}

int DigitVal(int32_t ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return 16;
}

void AppendEscapedRune(std::string* out, int32_t r, char quote) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (r == quote || r == '\\') {
    out->push_back('\\');
    out->push_back(static_cast<char>(r));
    return;
  }
  if (IsPrintRune(r)) {
    AppendUtf8(out, r);
    return;
  }
  switch (r) {
    case '\a':
      out->append("\\a");
      return;
    case '\b':
      out->append("\\b");
      return;
    case '\f':
      out->append("\\f");
      return;
    case '\n':
      out->append("\\n");
      return;
    case '\r':
      out->append("\\r");
      return;
    case '\t':
      out->append("\\t");
      return;
    case '\v':
      out->append("\\v");
      return;
  }
  if (r < ' ' || r == 0x7F) {
    out->append("\\x");
    out->push_back(kHex[(r >> 4) & 0xF]);
    out->push_back(kHex[r & 0xF]);
  } else if (r < 0x10000) {
    out->append("\\u");
    for (int s = 12; s >= 0; s -= 4) out->push_back(kHex[(r >> s) & 0xF]);
  } else {
    out->append("\\U");
    for (int s = 28; s >= 0; s -= 4) out->push_back(kHex[(r >> s) & 0xF]);
  }
}

}  // namespace

bool IsOperatorTok(Tok t) { return t >= Tok::kAdd && t <= Tok::kAtan2; }
bool IsAggregatorTok(Tok t) { return t >= Tok::kAvg && t <= Tok::kLimitRatio; }
bool IsKeywordTok(Tok t) { return t >= Tok::kBool && t <= Tok::kWithout; }

void AppendUtf8(std::string* out, int32_t r) {
  if (r < 0x80) {
    out->push_back(static_cast<char>(r));
  } else if (r < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (r >> 6)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else if (r < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (r >> 12)));
    out->push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (r >> 18)));
    out->push_back(static_cast<char>(0x80 | ((r >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  }
}

std::string GoQuote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (size_t i = 0; i < s.size();) {
    int w;
    int32_t r = DecodeRune(s, i, &w);
    if (r == kRuneError && w == 1) {
      static constexpr char kHex[] = "0123456789abcdef";
      auto b = static_cast<unsigned char>(s[i]);
      out.append("\\x");
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 0xF]);
    } else {
      AppendEscapedRune(&out, r, '"');
    }
    i += w;
  }
  out.push_back('"');
  return out;
}

std::string GoQuoteRune(int32_t r) {
  if (r < 0 || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) r = kRuneError;
  std::string out = "'";
  AppendEscapedRune(&out, r, '\'');
  out.push_back('\'');
  return out;
}

std::string GoRuneU(int32_t r) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "U+%04X", static_cast<unsigned>(r < 0 ? 0xFFFD : r));
  std::string out = buf;
  if (r >= 0 && IsPrintRune(r)) {
    out.append(" '");
    AppendUtf8(&out, r);
    out.push_back('\'');
  }
  return out;
}

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

// ---------------------------------------------------------------------------
// Text helpers

absl::StatusOr<std::string> UnquoteString(std::string_view q) {
  if (q.size() < 2 || q.front() != q.back()) return absl::InvalidArgumentError("invalid syntax");
  char quote = q.front();
  std::string_view s = q.substr(1, q.size() - 2);
  if (quote == '`') return std::string(s);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    if (c != '\\') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= s.size()) return absl::InvalidArgumentError("invalid syntax");
    char e = s[i + 1];
    i += 2;
    switch (e) {
      case 'a':
        out.push_back('\a');
        continue;
      case 'b':
        out.push_back('\b');
        continue;
      case 'f':
        out.push_back('\f');
        continue;
      case 'n':
        out.push_back('\n');
        continue;
      case 'r':
        out.push_back('\r');
        continue;
      case 't':
        out.push_back('\t');
        continue;
      case 'v':
        out.push_back('\v');
        continue;
      case '\\':
        out.push_back('\\');
        continue;
      case '\'':
      case '"':
        if (e != quote) return absl::InvalidArgumentError("invalid syntax");
        out.push_back(e);
        continue;
      default:
        break;
    }
    int n = 0, base = 16;
    if (e >= '0' && e <= '7') {
      n = 3, base = 8;
      --i;  // the first digit is part of the value
    } else if (e == 'x') {
      n = 2;
    } else if (e == 'u') {
      n = 4;
    } else if (e == 'U') {
      n = 8;
    } else {
      return absl::InvalidArgumentError("invalid syntax");
    }
    if (i + n > s.size()) return absl::InvalidArgumentError("invalid syntax");
    uint32_t v = 0;
    for (int k = 0; k < n; ++k) {
      int d = DigitVal(static_cast<unsigned char>(s[i + k]));
      if (d >= base) return absl::InvalidArgumentError("invalid syntax");
      v = v * base + d;
    }
    i += n;
    if (e == 'u' || e == 'U') {
      if (v > 0x10FFFF || (v >= 0xD800 && v < 0xE000))
        return absl::InvalidArgumentError("invalid syntax");
      AppendUtf8(&out, static_cast<int32_t>(v));
    } else {
      if (v > 255) return absl::InvalidArgumentError("invalid syntax");
      out.push_back(static_cast<char>(v));  // \x and octal escapes are raw bytes
    }
  }
  return out;
}

absl::StatusOr<int64_t> ParsePromDuration(std::string_view s) {
  if (s == "0") return 0;
  if (s.empty()) return absl::InvalidArgumentError("empty duration string");
  auto invalid = [&] {
    return absl::InvalidArgumentError("not a valid duration string: " + GoQuote(s));
  };
  // Units in the only order model.ParseDuration accepts, in ms.
  struct Unit {
    std::string_view name;
    int64_t ms;
  };
  static constexpr Unit kUnits[] = {
      {"y", 365LL * 24 * 3600 * 1000},
      {"w", 7LL * 24 * 3600 * 1000},
      {"d", 24LL * 3600 * 1000},
      {"h", 3600LL * 1000},
      {"m", 60LL * 1000},
      {"s", 1000},
      {"ms", 1},
  };
  constexpr int64_t kMaxNs = std::numeric_limits<int64_t>::max();
  int64_t total_ns = 0;
  bool overflow = false;
  int next_unit = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t d = i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    if (i == d) return invalid();
    std::string_view num = s.substr(d, i - d);
    size_t u = i;
    while (i < s.size() && (s[i] == 'y' || s[i] == 'w' || s[i] == 'd' || s[i] == 'h' ||
                            s[i] == 'm' || s[i] == 's')) {
      ++i;
      if (i - u == 2) break;
    }
    std::string_view unit = s.substr(u, i - u);
    int idx = -1;
    for (int k = next_unit; k < 7; ++k) {
      if (kUnits[k].name == unit) {
        idx = k;
        break;
      }
    }
    if (idx < 0) {
      // "1ms" vs "1m" followed by "s...": the regex backtracks; retry a 1-char unit.
      if (unit.size() == 2) {
        i = u + 1;
        unit = s.substr(u, 1);
        for (int k = next_unit; k < 7; ++k) {
          if (kUnits[k].name == unit) {
            idx = k;
            break;
          }
        }
      }
      if (idx < 0) return invalid();
    }
    next_unit = idx + 1;
    int64_t n = 0;
    bool n_overflow = false;
    for (char c : num) {
      if (n > (std::numeric_limits<int64_t>::max() - (c - '0')) / 10) {
        n_overflow = true;
        break;
      }
      n = n * 10 + (c - '0');
    }
    const int64_t mult = kUnits[idx].ms;
    if (n_overflow || n > kMaxNs / mult / 1'000'000) {
      overflow = true;
      continue;
    }
    int64_t add = n * mult * 1'000'000;
    if (total_ns > kMaxNs - add) {
      overflow = true;
    } else {
      total_ns += add;
    }
  }
  if (overflow) return absl::InvalidArgumentError("duration out of range");
  return total_ns / 1'000'000;
}

std::string FormatPromDuration(int64_t ms) {
  if (ms == 0) return "0s";
  std::string r;
  auto f = [&](const char* unit, int64_t mult, bool exact) {
    if (exact && ms % mult != 0) return;
    int64_t v = ms / mult;
    if (v > 0) {
      r += std::to_string(v);
      r += unit;
      ms -= v * mult;
    }
  };
  f("y", 365LL * 24 * 3600 * 1000, true);
  f("w", 7LL * 24 * 3600 * 1000, true);
  f("d", 24LL * 3600 * 1000, false);
  f("h", 3600LL * 1000, false);
  f("m", 60LL * 1000, false);
  f("s", 1000, false);
  f("ms", 1, false);
  return r;
}

}  // namespace meridian::promql
