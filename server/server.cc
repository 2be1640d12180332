// MeridianServer's life: Create() calls each feature's set-up (server/wiring_*.cc)
// in order, Run() binds and starts the threads, Stop() and the destructor end them.
#include "server/server.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "http/http_server.h"
#include "ingest/limits.h"
#include "server/server_internal.h"

namespace meridian::server {

using http::HttpServer;
using http::HttpServerOptions;

namespace {

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace

MeridianServer::MeridianServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MeridianServer::~MeridianServer() {
  Stop();
  if (impl_->retention_thread.joinable()) impl_->retention_thread.join();
  if (impl_->watch_thread.joinable()) impl_->watch_thread.join();
  if (impl_->k8s_thread.joinable()) impl_->k8s_thread.join();
}

void MeridianServer::Reload() {
  impl_->ReloadFiles();
  absl::Status st = impl_->rules->Reload();
  std::fprintf(stderr, "meridian: rule files: %s\n",
               st.ok()
                   ? "reloaded"
                   : ("reload failed, previous rules kept: " + std::string(st.message())).c_str());
}

absl::StatusOr<std::unique_ptr<MeridianServer>> MeridianServer::Create(const Config& config) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  if (absl::Status t = ingest::ValidateTenant(config.default_tenant,
                                              static_cast<size_t>(config.max_tenant_id_bytes));
      !t.ok()) {
    return absl::InvalidArgumentError("--default-tenant: " + std::string(t.message()));
  }
  MERIDIAN_RETURN_IF_ERROR(impl->OpenStorage());
  impl->SetUpIngest();
  impl->SetUpEngine();
  MERIDIAN_RETURN_IF_ERROR(impl->SetUpRules());
  MERIDIAN_RETURN_IF_ERROR(impl->SetUpApi());
  MERIDIAN_RETURN_IF_ERROR(impl->SetUpTls());
  MERIDIAN_RETURN_IF_ERROR(impl->SetUpAuth());
  MERIDIAN_RETURN_IF_ERROR(impl->SetUpK8s());
  impl->SetUpRouter();
  impl->RegisterRoutes();
  return std::unique_ptr<MeridianServer>(new MeridianServer(std::move(impl)));
}

absl::Status MeridianServer::Run() {
  const Config& c = impl_->config;
  HttpServerOptions ho;
  MERIDIAN_RETURN_IF_ERROR(ParseListen(c.listen, &ho.host, &ho.port));
  ho.worker_threads = c.http_threads;
  ho.max_queued = c.http_max_queued;
  ho.max_connections = c.http_max_connections;
  ho.idle_timeout = std::chrono::milliseconds(c.http_idle_timeout_ms);
  ho.read_timeout = std::chrono::milliseconds(c.http_read_timeout_ms);
  ho.max_body_bytes = static_cast<size_t>(c.max_body_bytes);
  ho.tls = impl_->tls_main;
  if (impl_->auth == nullptr && !IsLoopback(ho.host)) {
    std::fprintf(stderr,
                 "meridian: WARNING: no --auth-file and listening on %s: anyone who can reach "
                 "this port reads and writes every tenant by sending its header\n",
                 c.listen.c_str());
  }
  // Every connection is a descriptor; keep room for RocksDB's files.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      static_cast<int64_t>(rl.rlim_cur) < ho.max_connections + 1024) {
    int capped = std::max<int>(64, static_cast<int>(rl.rlim_cur) - 1024);
    std::fprintf(stderr,
                 "meridian: open-file limit %llu: serving at most %d connections "
                 "(http-max-connections %d)\n",
                 static_cast<unsigned long long>(rl.rlim_cur), capped, ho.max_connections);
    ho.max_connections = capped;
  }
  {
    MutexLock lock(&impl_->mu);
    if (impl_->stopping) return absl::OkStatus();
    impl_->listener = std::make_unique<HttpServer>(&impl_->http, ho);
  }
  MERIDIAN_RETURN_IF_ERROR(impl_->listener->Bind());
  MERIDIAN_RETURN_IF_ERROR(impl_->StartK8sListener());
  impl_->watch_thread = std::thread([this] { impl_->WatchLoop(); });
  impl_->retention_thread = std::thread([this] { impl_->RetentionLoop(); });
  impl_->rules->Start();
  impl_->federation->Start();
  impl_->ready = true;
  std::string shown = ho.host.find(':') != std::string::npos ? "[" + ho.host + "]" : ho.host;
  std::fprintf(stderr, "meridian: listening on %s:%d (%s), data in %s\n",
               shown.empty() ? "0.0.0.0" : shown.c_str(), impl_->listener->port(),
               impl_->tls_main ? "https" : "http", c.data_dir.c_str());
  impl_->listener->Run();
  return absl::OkStatus();
}

void MeridianServer::Stop() {
  {
    MutexLock lock(&impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->cv.SignalAll();
  impl_->ready = false;
  impl_->compactor->RequestStop();
  if (impl_->listener) impl_->listener->Stop();
  HttpServer* k8s_listener;
  {
    MutexLock lock(&impl_->mu);
    k8s_listener = impl_->k8s_listener.get();
  }
  if (k8s_listener) k8s_listener->Stop();
  impl_->rules->Stop();
  impl_->federation->Stop();
  absl::Status st = impl_->storage->Flush();
  if (!st.ok()) std::fprintf(stderr, "meridian: flush on shutdown: %s\n", st.ToString().c_str());
}

}  // namespace meridian::server
