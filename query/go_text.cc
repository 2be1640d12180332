// Go-compatible text helpers of the query module (declared in
// query/lexer.h): UTF-8 decoding as Go's utf8 package, quoting as Go's
// strconv.Quote and %q/%#U, unquoting as Prometheus's strutil.Unquote, and
// Prometheus's duration parsing and printing (model.ParseDuration,
// model.Duration.String).
#include <cstdio>
#include <limits>
#include <string>

#include "model/utf8.h"
#include "query/lexer.h"

namespace meridian::promql {
namespace {

bool IsDigit(int r) { return r >= '0' && r <= '9'; }

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
