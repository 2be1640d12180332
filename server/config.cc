#include "server/config.h"

#include <httplib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <vector>

#include "api/params.h"
#include "server/config_internal.h"

namespace meridian::server {

using api::ParseDurationMs;

namespace config_internal {

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r");
  size_t e = s.find_last_not_of(" \t\r");
  if (b == std::string::npos) return "";
  s = s.substr(b, e - b + 1);
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) {
    s = s.substr(1, s.size() - 2);
  }
  return s;
}

absl::Status ParseBool(const std::string& v, bool* out) {
  if (v == "true" || v == "1" || v == "yes") {
    *out = true;
  } else if (v == "false" || v == "0" || v == "no") {
    *out = false;
  } else {
    return absl::InvalidArgumentError("expected true or false, got \"" + v + "\"");
  }
  return absl::OkStatus();
}

absl::Status ParseInt(const std::string& v, int64_t* out) {
  char* end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != 0)
    return absl::InvalidArgumentError("expected an integer, got \"" + v + "\"");
  *out = x;
  return absl::OkStatus();
}

absl::Status ParseNonNegative(const std::string& v, int64_t* out) {
  MERIDIAN_RETURN_IF_ERROR(ParseInt(v, out));
  if (*out < 0) return absl::InvalidArgumentError("must not be negative");
  return absl::OkStatus();
}

absl::Status ParsePositive(const std::string& v, int64_t* out) {
  MERIDIAN_RETURN_IF_ERROR(ParseInt(v, out));
  if (*out <= 0) return absl::InvalidArgumentError("must be positive");
  return absl::OkStatus();
}

absl::Status ParseRate(const std::string& v, double* out) {
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != 0 || !(x >= 0) || x > 1e15) {
    return absl::InvalidArgumentError("expected a non-negative number, got \"" + v + "\"");
  }
  *out = x;
  return absl::OkStatus();
}

absl::Status ParseDur(const std::string& v, int64_t* out) {
  auto d = ParseDurationMs(v);
  if (!d.ok()) return d.status();
  *out = *d;
  return absl::OkStatus();
}

absl::Status ParseIntIn(const std::string& v, int64_t lo, int64_t hi, int* out) {
  int64_t x;
  MERIDIAN_RETURN_IF_ERROR(ParseInt(v, &x));
  if (x < lo || x > hi) {
    return absl::InvalidArgumentError("must be between " + std::to_string(lo) + " and " +
                                      std::to_string(hi));
  }
  *out = static_cast<int>(x);
  return absl::OkStatus();
}

absl::Status ParsePositiveDur(const std::string& v, int64_t* out) {
  MERIDIAN_RETURN_IF_ERROR(ParseDur(v, out));
  if (*out <= 0) return absl::InvalidArgumentError("must be positive");
  return absl::OkStatus();
}

absl::Status ParseNonNegativeDur(const std::string& v, int64_t* out) {
  MERIDIAN_RETURN_IF_ERROR(ParseDur(v, out));
  if (*out < 0) return absl::InvalidArgumentError("must not be negative");
  return absl::OkStatus();
}

}  // namespace config_internal

using config_internal::ParseBool;
using config_internal::ParsePositiveDur;
using config_internal::Settings;
using config_internal::Trim;

namespace {

absl::Status Apply(Config* c, const std::string& key, const std::string& value,
                   const std::string& where) {
  for (const auto& s : Settings()) {
    if (key == s.name) {
      absl::Status st = s.set(c, value);
      if (!st.ok()) {
        return absl::InvalidArgumentError(where + ": invalid value for " + key + ": " +
                                          std::string(st.message()));
      }
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(where + ": unknown setting \"" + key + "\"");
}

absl::Status LoadFile(Config* c, const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError("cannot read config file " + path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  for (size_t i = 0; i < lines.size(); ++i) {
    const int n = static_cast<int>(i) + 1;
    std::string line = lines[i];
    if (size_t h = line.find('#'); h != std::string::npos) line = line.substr(0, h);
    line = Trim(line);
    if (line.empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos) {
      return absl::InvalidArgumentError(path + ":" + std::to_string(n) + ": expected key: value");
    }
    const std::string key = Trim(line.substr(0, colon));
    const std::string value = Trim(line.substr(colon + 1));
    // A nested YAML list (remote_read:, federate_pull:): the key alone, then
    // indented lines up to the next top-level key (server/config_remote.cc).
    if (value.empty() && (key == "remote_read" || key == "remote-read" || key == "federate_pull" ||
                          key == "federate-pull")) {
      std::string block = lines[i] + "\n";
      while (i + 1 < lines.size() &&
             (lines[i + 1].empty() || lines[i + 1][0] == ' ' || lines[i + 1][0] == '\t' ||
              lines[i + 1][0] == '-' || lines[i + 1][0] == '#')) {
        block += lines[++i] + "\n";
      }
      MERIDIAN_RETURN_IF_ERROR(ApplyYamlList(c, key, block, path + ":" + std::to_string(n)));
      continue;
    }
    MERIDIAN_RETURN_IF_ERROR(Apply(c, key, value, path + ":" + std::to_string(n)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RemoteReadConfig> ParseRemoteRead(const std::string& value) {
  RemoteReadConfig r;
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError("remote-read \"" + r.name + "\": " + why);
  };
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t semi = value.find(';', start);
    parts.push_back(
        Trim(value.substr(start, semi == std::string::npos ? std::string::npos : semi - start)));
    if (semi == std::string::npos) break;
    start = semi + 1;
  }
  size_t eq = parts[0].find('=');
  if (eq == std::string::npos || eq == 0) {
    return absl::InvalidArgumentError("remote-read wants NAME=URL, got \"" + parts[0] + "\"");
  }
  r.name = parts[0].substr(0, eq);
  r.url = parts[0].substr(eq + 1);
  if (r.url.rfind("http://", 0) != 0 && r.url.rfind("https://", 0) != 0) {
    return bad("URL must start with http:// or https://");
  }
  r.text = parts[0];
  for (size_t i = 1; i < parts.size(); ++i) {
    if (parts[i].empty()) continue;
    size_t e = parts[i].find('=');
    if (e == std::string::npos) return bad("option \"" + parts[i] + "\" wants KEY=VALUE");
    std::string k = parts[i].substr(0, e), v = parts[i].substr(e + 1);
    bool secret = false;
    if (k == "timeout") {
      MERIDIAN_RETURN_IF_ERROR(ParsePositiveDur(v, &r.timeout_ms));
    } else if (k == "tenant-header") {
      r.tenant_header = v;
    } else if (k == "tenant") {
      r.tenant = v;
    } else if (k == "external-labels") {
      size_t p = 0;
      while (p < v.size()) {
        size_t comma = v.find(',', p);
        std::string item = v.substr(p, comma == std::string::npos ? std::string::npos : comma - p);
        size_t colon = item.find(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == item.size()) {
          return bad("external label \"" + item + "\" wants NAME:VALUE");
        }
        r.external_labels.emplace_back(item.substr(0, colon), item.substr(colon + 1));
        if (comma == std::string::npos) break;
        p = comma + 1;
      }
    } else if (k == "bearer-token") {
      r.bearer_token = v;
      secret = true;
    } else if (k == "basic-auth") {
      size_t colon = v.find(':');
      if (colon == std::string::npos) return bad("basic-auth wants USER:PASSWORD");
      r.basic_auth_username = v.substr(0, colon);
      r.basic_auth_password = v.substr(colon + 1);
      secret = true;
    } else if (k == "tls-ca-file") {
      r.tls_ca_file = v;
    } else if (k == "tls-insecure-skip-verify") {
      MERIDIAN_RETURN_IF_ERROR(ParseBool(v, &r.tls_insecure_skip_verify));
    } else if (k == "pushdown") {
      MERIDIAN_RETURN_IF_ERROR(ParseBool(v, &r.pushdown));
    } else if (k == "api-url") {
      if (v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0) {
        return bad("api-url must start with http:// or https://");
      }
      r.api_url = v;
    } else {
      return bad("unknown option \"" + k + "\"");
    }
    r.text += ";" + k + "=" + (secret ? "<secret>" : v);
  }
  return r;
}

std::map<std::string, std::string> Config::AsFlags() const {
  std::map<std::string, std::string> out;
  for (const auto& s : Settings()) out[s.name] = s.get(*this);
  out["config"] = config_file;
  return out;
}

std::string Usage() {
  std::ostringstream o;
  const Config defaults;
  o << "usage: meridian [--FLAG VALUE | --FLAG=VALUE ...]\n"
    << "       meridian restore --from SNAPSHOT_DIR --data-dir NEW_DIR\n"
    << "       meridian compact --data-dir DIR [FLAGS]   (one compactor pass on a stopped "
       "instance)\n\n"
    << "  --config FILE          read settings from FILE (key: value lines); flags override it\n"
    << "  --help                 show this help\n"
    << "  --version              show the version\n";
  for (const auto& s : Settings()) {
    std::string n = s.name;
    o << "  --" << n << std::string(n.size() < 21 ? 21 - n.size() : 1, ' ') << s.help
      << " (default " << s.get(defaults) << ")\n";
  }
  return o.str();
}

std::string VersionText() {
  return std::string("meridian version ") + MERIDIAN_VERSION + " (cpp-httplib " +
         CPPHTTPLIB_VERSION + ")";
}

absl::Status ParseListen(const std::string& listen, std::string* host, int* port) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError("listen address \"" + listen + "\" " + why);
  };
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return bad("is not HOST:PORT");
  std::string h = listen.substr(0, colon);
  std::string p = listen.substr(colon + 1);
  if (!h.empty() && h.front() == '[') {
    if (h.size() < 3 || h.back() != ']') return bad("has a malformed [IPv6] host");
    h = h.substr(1, h.size() - 2);
  } else if (h.find(':') != std::string::npos) {
    return bad("needs brackets around an IPv6 host, e.g. [::1]:9097");
  }
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) {
    return bad("has an invalid port \"" + p + "\" (want a number 0-65535)");
  }
  int n = std::stoi(p);
  if (n > 65535) return bad("has an invalid port \"" + p + "\" (want a number 0-65535)");
  *host = h;
  *port = n;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseRuleFileSources(
    const std::string& value, const std::string& default_tenant) {
  std::vector<std::pair<std::string, std::string>> out;
  std::stringstream ss(value);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = Trim(item);
    if (item.empty()) continue;
    std::string tenant = default_tenant;
    size_t eq = item.find('=');
    if (eq != std::string::npos) {
      tenant = Trim(item.substr(0, eq));
      item = Trim(item.substr(eq + 1));
      if (tenant.empty() || item.empty()) {
        return absl::InvalidArgumentError("expected [TENANT=]GLOB, got \"" + value + "\"");
      }
    }
    out.emplace_back(tenant, item);
  }
  return out;
}

absl::StatusOr<Config> ParseConfig(int argc, char** argv) {
  std::vector<std::pair<std::string, std::string>> flags;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help" || a == "-help") return absl::CancelledError(Usage());
    if (a == "--version" || a == "-version") return absl::CancelledError(VersionText());
    if (a.rfind("--", 0) != 0) {
      return absl::InvalidArgumentError("unexpected argument \"" + a + "\"\n" + Usage());
    }
    a = a.substr(2);
    std::string value;
    if (size_t eq = a.find('='); eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return absl::InvalidArgumentError("flag --" + a + " needs a value");
    }
    flags.emplace_back(a, value);
  }
  Config c;
  for (const auto& [k, v] : flags) {
    if (k == "config") c.config_file = v;
  }
  if (!c.config_file.empty()) MERIDIAN_RETURN_IF_ERROR(LoadFile(&c, c.config_file));
  for (const auto& [k, v] : flags) {
    if (k == "config") continue;
    MERIDIAN_RETURN_IF_ERROR(Apply(&c, k, v, "flag --" + k));
  }
  return c;
}

}  // namespace meridian::server
