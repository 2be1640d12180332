// Scratch space of appends is kept per concurrent append, not per thread
// that ever ran one (storage/scratch_pool.h).
#include "storage/scratch_pool.h"

#include <malloc.h>

#include <barrier>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "storage/mem_series.h"
#include "storage/tenant_head.h"

namespace meridian {
namespace {

// Heap bytes in use, including chunks glibc mmapped (large ones).
size_t HeapInUse() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

TEST(ScratchPoolTest, HandsBackTheSameObjectAndMakesMoreOnlyWhenAllAreLeased) {
  ScratchPool<std::string> pool;
  std::string* first;
  {
    auto a = pool.Acquire();
    first = &*a;
    a->assign(1000, 'x');
  }
  {
    auto a = pool.Acquire();
    EXPECT_EQ(&*a, first);
    EXPECT_GE(a->capacity(), 1000u);
    auto b = pool.Acquire();
    EXPECT_NE(&*b, first);
  }
}

// 32 long-lived threads (as the HTTP workers) each resolve one batch of
// 1000 series with ~2 KB of labels each, one after the other, and stay
// alive. Per-thread scratch kept ~2 MB of flat labels on each of them
// (~64 MB); pooled, one set serves them all.
TEST(ScratchPoolTest, ResolvingOnManyThreadsKeepsOneScratchNotOnePerThread) {
  if (mallinfo2().uordblks == 0) {
    GTEST_SKIP() << "mallinfo2() reports nothing (a sanitizer's allocator): heap not measurable";
  }
  constexpr int kThreads = 32, kSeries = 1000;
  SeriesCacheLimits limits;
  TenantHead head(1, "t", &limits);
  std::vector<std::string> values;
  for (int i = 0; i < kSeries; ++i)
    values.push_back(std::string(2000, 'a' + i % 26) + std::to_string(i));
  std::vector<std::vector<LabelView>> labels(kSeries);
  std::vector<Sample> sample = {{0, 1}};
  AppendBatch batch;
  for (int i = 0; i < kSeries; ++i) {
    labels[i] = {{"__name__", "m"}, {"v", values[i]}};
    batch.series.push_back({labels[i], sample});
  }
  std::vector<MemSeries*> out(kSeries);
  uint64_t created = 0;
  head.ResolveBatch(batch.series, out.data(), &created);  // creates the series
  ASSERT_EQ(created, uint64_t{kSeries});

  const size_t before = HeapInUse();
  size_t after = 0;
  std::barrier done(kThreads + 1);
  std::barrier measured(kThreads + 1);
  std::vector<std::thread> threads;
  std::mutex turn;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      {
        std::lock_guard<std::mutex> l(turn);  // one after the other
        std::vector<MemSeries*> mine(kSeries);
        uint64_t c = 0;
        head.ResolveBatch(batch.series, mine.data(), &c);
        EXPECT_EQ(c, 0u);
        EXPECT_EQ(mine, out);
      }
      done.arrive_and_wait();
      measured.arrive_and_wait();  // alive until measured
    });
  }
  done.arrive_and_wait();
  after = HeapInUse();
  measured.arrive_and_wait();
  for (auto& th : threads) th.join();
  const double grown_mb = (static_cast<double>(after) - static_cast<double>(before)) / 1e6;
  std::printf("heap grew %.1f MB over %d threads\n", grown_mb, kThreads);
  EXPECT_LT(grown_mb, 16.0);
}

}  // namespace
}  // namespace meridian
