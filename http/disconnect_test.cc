#include "http/disconnect.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace meridian::http {
namespace {

// A connected loopback pair: the accepted (server) side and the client side.
struct Pair {
  int server_fd = -1, client_fd = -1, local_port = 0, peer_port = 0;
  Pair() {
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    listen(lfd, 1);
    socklen_t len = sizeof(a);
    getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
    local_port = ntohs(a.sin_port);
    client_fd = socket(AF_INET, SOCK_STREAM, 0);
    connect(client_fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    sockaddr_in c{};
    len = sizeof(c);
    getsockname(client_fd, reinterpret_cast<sockaddr*>(&c), &len);
    peer_port = ntohs(c.sin_port);
    server_fd = accept(lfd, nullptr, nullptr);
    close(lfd);
  }
  ~Pair() {
    if (client_fd >= 0) close(client_fd);
    close(server_fd);
  }
};

bool WaitFor(const std::atomic<bool>& flag, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!flag.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return flag.load();
}

TEST(DisconnectWatchTest, CancelsWhenThePeerCloses) {
  DisconnectWatch watch(std::chrono::milliseconds(20));
  Pair p;
  std::atomic<bool> cancelled{false};
  ScopedDisconnectWatch w(&watch, -1, "127.0.0.1", p.peer_port, p.local_port, &cancelled);
  EXPECT_FALSE(WaitFor(cancelled, std::chrono::milliseconds(400))) << "connection still open";
  close(p.client_fd);
  p.client_fd = -1;
  EXPECT_TRUE(WaitFor(cancelled, std::chrono::seconds(3)));
}

TEST(DisconnectWatchTest, PendingDataIsNotAClose) {
  DisconnectWatch watch(std::chrono::milliseconds(20));
  Pair p;
  ASSERT_EQ(write(p.client_fd, "GET / HTTP/1.1\r\n", 16), 16);  // a pipelined request
  std::atomic<bool> cancelled{false};
  ScopedDisconnectWatch w(&watch, -1, "127.0.0.1", p.peer_port, p.local_port, &cancelled);
  EXPECT_FALSE(WaitFor(cancelled, std::chrono::milliseconds(500)));
}

TEST(DisconnectWatchTest, UnknownConnectionIsLeftAlone) {
  DisconnectWatch watch(std::chrono::milliseconds(20));
  std::atomic<bool> cancelled{false};
  ScopedDisconnectWatch w(&watch, -1, "127.0.0.1", 1, 2, &cancelled);
  EXPECT_FALSE(WaitFor(cancelled, std::chrono::milliseconds(500)));
}

// By the request's own socket (what meridian's HttpServer hands over): no
// scan of the process's descriptors.
TEST(DisconnectWatchFdTest, CancelsWhenThePeerCloses) {
  DisconnectWatch watch(std::chrono::milliseconds(20));
  Pair p;
  std::atomic<bool> cancelled{false};
  ScopedDisconnectWatch w(&watch, p.server_fd, "", 0, 0, &cancelled);
  EXPECT_FALSE(WaitFor(cancelled, std::chrono::milliseconds(400))) << "connection still open";
  close(p.client_fd);
  p.client_fd = -1;
  EXPECT_TRUE(WaitFor(cancelled, std::chrono::seconds(3)));
}

TEST(DisconnectWatchFdTest, PendingDataIsNotAClose) {
  DisconnectWatch watch(std::chrono::milliseconds(20));
  Pair p;
  ASSERT_EQ(write(p.client_fd, "GET / HTTP/1.1\r\n", 16), 16);
  std::atomic<bool> cancelled{false};
  ScopedDisconnectWatch w(&watch, p.server_fd, "", 0, 0, &cancelled);
  EXPECT_FALSE(WaitFor(cancelled, std::chrono::milliseconds(500)));
}

}  // namespace
}  // namespace meridian::http
