// Admission control (query/admission.h) and the engine's own limits: lanes,
// queue timeout, the timeout cap, step counts that overflow.
#include "query/admission.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "query/engine.h"

namespace meridian::promql {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr auto kFar = std::chrono::hours(1);

TEST(QueryAdmission, LanesAreIndependentAndTheQueueIsBounded) {
  QueryAdmission adm(
      {.dashboard_slots = 2, .priority_slots = 1, .queue_timeout = milliseconds(1000)});
  auto deadline = Clock::now() + kFar;
  auto a = adm.Admit(QueryPriority::kDashboard, deadline, nullptr);
  auto b = adm.Admit(QueryPriority::kDashboard, deadline, nullptr);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(adm.running(QueryPriority::kDashboard), 2);
  // The dashboard lane is full: a priority query still gets in at once.
  auto start = Clock::now();
  auto p = adm.Admit(QueryPriority::kPriority, deadline, nullptr);
  ASSERT_TRUE(p.ok()) << p.status();
  // Not after the queue timeout (the bound leaves room for a loaded host).
  EXPECT_LT(Clock::now() - start, milliseconds(500));
  // A third dashboard query waits the queue timeout, then 503.
  start = Clock::now();
  auto c = adm.Admit(QueryPriority::kDashboard, deadline, nullptr);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable) << c.status();
  EXPECT_GE(Clock::now() - start, milliseconds(1000));
  EXPECT_NE(c.status().message().find("all 2 dashboard query slots stayed busy"),
            std::string::npos);
  EXPECT_EQ(adm.queued(QueryPriority::kDashboard), 0);
  // A freed slot admits a waiter.
  std::thread release([&] {
    std::this_thread::sleep_for(milliseconds(20));
    auto gone = std::move(*a);
  });
  auto d = adm.Admit(QueryPriority::kDashboard, Clock::now() + kFar, nullptr);
  release.join();
  EXPECT_TRUE(d.ok()) << d.status();
  // The query's own deadline or cancellation ends the wait early.
  auto e = adm.Admit(QueryPriority::kDashboard, Clock::now() + milliseconds(10), nullptr);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kDeadlineExceeded);
  std::atomic<bool> cancelled{true};
  auto f = adm.Admit(QueryPriority::kDashboard, Clock::now() + kFar, &cancelled);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kCancelled);
}

TEST(QueryAdmission, TheQueueIsBoundedInLength) {
  QueryAdmission adm({.dashboard_slots = 1,
                      .priority_slots = 1,
                      .queue_timeout = milliseconds(2000),
                      .max_queued = 1});
  auto a = adm.Admit(QueryPriority::kDashboard, Clock::now() + kFar, nullptr);
  ASSERT_TRUE(a.ok());
  std::thread waiter([&] {
    auto w = adm.Admit(QueryPriority::kDashboard, Clock::now() + kFar, nullptr);
    EXPECT_TRUE(w.ok()) << w.status();
  });
  while (adm.queued(QueryPriority::kDashboard) < 1) std::this_thread::sleep_for(milliseconds(1));
  auto start = Clock::now();
  auto full = adm.Admit(QueryPriority::kDashboard, Clock::now() + kFar, nullptr);
  EXPECT_EQ(full.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(Clock::now() - start, milliseconds(500)) << "refused at once, not after the timeout";
  EXPECT_NE(full.status().message().find("1 queries wait"), std::string::npos) << full.status();
  EXPECT_EQ(adm.rejected(QueryPriority::kDashboard).queue_full, 1u);
  EXPECT_EQ(adm.rejected(QueryPriority::kDashboard).queue_timeout, 0u);
  EXPECT_EQ(adm.rejected(QueryPriority::kPriority).queue_full, 0u);
  { auto gone = std::move(*a); }
  waiter.join();
}

// A Queryable whose queriers block until Open() (or return at once when open).
class GateQueryable : public Queryable {
 public:
  void Open() {
    {
      std::lock_guard<std::mutex> l(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  int waiting() const { return waiting_.load(); }
  absl::StatusOr<std::unique_ptr<Querier>> NewQuerier(int64_t, int64_t,
                                                      const ReadContext&) const override {
    ++waiting_;
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [this] { return open_; });
    --waiting_;
    return std::unique_ptr<Querier>(new EmptyQuerier);
  }

 private:
  class EmptySet : public SeriesSet {
   public:
    bool Next() override { return false; }
    const Labels& labels() const override { return labels_; }
    absl::Status Samples(std::vector<Sample>* out) override { return absl::OkStatus(); }
    absl::Status status() const override { return absl::OkStatus(); }

   private:
    Labels labels_;
  };
  class EmptyQuerier : public Querier {
   public:
    absl::StatusOr<std::unique_ptr<SeriesSet>> Select(const std::vector<Matcher>&,
                                                      const SelectHints&) override {
      return std::unique_ptr<SeriesSet>(new EmptySet);
    }
    absl::StatusOr<std::vector<std::string>> LabelNames(const std::vector<Matcher>&) override {
      return std::vector<std::string>{};
    }
    absl::StatusOr<std::vector<std::string>> LabelValues(const std::string&,
                                                         const std::vector<Matcher>&) override {
      return std::vector<std::string>{};
    }
  };
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool open_ = false;
  mutable std::atomic<int> waiting_{0};
};

// Dashboard queries saturate their lane (stuck in storage); a query of the
// priority lane (rules, the external metrics API) runs at once, and one more
// dashboard query gets kUnavailable after the queue timeout.
TEST(EngineAdmission, PriorityLaneProceedsWhileDashboardLaneIsSaturated) {
  EngineOptions o;
  o.admission = {.dashboard_slots = 2, .priority_slots = 1, .queue_timeout = milliseconds(1000)};
  Engine engine(o);
  GateQueryable stuck;
  std::vector<std::thread> dashboards;
  for (int i = 0; i < 2; ++i) {
    dashboards.emplace_back([&] {
      auto r = engine.InstantQuery(stuck, "up", 0, {});
      EXPECT_TRUE(r.ok()) << r.status();
    });
  }
  while (stuck.waiting() < 2) std::this_thread::sleep_for(milliseconds(1));
  EXPECT_EQ(engine.admission().running(QueryPriority::kDashboard), 2);

  GateQueryable open;
  open.Open();
  QueryOptions prio;
  prio.priority = QueryPriority::kPriority;
  auto start = Clock::now();
  auto r = engine.InstantQuery(open, "sum(up)", 0, prio);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LT(Clock::now() - start, milliseconds(800)) << "waited for the dashboard lane";
  auto rr = engine.RangeQuery(open, "sum(up)", 0, 60'000, 1000, prio);
  ASSERT_TRUE(rr.ok()) << rr.status();

  auto d = engine.InstantQuery(open, "up", 0, {});
  EXPECT_EQ(d.status().code(), absl::StatusCode::kUnavailable) << d.status();

  stuck.Open();
  for (auto& t : dashboards) t.join();
  EXPECT_TRUE(engine.InstantQuery(open, "up", 0, {}).ok());  // slots freed
}

// The timeout parameter can shorten the engine's timeout, never extend it.
TEST(EngineLimits, QueryTimeoutIsCappedByTheEngineTimeout) {
  EngineOptions o;
  o.timeout = milliseconds(50);
  Engine engine(o);
  GateQueryable slow;  // opened after 300 ms: past the engine's timeout
  std::thread opener([&] {
    std::this_thread::sleep_for(milliseconds(300));
    slow.Open();
  });
  QueryOptions qo;
  qo.timeout = std::chrono::hours(24 * 365);  // timeout=1y
  auto r = engine.InstantQuery(slow, "sum(up) + sum(up)", 0, qo);
  opener.join();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
}

TEST(EngineLimits, StepCountsThatOverflowAreRefused) {
  Engine engine({});
  GateQueryable q;
  q.Open();
  // (end - start) overflows int64; the step count overflows int.
  const int64_t lo = std::numeric_limits<int64_t>::min() / 2 - 5;
  const int64_t hi = std::numeric_limits<int64_t>::max() / 2 + 5;
  for (int64_t step : {int64_t{1}, int64_t{1000}, std::numeric_limits<int64_t>::max() / 20000}) {
    auto r = engine.RangeQuery(q, "1", lo, hi, step, {});
    ASSERT_FALSE(r.ok()) << step;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(),
              "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the "
              "query resolution (?step=XX)");
  }
  // 11,000 steps pass (11,001 points), as in Prometheus.
  auto ok = engine.RangeQuery(q, "1", 0, 11'000'000, 1000, {});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(std::get<Matrix>(ok->value).at(0).points.size(), 11'001u);
  // Far-apart bounds within the limit: step times near the int64 limits are
  // exact (step * index alone exceeds int64; UBSan checks the arithmetic).
  const int64_t far = 9'100'000'000'000'000'000;
  const int64_t step = 1'654'545'454'545'000;
  auto wide = engine.RangeQuery(q, "time()", -far, far, step, {});
  ASSERT_TRUE(wide.ok()) << wide.status();
  const auto& pts = std::get<Matrix>(wide->value).at(0).points;
  ASSERT_EQ(pts.size(), 11'001u);
  EXPECT_EQ(pts.back().t_ms,
            static_cast<int64_t>(-static_cast<__int128>(far) + __int128{11'000} * step));
  EXPECT_LE(pts.back().t_ms, far);
  // A subquery with more steps than an int (10000 days at 1 ms) is refused
  // as too many samples, never truncated or allocated.
  for (const char* query :
       {"sum_over_time(vector(1)[10000d:1ms])", "count_over_time(up[10000d:1ms])",
        "max_over_time(vector(time())[100000d:1ms])"}) {
    auto s = engine.InstantQuery(q, query, 0, {});
    ASSERT_FALSE(s.ok()) << query;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted)
        << query << ": " << s.status();
    auto sr = engine.RangeQuery(q, query, 0, 60'000, 1000, {});
    EXPECT_EQ(sr.status().code(), absl::StatusCode::kResourceExhausted) << query;
  }
}

}  // namespace
}  // namespace meridian::promql
