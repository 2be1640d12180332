// ErrorMessage(...): concatenates strings and integers into an error message.
// absl::StrCat cannot be used with std::string_view here (Debian's abseil
// 20220623 is built with its own absl::string_view), so ingest builds its
// messages with this instead. Error paths only; not tuned for speed.
//
//   ErrorMessage("sample timestamp ", t_ms, " is too far in the future")
#ifndef MERIDIAN_INGEST_ERROR_MESSAGE_H_
#define MERIDIAN_INGEST_ERROR_MESSAGE_H_

#include <concepts>
#include <string>
#include <string_view>

namespace meridian::ingest {
namespace internal {

inline void AppendPiece(std::string* out, std::string_view s) { out->append(s); }
template <std::integral T>
requires(!std::same_as<T, char> && !std::same_as<T, bool>) void AppendPiece(std::string* out, T v) {
  out->append(std::to_string(v));
}

}  // namespace internal

template <typename... Args>
std::string ErrorMessage(const Args&... args) {
  std::string out;
  (internal::AppendPiece(&out, args), ...);
  return out;
}

}  // namespace meridian::ingest

#endif  // MERIDIAN_INGEST_ERROR_MESSAGE_H_
