// MeridianServer: owns every component and thread of one meridian process and
// wires them: storage, remote-write receiver, PromQL engine, the HTTP routes
// (remote-write, Prometheus API, health, /metrics) and the retention loop.
//
//   auto s = MeridianServer::Create(config);
//   (*s)->Run();   // blocks until Stop() is called from another thread
//
// Thread-safety: Stop() may be called from any thread; the rest from one.
#ifndef MERIDIAN_SERVER_SERVER_H_
#define MERIDIAN_SERVER_SERVER_H_

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "compactor/compactor.h"
#include "model/status.h"
#include "server/config.h"

namespace meridian::server {

// The compactor's settings from the configuration.
compactor::CompactorOptions CompactorOptionsOf(const Config& config);

class MeridianServer {
 public:
  static absl::StatusOr<std::unique_ptr<MeridianServer>> Create(const Config& config);
  ~MeridianServer();

  // Binds the listen address and serves until Stop(). Returns an error when
  // the address cannot be bound.
  absl::Status Run();
  // Stops serving, persists in-memory data and returns once Run() can return.
  void Stop();
  // Re-reads certificates, the auth file and the rule files, e.g. on SIGHUP. A
  // file that fails to load keeps the previous state and is reported in the log.
  void Reload();

 private:
  struct Impl;
  explicit MeridianServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace meridian::server

#endif  // MERIDIAN_SERVER_SERVER_H_
