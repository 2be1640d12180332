// Small string helpers for the conformance runner. Debian's abseil is built
// with its own absl::string_view (not std::string_view), so the runner keeps
// to std::string_view and converts at the absl boundary here.
// Thread-safe: pure functions.
#ifndef MERIDIAN_TESTS_PROMQL_STRUTIL_H_
#define MERIDIAN_TESTS_PROMQL_STRUTIL_H_

#include <cctype>
#include <charconv>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/strings/string_view.h"

namespace meridian::promqltest {

inline std::string_view SV(absl::string_view s) { return std::string_view(s.data(), s.size()); }

inline void AppendPiece(std::string* out, std::string_view s) { out->append(s); }
inline void AppendPiece(std::string* out, const char* s) { out->append(s); }
inline void AppendPiece(std::string* out, const std::string& s) { out->append(s); }
inline void AppendPiece(std::string* out, absl::string_view s) { out->append(s.data(), s.size()); }
inline void AppendPiece(std::string* out, char c) { out->push_back(c); }
template <typename T>
requires std::is_integral_v<T>
void AppendPiece(std::string* out, T v) { out->append(std::to_string(v)); }

// Concatenates strings, string views, characters and integers.
template <typename... Args>
std::string Cat(const Args&... args) {
  std::string out;
  (AppendPiece(&out, args), ...);
  return out;
}
template <typename... Args>
void Append(std::string* out, const Args&... args) {
  (AppendPiece(out, args), ...);
}

inline std::string_view Strip(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

inline std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

inline std::vector<std::string_view> SplitLines(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t nl = s.find('\n', start);
    if (nl == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
}

inline std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out.append(sep);
    out.append(parts[i]);
  }
  return out;
}

// Parses a whole decimal integer.
template <typename T>
bool ParseInt(std::string_view s, T* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && !s.empty();
}

}  // namespace meridian::promqltest

#endif  // MERIDIAN_TESTS_PROMQL_STRUTIL_H_
