#include "model/sync.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace meridian {
namespace {

using namespace std::chrono_literals;

// The storage's append gate relies on this: once a writer waits, new readers
// queue behind it, so a stream of readers cannot starve a checkpoint.
TEST(SharedMutexTest, WaitingWriterBlocksNewReaders) {
  SharedMutex mu;
  std::atomic<int> order{0};
  std::atomic<int> writer_at{0}, reader_at{0};
  mu.ReaderLock();  // the first reader holds it
  std::thread writer([&] {
    WriterMutexLock l(&mu);
    writer_at = ++order;
  });
  std::this_thread::sleep_for(100ms);  // the writer is waiting now
  std::thread reader([&] {
    ReaderMutexLock l(&mu);
    reader_at = ++order;
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(reader_at.load(), 0) << "a new reader got in ahead of a waiting writer";
  mu.ReaderUnlock();
  writer.join();
  reader.join();
  EXPECT_EQ(writer_at.load(), 1);
  EXPECT_EQ(reader_at.load(), 2);
}

TEST(SharedMutexTest, ReadersShare) {
  SharedMutex mu;
  ReaderMutexLock a(&mu);
  std::atomic<bool> got{false};
  std::thread t([&] {
    ReaderMutexLock b(&mu);
    got = true;
  });
  t.join();  // would hang if readers excluded each other
  EXPECT_TRUE(got.load());
}

TEST(CondVarTest, WaitForTimesOutAndSignalWakes) {
  Mutex mu;
  CondVar cv;
  bool ready = false;
  {
    MutexLock l(&mu);
    EXPECT_TRUE(cv.WaitFor(&mu, 20ms));  // nobody signals: times out, lock held again
  }
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    MutexLock l(&mu);
    ready = true;
    cv.SignalAll();
  });
  {
    MutexLock l(&mu);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!ready) ASSERT_FALSE(cv.WaitUntil(&mu, deadline));
    EXPECT_TRUE(ready);
  }
  t.join();
}

}  // namespace
}  // namespace meridian
