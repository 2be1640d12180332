// Lexer: PromQL text -> tokens, a port of the state machine in Prometheus's
// promql/parser/lex.go (same token boundaries, same error messages and
// positions). Internal to the query module; the public entry point is
// query/parser.h.
//
// Also holds the small text helpers shared by the lexer, parser and printer:
// Go-compatible quoting (%q), Prometheus duration parsing and printing.
//
// A Lexer borrows its input, which must outlive it. Not thread-safe.
#ifndef MERIDIAN_QUERY_LEXER_H_
#define MERIDIAN_QUERY_LEXER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "model/status.h"

namespace meridian::promql {

enum class Tok {
  kEOF,
  kError,  // text holds the message
  kComment,
  kComma,
  kColon,
  kIdentifier,
  kMetricIdentifier,
  kNumber,
  kDuration,
  kString,
  kLeftParen,
  kRightParen,
  kLeftBrace,
  kRightBrace,
  kLeftBracket,
  kRightBracket,
  kEql,  // '=' in matchers
  // Operators (Prometheus's operatorsStart..operatorsEnd).
  kAdd,
  kDiv,
  kEqlc,
  kEqlRegex,
  kGte,
  kGtr,
  kLand,
  kLor,
  kLss,
  kLte,
  kLunless,
  kMod,
  kMul,
  kNeq,
  kNeqRegex,
  kPow,
  kSub,
  kAt,
  kAtan2,
  // Aggregators.
  kAvg,
  kBottomk,
  kCount,
  kCountValues,
  kGroup,
  kMax,
  kMin,
  kQuantile,
  kStddev,
  kStdvar,
  kSum,
  kTopk,
  kLimitk,
  kLimitRatio,
  // Keywords.
  kBool,
  kBy,
  kGroupLeft,
  kGroupRight,
  kIgnoring,
  kOffset,
  kOn,
  kWithout,
  // @ modifier preprocessors.
  kStart,
  kEnd,
};

bool IsOperatorTok(Tok t);
bool IsAggregatorTok(Tok t);
bool IsKeywordTok(Tok t);

struct Token {
  Tok type = Tok::kEOF;
  int pos = 0;            // byte offset of the token's first byte
  std::string_view text;  // the token's source text (for kError: see message)
  std::string message;    // kError only
};

// Describes a token as Prometheus's Item.desc() does, for "unexpected ..." messages:
// `<op:+>`, `identifier "foo"`, `"("`, `end of input`, `<by>`, `<aggr:sum>`.
std::string DescribeToken(const Token& t);

class Lexer {
 public:
  explicit Lexer(std::string_view input) : in_(input) {}
  // Returns the next token; after kEOF or kError, keeps returning kEOF.
  Token Next();

 private:
  int Peek() const;    // next byte or -1
  int32_t NextRune();  // consumes one rune; -1 at end, 0xFFFD if invalid
  void Backup() { pos_ -= last_width_; }
  Token Emit(Tok t);
  Token Error(std::string msg);
  Token Error(std::string msg, int pos);
  Token LexStatements();
  Token LexInsideBraces();
  Token LexString(char quote);
  bool LexEscape(char quote, Token* err);
  Token LexRawString();
  Token LexNumberOrDuration();
  Token LexKeywordOrIdentifier();
  Token LexIdentifier();
  Token LexLineComment();
  bool ScanNumber();
  bool AcceptRemainingDuration();
  bool Accept(std::string_view valid);

  std::string_view in_;
  size_t pos_ = 0;
  size_t start_ = 0;
  int paren_depth_ = 0;
  bool brace_open_ = false;
  bool bracket_open_ = false;
  bool got_colon_ = false;
  bool number_next_ = false;  // just after '[': lex a number or duration
  bool done_ = false;
  int last_width_ = 0;  // width of the last rune read, for Backup()
};

// The text helpers below are in go_text.cc.

// What DecodeRune returns for an invalid encoding and at the end.
inline constexpr int32_t kRuneError = 0xFFFD;
inline constexpr int32_t kEofRune = -1;
// Decodes one UTF-8 rune from s at i. Returns -1 at the end, 0xFFFD (width 1)
// for invalid encodings, as Go's utf8.DecodeRuneInString.
int32_t DecodeRune(std::string_view s, size_t i, int* width);
// The value of hex digit ch, or 16.
int DigitVal(int32_t ch);

// Go's strconv.Quote (what fmt's %q prints for a string).
std::string GoQuote(std::string_view s);
// Go's %q for a rune: 'a', '\n', '\x00', '�'.
std::string GoQuoteRune(int32_t r);
// Go's %#U for a rune: U+0071 'q'.
std::string GoRuneU(int32_t r);

// Unquotes a string token's text (with its quotes) as Prometheus's
// strutil.Unquote does. The lexer has validated the escapes.
absl::StatusOr<std::string> UnquoteString(std::string_view quoted);

// model.ParseDuration: "1h30m", "5m", "100ms", "1y2w3d", or "0"; into ms.
// Errors: `empty duration string`, `not a valid duration string: "x"`,
// `duration out of range`.
absl::StatusOr<int64_t> ParsePromDuration(std::string_view s);
// model.Duration.String(): "1h30m", "0s", "90d", "1w", "1y".
std::string FormatPromDuration(int64_t ms);

// Pretty(e) with another line limit than Prometheus's 100 characters
// (prettier.go's maxCharactersPerLine); for tests. Defined in ast.cc.
struct Expr;
std::string PrettyWithLineLimit(const Expr& e, size_t max_line);

}  // namespace meridian::promql

#endif  // MERIDIAN_QUERY_LEXER_H_
