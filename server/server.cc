#include "server/server.h"

#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "ingest/remote_write.h"
#include "query/engine.h"
#include "server/api.h"
#include "server/metrics.h"
#include "storage/storage.h"

namespace meridian::server {
namespace {

using Clock = std::chrono::steady_clock;

std::string NowRfc3339() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// Limits concurrent remote-writes; beyond the limit the sender is told to
// back off (503 + Retry-After), which Prometheus always retries.
class InflightLimiter {
 public:
  explicit InflightLimiter(int limit) : limit_(limit) {}
  bool TryAcquire() {
    if (inflight_.fetch_add(1) >= limit_) {
      inflight_.fetch_sub(1);
      return false;
    }
    return true;
  }
  void Release() { inflight_.fetch_sub(1); }

 private:
  const int limit_;
  std::atomic<int> inflight_{0};
};

}  // namespace

struct MeridianServer::Impl {
  Config config;
  std::unique_ptr<Storage> storage;
  std::unique_ptr<ingest::RemoteWriteReceiver> receiver;
  std::unique_ptr<promql::Engine> engine;
  std::unique_ptr<Metrics> metrics;
  std::unique_ptr<PrometheusApi> api;
  std::unique_ptr<InflightLimiter> limiter;
  httplib::Server http;
  std::thread retention_thread;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;  // guarded by mu
  std::atomic<bool> ready{false};

  void RegisterWriteRoutes();
  void RetentionLoop();
};

void MeridianServer::Impl::RegisterWriteRoutes() {
  auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    auto start = Clock::now();
    ingest::RemoteWriteStats stats;
    absl::Status st;
    if (!limiter->TryAcquire()) {
      st = absl::UnavailableError("too many concurrent remote-write requests; retry later");
    } else {
      st = receiver->Receive(TenantOf(req, config.default_tenant),
                             req.get_header_value("Content-Type"),
                             req.get_header_value("Content-Encoding"), req.body, &stats);
      limiter->Release();
    }
    metrics->samples_ingested().Increment(static_cast<double>(stats.samples_written));
    metrics->series_created().Increment(static_cast<double>(stats.series_created));
    metrics->metadata_ingested().Increment(static_cast<double>(stats.metadata_written));
    metrics->histograms_dropped().Increment(static_cast<double>(stats.histograms_dropped));
    metrics->exemplars_dropped().Increment(static_cast<double>(stats.exemplars_dropped));
    auto reject = [&](const char* reason, uint64_t n) {
      if (n) metrics->samples_rejected(reason).Increment(static_cast<double>(n));
    };
    reject("invalid_labels", stats.rejected_invalid_labels);
    reject("too_far_in_future", stats.rejected_too_far_in_future);
    reject("too_old", stats.rejected_too_old);
    reject("conflict", stats.rejected_conflict);

    res.set_header("X-Prometheus-Remote-Write-Samples-Written", std::to_string(stats.samples_written));
    res.set_header("X-Prometheus-Remote-Write-Histograms-Written",
                   std::to_string(stats.histograms_written));
    res.set_header("X-Prometheus-Remote-Write-Exemplars-Written",
                   std::to_string(stats.exemplars_written));
    switch (st.code()) {
      case absl::StatusCode::kOk: res.status = 204; break;
      case absl::StatusCode::kInvalidArgument:
      case absl::StatusCode::kOutOfRange: res.status = 400; break;
      case absl::StatusCode::kResourceExhausted: res.status = 413; break;
      case absl::StatusCode::kUnimplemented: res.status = 415; break;
      case absl::StatusCode::kUnavailable:
        res.status = 503;
        res.set_header("Retry-After", "1");
        break;
      default: res.status = 500;
    }
    if (!st.ok()) res.set_content(std::string(st.message()) + "\n", "text/plain; charset=utf-8");
    metrics->ObserveRequest("/api/v1/write", res.status,
                            std::chrono::duration<double>(Clock::now() - start).count());
  };
  for (const char* path : {"/api/v1/write", "/api/v1/receive", "/api/v1/push"}) {
    http.Post(path, handler);
  }
}

void MeridianServer::Impl::RetentionLoop() {
  std::unique_lock<std::mutex> lock(mu);
  while (!stopping) {
    cv.wait_for(lock, std::chrono::minutes(1));
    if (stopping) break;
    lock.unlock();
    absl::Status st = storage->EnforceRetention();
    if (!st.ok()) std::fprintf(stderr, "meridian: retention: %s\n", st.ToString().c_str());
    lock.lock();
  }
}

MeridianServer::MeridianServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MeridianServer::~MeridianServer() {
  Stop();
  if (impl_->retention_thread.joinable()) impl_->retention_thread.join();
}

absl::StatusOr<std::unique_ptr<MeridianServer>> MeridianServer::Create(const Config& config) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;

  StorageOptions so;
  so.dir = config.data_dir;
  so.out_of_order_window_ms = config.out_of_order_window_ms;
  so.allow_backfill = config.allow_backfill;
  so.retention_ms = config.retention_ms;
  so.sync_wal = config.sync_wal;
  so.block_cache_bytes = static_cast<size_t>(config.block_cache_bytes);
  auto storage = Storage::Open(so);
  if (!storage.ok()) return storage.status();
  impl->storage = *std::move(storage);

  ingest::RemoteWriteOptions ro;
  ro.max_body_bytes = static_cast<size_t>(config.max_body_bytes);
  ro.max_decoded_bytes = static_cast<size_t>(config.max_decoded_bytes);
  ro.max_future_ms = config.max_future_ms;
  impl->receiver = std::make_unique<ingest::RemoteWriteReceiver>(impl->storage.get(), ro);

  promql::EngineOptions eo;
  eo.lookback_delta_ms = config.lookback_delta_ms;
  eo.max_samples = config.max_samples;
  eo.timeout = std::chrono::milliseconds(config.query_timeout_ms);
  impl->engine = std::make_unique<promql::Engine>(eo);
  impl->metrics = std::make_unique<Metrics>();
  impl->limiter = std::make_unique<InflightLimiter>(config.max_inflight_writes);

  ApiOptions ao;
  ao.default_tenant = config.default_tenant;
  ao.flags = config.AsFlags();
  ao.start_time_rfc3339 = NowRfc3339();
  ao.cwd = std::filesystem::current_path().string();
  ao.storage_retention = config.retention_ms == 0 ? "0s" : ao.flags["retention"];
  impl->api = std::make_unique<PrometheusApi>(impl->storage.get(), impl->engine.get(),
                                              impl->metrics.get(), ao);

  Impl* p = impl.get();
  int threads = config.http_threads;
  p->http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // httplib answers 413 itself above this; the error handler explains.
  p->http.set_payload_max_length(static_cast<size_t>(config.max_body_bytes));
  p->http.set_error_handler([max = config.max_body_bytes](const httplib::Request&,
                                                          httplib::Response& res) {
    if (res.status == 413 && res.body.empty()) {
      res.set_content("request body too large: over the limit of " + std::to_string(max) +
                          " bytes (max-body-bytes)\n",
                      "text/plain; charset=utf-8");
    } else if (res.status == 404 && res.body.empty()) {
      res.set_content("404 page not found\n", "text/plain; charset=utf-8");
    }
  });
  // httplib would try to inflate gzip/deflate/br bodies itself and answer 400
  // when that fails; remote-write with a non-snappy encoding is a 415.
  p->http.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    std::string enc = req.get_header_value("Content-Encoding");
    if (req.method != "POST" || enc.empty() || enc == "snappy" ||
        (req.path != "/api/v1/write" && req.path != "/api/v1/receive" &&
         req.path != "/api/v1/push")) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    res.status = 415;
    res.set_header("Connection", "close");  // the unread body must not be parsed as a request
    res.set_content("unsupported Content-Encoding \"" + enc + "\": remote write needs snappy\n",
                    "text/plain; charset=utf-8");
    return httplib::Server::HandlerResponse::Handled;
  });
  p->RegisterWriteRoutes();
  p->api->Register(&p->http);
  p->http.Get("/-/healthy", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("meridian is Healthy.\n", "text/plain; charset=utf-8");
  });
  p->http.Get("/-/ready", [p](const httplib::Request&, httplib::Response& res) {
    if (p->ready.load()) {
      res.set_content("meridian is Ready.\n", "text/plain; charset=utf-8");
    } else {
      res.status = 503;
      res.set_content("Service Unavailable\n", "text/plain; charset=utf-8");
    }
  });
  // Like VictoriaMetrics' /internal/force_flush: persist the in-memory head now
  // (tests and benchmarks use it to measure settled disk usage).
  auto force_flush = [p](const httplib::Request&, httplib::Response& res) {
    absl::Status st = p->storage->Flush();
    res.status = st.ok() ? 200 : 500;
    res.set_content(st.ok() ? "flushed\n" : std::string(st.message()) + "\n",
                    "text/plain; charset=utf-8");
  };
  p->http.Get("/internal/force_flush", force_flush);
  p->http.Post("/internal/force_flush", force_flush);
  p->http.Get("/metrics", [p](const httplib::Request&, httplib::Response& res) {
    res.set_content(p->metrics->Render(*p->storage), "text/plain; version=0.0.4; charset=utf-8");
  });
  return std::unique_ptr<MeridianServer>(new MeridianServer(std::move(impl)));
}

absl::Status MeridianServer::Run() {
  const std::string& listen = impl_->config.listen;
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError("listen address \"" + listen + "\" is not HOST:PORT");
  }
  std::string host = listen.substr(0, colon);
  if (host.empty()) host = "0.0.0.0";
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  int port = std::atoi(listen.substr(colon + 1).c_str());
  if (!impl_->http.bind_to_port(host, port)) {
    return absl::UnavailableError("cannot listen on " + listen);
  }
  impl_->retention_thread = std::thread([this] { impl_->RetentionLoop(); });
  impl_->ready = true;
  std::fprintf(stderr, "meridian: listening on %s, data in %s\n", listen.c_str(),
               impl_->config.data_dir.c_str());
  impl_->http.listen_after_bind();
  return absl::OkStatus();
}

void MeridianServer::Stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->ready = false;
  impl_->http.stop();
  absl::Status st = impl_->storage->Flush();
  if (!st.ok()) std::fprintf(stderr, "meridian: flush on shutdown: %s\n", st.ToString().c_str());
}

}  // namespace meridian::server
