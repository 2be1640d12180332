// The harness's own promises: a sanitizer report in a child's output fails
// the test that started the child (the sanitizer builds run meridian built
// with the same sanitizer; a report in a child is otherwise only in its log).
#include "tests/integration/harness.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

namespace meridian::testing {
namespace {

TEST(HarnessTest, ASanitizerReportInAChildFailsTheTest) {
  TempDir dir;
  for (const char* report : {"WARNING: ThreadSanitizer: data race (pid=1)",
                             "==1==ERROR: AddressSanitizer: heap-use-after-free",
                             "x.cc:1:2: runtime error: signed integer overflow"}) {
    EXPECT_NONFATAL_FAILURE(
        {
          Process p({"/bin/sh", "-c", std::string("echo '") + report + "'"},
                    dir.path() + "/child.log");
          p.Wait(std::chrono::seconds(10));
        },
        "holds a sanitizer report");
    std::remove((dir.path() + "/child.log").c_str());
  }
  // A clean child fails nothing.
  Process clean({"/bin/sh", "-c", "echo meridian: listening"}, dir.path() + "/clean.log");
  EXPECT_NE(clean.Wait(std::chrono::seconds(10)), -1);
}

}  // namespace
}  // namespace meridian::testing
