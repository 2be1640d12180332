#include "server/remotes.h"

#include <chrono>
#include <cstdio>
#include <future>

#include "api/json.h"

namespace meridian::server {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

// A bucket bound as Prometheus's client libraries print it (0.005, 2.5, 30).
std::string Bucket(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

void Family(std::string* o, const char* name, const char* type, const char* help) {
  *o += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

RemoteBoard::RemoteBoard(std::vector<std::shared_ptr<const remote::RemoteReadClient>> remotes)
    : remotes_(std::move(remotes)) {
  MutexLock lock(&mu_);
  for (const auto& r : remotes_) entries_[r->endpoint().name];
  served_by_code_[200] = 0;
}

void RemoteBoard::Record(const std::string& name, const absl::Status& status, double seconds) {
  MutexLock lock(&mu_);
  Entry& e = entries_[name];
  e.called = true;
  e.up = status.ok();
  ++e.requests;
  e.seconds_sum += seconds;
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++e.buckets[i];
  }
  if (status.ok()) {
    e.last_success_ms = NowMs();
    e.last_error.clear();
  } else {
    ++e.failures;
    e.last_error = std::string(status.message());
  }
}

std::string RemoteBoard::StatusJson(const std::string& caller_tenant) {
  // Every remote's watermark at once: a down remote costs its timeout once.
  std::vector<std::future<absl::StatusOr<std::optional<int64_t>>>> wm;
  for (const auto& r : remotes_) {
    wm.push_back(std::async(std::launch::async, [this, r, &caller_tenant] {
      return watermarks_.Refresh(*r, caller_tenant);
    }));
  }
  std::string body;
  api::JsonWriter w(&body);
  w.BeginObject();
  w.Key("status").String("success");
  w.Key("data").BeginArray();
  for (size_t i = 0; i < remotes_.size(); ++i) {
    const auto& e = remotes_[i]->endpoint();
    Entry st;
    {
      MutexLock lock(&mu_);
      st = entries_[e.name];
    }
    auto mark = wm[i].get();
    w.BeginObject();
    w.Key("name").String(e.name);
    w.Key("url").String(e.url);
    w.Key("up").Bool(st.up);
    w.Key("lastError").String(st.last_error);
    w.Key("lastSuccess");
    if (st.last_success_ms == 0) {
      w.Null();
    } else {
      w.PromTimestamp(st.last_success_ms);
    }
    // The newest sample the remote holds for the caller's tenant; null when
    // it holds none or could not be asked (watermarkError says why).
    w.Key("watermark");
    if (mark.ok() && mark->has_value()) {
      w.PromTimestamp(**mark);
    } else {
      w.Null();
    }
    if (!mark.ok()) w.Key("watermarkError").String(std::string(mark.status().message()));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return body;
}

void RemoteBoard::ObserveServed(int status, bool streamed, int64_t samples, size_t bytes) {
  MutexLock lock(&mu_);
  ++served_by_code_[status];
  if (status == 200) {
    served_[streamed ? 1 : 0].samples += samples;
    served_[streamed ? 1 : 0].bytes += static_cast<int64_t>(bytes);
  }
}

std::string RemoteBoard::MetricsText() const {
  std::string o;
  MutexLock lock(&mu_);
  Family(&o, "meridian_remote_read_server_requests_total", "counter",
         "Remote-read requests this meridian answered (POST /api/v1/read), by status code.");
  for (const auto& [code, n] : served_by_code_) {
    o += "meridian_remote_read_server_requests_total{code=\"" + std::to_string(code) + "\"} " +
         std::to_string(n) + "\n";
  }
  const char* types[] = {"samples", "streamed_xor_chunks"};
  Family(&o, "meridian_remote_read_server_samples_sent_total", "counter",
         "Samples sent in remote-read answers, by response type.");
  for (int i = 0; i < 2; ++i) {
    o += std::string("meridian_remote_read_server_samples_sent_total{response_type=\"") + types[i] +
         "\"} " + std::to_string(served_[i].samples) + "\n";
  }
  Family(&o, "meridian_remote_read_server_sent_bytes_total", "counter",
         "Bytes of remote-read answers (as sent: snappy or framed), by response type.");
  for (int i = 0; i < 2; ++i) {
    o += std::string("meridian_remote_read_server_sent_bytes_total{response_type=\"") + types[i] +
         "\"} " + std::to_string(served_[i].bytes) + "\n";
  }
  if (entries_.empty()) return o;
  // entries_ is passed in (read here, under mu_): a lambda's body is not
  // seen by the thread-safety analysis as holding the caller's lock.
  auto per_remote = [&o](const std::map<std::string, Entry>& entries, const char* name,
                         const char* type, const char* help, auto value) {
    Family(&o, name, type, help);
    for (const auto& [remote, e] : entries) {
      o += std::string(name) + "{remote=\"" + Escape(remote) + "\"} " + value(e) + "\n";
    }
  };
  per_remote(entries_, "meridian_remote_read_requests_total", "counter",
             "Remote-read calls to a remote (one per selector and remote asked).",
             [](const Entry& e) { return std::to_string(e.requests); });
  per_remote(entries_, "meridian_remote_read_failures_total", "counter",
             "Remote-read calls to a remote that failed or timed out.",
             [](const Entry& e) { return std::to_string(e.failures); });
  per_remote(entries_, "meridian_remote_up", "gauge",
             "Whether the last call to the remote succeeded.",
             [](const Entry& e) { return std::string(e.up ? "1" : "0"); });
  per_remote(entries_, "meridian_remote_last_success_timestamp_seconds", "gauge",
             "When a call to the remote last succeeded (0: never).",
             [](const Entry& e) { return Num(static_cast<double>(e.last_success_ms) / 1000.0); });
  Family(&o, "meridian_remote_read_duration_seconds", "histogram",
         "Duration of remote-read calls to a remote.");
  for (const auto& [remote, e] : entries_) {
    const std::string r = Escape(remote);
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      o += "meridian_remote_read_duration_seconds_bucket{remote=\"" + r + "\",le=\"" +
           Bucket(kBuckets[i]) + "\"} " + std::to_string(e.buckets[i]) + "\n";
    }
    o += "meridian_remote_read_duration_seconds_bucket{remote=\"" + r + "\",le=\"+Inf\"} " +
         std::to_string(e.requests) + "\n";
    o += "meridian_remote_read_duration_seconds_sum{remote=\"" + r + "\"} " + Num(e.seconds_sum) +
         "\n";
    o += "meridian_remote_read_duration_seconds_count{remote=\"" + r + "\"} " +
         std::to_string(e.requests) + "\n";
  }
  auto known = watermarks_.All();
  Family(&o, "meridian_remote_watermark_timestamp_seconds", "gauge",
         "The newest sample time a remote holds for a tenant, as last read.");
  for (const auto& k : known) {
    o += "meridian_remote_watermark_timestamp_seconds{remote=\"" + Escape(k.remote) +
         "\",tenant=\"" + Escape(k.tenant) + "\"} " +
         Num(static_cast<double>(k.watermark_ms) / 1000.0) + "\n";
  }
  return o;
}

}  // namespace meridian::server
