// Parsing of Prometheus HTTP API parameters (times, durations, limits) and the
// mapping from meridian's status codes to Prometheus error types. Pure
// functions, no HTTP types; thread-safe.
#ifndef MERIDIAN_API_PARAMS_H_
#define MERIDIAN_API_PARAMS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "model/status.h"

namespace meridian::api {

// The bounds Prometheus uses for "no start"/"no end".
inline constexpr int64_t kApiMinTimeMs = -62135596800000LL;  // 0001-01-01T00:00:00Z
inline constexpr int64_t kApiMaxTimeMs = 253402300799000LL;  // 9999-12-31T23:59:59Z

// Unix seconds with fractions ("1435781451.781", rounded to ms) or RFC 3339
// ("2015-07-01T20:10:51.781Z", "...+02:00"). Error text as Prometheus:
// `cannot parse "x" to a valid timestamp`.
absl::StatusOr<int64_t> ParseTimeMs(std::string_view s);

// Float seconds ("15", "0.5") or a Prometheus duration ("1m30s"). Error text:
// `cannot parse "x" to a valid duration`.
absl::StatusOr<int64_t> ParseDurationMs(std::string_view s);

// Thanos's max_source_resolution: "auto" -> -1, "raw" -> 0, or a
// non-negative duration as ParseDurationMs reads it ("0", "0s", "300",
// "5m", "1h") in ms. Anything else: InvalidArgument.
absl::StatusOr<int64_t> ParseMaxSourceResolutionMs(std::string_view s);

// A Prometheus API error: errorType and HTTP status for a status code.
struct ApiError {
  std::string_view
      type;  // bad_data, execution, timeout, canceled, internal, unavailable, not_found
  int http_status;
};
ApiError ErrorFor(const absl::Status& s);

// The text of `s` fit for a response body. Error bodies never carry file
// paths or exception text: a server fault (what ErrorFor maps to 500) is
// logged in full to stderr and answered with a generic message.
std::string PublicMessage(const absl::Status& s);

}  // namespace meridian::api

#endif  // MERIDIAN_API_PARAMS_H_
