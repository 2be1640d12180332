// FanoutQueryable against real remote-read servers on loopback: in-process
// HTTP servers running meridian's own remote-read handler over real storages.
#include "remote/fanout.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <snappy.h>

#include <algorithm>
#include <map>
#include <thread>

#include "proto/remote.pb.h"
#include "remote/read_handler.h"
#include "storage/storage.h"
#include "storage/test_util.h"

namespace meridian::remote {
namespace {

using storage_testing::Eq;
using storage_testing::Re;
using storage_testing::TempDir;

// A region: storage + an HTTP server answering POST /api/v1/read.
class Region {
 public:
  enum Mode { kNormal, kSamplesOnly, kFail500, kSlow };
  explicit Region(Mode mode = kNormal) : mode_(mode) {
    StorageOptions o;
    o.dir = dir_.path();
    o.sync_wal = false;
    storage_ = *Storage::Open(o);
    srv_.Post("/api/v1/read", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests;
      last_tenant = req.get_header_value("THANOS-TENANT");
      if (mode_ == kFail500) {
        res.status = 500;
        res.set_content("boom\n", "text/plain");
        return;
      }
      if (mode_ == kSlow) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      std::string body = req.body;
      if (mode_ == kSamplesOnly) {  // a server that knows only SAMPLES
        std::string raw;
        snappy::Uncompress(body.data(), body.size(), &raw);
        prometheus::ReadRequest r;
        r.ParseFromString(raw);
        r.clear_accepted_response_types();
        raw = r.SerializeAsString();
        body.clear();
        snappy::Compress(raw.data(), raw.size(), &body);
      }
      std::string tenant = last_tenant.empty() ? "default" : last_tenant;
      ReadReply r = ServeRemoteRead(*storage_->ForTenant(tenant), body, {});
      res.status = r.status;
      if (!r.content_encoding.empty()) res.set_header("Content-Encoding", r.content_encoding);
      res.set_content(r.body, r.content_type);
    });
    // The fan-out keeps connections alive: close them, so stop() waits for none.
    srv_.set_keep_alive_max_count(1);
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    while (!srv_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Region() {
    srv_.stop();
    thread_.join();
  }
  void Write(std::vector<LabelView> ls, std::vector<Sample> ss,
             const std::string& tenant = "default") {
    AppendBatch b;
    b.series.push_back({ls, ss});
    AppendResult r;
    ASSERT_TRUE(storage_->Append(tenant, b, &r).ok());
  }
  RemoteEndpoint Endpoint(const std::string& name, Labels ext = {}) const {
    RemoteEndpoint e;
    e.name = name;
    e.url = "http://127.0.0.1:" + std::to_string(port_) + "/api/v1/read";
    e.external_labels = std::move(ext);
    e.timeout = std::chrono::seconds(5);
    return e;
  }
  Storage* storage() { return storage_.get(); }
  std::atomic<int> requests{0};
  std::string last_tenant;

 private:
  Mode mode_;
  TempDir dir_;
  std::unique_ptr<Storage> storage_;
  httplib::Server srv_;
  int port_ = 0;
  std::thread thread_;
};

Labels L(std::vector<Label> v) { return Labels::FromUnsorted(std::move(v)); }

struct Got {
  std::vector<std::pair<std::string, std::vector<Sample>>> series;
  std::vector<std::string> warnings;
};

absl::StatusOr<Got> SelectAll(const Queryable& q, std::vector<Matcher> ms,
                              const ReadContext& ctx = {}, int64_t from = 0,
                              int64_t to = 1'000'000) {
  MERIDIAN_ASSIGN_OR_RETURN(auto querier, q.NewQuerier(from, to, ctx));
  MERIDIAN_ASSIGN_OR_RETURN(auto set, querier->Select(ms, {.start_ms = from, .end_ms = to}));
  Got g;
  std::vector<Sample> buf;
  while (set->Next()) {
    MERIDIAN_RETURN_IF_ERROR(set->Samples(&buf));
    g.series.push_back({set->labels().ToString(), buf});
  }
  MERIDIAN_RETURN_IF_ERROR(set->status());
  g.warnings = set->warnings();
  return g;
}

std::vector<std::shared_ptr<const RemoteReadClient>> Clients(std::vector<RemoteEndpoint> es) {
  std::vector<std::shared_ptr<const RemoteReadClient>> out;
  for (auto& e : es) out.push_back(std::make_shared<RemoteReadClient>(std::move(e)));
  return out;
}

TEST(FanoutTest, MergesLocalAndRegionsPerSeriesWithExternalLabels) {
  Region us, eu(Region::kSamplesOnly);
  us.Write({{"__name__", "up"}, {"job", "a"}, {"region", "us"}}, {{1000, 1}, {2000, 1}});
  eu.Write({{"__name__", "up"}, {"job", "a"}}, {{1000, 2}});  // lacks region: attached
  // The same series in two places (us's copy lacks region, which its
  // external labels supply): samples merge, the local one wins on 3000.
  us.Write({{"__name__", "shared"}}, {{1000, 10}, {3000, 30}});
  TempDir local_dir;
  StorageOptions o;
  o.dir = local_dir.path();
  o.sync_wal = false;
  auto local = *Storage::Open(o);
  {
    std::vector<LabelView> ls = {{"__name__", "shared"}, {"region", "us"}};
    std::vector<Sample> ss = {{2000, 20}, {3000, 33}};
    AppendBatch b;
    b.series.push_back({ls, ss});
    AppendResult r;
    ASSERT_TRUE(local->Append("default", b, &r).ok());
  }
  FanoutQueryable q(
      local->ForTenant("default"),
      Clients({us.Endpoint("us", L({{"region", "us"}})), eu.Endpoint("eu", L({{"region", "eu"}}))}),
      {.tenant = "default"});
  auto g = SelectAll(q, {Eq("__name__", "up")});
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->series.size(), 2u);
  EXPECT_EQ(g->series[0].first, R"(up{job="a", region="eu"})");
  EXPECT_EQ(g->series[0].second.size(), 1u);
  EXPECT_EQ(g->series[1].first, R"(up{job="a", region="us"})");
  EXPECT_EQ(g->series[1].second.size(), 2u);
  EXPECT_TRUE(g->warnings.empty());

  g = SelectAll(q, {Eq("__name__", "shared")});
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->series.size(), 1u);
  ASSERT_EQ(g->series[0].second.size(), 3u);
  EXPECT_EQ(g->series[0].second[1].v, 20);
  EXPECT_EQ(g->series[0].second[2].v, 33);

  // A selector on region="eu" does not ask us (its external labels cannot match).
  const int us_before = us.requests.load(), eu_before = eu.requests.load();
  g = SelectAll(q, {Eq("__name__", "up"), Eq("region", "eu")});
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->series.size(), 1u);
  EXPECT_EQ(g->series[0].first, R"(up{job="a", region="eu"})");
  EXPECT_EQ(us.requests.load(), us_before);
  EXPECT_EQ(eu.requests.load(), eu_before + 1);

  // Label APIs through series-only reads.
  auto querier = *q.NewQuerier(0, 1'000'000);
  auto names = querier->LabelNames({});
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(*names, (std::vector<std::string>{"__name__", "job", "region"}));
  auto values = querier->LabelValues("region", {Re("__name__", "up|shared")});
  ASSERT_TRUE(values.ok());
  EXPECT_EQ(*values, (std::vector<std::string>{"eu", "us"}));
}

TEST(FanoutTest, TenantIsTheCallersUnlessTheRemoteFixesOne) {
  Region r;
  r.Write({{"__name__", "m"}}, {{1000, 1}}, "team-a");
  r.Write({{"__name__", "m"}}, {{1000, 2}}, "team-b");
  FanoutQueryable qa(nullptr, Clients({r.Endpoint("r")}), {.tenant = "team-a"});
  auto g = SelectAll(qa, {Eq("__name__", "m")});
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(g->series.size(), 1u);
  EXPECT_EQ(g->series[0].second[0].v, 1);
  EXPECT_EQ(r.last_tenant, "team-a");
  RemoteEndpoint fixed = r.Endpoint("r");
  fixed.tenant = "team-b";
  FanoutQueryable qb(nullptr, Clients({fixed}), {.tenant = "team-a"});
  g = SelectAll(qb, {Eq("__name__", "m")});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->series[0].second[0].v, 2);
}

TEST(FanoutTest, AFailedRemoteIsAWarningOrWithoutPartialResponseAnError) {
  Region ok, bad(Region::kFail500);
  ok.Write({{"__name__", "m"}}, {{1000, 1}});
  auto clients = Clients({ok.Endpoint("good"), bad.Endpoint("broken"),
                          RemoteEndpoint{.name = "gone", .url = "http://127.0.0.1:1/api/v1/read"}});
  FanoutQueryable partial(nullptr, clients, {.tenant = "default"});
  auto g = SelectAll(partial, {Eq("__name__", "m")});
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->series.size(), 1u);
  ASSERT_EQ(g->warnings.size(), 2u);
  EXPECT_EQ(g->warnings[0], "remote broken: remote read answered HTTP 500: boom");
  EXPECT_EQ(g->warnings[1].rfind("remote gone: remote read failed: ", 0), 0u) << g->warnings[1];

  FanoutQueryable strict(nullptr, clients, {.tenant = "default", .partial_response = false});
  g = SelectAll(strict, {Eq("__name__", "m")});
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(g.status().message().find("remote broken"), std::string_view::npos);
}

TEST(FanoutTest, PerRemoteTimeoutAndCancellationStopTheWait) {
  Region fast, slow(Region::kSlow);
  fast.Write({{"__name__", "m"}, {"r", "fast"}}, {{1000, 1}});
  slow.Write({{"__name__", "m"}, {"r", "slow"}}, {{1000, 1}});
  RemoteEndpoint se = slow.Endpoint("slow");
  se.timeout = std::chrono::milliseconds(200);
  FanoutQueryable q(nullptr, Clients({fast.Endpoint("fast"), se}), {.tenant = "default"});
  auto t0 = std::chrono::steady_clock::now();
  auto g = SelectAll(q, {Eq("__name__", "m")});
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->series.size(), 1u);
  ASSERT_EQ(g->warnings.size(), 1u);
  EXPECT_EQ(g->warnings[0], "remote slow: timed out after 200ms");
  EXPECT_LT(took, std::chrono::milliseconds(1200));

  std::atomic<bool> cancelled{false};
  FanoutQueryable qc(nullptr, Clients({slow.Endpoint("slow")}), {.tenant = "default"});
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cancelled = true;
  });
  t0 = std::chrono::steady_clock::now();
  ReadContext ctx;
  ctx.cancelled = &cancelled;
  g = SelectAll(qc, {Eq("__name__", "m")}, ctx);
  took = std::chrono::steady_clock::now() - t0;
  canceller.join();
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kCancelled);
  EXPECT_LT(took, std::chrono::milliseconds(1200));

  // The query's deadline ends the wait too (an error, not a partial answer).
  ReadContext dl;
  dl.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(150);
  t0 = std::chrono::steady_clock::now();
  g = SelectAll(qc, {Eq("__name__", "m")}, dl);
  took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(took, std::chrono::milliseconds(1200));
}

TEST(FanoutTest, LabelCallsNameFailedRemotesInTheQueriersWarnings) {
  Region ok, bad(Region::kFail500);
  ok.Write({{"__name__", "m"}, {"k", "v"}}, {{1000, 1}});
  FanoutQueryable q(nullptr, Clients({ok.Endpoint("good"), bad.Endpoint("broken")}),
                    {.tenant = "default"});
  auto querier = *q.NewQuerier(0, 1'000'000);
  auto names = querier->LabelNames({});
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(*names, (std::vector<std::string>{"__name__", "k"}));
  ASSERT_EQ(querier->Warnings().size(), 1u);
  EXPECT_EQ(querier->Warnings()[0], "remote broken: remote read answered HTTP 500: boom");
}

// A region's query API for pushdown that holds each query until `want` of them
// have been in flight together (or it is released): avg's sum and count must
// arrive at the same time, and the remote's timeout and the query's
// cancellation must still end the wait.
class QueryApi {
 public:
  explicit QueryApi(int want) : want_(want) {
    srv_.Post("/api/v1/query", [this](const httplib::Request& req, httplib::Response& res) {
      const bool count = req.get_param_value("query").rfind("count", 0) == 0;
      {
        MutexLock lock(&mu_);
        ++arrived_;
        client_ports_.push_back(req.remote_port);
        ++in_flight_;
        max_in_flight_ = std::max(max_in_flight_, in_flight_);
        if (in_flight_ >= want_) released_ = true;
        cv_.SignalAll();  // the others, and AwaitArrived
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!released_ && std::chrono::steady_clock::now() < until) {
          cv_.WaitUntil(&mu_, until);
        }
        cv_.SignalAll();
      }
      res.set_content(std::string(R"({"status":"success","data":{"resultType":"vector",)") +
                          R"("result":[{"metric":{},"value":[1,")" + (count ? "4" : "10") +
                          R"("]}]}})",
                      "application/json");
      MutexLock lock(&mu_);
      --in_flight_;
    });
    srv_.set_keep_alive_timeout(1);  // kept-alive connections end its stop() soon
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    while (!srv_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~QueryApi() {
    Release();
    srv_.stop();
    thread_.join();
  }
  void Release() {
    MutexLock lock(&mu_);
    released_ = true;
    cv_.SignalAll();
  }
  void AwaitArrived(int n) {
    MutexLock lock(&mu_);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (arrived_ < n && std::chrono::steady_clock::now() < until) cv_.WaitUntil(&mu_, until);
  }
  int max_in_flight() {
    MutexLock lock(&mu_);
    return max_in_flight_;
  }
  std::vector<int> client_ports() {
    MutexLock lock(&mu_);
    return client_ports_;
  }
  RemoteEndpoint Endpoint(const std::string& name, std::chrono::milliseconds timeout) const {
    RemoteEndpoint e;
    e.name = name;
    e.url = "http://127.0.0.1:" + std::to_string(port_) + "/api/v1/read";
    e.external_labels = Labels::FromUnsorted({{"region", name}});
    e.pushdown = true;
    e.timeout = timeout;
    return e;
  }

 private:
  const int want_;
  httplib::Server srv_;
  int port_ = 0;
  std::thread thread_;
  Mutex mu_;
  CondVar cv_;
  int arrived_ = 0, in_flight_ = 0, max_in_flight_ = 0;
  std::vector<int> client_ports_;
  bool released_ = false;
};

PushdownQuery SumAndCount() {
  PushdownQuery q;
  q.selectors = {{Eq("__name__", "m")}};
  q.start_ms = q.end_ms = 1000;
  q.queries = 2;
  q.text = [](const Labels&, size_t k) -> std::optional<std::string> {
    return k == 0 ? "sum(m)" : "count(m)";
  };
  return q;
}

TEST(FanoutPushdownTest, AQuerysPartsGoToEachRemoteAtTheSameTime) {
  QueryApi a(2), b(2);
  FanoutQueryable q(nullptr,
                    Clients({a.Endpoint("a", std::chrono::seconds(30)),
                             b.Endpoint("b", std::chrono::seconds(30))}),
                    {.tenant = "default"});
  auto querier = q.NewQuerier(0, 1000);
  ASSERT_TRUE(querier.ok()) << querier.status();
  auto parts = (*querier)->Pushdown(SumAndCount());
  ASSERT_TRUE(parts.has_value());
  ASSERT_TRUE(parts->ok()) << parts->status();
  // Each region held its first query until the second arrived.
  EXPECT_EQ(a.max_in_flight(), 2);
  EXPECT_EQ(b.max_in_flight(), 2);
  std::map<std::pair<std::string, size_t>, double> got;
  for (const PushdownPart& p : **parts) {
    ASSERT_EQ(p.series.size(), 1u);
    got[{std::string(p.external.Get("region")), p.query}] = p.series[0].second[0].v;
  }
  EXPECT_EQ(got, (std::map<std::pair<std::string, size_t>, double>{
                     {{"a", 0}, 10}, {{"a", 1}, 4}, {{"b", 0}, 10}, {{"b", 1}, 4}}));
  EXPECT_TRUE((*querier)->Warnings().empty());

  // The next query reuses the two kept-alive connections to each region.
  auto again = q.NewQuerier(0, 1000);
  ASSERT_TRUE(again.ok());
  parts = (*again)->Pushdown(SumAndCount());
  ASSERT_TRUE(parts.has_value() && parts->ok());
  for (QueryApi* api : {&a, &b}) {
    auto ports = api->client_ports();
    ASSERT_EQ(ports.size(), 4u);
    std::sort(ports.begin(), ports.begin() + 2);
    std::sort(ports.begin() + 2, ports.end());
    EXPECT_EQ(std::vector<int>(ports.begin(), ports.begin() + 2),
              std::vector<int>(ports.begin() + 2, ports.end()));
  }
}

TEST(FanoutPushdownTest, TimeoutAndCancellationEndBothPartsOfARemote) {
  QueryApi hung(3), fine(2);  // hung never gets 3 at once: it holds until released
  FanoutQueryable q(nullptr,
                    Clients({hung.Endpoint("hung", std::chrono::milliseconds(300)),
                             fine.Endpoint("fine", std::chrono::seconds(30))}),
                    {.tenant = "default"});
  auto querier = q.NewQuerier(0, 1000);
  ASSERT_TRUE(querier.ok());
  auto parts = (*querier)->Pushdown(SumAndCount());
  ASSERT_TRUE(parts.has_value() && parts->ok());
  // The hung remote: one warning, none of its parts (not a sum without its count).
  ASSERT_EQ((*parts)->size(), 2u);
  for (const PushdownPart& p : **parts) EXPECT_EQ(p.external.Get("region"), "fine");
  EXPECT_EQ((*querier)->Warnings(), std::vector<std::string>{"remote hung: timed out after 300ms"});

  // Cancelled once both of its queries are in flight: the call ends as cancelled.
  QueryApi held(3);
  std::atomic<bool> cancelled{false};
  ReadContext ctx;
  ctx.cancelled = &cancelled;
  FanoutQueryable qc(nullptr, Clients({held.Endpoint("held", std::chrono::seconds(30))}),
                     {.tenant = "default"});
  auto qr = qc.NewQuerier(0, 1000, ctx);
  ASSERT_TRUE(qr.ok());
  std::thread canceller([&] {
    held.AwaitArrived(2);
    cancelled = true;
  });
  parts = (*qr)->Pushdown(SumAndCount());
  canceller.join();
  ASSERT_TRUE(parts.has_value());
  ASSERT_FALSE(parts->ok());
  EXPECT_EQ(parts->status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(held.max_in_flight(), 2);
}

}  // namespace
}  // namespace meridian::remote
