#include "model/executor.h"

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "gtest/gtest.h"

namespace meridian {
namespace {

using namespace std::chrono_literals;

TEST(ThreadPoolTest, RunsEveryTaskOnItsThreads) {
  std::atomic<int> ran{0};
  Mutex mu;
  std::set<std::thread::id> ids;
  {
    ThreadPool pool(3, "test-pool");
    EXPECT_EQ(pool.size(), 3);
    for (int i = 0; i < 100; ++i) {
      pool.Schedule([&] {
        {
          MutexLock l(&mu);
          ids.insert(std::this_thread::get_id());
        }
        ++ran;
      });
    }
  }  // the destructor runs what is still queued, then joins
  EXPECT_EQ(ran.load(), 100);
  EXPECT_LE(ids.size(), 3u);
  EXPECT_EQ(ids.count(std::this_thread::get_id()), 0u);
}

// A task waits behind a busy thread; the pool never grows.
TEST(ThreadPoolTest, TasksQueueBehindABusyThread) {
  ThreadPool pool(1, "test-pool");
  std::atomic<bool> release{false}, second{false};
  pool.Schedule([&] {
    while (!release) std::this_thread::sleep_for(1ms);
  });
  pool.Schedule([&] { second = true; });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(second.load());
  release = true;
  for (int i = 0; i < 2000 && !second; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(second.load());
}

}  // namespace
}  // namespace meridian
