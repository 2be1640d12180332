// The settings of a global meridian's remotes and of federation pulls:
// --federate-pull's flag syntax, and the nested YAML lists a config file may
// give instead of flat `key: value` lines (remote_read:, federate_pull:).
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "api/params.h"
#include "server/config.h"

namespace meridian::server {
namespace {

absl::Status DurationOf(const std::string& v, int64_t* out) {
  auto d = api::ParseDurationMs(v);
  if (!d.ok()) return d.status();
  if (*d <= 0) return absl::InvalidArgumentError("must be positive");
  *out = *d;
  return absl::OkStatus();
}

absl::Status BoolOf(const std::string& v, bool* out) {
  if (v == "true") {
    *out = true;
  } else if (v == "false") {
    *out = false;
  } else {
    return absl::InvalidArgumentError("expected true or false, got \"" + v + "\"");
  }
  return absl::OkStatus();
}

std::vector<std::string> Split(const std::string& v, char sep) {
  std::vector<std::string> out;
  size_t p = 0;
  while (true) {
    size_t e = v.find(sep, p);
    out.push_back(v.substr(p, e == std::string::npos ? std::string::npos : e - p));
    if (e == std::string::npos) break;
    p = e + 1;
  }
  return out;
}

absl::Status LabelPairs(const std::string& v,
                        std::vector<std::pair<std::string, std::string>>* out) {
  for (const std::string& item : Split(v, ',')) {
    size_t colon = item.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == item.size()) {
      return absl::InvalidArgumentError("label \"" + item + "\" wants NAME:VALUE");
    }
    out->emplace_back(item.substr(0, colon), item.substr(colon + 1));
  }
  return absl::OkStatus();
}

std::string ReadSecretFile(const std::string& path, absl::Status* st) {
  std::ifstream in(path);
  if (!in) {
    *st = absl::InvalidArgumentError("cannot read " + path);
    return "";
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// Prometheus's authorization / basic_auth / tls_config blocks.
struct HttpClientYaml {
  std::string bearer_token, basic_user, basic_password, tls_ca_file;
  bool insecure = false;
};

absl::Status Scalar(const YAML::Node& n, const std::string& what, std::string* out) {
  if (!n.IsScalar()) return absl::InvalidArgumentError(what + " must be a string");
  *out = n.as<std::string>();
  return absl::OkStatus();
}

absl::Status HttpClientOf(const YAML::Node& entry, const std::string& key, HttpClientYaml* h,
                          bool* handled) {
  *handled = true;
  const YAML::Node& n = entry[key];
  auto keys = [&](const std::set<std::string>& allowed) -> absl::Status {
    if (!n.IsMap()) return absl::InvalidArgumentError(key + " must be a mapping");
    for (const auto& kv : n) {
      std::string k = kv.first.as<std::string>();
      if (!allowed.count(k)) {
        return absl::InvalidArgumentError(key + ": field " + k + " not found (or not supported)");
      }
    }
    return absl::OkStatus();
  };
  absl::Status st;
  if (key == "authorization") {
    MERIDIAN_RETURN_IF_ERROR(keys({"type", "credentials", "credentials_file"}));
    if (n["type"] && n["type"].as<std::string>() != "Bearer") {
      return absl::InvalidArgumentError("authorization: only type Bearer is supported");
    }
    if (n["credentials"]) MERIDIAN_RETURN_IF_ERROR(Scalar(n["credentials"], key, &h->bearer_token));
    if (n["credentials_file"]) {
      h->bearer_token = ReadSecretFile(n["credentials_file"].as<std::string>(), &st);
    }
  } else if (key == "basic_auth") {
    MERIDIAN_RETURN_IF_ERROR(keys({"username", "password", "password_file"}));
    if (n["username"]) MERIDIAN_RETURN_IF_ERROR(Scalar(n["username"], key, &h->basic_user));
    if (n["password"]) MERIDIAN_RETURN_IF_ERROR(Scalar(n["password"], key, &h->basic_password));
    if (n["password_file"]) {
      h->basic_password = ReadSecretFile(n["password_file"].as<std::string>(), &st);
    }
    if (h->basic_user.empty()) return absl::InvalidArgumentError("basic_auth needs a username");
  } else if (key == "tls_config") {
    MERIDIAN_RETURN_IF_ERROR(keys({"ca_file", "insecure_skip_verify"}));
    if (n["ca_file"]) MERIDIAN_RETURN_IF_ERROR(Scalar(n["ca_file"], key, &h->tls_ca_file));
    if (n["insecure_skip_verify"]) {
      MERIDIAN_RETURN_IF_ERROR(BoolOf(n["insecure_skip_verify"].as<std::string>(), &h->insecure));
    }
  } else {
    *handled = false;
  }
  return st;
}

// The loop both list entries share: `e` must be a mapping with a name and a
// url; every other key is Prometheus's authorization / basic_auth /
// tls_config (into *h) or goes to fn(key, value).
absl::Status ForEachEntryKey(
    const YAML::Node& e, const std::string& list, HttpClientYaml* h,
    const std::function<absl::Status(const std::string&, const YAML::Node&)>& fn) {
  if (!e.IsMap()) return absl::InvalidArgumentError("each " + list + " entry must be a mapping");
  if (!e["name"] || !e["url"]) {
    return absl::InvalidArgumentError("each " + list + " entry needs a name and a url");
  }
  for (const auto& kv : e) {
    const std::string k = kv.first.as<std::string>();
    if (k == "name" || k == "url") continue;
    bool handled = false;
    MERIDIAN_RETURN_IF_ERROR(HttpClientOf(e, k, h, &handled));
    if (!handled) MERIDIAN_RETURN_IF_ERROR(fn(k, kv.second));
  }
  return absl::OkStatus();
}

absl::StatusOr<RemoteReadConfig> RemoteReadOf(const YAML::Node& e) {
  // Built as the flag's text, so both forms share one parser and its checks.
  std::string text;
  HttpClientYaml h;
  MERIDIAN_RETURN_IF_ERROR(ForEachEntryKey(
      e, "remote_read", &h, [&](const std::string& k, const YAML::Node& v) -> absl::Status {
        if (k == "remote_timeout" || k == "timeout") {
          text += ";timeout=" + v.as<std::string>();
        } else if (k == "tenant_header") {
          text += ";tenant-header=" + v.as<std::string>();
        } else if (k == "tenant") {
          text += ";tenant=" + v.as<std::string>();
        } else if (k == "api_url") {
          text += ";api-url=" + v.as<std::string>();
        } else if (k == "pushdown") {
          text += ";pushdown=" + v.as<std::string>();
        } else if (k == "external_labels") {
          if (!v.IsMap()) return absl::InvalidArgumentError("external_labels must be a mapping");
          std::string list;
          for (const auto& l : v) {
            list += (list.empty() ? "" : ",") + l.first.as<std::string>() + ":" +
                    l.second.as<std::string>();
          }
          if (!list.empty()) text += ";external-labels=" + list;
        } else {
          return absl::InvalidArgumentError("remote_read: field " + k + " not found");
        }
        return absl::OkStatus();
      }));
  text = e["name"].as<std::string>() + "=" + e["url"].as<std::string>() + text;
  MERIDIAN_ASSIGN_OR_RETURN(RemoteReadConfig r, ParseRemoteRead(text));
  // Secrets are set after parsing: ';' or ',' in them must not split options.
  if (!h.bearer_token.empty()) {
    r.bearer_token = h.bearer_token;
    r.text += ";bearer-token=<secret>";
  }
  if (!h.basic_user.empty()) {
    r.basic_auth_username = h.basic_user;
    r.basic_auth_password = h.basic_password;
    r.text += ";basic-auth=<secret>";
  }
  if (!h.tls_ca_file.empty()) {
    r.tls_ca_file = h.tls_ca_file;
    r.text += ";tls-ca-file=" + h.tls_ca_file;
  }
  if (h.insecure) {
    r.tls_insecure_skip_verify = true;
    r.text += ";tls-insecure-skip-verify=true";
  }
  return r;
}

absl::StatusOr<FederatePullSetting> FederatePullOf(const YAML::Node& e) {
  FederatePullSetting f;
  HttpClientYaml h;
  MERIDIAN_RETURN_IF_ERROR(ForEachEntryKey(
      e, "federate_pull", &h, [&](const std::string& k, const YAML::Node& v) -> absl::Status {
        if (k == "match" || k == "match[]") {
          if (!v.IsSequence()) {
            return absl::InvalidArgumentError("match must be a list of selectors");
          }
          for (const auto& m : v) f.pull.match.push_back(m.as<std::string>());
        } else if (k == "interval" || k == "scrape_interval") {
          return DurationOf(v.as<std::string>(), &f.pull.interval_ms);
        } else if (k == "timeout" || k == "scrape_timeout") {
          return DurationOf(v.as<std::string>(), &f.pull.timeout_ms);
        } else if (k == "labels") {
          if (!v.IsMap()) return absl::InvalidArgumentError("labels must be a mapping");
          for (const auto& l : v) {
            f.pull.labels.emplace_back(l.first.as<std::string>(), l.second.as<std::string>());
          }
        } else if (k == "honor_labels") {
          return BoolOf(v.as<std::string>(), &f.pull.honor_labels);
        } else if (k == "honor_timestamps") {
          return BoolOf(v.as<std::string>(), &f.pull.honor_timestamps);
        } else if (k == "track_timestamps_staleness") {
          return BoolOf(v.as<std::string>(), &f.pull.track_timestamps_staleness);
        } else if (k == "tenant") {
          f.pull.tenant = v.as<std::string>();
        } else {
          return absl::InvalidArgumentError("federate_pull: field " + k + " not found");
        }
        return absl::OkStatus();
      }));
  // The name and URL checks of the flag's parser; the options above.
  MERIDIAN_ASSIGN_OR_RETURN(
      FederatePullSetting base,
      ParseFederatePull(e["name"].as<std::string>() + "=" + e["url"].as<std::string>()));
  f.pull.name = base.pull.name;
  f.pull.url = base.pull.url;
  f.pull.bearer_token = h.bearer_token;
  f.pull.basic_auth_username = h.basic_user;
  f.pull.basic_auth_password = h.basic_password;
  f.pull.tls_ca_file = h.tls_ca_file;
  f.pull.tls_insecure_skip_verify = h.insecure;
  f.text = FederatePullText(f.pull);
  return f;
}

}  // namespace

std::string FederatePullText(const remote::FederatePullConfig& p) {
  std::string t = p.name + "=" + p.url;
  for (const auto& m : p.match) t += ";match=" + m;
  t += ";interval=" + std::to_string(p.interval_ms / 1000) + "s";
  if (!p.labels.empty()) {
    t += ";labels=";
    for (size_t i = 0; i < p.labels.size(); ++i) {
      t += (i ? "," : "") + p.labels[i].first + ":" + p.labels[i].second;
    }
  }
  if (!p.honor_labels) t += ";honor-labels=false";
  if (!p.honor_timestamps) t += ";honor-timestamps=false";
  if (p.track_timestamps_staleness) t += ";track-timestamps-staleness=true";
  if (!p.tenant.empty()) t += ";tenant=" + p.tenant;
  if (!p.bearer_token.empty()) t += ";bearer-token=<secret>";
  if (!p.basic_auth_username.empty()) t += ";basic-auth=<secret>";
  if (!p.tls_ca_file.empty()) t += ";tls-ca-file=" + p.tls_ca_file;
  if (p.tls_insecure_skip_verify) t += ";tls-insecure-skip-verify=true";
  return t;
}

absl::StatusOr<FederatePullSetting> ParseFederatePull(const std::string& value) {
  FederatePullSetting f;
  remote::FederatePullConfig& p = f.pull;
  std::vector<std::string> parts = Split(value, ';');
  size_t eq = parts[0].find('=');
  if (eq == std::string::npos || eq == 0) {
    return absl::InvalidArgumentError("federate-pull wants NAME=URL, got \"" + parts[0] + "\"");
  }
  p.name = parts[0].substr(0, eq);
  p.url = parts[0].substr(eq + 1);
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError("federate-pull \"" + p.name + "\": " + why);
  };
  if (p.url.rfind("http://", 0) != 0 && p.url.rfind("https://", 0) != 0) {
    return bad("URL must start with http:// or https://");
  }
  bool timeout_set = false;
  for (size_t i = 1; i < parts.size(); ++i) {
    if (parts[i].empty()) continue;
    size_t e = parts[i].find('=');
    if (e == std::string::npos) return bad("option \"" + parts[i] + "\" wants KEY=VALUE");
    std::string k = parts[i].substr(0, e), v = parts[i].substr(e + 1);
    absl::Status st;
    if (k == "match") {
      if (v.empty()) return bad("match wants a selector");
      p.match.push_back(v);
    } else if (k == "interval") {
      st = DurationOf(v, &p.interval_ms);
    } else if (k == "timeout") {
      st = DurationOf(v, &p.timeout_ms);
      timeout_set = true;
    } else if (k == "labels") {
      st = LabelPairs(v, &p.labels);
    } else if (k == "honor-labels") {
      st = BoolOf(v, &p.honor_labels);
    } else if (k == "honor-timestamps") {
      st = BoolOf(v, &p.honor_timestamps);
    } else if (k == "track-timestamps-staleness") {
      st = BoolOf(v, &p.track_timestamps_staleness);
    } else if (k == "tenant") {
      p.tenant = v;
    } else if (k == "bearer-token") {
      p.bearer_token = v;
    } else if (k == "basic-auth") {
      size_t colon = v.find(':');
      if (colon == std::string::npos) return bad("basic-auth wants USER:PASSWORD");
      p.basic_auth_username = v.substr(0, colon);
      p.basic_auth_password = v.substr(colon + 1);
    } else if (k == "tls-ca-file") {
      p.tls_ca_file = v;
    } else if (k == "tls-insecure-skip-verify") {
      st = BoolOf(v, &p.tls_insecure_skip_verify);
    } else {
      return bad("unknown option \"" + k + "\"");
    }
    if (!st.ok()) return bad(k + ": " + std::string(st.message()));
  }
  if (!timeout_set) p.timeout_ms = std::min<int64_t>(p.interval_ms, 10'000);
  if (p.timeout_ms > p.interval_ms) return bad("timeout must not exceed the interval");
  f.text = FederatePullText(p);
  return f;
}

absl::Status ApplyYamlList(Config* c, const std::string& key, const std::string& yaml_text,
                           const std::string& where) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(where + ": " + key + ": bad YAML: " + e.msg);
  }
  const YAML::Node list = root[key];
  if (!list || !list.IsSequence()) {
    return absl::InvalidArgumentError(where + ": " + key + " must be a list");
  }
  size_t i = 0;
  try {
    for (const auto& e : list) {
      const std::string at = where + ": " + key + "[" + std::to_string(i++) + "]: ";
      if (key == "remote_read" || key == "remote-read") {
        auto r = RemoteReadOf(e);
        if (!r.ok()) return absl::InvalidArgumentError(at + std::string(r.status().message()));
        absl::Status st = AddRemoteRead(c, *std::move(r));
        if (!st.ok()) return absl::InvalidArgumentError(at + std::string(st.message()));
      } else {
        auto f = FederatePullOf(e);
        if (!f.ok()) return absl::InvalidArgumentError(at + std::string(f.status().message()));
        absl::Status st = AddFederatePull(c, *std::move(f));
        if (!st.ok()) return absl::InvalidArgumentError(at + std::string(st.message()));
      }
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(where + ": " + key + ": " + e.msg);
  }
  return absl::OkStatus();
}

absl::Status AddRemoteRead(Config* c, RemoteReadConfig r) {
  for (const auto& o : c->remote_reads) {
    if (o.name == r.name) {
      return absl::InvalidArgumentError("remote-read name \"" + r.name + "\" used twice");
    }
  }
  c->remote_reads.push_back(std::move(r));
  return absl::OkStatus();
}

absl::Status AddFederatePull(Config* c, FederatePullSetting f) {
  for (const auto& o : c->federate_pulls) {
    if (o.pull.name == f.pull.name) {
      return absl::InvalidArgumentError("federate-pull name \"" + f.pull.name + "\" used twice");
    }
  }
  c->federate_pulls.push_back(std::move(f));
  return absl::OkStatus();
}

}  // namespace meridian::server
