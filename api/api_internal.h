// Pieces shared by the files of the Prometheus HTTP API (api.cc, the query
// endpoints; api_metadata.cc, series/labels/metadata; api_status.cc, status
// and admin). Internal to server/.
#ifndef MERIDIAN_API_API_INTERNAL_H_
#define MERIDIAN_API_API_INTERNAL_H_

#include <httplib.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/status.h"

namespace meridian::api {

// The result of a handler: either data (already-encoded JSON) or an error,
// sent in Prometheus's envelope with its warnings and infos.
struct Reply {
  absl::Status status;
  std::string data;  // encoded JSON value
  std::vector<std::string> warnings;
  std::vector<std::string> infos;
};

namespace api_internal {

inline constexpr char kTruncated[] = "results truncated due to limit";

// "invalid parameter \"name\": message", Prometheus's wrapping.
absl::Status InvalidParam(std::string_view name, const absl::Status& s);

inline bool HasParam(const httplib::Request& req, const char* name) { return req.has_param(name); }
inline std::string Param(const httplib::Request& req, const char* name) {
  return req.get_param_value(name);
}
// True when the parameter is present with a non-empty value.
inline bool NonEmptyParam(const httplib::Request& req, const char* name) {
  return HasParam(req, name) && !Param(req, name).empty();
}

// Time parameters of the metadata endpoints (Prometheus's parseTimeParam).
absl::StatusOr<int64_t> TimeParam(const httplib::Request& req, const char* name,
                                  int64_t default_ms);
// The `limit` parameter: 0 when absent (no limit).
absl::StatusOr<size_t> LimitParam(const httplib::Request& req);
// Go's strconv.ParseBool, with Prometheus's wrapping of its error.
absl::StatusOr<bool> ParseGoBool(const std::string& s);

}  // namespace api_internal
}  // namespace meridian::api

#endif  // MERIDIAN_API_API_INTERNAL_H_
