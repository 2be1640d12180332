// DisconnectWatch: notices when the client of an in-flight HTTP request has
// closed its connection, so that a long query is cancelled instead of running
// to completion for nobody (Prometheus cancels the query context then).
//
// Given the request's socket (WatchFd: meridian's HttpServer knows it, and
// keeps it open until the handler returns), the watch peeks at it every poll
// after a grace period: a zero-byte read means the peer has gone. Without it
// (Watch: cpp-httplib's own server does not expose the socket), the watch
// finds the socket by its endpoints (local port, peer address and port) among
// the process's file descriptors, which races with other threads closing and
// reusing descriptors; meridian's server always uses WatchFd.
//
// Thread-safety: thread-safe. One background thread per DisconnectWatch.
#ifndef MERIDIAN_HTTP_DISCONNECT_H_
#define MERIDIAN_HTTP_DISCONNECT_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <thread>

#include "model/sync.h"

namespace meridian::http {

class DisconnectWatch {
 public:
  explicit DisconnectWatch(std::chrono::milliseconds poll = std::chrono::milliseconds(100));
  ~DisconnectWatch();

  // Starts watching the connection peer_addr:peer_port -> local_port. Sets
  // *cancelled to true once the peer has closed it. `cancelled` is borrowed
  // until Unwatch() returns. Returns a token for Unwatch().
  uint64_t Watch(const std::string& peer_addr, int peer_port, int local_port,
                 std::atomic<bool>* cancelled);
  // Watches a socket the caller keeps open until Unwatch() returns.
  uint64_t WatchFd(int fd, std::atomic<bool>* cancelled);
  void Unwatch(uint64_t token);

 private:
  struct Entry {
    std::string peer_addr;
    int peer_port;
    int local_port;
    std::atomic<bool>* cancelled;
    std::chrono::steady_clock::time_point since;
    int fd = -1;         // found lazily, unless fixed
    bool fixed = false;  // fd given by WatchFd: never looked up
  };
  void Loop();

  const std::chrono::milliseconds poll_;
  Mutex mu_;
  CondVar cv_;
  std::map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
  uint64_t next_token_ ABSL_GUARDED_BY(mu_) = 1;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// RAII registration of one request: by its socket when conn_fd >= 0, else by
// its endpoints.
class ScopedDisconnectWatch {
 public:
  ScopedDisconnectWatch(DisconnectWatch* w, int conn_fd, const std::string& peer_addr,
                        int peer_port, int local_port, std::atomic<bool>* cancelled)
      : w_(w),
        token_(!w             ? 0
               : conn_fd >= 0 ? w->WatchFd(conn_fd, cancelled)
                              : w->Watch(peer_addr, peer_port, local_port, cancelled)) {}
  ~ScopedDisconnectWatch() {
    if (w_) w_->Unwatch(token_);
  }
  ScopedDisconnectWatch(const ScopedDisconnectWatch&) = delete;
  ScopedDisconnectWatch& operator=(const ScopedDisconnectWatch&) = delete;

 private:
  DisconnectWatch* w_;
  uint64_t token_;
};

}  // namespace meridian::http

#endif  // MERIDIAN_HTTP_DISCONNECT_H_
