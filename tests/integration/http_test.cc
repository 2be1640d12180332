// The HTTP layer under real clients: keep-alive connections (as Go's and
// Python's clients keep them), many idle connections, slow senders, overload,
// and the protocol corners a new user hits first. Each test talks to the real
// meridian binary through raw sockets, so what is measured is what a client
// sees on the wire (no client-side reconnects hide a closed connection).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

namespace meridian::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

struct Response {
  int status = 0;  // 0: no (complete) response
  std::string head;
  std::string body;
  std::string Header(const std::string& name) const {
    std::string lower_head = head;
    std::transform(lower_head.begin(), lower_head.end(), lower_head.begin(), ::tolower);
    std::string key = "\r\n" + name + ":";
    std::transform(key.begin(), key.end(), key.begin(), ::tolower);
    size_t p = lower_head.find(key);
    if (p == std::string::npos) return "";
    p += key.size();
    size_t e = head.find("\r\n", p);
    std::string v = head.substr(p, e - p);
    v.erase(0, v.find_first_not_of(' '));
    return v;
  }
};

// One HTTP/1.1 connection, kept alive, like Python's http.client.
class RawConn {
 public:
  explicit RawConn(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~RawConn() {
    if (fd_ >= 0) close(fd_);
  }
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;
  bool ok() const { return fd_ >= 0; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response (Content-Length framed) within `timeout`.
  Response Read(milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    Response r;
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(deadline)) return r;
    }
    r.head = buf_.substr(0, end + 2);
    size_t len = 0;
    std::string cl = r.Header("Content-Length");
    if (!cl.empty()) len = std::stoul(cl);
    while (buf_.size() < end + 4 + len) {
      if (!Fill(deadline)) return r;
    }
    r.body = buf_.substr(end + 4, len);
    buf_.erase(0, end + 4 + len);
    r.status = std::atoi(r.head.c_str() + 9);
    return r;
  }

  Response Request(const std::string& method, const std::string& target,
                   const std::string& headers = "", const std::string& body = "",
                   milliseconds timeout = milliseconds(10000)) {
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers;
    if (!body.empty()) req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;
    if (!Send(req)) return {};
    return Read(timeout);
  }

  // True when the server closed the connection within `timeout`.
  bool ClosedByPeer(milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) > 0) {
        char c[4096];
        ssize_t n = recv(fd_, c, sizeof(c), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN)) return true;
        if (n > 0) buf_.append(c, static_cast<size_t>(n));
      }
    }
    return false;
  }

 private:
  bool Fill(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char c[65536];
    ssize_t n = recv(fd_, c, sizeof(c), 0);
    if (n <= 0) return false;
    buf_.append(c, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buf_;
};

// A query that is long only because of a long regex (100 kB and more).
std::string LongQuery(int alternatives) {
  std::string q = "count(up{job=~\"";
  for (int i = 0; i < alternatives; ++i) {
    char b[16];
    std::snprintf(b, sizeof(b), "%sjob%05d", i ? "|" : "", i);
    q += b;
  }
  return q + "\"})";
}

void ExpectJsonError(const Response& r, const std::string& context) {
  EXPECT_NE(r.Header("Content-Type").find("application/json"), std::string::npos)
      << context << ": " << r.head;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << context << ": body is not JSON: " << r.body.substr(0, 200);
  EXPECT_EQ(j["status"], "error") << context;
  EXPECT_EQ(j["errorType"], "bad_data") << context;
  EXPECT_TRUE(j["error"].is_string()) << context;
}

TEST(HttpTest, KeepAliveQueriesAreFastAndTheConnectionStaysOpen) {
  Meridian m;
  ASSERT_TRUE(m.WaitReady());
  RawConn c(m.port());
  ASSERT_TRUE(c.ok());
  std::vector<double> ms;
  for (int i = 0; i < 20; ++i) {
    auto t = Clock::now();
    Response r = c.Request("GET", "/api/v1/query?query=sum(up)%20or%20vector(1)");
    ms.push_back(MsSince(t));
    ASSERT_EQ(r.status, 200) << "request " << i + 1 << " on one connection: " << r.head;
    EXPECT_EQ(r.Header("Connection"), "") << "request " << i + 1 << ": " << r.head;
    EXPECT_EQ(r.Header("Keep-Alive"), "") << "no max=5 cap: " << r.head;
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  std::string all;
  for (double x : ms) all += std::to_string(static_cast<int>(x)) + " ";
  // Nagle against delayed ACK costs 40 ms a request; a busy CI host may
  // stall one request, not many.
  EXPECT_LT(sorted[sorted.size() / 2], 10) << "ms per request: " << all;
  EXPECT_LT(sorted[sorted.size() - 2], 40) << "ms per request: " << all;
  EXPECT_FALSE(c.ClosedByPeer(milliseconds(200)));
}

TEST(HttpTest, ManyIdleKeepAliveConnectionsDoNotDelayHealthOrQueries) {
  // 4 regions x 50 remote-write shards + Grafana + HPA, on 4 workers.
  Meridian m("", {"--http-threads", "4"});
  ASSERT_TRUE(m.WaitReady());
  constexpr int kConns = 320;
  std::vector<std::unique_ptr<RawConn>> conns;
  for (int i = 0; i < kConns; ++i) {
    conns.push_back(std::make_unique<RawConn>(m.port()));
    ASSERT_TRUE(conns.back()->ok()) << "connection " << i;
  }
  // Every connection sends a request; all are answered promptly though only
  // 4 workers exist (one worker per connection would serve 4 at a time and
  // wait for each idle connection's keep-alive timeout before the next).
  auto t0 = Clock::now();
  for (auto& c : conns) ASSERT_TRUE(c->Send("GET /api/v1/labels HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (int i = 0; i < kConns; ++i) {
    Response r = conns[i]->Read(milliseconds(5000));
    ASSERT_EQ(r.status, 200) << "connection " << i << " after " << MsSince(t0) << " ms";
  }
  // Now all of them sit idle with their connection open.
  for (int round = 0; round < 3; ++round) {
    RawConn probe(m.port());
    auto t = Clock::now();
    Response h = probe.Request("GET", "/-/healthy", "", "", milliseconds(3000));
    EXPECT_EQ(h.status, 200);
    EXPECT_LT(MsSince(t), 1000) << "/-/healthy with " << kConns << " idle connections";
    t = Clock::now();
    Response q = probe.Request("GET", "/api/v1/query?query=1", "", "", milliseconds(3000));
    EXPECT_EQ(q.status, 200);
    EXPECT_LT(MsSince(t), 1000) << "query with " << kConns << " idle connections";
  }
  // The idle connections still work.
  for (int i = 0; i < kConns; i += 40) {
    Response r = conns[i]->Request("GET", "/-/ready", "", "", milliseconds(3000));
    EXPECT_EQ(r.status, 200) << "idle connection " << i;
  }
}

TEST(HttpTest, ABurstOfRemoteWritesFromEveryShardIsAccepted) {
  // 4 regions x 50 shards send at the same moment, on meridian's defaults.
  Meridian m("", {"--http-threads", "64"});
  ASSERT_TRUE(m.WaitReady());
  constexpr int kShards = 200;
  std::vector<std::unique_ptr<RawConn>> conns;
  std::vector<std::string> bodies;
  for (int i = 0; i < kShards; ++i) {
    conns.push_back(std::make_unique<RawConn>(m.port()));
    ASSERT_TRUE(conns.back()->ok());
    prometheus::WriteRequest wr;
    for (int k = 0; k < 50; ++k) {
      AddSeries(
          &wr, {{"__name__", "burst_test"}, {"shard", std::to_string(i)}, {"k", std::to_string(k)}},
          {{NowMs(), 1.0}});
    }
    std::string body = EncodeWriteRequest(wr);
    bodies.push_back(
        "POST /api/v1/write HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n"
        "X-Prometheus-Remote-Write-Version: 0.1.0\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body);
  }
  for (int i = 0; i < kShards; ++i) ASSERT_TRUE(conns[i]->Send(bodies[i]));
  int ok = 0;
  std::map<int, int> statuses;
  for (int i = 0; i < kShards; ++i) {
    Response r = conns[i]->Read(milliseconds(20000));
    ++statuses[r.status];
    if (r.status == 204) ++ok;
  }
  std::string seen;
  for (auto [st, n] : statuses) seen += std::to_string(st) + " x" + std::to_string(n) + " ";
  EXPECT_EQ(ok, kShards) << "statuses: " << seen;
}

TEST(HttpTest, SlowSendersDoNotBlockHealthOrWrites) {
  Meridian m("", {"--http-threads", "4"});
  ASSERT_TRUE(m.WaitReady());
  // 8 clients each send a request head one byte at a time (200 ms apart).
  std::atomic<bool> stop{false};
  std::vector<std::thread> slow;
  for (int i = 0; i < 8; ++i) {
    slow.emplace_back([&, port = m.port()] {
      RawConn c(port);
      std::string head =
          "POST /api/v1/write HTTP/1.1\r\nHost: x\r\nX-Padding: " + std::string(200, 'p') + "\r\n";
      for (char ch : head) {
        if (stop.load() || !c.Send(std::string_view(&ch, 1))) return;
        std::this_thread::sleep_for(milliseconds(200));
      }
    });
  }
  std::this_thread::sleep_for(milliseconds(600));
  for (int round = 0; round < 3; ++round) {
    RawConn probe(m.port());
    auto t = Clock::now();
    Response h = probe.Request("GET", "/-/healthy", "", "", milliseconds(3000));
    EXPECT_EQ(h.status, 200);
    EXPECT_LT(MsSince(t), 1000) << "/-/healthy while 8 clients trickle their headers";

    prometheus::WriteRequest wr;
    AddSeries(&wr, {{"__name__", "slow_sender_test"}, {"round", std::to_string(round)}},
              {{NowMs(), 1.0}});
    std::string body = EncodeWriteRequest(wr);
    t = Clock::now();
    Response w =
        probe.Request("POST", "/api/v1/write",
                      "Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n"
                      "X-Prometheus-Remote-Write-Version: 0.1.0\r\n",
                      body, milliseconds(5000));
    EXPECT_EQ(w.status, 204) << w.head << w.body;
    EXPECT_LT(MsSince(t), 2000) << "remote-write while 8 clients trickle their headers";
  }
  stop = true;
  for (auto& t : slow) t.join();
}

TEST(HttpTest, SlowSenderIsCutOffAtTheReadTimeout) {
  Meridian m("", {"--http-read-timeout", "2s"});
  ASSERT_TRUE(m.WaitReady());
  RawConn c(m.port());
  auto t = Clock::now();
  std::string head = "GET /api/v1/query?query=1 HTTP/1.1\r\nHost: x\r\n";
  Response r;
  for (char ch : head) {
    if (!c.Send(std::string_view(&ch, 1))) break;
    r = c.Read(milliseconds(300));
    if (r.status) break;
  }
  if (!r.status) r = c.Read(milliseconds(3000));
  EXPECT_EQ(r.status, 408) << r.head;
  EXPECT_LT(MsSince(t), 4000);
  EXPECT_TRUE(c.ClosedByPeer(milliseconds(3000)));
}

TEST(HttpTest, SaturatedServerAnswers503WithRetryAfterAndHealthStillAnswers) {
  Meridian m("", {"--http-threads", "1", "--http-max-queued", "0", "--http-read-timeout", "20s"});
  ASSERT_TRUE(m.WaitReady());
  // The only worker reads a 4 MiB body that never comes (larger bodies are
  // streamed by a worker, not buffered by the connection layer).
  RawConn busy(m.port());
  ASSERT_TRUE(
      busy.Send("POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Type: "
                "application/x-protobuf\r\nContent-Encoding: snappy\r\n"
                "Content-Length: 4194304\r\n\r\n" +
                std::string(1000, 'x')));
  std::this_thread::sleep_for(milliseconds(300));
  RawConn other(m.port());
  auto t = Clock::now();
  Response r = other.Request("GET", "/api/v1/query?query=1", "", "", milliseconds(5000));
  EXPECT_EQ(r.status, 503) << r.head << r.body;
  EXPECT_LT(MsSince(t), 1000);
  EXPECT_EQ(r.Header("Retry-After"), "1") << r.head;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.body;
  EXPECT_EQ(j["status"], "error");
  EXPECT_EQ(j["errorType"], "unavailable");
  // The request was complete: the connection stays usable.
  RawConn probe(m.port());
  t = Clock::now();
  Response h = probe.Request("GET", "/-/ready", "", "", milliseconds(3000));
  EXPECT_EQ(h.status, 200);
  EXPECT_LT(MsSince(t), 1000) << "/-/ready while every worker is busy";
  // Once the worker is free, the rejected client's connection serves again.
  busy.Send(std::string(4194304 - 1000, 'x'));
  EXPECT_NE(busy.Read(milliseconds(10000)).status, 0);
  // (The worker answers before it is counted idle again: allow it a moment.)
  Response again;
  for (int i = 0; i < 20; ++i) {
    again = other.Request("GET", "/api/v1/query?query=1", "", "", milliseconds(5000));
    if (again.status != 503) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(again.status, 200) << again.head;
}

TEST(HttpTest, ConnectionsOverTheLimitGet503AndHealthIsServedAgainAfter) {
  Meridian m("", {"--http-max-connections", "8"});
  ASSERT_TRUE(m.WaitReady());
  std::vector<std::unique_ptr<RawConn>> held;
  for (int i = 0; i < 8; ++i) {
    // WaitReady's own connection counts until the server has seen it close,
    // which on a loaded machine can come after the first of these.
    int status = 0;
    for (int attempt = 0; attempt < 50 && status != 200; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(milliseconds(20));
      held.resize(i);
      held.push_back(std::make_unique<RawConn>(m.port()));
      status = held.back()->Request("GET", "/-/healthy").status;
    }
    ASSERT_EQ(status, 200) << "connection " << i;
  }
  {
    RawConn over(m.port());
    Response r = over.Read(milliseconds(3000));
    EXPECT_EQ(r.status, 503) << r.head;
    EXPECT_EQ(r.Header("Retry-After"), "1") << r.head;
    EXPECT_EQ(r.Header("Connection"), "close") << r.head;
    EXPECT_TRUE(over.ClosedByPeer(milliseconds(3000)));
  }
  held.pop_back();  // one slot free again (and the refused one closed)
  std::this_thread::sleep_for(milliseconds(200));
  RawConn again(m.port());
  EXPECT_EQ(again.Request("GET", "/-/healthy", "", "", milliseconds(3000)).status, 200);
}

// A body announced above --max-body-bytes is refused at once, not after the
// read timeout with a worker waiting for it all along.
TEST(HttpTest, DeclaredBodyOverTheLimitIs413AtOnceWithoutAWorker) {
  Meridian m("", {"--http-threads", "1", "--http-max-queued", "0", "--max-body-bytes", "1048576"});
  ASSERT_TRUE(m.WaitReady());
  RawConn big(m.port());
  auto t = Clock::now();
  ASSERT_TRUE(
      big.Send("POST /api/v1/write HTTP/1.1\r\nHost: x\r\n"
               "Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n"
               "Content-Length: 1000000000000\r\n\r\n"));
  Response r = big.Read(milliseconds(3000));
  EXPECT_EQ(r.status, 413) << r.head;
  EXPECT_LT(MsSince(t), 3000);
  EXPECT_NE(r.body.find("max-body-bytes"), std::string::npos) << r.body;
  EXPECT_EQ(r.Header("Connection"), "close");
  // The only worker is free: a query on another connection is served.
  RawConn q(m.port());
  Response a = q.Request("GET", "/api/v1/query?query=7", "", "", milliseconds(3000));
  EXPECT_EQ(a.status, 200) << a.head << a.body;
}

TEST(HttpTest, PostWithoutBodyWorks) {
  Meridian m;
  ASSERT_TRUE(m.WaitReady());
  RawConn c(m.port());
  // What `curl -XPOST URL` sends: no Content-Length, no body.
  auto t = Clock::now();
  Response r = c.Request("POST", "/internal/force_flush", "", "", milliseconds(4000));
  EXPECT_EQ(r.status, 200) << r.head << r.body;
  EXPECT_EQ(r.body, "flushed\n");
  EXPECT_LT(MsSince(t), 2000);
  Response q = c.Request("POST", "/api/v1/query?query=2", "", "", milliseconds(4000));
  EXPECT_EQ(q.status, 200) << q.head << q.body;
  EXPECT_NE(q.body.find("\"2\""), std::string::npos) << q.body;
}

TEST(HttpTest, LongFormsAreAccepted) {
  Meridian m;
  ASSERT_TRUE(m.WaitReady());
  RawConn c(m.port());
  std::string q = LongQuery(11000);  // ~100 kB, as Grafana POSTs long queries
  ASSERT_GT(q.size(), 90000u);
  const std::string form_type = "Content-Type: application/x-www-form-urlencoded\r\n";
  Response r = c.Request("POST", "/api/v1/query", form_type, "query=" + UrlEncode(q));
  EXPECT_EQ(r.status, 200) << r.head << r.body.substr(0, 300);
  EXPECT_NE(r.body.find("\"resultType\":\"vector\""), std::string::npos) << r.body.substr(0, 300);
  r = c.Request("POST", "/api/v1/query_range", form_type,
                "query=" + UrlEncode(q) + "&start=1000&end=2000&step=100");
  EXPECT_EQ(r.status, 200) << r.head << r.body.substr(0, 300);
  EXPECT_NE(r.body.find("\"resultType\":\"matrix\""), std::string::npos) << r.body.substr(0, 300);
  // The same connection keeps working after the rewritten request.
  r = c.Request("POST", "/api/v1/query", form_type, "query=3");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"3\""), std::string::npos) << r.body;
  // Above 10 MiB (Go's ParseForm limit): 413 with a JSON error.
  RawConn big(m.port());
  Response b =
      big.Request("POST", "/api/v1/query", form_type, "query=" + std::string((10 << 20) + 10, 'x'));
  EXPECT_EQ(b.status, 413) << b.head;
  ExpectJsonError(b, "form over 10 MiB");
}

TEST(HttpTest, LongUrlsAndHeadersUpTo1MiB) {
  Meridian m;
  ASSERT_TRUE(m.WaitReady());
  RawConn c(m.port());
  std::string q = LongQuery(11000);
  Response r = c.Request("GET", "/api/v1/query?query=" + UrlEncode(q));
  EXPECT_EQ(r.status, 200) << r.head << r.body.substr(0, 300);
  EXPECT_NE(r.body.find("\"resultType\":\"vector\""), std::string::npos) << r.body.substr(0, 300);
  r = c.Request("GET", "/api/v1/query?query=4", "X-Long: " + std::string(100000, 'h') + "\r\n");
  EXPECT_EQ(r.status, 200) << r.head;
  // Close to the limit.
  r = c.Request("GET", "/api/v1/query?query=5&x=" + std::string(900000, 'a'));
  EXPECT_EQ(r.status, 200) << r.head;

  RawConn big_url(m.port());
  r = big_url.Request("GET", "/api/v1/query?query=1&x=" + std::string(2 << 20, 'a'));
  EXPECT_EQ(r.status, 414) << r.head;
  ExpectJsonError(r, "2 MiB URL");
  RawConn big_header(m.port());
  r = big_header.Request("GET", "/api/v1/query?query=1",
                         "X-Long: " + std::string(2 << 20, 'h') + "\r\n");
  EXPECT_EQ(r.status, 431) << r.head;
  ExpectJsonError(r, "2 MiB header");
}

TEST(HttpTest, StateChangingEndpointsArePostOnly) {
  Meridian m;
  ASSERT_TRUE(m.WaitReady());
  RawConn c(m.port());
  for (const char* path :
       {"/api/v1/write", "/api/v1/receive", "/api/v1/push", "/internal/force_flush",
        "/internal/force_merge", "/api/v1/admin/tsdb/snapshot"}) {
    // Prometheus's admin endpoints take PUT too.
    const bool admin = std::string(path).rfind("/api/v1/admin/", 0) == 0;
    for (const char* method : {"GET", "PUT", "DELETE"}) {
      if (admin && std::string(method) == "PUT") continue;
      Response r = c.Request(method, path);
      EXPECT_EQ(r.status, 405) << method << " " << path << ": " << r.head;
      EXPECT_EQ(r.Header("Allow"), admin ? "POST, PUT" : "POST") << method << " " << path;
    }
  }
  Response r = c.Request("POST", "/internal/force_flush");
  EXPECT_EQ(r.status, 200);
  r = c.Request("POST", "/internal/force_merge");
  EXPECT_EQ(r.status, 200) << r.head;
}

TEST(HttpTest, BadListenAddressesFailAtStart) {
  TempDir dir;
  for (const char* listen : {"127.0.0.1:99999", ":abc", "127.0.0.1", "127.0.0.1:-1"}) {
    std::string log = dir.path() + "/listen.log";
    std::remove(log.c_str());
    Process p({MeridianBinary(), "--listen", listen, "--data-dir", dir.path() + "/data"}, log);
    int st = p.Wait(milliseconds(10000));
    ASSERT_NE(st, -1) << "meridian --listen " << listen << " kept running: " << p.Log();
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) != 0) << listen;
    EXPECT_NE(p.Log().find(std::string("\"") + listen + "\""), std::string::npos)
        << "the message names the address: " << p.Log();
  }
}

TEST(HttpTest, VersionAndHelp) {
  TempDir dir;
  std::string log = dir.path() + "/out.log";
  Process v({MeridianBinary(), "--version"}, log);
  int st = v.Wait(milliseconds(10000));
  ASSERT_NE(st, -1);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << v.Log();
  EXPECT_EQ(v.Log().rfind("meridian version ", 0), 0u) << v.Log();

  std::string log2 = dir.path() + "/help.log";
  Process h({MeridianBinary(), "--help"}, log2);
  st = h.Wait(milliseconds(10000));
  ASSERT_NE(st, -1);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  std::string out = h.Log();
  EXPECT_NE(out.find("--http-threads"), std::string::npos) << out;
  EXPECT_NE(out.find("(default 0.0.0.0:9097)"), std::string::npos) << out;
  EXPECT_NE(out.find("--http-idle-timeout"), std::string::npos) << out;
  EXPECT_NE(out.find("--version"), std::string::npos) << out;
}

}  // namespace
}  // namespace meridian::testing
