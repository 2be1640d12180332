// The series cache's hash and comparison (storage/tenant_head.h).
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/mem_series.h"
#include "storage/tenant_head.h"

namespace meridian {
namespace {

// The append path hashes the request's label views, series loaded at open
// and removed by retention hash their Labels or their flat form: all three
// must agree, or a loaded series would miss the cache on every append.
TEST(SeriesCacheTest, HashOfViewsLabelsAndFlatFormAgree) {
  std::vector<std::pair<std::string, std::string>> sets[] = {
      {{"__name__", "up"}},
      {{"__name__", "http_requests_total"}, {"code", "200"}, {"job", "api"}},
      {{"a", ""}, {"b", std::string(300, 'x')}, {"c", "\xff\x00z"}},
  };
  for (const auto& set : sets) {
    std::vector<LabelView> views;
    std::vector<Label> labels;
    for (const auto& [n, v] : set) {
      views.push_back({n, v});
      labels.push_back({n, v});
    }
    const Labels ls = Labels::FromSorted(labels);
    MemSeries s(1, ls);
    std::string flat;
    AppendFlatLabels(views.data(), views.size(), &flat);
    EXPECT_EQ(flat, s.flat_labels());
    EXPECT_EQ(SeriesCacheHash(views.data(), views.size()), SeriesCacheHash(ls));
    EXPECT_EQ(SeriesCacheHash(ls), SeriesCacheHashFlat(s.flat_labels()));
    EXPECT_TRUE(s.HasLabels(views.data(), views.size()));
  }
  // Different sets, including ones whose concatenated bytes agree, differ.
  std::vector<LabelView> a = {{"ab", "c"}}, b = {{"a", "bc"}};
  EXPECT_NE(SeriesCacheHash(a.data(), 1), SeriesCacheHash(b.data(), 1));
}

}  // namespace
}  // namespace meridian
