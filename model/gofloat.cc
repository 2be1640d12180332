#include "model/gofloat.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <system_error>

namespace meridian::model {
namespace {

// Go's decimalSlice for the shortest digits of a finite v:
// |v| = 0.d[0]d[1]…d[nd-1] × 10^dp; nd == 0 for ±0.
struct ShortestDecimal {
  bool neg = false;
  char d[32];
  int nd = 0;
  int dp = 0;
};

ShortestDecimal Shortest(double v) {
  ShortestDecimal s;
  s.neg = std::signbit(v);
  if (v == 0) return s;
  // std::to_chars without a precision prints the shortest round-trip digits,
  // the same digits as Go's ryuFtoaShortest: "d.ddde±xx".
  char buf[64];
  const auto res =
      std::to_chars(buf, buf + sizeof(buf), std::fabs(v), std::chars_format::scientific);
  // "d[.ddd]e±dd": the digits into s.d, counted in a local (not through
  // s.nd in memory: this runs for every number of an answer).
  const char* p = buf;
  const char* const end = res.ptr;
  int nd = 0;
  s.d[nd++] = *p++;
  if (p < end && *p == '.') {
    for (++p; p < end && *p != 'e'; ++p) s.d[nd++] = *p;
  }
  s.nd = nd;
  ++p;  // 'e'
  const bool exp_neg = *p == '-';
  ++p;  // sign
  int exp = 0;
  for (; p < end; ++p) exp = exp * 10 + (*p - '0');
  s.dp = (exp_neg ? -exp : exp) + 1;
  return s;
}

// strconv's fmtF with the shortest precision: the integer part (zero-padded
// past the digits), then the fraction digits if any.
void AppendF(std::string* out, const ShortestDecimal& s) {
  // At most 1 + 309 + 1 + 16 (dp > 0) or 3 + 323 + 17 (dp <= 0) characters,
  // laid out here and appended at once.
  char buf[352];
  char* p = buf;
  if (s.neg) *p++ = '-';
  if (s.dp > 0) {
    const int m = s.dp < s.nd ? s.dp : s.nd;
    std::memcpy(p, s.d, static_cast<size_t>(m));
    p += m;
    std::memset(p, '0', static_cast<size_t>(s.dp - m));
    p += s.dp - m;
  } else {
    *p++ = '0';
  }
  const int frac = s.nd - s.dp;  // digits after the point
  if (frac > 0) {
    *p++ = '.';
    const int zeros = s.dp < 0 ? -s.dp : 0;  // 0.000ddd
    std::memset(p, '0', static_cast<size_t>(zeros));
    p += zeros;
    const int from = s.dp > 0 ? s.dp : 0;
    std::memcpy(p, s.d + from, static_cast<size_t>(s.nd - from));
    p += s.nd - from;
  }
  out->append(buf, static_cast<size_t>(p - buf));
}

// strconv's fmtE with the shortest precision: d[.ddd]e±dd.
void AppendE(std::string* out, const ShortestDecimal& s) {
  if (s.neg) out->push_back('-');
  out->push_back(s.nd == 0 ? '0' : s.d[0]);
  if (s.nd > 1) {
    out->push_back('.');
    out->append(s.d + 1, static_cast<size_t>(s.nd - 1));
  }
  out->push_back('e');
  int exp = s.nd == 0 ? 0 : s.dp - 1;
  out->push_back(exp < 0 ? '-' : '+');
  if (exp < 0) exp = -exp;
  if (exp < 10) {
    out->push_back('0');
    out->push_back(static_cast<char>('0' + exp));
  } else if (exp < 100) {
    out->push_back(static_cast<char>('0' + exp / 10));
    out->push_back(static_cast<char>('0' + exp % 10));
  } else {
    out->push_back(static_cast<char>('0' + exp / 100));
    out->push_back(static_cast<char>('0' + exp / 10 % 10));
    out->push_back(static_cast<char>('0' + exp % 10));
  }
}

char Lower(char c) { return static_cast<char>(c | ('x' - 'X')); }  // strconv's lower()
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHexLetter(char c) { return Lower(c) >= 'a' && Lower(c) <= 'f'; }

bool EqualsLower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
    if (c != lower[i]) return false;
  }
  return true;
}

// strconv's underscoreOK: underscores only between digits, or between a base
// prefix and a digit.
bool UnderscoreOk(std::string_view s) {
  char saw = '^';  // ^ start, 0 digit or prefix, _ underscore, ! other
  size_t i = 0;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  bool hex = false;
  if (s.size() >= 2 && s[0] == '0' &&
      (Lower(s[1]) == 'b' || Lower(s[1]) == 'o' || Lower(s[1]) == 'x')) {
    i = 2;
    saw = '0';
    hex = Lower(s[1]) == 'x';
  }
  for (; i < s.size(); ++i) {
    if (IsDigit(s[i]) || (hex && IsHexLetter(s[i]))) {
      saw = '0';
      continue;
    }
    if (s[i] == '_') {
      if (saw != '0') return false;
      saw = '_';
      continue;
    }
    if (saw == '_') return false;
    saw = '!';
  }
  return saw != '_';
}

}  // namespace

void AppendGoFloat(std::string* out, double v, char fmt, int prec) {
  if (std::isnan(v)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(v)) {
    out->append(v > 0 ? "+Inf" : "-Inf");
    return;
  }
  if (prec >= 0 && (fmt == 'f' || fmt == 'e')) {
    // A fixed number of digits: std::to_chars rounds the exact binary value
    // half to even, as strconv does, and lays 'e' out as Go does (d.ddde±dd).
    char buf[512];  // 309 integer digits, the point, up to 100 decimals
    const auto res =
        std::to_chars(buf, buf + sizeof(buf), v,
                      fmt == 'f' ? std::chars_format::fixed : std::chars_format::scientific,
                      prec > 100 ? 100 : prec);
    out->append(buf, res.ptr);
    return;
  }
  const ShortestDecimal s = Shortest(v);
  switch (fmt) {
    case 'f':
      AppendF(out, s);
      return;
    case 'e':
      AppendE(out, s);
      return;
    default: {
      // strconv's %g with the shortest precision uses eprec = 6.
      const int exp = s.dp - 1;
      if (exp < -4 || exp >= 6) {
        AppendE(out, s);
      } else {
        AppendF(out, s);
      }
    }
  }
}

std::string FormatGoFloat(double v, char fmt, int prec) {
  std::string out;
  AppendGoFloat(&out, v, fmt, prec);
  return out;
}

GoParse ParseGoFloat(std::string_view s, double* out) {
  *out = 0;
  if (s.empty()) return GoParse::kSyntax;
  size_t i = 0;
  bool neg = false;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    i = 1;
  }
  // strconv's special(): [+-]inf, [+-]infinity, nan (no sign), any case.
  const std::string_view word = s.substr(i);
  if (EqualsLower(word, "inf") || EqualsLower(word, "infinity")) {
    *out = neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    return GoParse::kOk;
  }
  if (i == 0 && EqualsLower(word, "nan")) {
    *out = std::numeric_limits<double>::quiet_NaN();
    return GoParse::kOk;
  }

  // strconv's readFloat. `clean` receives the mantissa and exponent without
  // sign, base prefix or underscores, for std::from_chars.
  bool hex = false;
  if (i + 2 < s.size() && s[i] == '0' && Lower(s[i + 1]) == 'x') {
    hex = true;
    i += 2;
  }
  std::string clean;
  clean.reserve(s.size());
  bool underscores = false, sawdot = false, sawdigits = false;
  int nd = 0;      // significant digits (after leading zeros)
  int64_t dp = 0;  // |value| ~ 0.ddd × base^dp, as in readFloat
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '_') {
      underscores = true;
      continue;
    }
    if (c == '.') {
      if (sawdot) break;
      sawdot = true;
      dp = nd;
      clean.push_back(c);
      continue;
    }
    if (IsDigit(c) || (hex && IsHexLetter(c))) {
      sawdigits = true;
      clean.push_back(c);
      if (c == '0' && nd == 0) {
        --dp;
      } else {
        ++nd;
      }
      continue;
    }
    break;
  }
  if (!sawdigits) return GoParse::kSyntax;
  if (!sawdot) dp = nd;
  if (hex) dp *= 4;
  const char exp_char = hex ? 'p' : 'e';
  if (i < s.size() && Lower(s[i]) == exp_char) {
    clean.push_back(exp_char);
    ++i;
    if (i >= s.size()) return GoParse::kSyntax;
    int esign = 1;
    if (s[i] == '+' || s[i] == '-') {
      if (s[i] == '-') esign = -1;
      clean.push_back(s[i]);
      ++i;
    }
    if (i >= s.size() || !IsDigit(s[i])) return GoParse::kSyntax;
    int64_t e = 0;
    for (; i < s.size() && (IsDigit(s[i]) || s[i] == '_'); ++i) {
      if (s[i] == '_') {
        underscores = true;
        continue;
      }
      clean.push_back(s[i]);
      if (e < 10000) e = e * 10 + (s[i] - '0');
    }
    dp += e * esign;
  } else if (hex) {
    return GoParse::kSyntax;  // a hex mantissa needs a p exponent
  }
  if (i != s.size()) return GoParse::kSyntax;
  if (underscores && !UnderscoreOk(s)) return GoParse::kSyntax;

  // The syntax is Go's; the value comes from std::from_chars, which rounds
  // correctly (to nearest, ties to even) as Go does, for decimal and hex.
  double v = 0;
  const auto res = std::from_chars(clean.data(), clean.data() + clean.size(), v,
                                   hex ? std::chars_format::hex : std::chars_format::general);
  if (res.ec == std::errc::result_out_of_range) {
    // Beyond the doubles: too large (a range error, ±Inf) or too small (±0,
    // no error, as in Go). Only huge or tiny values get here, so the position
    // of the leading digit tells which.
    if (nd > 0 && dp > 0) {
      *out =
          neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
      return GoParse::kRange;
    }
    *out = neg ? -0.0 : 0.0;
    return GoParse::kOk;
  }
  if (res.ec != std::errc() || res.ptr != clean.data() + clean.size()) return GoParse::kSyntax;
  *out = neg ? -v : v;
  return GoParse::kOk;
}

}  // namespace meridian::model
