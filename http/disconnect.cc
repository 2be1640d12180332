#include "http/disconnect.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "model/sync.h"

namespace meridian::http {
namespace {

constexpr auto kGrace = std::chrono::milliseconds(200);

// Address and port of a sockaddr, IPv4 or IPv6 (v4-mapped shown as v4).
bool Endpoint(const sockaddr_storage& sa, std::string* addr, int* port) {
  char buf[INET6_ADDRSTRLEN];
  if (sa.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&sa);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
    *port = ntohs(in->sin_port);
  } else if (sa.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
    *port = ntohs(in6->sin6_port);
    std::string s = buf;
    if (s.rfind("::ffff:", 0) == 0 && s.find('.') != std::string::npos) {
      *addr = s.substr(7);
      return true;
    }
  } else {
    return false;
  }
  *addr = buf;
  return true;
}

bool Matches(int fd, const std::string& peer_addr, int peer_port, int local_port) {
  sockaddr_storage peer{}, local{};
  socklen_t len = sizeof(peer);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) return false;
  len = sizeof(local);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return false;
  std::string a, b;
  int pp, lp;
  if (!Endpoint(peer, &a, &pp) || !Endpoint(local, &b, &lp)) return false;
  return pp == peer_port && lp == local_port && a == peer_addr;
}

int FindSocket(const std::string& peer_addr, int peer_port, int local_port) {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  int found = -1;
  while (dirent* e = readdir(d)) {
    char* end;
    long fd = std::strtol(e->d_name, &end, 10);
    if (*end != 0 || fd < 0) continue;
    struct stat st;
    if (fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    if (Matches(static_cast<int>(fd), peer_addr, peer_port, local_port)) {
      found = static_cast<int>(fd);
      break;
    }
  }
  closedir(d);
  return found;
}

// True when the peer has closed (orderly or by reset).
bool PeerClosed(int fd) {
  char c;
  ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;
  if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  return false;
}

}  // namespace

DisconnectWatch::DisconnectWatch(std::chrono::milliseconds poll)
    : poll_(poll), thread_([this] { Loop(); }) {}

DisconnectWatch::~DisconnectWatch() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.SignalAll();
  thread_.join();
}

uint64_t DisconnectWatch::Watch(const std::string& peer_addr, int peer_port, int local_port,
                                std::atomic<bool>* cancelled) {
  MutexLock lock(&mu_);
  uint64_t token = next_token_++;
  entries_.emplace(
      token, Entry{peer_addr, peer_port, local_port, cancelled, std::chrono::steady_clock::now()});
  return token;
}

uint64_t DisconnectWatch::WatchFd(int fd, std::atomic<bool>* cancelled) {
  MutexLock lock(&mu_);
  uint64_t token = next_token_++;
  Entry e{"", 0, 0, cancelled, std::chrono::steady_clock::now()};
  e.fd = fd;
  e.fixed = true;
  entries_.emplace(token, std::move(e));
  return token;
}

void DisconnectWatch::Unwatch(uint64_t token) {
  MutexLock lock(&mu_);
  entries_.erase(token);
}

void DisconnectWatch::Loop() {
  MutexLock lock(&mu_);
  while (!stop_) {
    cv_.WaitFor(&mu_, poll_);
    auto now = std::chrono::steady_clock::now();
    for (auto& [token, e] : entries_) {
      if (now - e.since < kGrace || e.cancelled->load()) continue;
      // The fd is re-checked by its endpoints every time: it may have been
      // closed and reused since it was found.
      if (!e.fixed && (e.fd < 0 || !Matches(e.fd, e.peer_addr, e.peer_port, e.local_port))) {
        e.fd = FindSocket(e.peer_addr, e.peer_port, e.local_port);
      }
      // A socket not found is left alone: cancelling is only for a seen close.
      if (e.fd >= 0 && PeerClosed(e.fd)) e.cancelled->store(true);
    }
  }
}

}  // namespace meridian::http
