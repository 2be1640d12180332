// The pieces of server/config.cc that server/config_settings.cc (the table of
// settings) shares with it: value parsers and the table itself. Not for use
// outside server/config*.cc.
#ifndef MERIDIAN_SERVER_CONFIG_INTERNAL_H_
#define MERIDIAN_SERVER_CONFIG_INTERNAL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/status.h"
#include "server/config.h"

namespace meridian::server::config_internal {

// Spaces, tabs and CRs trimmed, then one pair of matching quotes removed.
std::string Trim(std::string s);

// Value parsers; each returns InvalidArgument with the reason (without the
// setting's name, which the caller adds).
absl::Status ParseBool(const std::string& v, bool* out);  // true/1/yes, false/0/no
absl::Status ParseInt(const std::string& v, int64_t* out);
absl::Status ParseNonNegative(const std::string& v, int64_t* out);
absl::Status ParsePositive(const std::string& v, int64_t* out);
absl::Status ParseRate(const std::string& v, double* out);  // a number in [0, 1e15]
absl::Status ParseDur(const std::string& v, int64_t* out);  // Prometheus durations, ms
absl::Status ParseIntIn(const std::string& v, int64_t lo, int64_t hi, int* out);
absl::Status ParsePositiveDur(const std::string& v, int64_t* out);
absl::Status ParseNonNegativeDur(const std::string& v, int64_t* out);

// One setting: a flag --NAME and the config-file key NAME.
struct Setting {
  const char* name;
  const char* help;
  std::function<absl::Status(Config*, const std::string&)> set;
  std::function<std::string(const Config&)> get;
};

// Every setting, in the order --help lists them (server/config_settings.cc).
const std::vector<Setting>& Settings();

}  // namespace meridian::server::config_internal

#endif  // MERIDIAN_SERVER_CONFIG_INTERNAL_H_
