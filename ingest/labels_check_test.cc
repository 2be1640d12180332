#include "ingest/labels_check.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace meridian::ingest {
namespace {

std::vector<LabelView> Views(const std::vector<std::pair<std::string, std::string>>& ls) {
  std::vector<LabelView> out;
  for (const auto& [n, v] : ls) out.push_back({n, v});
  return out;
}

TEST(NormalizeLabels, SortsAndDropsEmptyValues) {
  std::vector<std::pair<std::string, std::string>> in = {
      {"zone", "a"}, {"__name__", "up"}, {"empty", ""}, {"job", "x"}};
  auto views = Views(in);
  size_t n = 0;
  LabelsCheck c = NormalizeLabels(views, &n);
  EXPECT_EQ(c.problem, LabelsProblem::kNone);
  ASSERT_EQ(n, 3u);
  EXPECT_EQ(views[0].name, "__name__");
  EXPECT_EQ(views[1].name, "job");
  EXPECT_EQ(views[2].name, "zone");
}

// Bytewise order, whatever decides it: the first byte (unsigned: UTF-8 lead
// bytes sort after ASCII), a later byte, or the length.
TEST(NormalizeLabels, SortsBytewiseOnFirstAndLaterBytes) {
  std::vector<std::pair<std::string, std::string>> in = {
      {"\xc3\xa9t\xc3\xa9", "1"}, {"jobs", "2"}, {"zone", "3"}, {"job", "4"},
      {"__name__", "up"},         {"jobz", "5"}};
  auto views = Views(in);
  size_t n = 0;
  ASSERT_EQ(NormalizeLabels(views, &n).problem, LabelsProblem::kNone);
  ASSERT_EQ(n, 6u);
  std::vector<std::string> names;
  for (size_t i = 0; i < n; ++i) names.emplace_back(views[i].name);
  EXPECT_EQ(names, (std::vector<std::string>{"__name__", "job", "jobs", "jobz", "zone",
                                             "\xc3\xa9t\xc3\xa9"}));
  // Already in order: kept as it is.
  auto again = views;
  ASSERT_EQ(NormalizeLabels(std::span<LabelView>(again.data(), n), &n).problem,
            LabelsProblem::kNone);
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(again[i].name, views[i].name);
}

TEST(NormalizeLabels, AcceptsUtf8Names) {
  std::vector<std::pair<std::string, std::string>> in = {{"__name__", "http.server.duration"},
                                                         {"service.name", "caché"}};
  auto views = Views(in);
  size_t n = 0;
  EXPECT_EQ(NormalizeLabels(views, &n).problem, LabelsProblem::kNone);
}

TEST(NormalizeLabels, Problems) {
  struct Case {
    std::vector<std::pair<std::string, std::string>> labels;
    LabelsProblem want;
    const char* message;
  };
  std::vector<Case> cases = {
      {{{"job", "x"}}, LabelsProblem::kMissingMetricName, "missing metric name __name__"},
      {{{"__name__", ""}, {"job", "x"}},
       LabelsProblem::kMissingMetricName,
       "missing metric name __name__"},
      {{}, LabelsProblem::kMissingMetricName, "missing metric name __name__"},
      {{{"__name__", "up"}, {"", "x"}}, LabelsProblem::kEmptyLabelName, "empty label name"},
      {{{"__name__", "up"}, {"job", "a"}, {"job", "b"}},
       LabelsProblem::kDuplicateLabelName,
       "duplicate label name \"job\""},
      {{{"job", "b"}, {"__name__", "up"}, {"job", "a"}},
       LabelsProblem::kDuplicateLabelName,
       "duplicate label name \"job\""},
      {{{"__name__", "up"}, {"j\xffob", "a"}},
       LabelsProblem::kInvalidUtf8Name,
       "invalid UTF-8 in label name \"j\\xffob\""},
      {{{"__name__", "up"}, {"job", "a\xc0\x80"}},
       LabelsProblem::kInvalidUtf8Value,
       "invalid UTF-8 in the value of label \"job\""},
  };
  for (const Case& c : cases) {
    auto views = Views(c.labels);
    size_t n = 0;
    LabelsCheck check = NormalizeLabels(views, &n);
    EXPECT_EQ(check.problem, c.want) << c.message;
    EXPECT_EQ(DescribeProblem(check), c.message);
  }
}

TEST(IsValidUtf8, Table) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii that is longer than eight bytes"));
  EXPECT_TRUE(IsValidUtf8("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 0123456789"));
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));   // U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("abcdefgh\x80"));      // lone continuation
  EXPECT_FALSE(IsValidUtf8("abc\xe2\x82"));       // truncated
  EXPECT_FALSE(IsValidUtf8(std::string_view("\xff", 1)));
}

TEST(FormatSeries, PrometheusStyle) {
  std::vector<std::pair<std::string, std::string>> in = {
      {"__name__", "up"}, {"job", "a\"b"}, {"x", "\xff"}};
  auto views = Views(in);
  EXPECT_EQ(FormatSeries(views), "up{job=\"a\\\"b\", x=\"\\xff\"}");
  std::vector<std::pair<std::string, std::string>> noname = {{"job", "x"}};
  auto v2 = Views(noname);
  EXPECT_EQ(FormatSeries(v2), "{job=\"x\"}");
}

}  // namespace
}  // namespace meridian::ingest
