#include "remote/federate_pull.h"

#include <httplib.h>
#include <snappy.h>

#include <algorithm>
#include <cstdio>

#include "model/gofloat.h"
#include "proto/remote.pb.h"
#include "remote/client.h"
#include "remote/codec.h"

namespace meridian::remote {
namespace {

bool NameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool NameChar(char c) { return NameStart(c) || (c >= '0' && c <= '9'); }

class LineParser {
 public:
  explicit LineParser(std::string_view line) : s_(line) {}

  absl::Status Parse(ExpositionSample* out) {
    std::string name = Name(/*metric=*/true);
    if (name.empty()) return Bad("expected a metric name");
    out->labels.push_back({std::string(kMetricName), name});
    SkipSpace();
    if (Peek() == '{') {
      ++pos_;
      while (true) {
        SkipSpace();
        if (Peek() == '}') {
          ++pos_;
          break;
        }
        std::string ln = Name(/*metric=*/false);
        if (ln.empty()) return Bad("expected a label name");
        SkipSpace();
        if (Peek() != '=') return Bad("expected '=' after label name " + ln);
        ++pos_;
        SkipSpace();
        if (Peek() != '"') return Bad("expected '\"' to start the value of " + ln);
        ++pos_;
        std::string v;
        while (true) {
          if (pos_ >= s_.size()) return Bad("unterminated label value");
          char c = s_[pos_++];
          if (c == '"') break;
          if (c == '\\') {
            if (pos_ >= s_.size()) return Bad("unterminated escape");
            char e = s_[pos_++];
            v.push_back(e == 'n' ? '\n' : e);  // \\ \" \n (others: the character)
          } else {
            v.push_back(c);
          }
        }
        for (const Label& l : out->labels) {
          if (l.name == ln) return Bad("duplicate label " + ln);
        }
        out->labels.push_back({std::move(ln), std::move(v)});
        SkipSpace();
        if (Peek() == ',') {
          ++pos_;
        } else if (Peek() != '}') {
          return Bad("expected ',' or '}' after a label");
        }
      }
    }
    SkipSpace();
    std::string_view value = Token();
    if (value.empty()) return Bad("expected a value");
    if (!model::ParseGoFloatOk(value, &out->value)) {
      return Bad("bad value \"" + std::string(value) + "\"");
    }
    SkipSpace();
    std::string_view ts = Token();
    if (!ts.empty()) {
      int64_t t = 0;
      bool neg = ts[0] == '-';
      size_t i = neg ? 1 : 0;
      if (i == ts.size()) return Bad("bad timestamp");
      for (; i < ts.size(); ++i) {
        if (ts[i] < '0' || ts[i] > '9') return Bad("bad timestamp \"" + std::string(ts) + "\"");
        if (t > (INT64_MAX - 9) / 10) return Bad("timestamp out of range");
        t = t * 10 + (ts[i] - '0');
      }
      out->t_ms = neg ? -t : t;
      SkipSpace();
    }
    if (pos_ != s_.size()) return Bad("unexpected text after the sample");
    return absl::OkStatus();
  }

 private:
  char Peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void SkipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }
  std::string Name(bool metric) {
    size_t b = pos_;
    if (pos_ < s_.size() && NameStart(s_[pos_]) && (metric || s_[pos_] != ':')) {
      ++pos_;
      while (pos_ < s_.size() && NameChar(s_[pos_]) && (metric || s_[pos_] != ':')) ++pos_;
    }
    return std::string(s_.substr(b, pos_ - b));
  }
  std::string_view Token() {
    size_t b = pos_;
    while (pos_ < s_.size() && s_[pos_] != ' ' && s_[pos_] != '\t') ++pos_;
    return s_.substr(b, pos_ - b);
  }
  absl::Status Bad(const std::string& why) const {
    return absl::InvalidArgumentError(why + " at column " + std::to_string(pos_ + 1));
  }

  std::string_view s_;
  size_t pos_ = 0;
};

std::string HostPort(const std::string& url) {
  size_t b = url.find("://");
  b = b == std::string::npos ? 0 : b + 3;
  size_t e = url.find('/', b);
  std::string hp = url.substr(b, e == std::string::npos ? std::string::npos : e - b);
  if (size_t at = hp.rfind('@'); at != std::string::npos) hp = hp.substr(at + 1);
  return hp;
}

}  // namespace

absl::StatusOr<std::vector<ExpositionSample>> ParseTextExposition(std::string_view body) {
  std::vector<ExpositionSample> out;
  size_t line_no = 0;
  size_t p = 0;
  while (p < body.size()) {
    size_t nl = body.find('\n', p);
    std::string_view line = body.substr(p, nl == std::string_view::npos ? body.npos : nl - p);
    p = nl == std::string_view::npos ? body.size() : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;  // blank, HELP, TYPE
    ExpositionSample s;
    absl::Status st = LineParser(line.substr(first)).Parse(&s);
    if (!st.ok()) {
      return absl::InvalidArgumentError("text exposition line " + std::to_string(line_no) + ": " +
                                        std::string(st.message()));
    }
    out.push_back(std::move(s));
  }
  return out;
}

Labels ApplyTargetLabels(const std::vector<Label>& scraped, const std::vector<Label>& target,
                         bool honor) {
  auto has = [](const std::vector<Label>& ls, std::string_view n) {
    return std::any_of(ls.begin(), ls.end(), [&](const Label& l) { return l.name == n; });
  };
  std::vector<Label> out = scraped;
  auto set = [&out](const std::string& n, const std::string& v) {
    for (Label& l : out) {
      if (l.name == n) {
        l.value = v;
        return;
      }
    }
    out.push_back({n, v});
  };
  if (honor) {
    for (const Label& t : target) {
      if (!has(scraped, t.name)) out.push_back(t);
    }
  } else {
    std::vector<Label> conflicts;
    for (const Label& t : target) {
      for (const Label& s : scraped) {
        if (s.name == t.name && !s.value.empty()) conflicts.push_back(s);
      }
      set(t.name, t.value);
    }
    for (const Label& c : conflicts) {
      std::string n = "exported_" + c.name;
      while (has(scraped, n) || has(target, n)) n = "exported_" + n;
      set(n, c.value);
    }
  }
  out.erase(std::remove_if(out.begin(), out.end(), [](const Label& l) { return l.value.empty(); }),
            out.end());
  return Labels::FromUnsorted(std::move(out));
}

FederatePuller::FederatePuller(FederatePullConfig config, Sink sink, Observer observer)
    : config_(std::move(config)), sink_(std::move(sink)), observer_(std::move(observer)) {
  target_labels_.push_back({"job", config_.name});
  target_labels_.push_back({"instance", HostPort(config_.url)});
  for (const auto& [n, v] : config_.labels) {
    bool replaced = false;
    for (Label& l : target_labels_) {
      if (l.name == n) {
        l.value = v;
        replaced = true;
      }
    }
    if (!replaced) target_labels_.push_back({n, v});
  }
}

FederatePuller::~FederatePuller() { Stop(); }

PullResult FederatePuller::PullOnce() {
  const auto start = std::chrono::steady_clock::now();
  PullResult r;
  auto finish = [&](absl::Status st) {
    r.status = std::move(st);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (observer_) observer_(config_.name, r);
    return r;
  };
  RemoteEndpoint e;
  e.name = config_.name;
  e.url = config_.url;
  e.timeout = std::chrono::milliseconds(config_.timeout_ms);
  e.bearer_token = config_.bearer_token;
  e.basic_auth_username = config_.basic_auth_username;
  e.basic_auth_password = config_.basic_auth_password;
  e.tls_ca_file = config_.tls_ca_file;
  e.tls_insecure_skip_verify = config_.tls_insecure_skip_verify;
  HttpCall call(e);
  if (!call.setup().ok()) return finish(call.setup());
  auto ms = config_.timeout_ms;
  call.client()->set_connection_timeout(ms / 1000, (ms % 1000) * 1000);
  call.client()->set_read_timeout(ms / 1000, (ms % 1000) * 1000);
  call.client()->set_decompress(true);
  httplib::Params params;
  for (const std::string& m : config_.match) params.emplace("match[]", m);
  std::string path = call.path();
  std::string query = httplib::detail::params_to_query_str(params);
  if (!query.empty()) path += (path.find('?') == std::string::npos ? "?" : "&") + query;
  httplib::Headers headers = {{"Accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1"},
                              {"User-Agent", "meridian-federate/0.1"}};
  const int64_t scrape_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  auto res = call.client()->Get(path, headers);
  if (!res)
    return finish(absl::UnavailableError("federate pull: " + httplib::to_string(res.error())));
  if (res->status != 200) {
    return finish(absl::UnavailableError("federate pull: " + config_.url + " answered HTTP " +
                                         std::to_string(res->status)));
  }
  auto parsed = ParseTextExposition(res->body);
  if (!parsed.ok()) return finish(parsed.status());
  // In requests of at most kBatch series: the receiver's per-request limits
  // apply as they do to a Prometheus's remote-write shards.
  constexpr int kBatch = 2000;
  r.samples = parsed->size();
  prometheus::WriteRequest req;
  auto flush = [&]() -> absl::Status {
    if (req.timeseries_size() == 0) return absl::OkStatus();
    std::string raw = req.SerializeAsString(), body;
    snappy::Compress(raw.data(), raw.size(), &body);
    req.Clear();
    return sink_(config_.tenant, std::move(body));
  };
  absl::Status first_error;
  for (const ExpositionSample& s : *parsed) {
    Labels ls = ApplyTargetLabels(s.labels, target_labels_, config_.honor_labels);
    auto* ts = req.add_timeseries();
    LabelsToProto(ls, ts->mutable_labels());
    auto* p = ts->add_samples();
    p->set_value(s.value);
    p->set_timestamp(s.t_ms.value_or(scrape_ms));
    if (req.timeseries_size() >= kBatch) {
      absl::Status st = flush();
      if (first_error.ok()) first_error = st;
    }
  }
  absl::Status st = flush();
  if (first_error.ok()) first_error = st;
  return finish(first_error);
}

void FederatePuller::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void FederatePuller::Stop() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  cv_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

void FederatePuller::Loop() {
  while (true) {
    PullResult r = PullOnce();
    if (!r.status.ok()) {
      std::fprintf(stderr, "meridian: federate pull %s: %s\n", config_.name.c_str(),
                   std::string(r.status.message()).c_str());
    }
    MutexLock lock(&mu_);
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.interval_ms);
    while (!stopping_ && std::chrono::steady_clock::now() < until) cv_.WaitUntil(&mu_, until);
    if (stopping_) return;
  }
}

}  // namespace meridian::remote
