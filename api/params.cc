#include "api/params.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "model/gofloat.h"
#include "query/parser.h"

namespace meridian::api {
namespace {

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Prometheus's parseTime and parseDuration try strconv.ParseFloat(s, 64) first.
bool ParseFloat(std::string_view s, double* out) { return model::ParseGoFloatOk(s, out); }

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

// RFC 3339 with optional fractional seconds: 2006-01-02T15:04:05.999999999Z07:00.
bool ParseRfc3339(std::string_view s, int64_t* t_ms) {
  int y, mo, d, h, mi, sec;
  if (!Digits(s, 0, 4, &y) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2, &mo) ||
      s[7] != '-' || !Digits(s, 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
      !Digits(s, 11, 2, &h) || s[13] != ':' || !Digits(s, 14, 2, &mi) || s[16] != ':' ||
      !Digits(s, 17, 2, &sec)) {
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59) return false;
  size_t pos = 19;
  int64_t frac_ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    int64_t scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      frac_ms += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return false;
  }
  int64_t offset_s = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, &om)) {
      return false;
    }
    offset_s = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return false;
  }
  if (pos != s.size()) return false;
  // Days from civil (Howard Hinnant's algorithm).
  int64_t yy = y - (mo <= 2);
  int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
  int64_t yoe = yy - era * 400;
  int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = era * 146097 + doe - 719468;
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_s;
  *t_ms = secs * 1000 + frac_ms;
  return true;
}

}  // namespace

absl::StatusOr<int64_t> ParseTimeMs(std::string_view s) {
  double f;
  if (ParseFloat(s, &f) && std::isfinite(f)) {
    double ip;
    double frac = std::modf(f, &ip);
    if (std::fabs(ip) < 9.2e15) {
      return static_cast<int64_t>(ip) * 1000 + static_cast<int64_t>(std::round(frac * 1000));
    }
  }
  int64_t t;
  if (ParseRfc3339(s, &t)) return t;
  return absl::InvalidArgumentError("cannot parse " + Quote(s) + " to a valid timestamp");
}

absl::StatusOr<int64_t> ParseDurationMs(std::string_view s) {
  double f;
  if (ParseFloat(s, &f)) {
    double ms = f * 1000;
    if (!std::isfinite(ms) || ms > 9.2e18 || ms < -9.2e18) {
      return absl::InvalidArgumentError("cannot parse " + Quote(s) +
                                        " to a valid duration. It overflows int64");
    }
    return static_cast<int64_t>(ms);
  }
  auto d = promql::ParseDuration(s);
  if (d.ok()) return *d;
  return absl::InvalidArgumentError("cannot parse " + Quote(s) + " to a valid duration");
}

absl::StatusOr<int64_t> ParseMaxSourceResolutionMs(std::string_view s) {
  if (s == "auto") return -1;
  if (s == "raw") return 0;
  MERIDIAN_ASSIGN_OR_RETURN(int64_t ms, ParseDurationMs(s));
  if (ms < 0) return absl::InvalidArgumentError("negative durations are not accepted");
  return ms;
}

ApiError ErrorFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      return {"bad_data", 400};
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kOutOfRange:
      return {"execution", 422};
    case absl::StatusCode::kDeadlineExceeded:
      return {"timeout", 503};
    case absl::StatusCode::kCancelled:
      return {"canceled", 499};
    case absl::StatusCode::kUnavailable:
      return {"unavailable", 503};
    case absl::StatusCode::kNotFound:
      return {"not_found", 404};
    default:
      return {"internal", 500};
  }
}

std::string PublicMessage(const absl::Status& s) {
  if (ErrorFor(s).http_status != 500) return std::string(s.message());
  std::fprintf(stderr, "meridian: request failed: %s\n", s.ToString().c_str());
  return s.code() == absl::StatusCode::kDataLoss
             ? "stored data is corrupt; details are in the server log"
             : "internal server error; details are in the server log";
}

}  // namespace meridian::api
