#include "remote/federate_pull.h"

#include <gtest/gtest.h>

#include <cmath>

#include "model/sample.h"

namespace meridian::remote {
namespace {

std::string Str(const std::vector<Label>& ls) {
  std::string out;
  for (const Label& l : ls) out += l.name + "=" + l.value + ";";
  return out;
}

TEST(TextExpositionTest, ParsesWhatPrometheusFederationWrites) {
  auto r = ParseTextExposition(
      "# HELP x ignored\n"
      "# TYPE up untyped\n"
      "up{instance=\"localhost:9090\",job=\"prometheus\",cluster=\"eu\"} 1 1700000000123\n"
      "\n"
      "  # a comment\n"
      "esc{path=\"/a\\\"b\\\\c\\nd\",instance=\"\"} -Inf 5\r\n"
      "bare 1e+21\n"
      "nan_metric{a=\"b\",} NaN -1000\n"
      "spaced { a = \"b\" }\t+Inf\t 7\n");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 5u);
  EXPECT_EQ(Str((*r)[0].labels), "__name__=up;instance=localhost:9090;job=prometheus;cluster=eu;");
  EXPECT_EQ((*r)[0].value, 1);
  EXPECT_EQ(*(*r)[0].t_ms, 1700000000123);
  EXPECT_EQ(Str((*r)[1].labels), "__name__=esc;path=/a\"b\\c\nd;instance=;");
  EXPECT_TRUE(std::isinf((*r)[1].value) && (*r)[1].value < 0);
  EXPECT_EQ(*(*r)[1].t_ms, 5);
  EXPECT_EQ((*r)[2].value, 1e21);
  EXPECT_FALSE((*r)[2].t_ms.has_value());
  EXPECT_TRUE(std::isnan((*r)[3].value));
  EXPECT_EQ(*(*r)[3].t_ms, -1000);
  EXPECT_EQ(Str((*r)[4].labels), "__name__=spaced;a=b;");
  EXPECT_EQ(*(*r)[4].t_ms, 7);
}

TEST(TextExpositionTest, BadLinesAreErrorsNamingTheLine) {
  for (const char* bad : {"up{a=\"b\" 1", "up{a=b} 1", "up 1 2 3", "up{a=\"b\",a=\"c\"} 1",
                          "up abc", "{a=\"b\"} 1", "up{1a=\"b\"} 1", "up 1 12x", "up{a=\"b"}) {
    auto r = ParseTextExposition(std::string("ok 1\n") + bad + "\n");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("line 2:"), std::string_view::npos) << r.status();
  }
}

// Prometheus's mutateSampleLabels (scrape/scrape.go) for target labels.
TEST(TargetLabelsTest, HonorLabelsKeepsScrapedOnesOtherwiseExportedPrefix) {
  const std::vector<Label> target = {{"job", "fed"}, {"instance", "prom:9090"}, {"region", "eu"}};
  const std::vector<Label> scraped = {{"__name__", "up"},
                                      {"job", "node"},
                                      {"instance", ""},  // Prometheus's federation adds this
                                      {"exported_job", "older"}};
  EXPECT_EQ(ApplyTargetLabels(scraped, target, true).ToString(),
            "up{exported_job=\"older\", job=\"node\", region=\"eu\"}");
  EXPECT_EQ(ApplyTargetLabels(scraped, target, false).ToString(),
            "up{exported_exported_job=\"node\", exported_job=\"older\", "
            "instance=\"prom:9090\", job=\"fed\", region=\"eu\"}");
}

}  // namespace
}  // namespace meridian::remote
