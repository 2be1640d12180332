#include "remote/federate_pull.h"

#include <httplib.h>
#include <snappy.h>

#include <algorithm>
#include <cstdio>

#include "model/gofloat.h"
#include "model/sample.h"
#include "model/status.h"
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

absl::Status ParseTextExposition(std::string_view body, std::vector<ExpositionSample>* out) {
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
    out->push_back(std::move(s));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ExpositionSample>> ParseTextExposition(std::string_view body) {
  std::vector<ExpositionSample> out;
  MERIDIAN_RETURN_IF_ERROR(ParseTextExposition(body, &out));
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

// Write requests of at most kBatch series: the receiver's per-request limits
// apply as they do to a Prometheus's remote-write shards.
class FederatePuller::Batcher {
 public:
  Batcher(const FederatePuller* p, bool send) : p_(p), send_(send) {}

  void Add(const Labels& ls, int64_t t_ms, double v) {
    auto* ts = req_.add_timeseries();
    LabelsToProto(ls, ts->mutable_labels());
    auto* s = ts->add_samples();
    s->set_value(v);
    s->set_timestamp(t_ms);
    if (req_.timeseries_size() >= kBatch) Flush().IgnoreError();  // kept in first_error_
  }
  absl::Status Flush() {
    if (!send_) req_.Clear();  // a failed append's: Prometheus rolls it back
    if (req_.timeseries_size() == 0) return first_error_;
    std::string raw = req_.SerializeAsString(), body;
    snappy::Compress(raw.data(), raw.size(), &body);
    req_.Clear();
    absl::Status st = p_->sink_(p_->config_.tenant, std::move(body));
    if (first_error_.ok()) first_error_ = st;
    return first_error_;
  }

 private:
  static constexpr int kBatch = 2000;
  const FederatePuller* p_;
  const bool send_;
  prometheus::WriteRequest req_;
  absl::Status first_error_;
};

namespace {

// The cache key of a scraped series: its labels as the exposition has them.
std::string SeriesKey(const std::vector<Label>& ls) {
  std::string k;
  for (const Label& l : ls) {
    k += l.name;
    k += '\xff';
    k += l.value;
    k += '\xfe';
  }
  return k;
}

}  // namespace

FederatePuller::Counts FederatePuller::Append(const std::vector<ExpositionSample>& samples,
                                              int64_t def_ms, Batcher* out) {
  Counts c;
  for (const ExpositionSample& s : samples) {
    ++c.total;
    const bool explicit_ts = config_.honor_timestamps && s.t_ms.has_value();
    const std::string key = SeriesKey(s.labels);
    auto it = cache_.series.find(key);
    if (it == cache_.series.end()) {
      it = cache_.series
               .emplace(key, Cache::Entry{ApplyTargetLabels(s.labels, target_labels_,
                                                            config_.honor_labels),
                                          cache_.iter})
               .first;
      ++c.series_added;
    }
    it->second.last_iter = cache_.iter;
    out->Add(it->second.labels, explicit_ts ? *s.t_ms : def_ms, s.value);
    // Bypass staleness for an explicit timestamp, as Prometheus does (unless
    // track_timestamps_staleness).
    if (!explicit_ts || config_.track_timestamps_staleness) {
      cache_.stale_cur.emplace(it->second.labels.ToString(), it->second.labels);
    }
    ++c.added;
  }
  return c;
}

size_t FederatePuller::MarkStale(int64_t def_ms, Batcher* out) {
  size_t n = 0;
  for (const auto& [k, ls] : cache_.stale_prev) {
    if (cache_.stale_cur.count(k)) continue;
    out->Add(ls, def_ms, StaleNaN());
    ++n;
  }
  return n;
}

// scrapeCache.iterDone: a successful, non-empty pull forgets the series it did
// not see; every pull turns this pull's tracked series into the previous ones.
void FederatePuller::IterDone(bool flush) {
  if (flush) {
    for (auto it = cache_.series.begin(); it != cache_.series.end();) {
      it = it->second.last_iter != cache_.iter ? cache_.series.erase(it) : std::next(it);
    }
  }
  std::swap(cache_.stale_prev, cache_.stale_cur);
  cache_.stale_cur.clear();
  ++cache_.iter;
}

void FederatePuller::Report(int64_t t_ms, double seconds, const Counts& c, bool up, Batcher* out) {
  auto add = [&](const char* name, double v) {
    out->Add(ApplyTargetLabels({{std::string(kMetricName), name}}, target_labels_, false), t_ms, v);
  };
  add("up", up ? 1 : 0);
  add("scrape_duration_seconds", seconds);
  add("scrape_samples_scraped", static_cast<double>(c.total));
  add("scrape_samples_post_metric_relabeling", static_cast<double>(c.added));
  add("scrape_series_added", static_cast<double>(c.series_added));
}

PullResult FederatePuller::PullOnce() {
  const auto start = std::chrono::steady_clock::now();
  const int64_t scrape_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  PullResult r;
  absl::Status scrape_error;
  std::string body;
  {
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
    scrape_error = call.setup();
    if (scrape_error.ok()) {
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
      auto res = call.client()->Get(path, headers);
      if (!res) {
        scrape_error = absl::UnavailableError("federate pull: " + httplib::to_string(res.error()));
      } else if (res->status != 200) {
        scrape_error = absl::UnavailableError("federate pull: " + config_.url + " answered HTTP " +
                                              std::to_string(res->status));
      } else {
        body = std::move(res->body);
      }
    }
  }
  // As scrapeAndReport: a failed pull is an empty one (stale markers for every
  // tracked series); a body that does not parse is appended up to the bad line
  // (counted, cached, then rolled back) and then handled as an empty pull.
  Batcher out(this, /*send=*/true);
  Counts counts;
  absl::Status append_error;
  if (scrape_error.ok() && !body.empty()) {
    std::vector<ExpositionSample> parsed;
    append_error = ParseTextExposition(body, &parsed);
    if (append_error.ok()) {
      counts = Append(parsed, scrape_ms, &out);
      r.stale_markers = MarkStale(scrape_ms, &out);
      IterDone(/*flush=*/true);
    } else {
      Batcher rolled_back(this, /*send=*/false);
      counts = Append(parsed, scrape_ms, &rolled_back);
    }
  }
  if (!scrape_error.ok() || body.empty() || !append_error.ok()) {
    r.stale_markers = MarkStale(scrape_ms, &out);
    IterDone(/*flush=*/false);
  }
  if (scrape_error.ok()) scrape_error = append_error;
  r.up = scrape_error.ok();
  r.samples = scrape_error.ok() ? counts.total : 0;
  r.series_added = counts.series_added;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Report(scrape_ms, r.seconds, counts, r.up, &out);
  absl::Status stored = out.Flush();
  r.status = scrape_error.ok() ? stored : scrape_error;
  if (observer_) observer_(config_.name, r);
  return r;
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
