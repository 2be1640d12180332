#include "storage/postings_index.h"

#include "gtest/gtest.h"

namespace meridian {
namespace {

Matcher M(MatchType t, std::string n, std::string v) {
  return *Matcher::Make(t, std::move(n), std::move(v));
}

class PostingsIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Add(1, {{"__name__", "up"}, {"job", "api"}, {"env", "prod"}});
    Add(2, {{"__name__", "up"}, {"job", "web"}});
    Add(3, {{"__name__", "up"}, {"job", "db"}, {"env", "dev"}});
    Add(4, {{"__name__", "errors"}, {"job", "api"}});
  }
  void Add(uint64_t id, std::vector<Label> ls) {
    labels_.push_back(Labels::FromUnsorted(std::move(ls)));
    index_.Add(id, labels_.back());
  }
  Postings Sel(std::vector<Matcher> ms) { return index_.Select(ms); }

  std::vector<Labels> labels_;
  PostingsIndex index_;
};

TEST_F(PostingsIndexTest, AllMatchTypes) {
  using P = Postings;
  EXPECT_EQ(Sel({M(MatchType::kEqual, "__name__", "up")}), (P{1, 2, 3}));
  EXPECT_EQ(Sel({M(MatchType::kEqual, "__name__", "up"), M(MatchType::kNotEqual, "job", "api")}),
            (P{2, 3}));
  EXPECT_EQ(Sel({M(MatchType::kRegexMatch, "job", "api|db")}), (P{1, 3, 4}));
  EXPECT_EQ(Sel({M(MatchType::kRegexMatch, "job", "a.*")}), (P{1, 4}));
  EXPECT_EQ(
      Sel({M(MatchType::kEqual, "__name__", "up"), M(MatchType::kRegexNoMatch, "job", "a.*|w.*")}),
      (P{3}));
  EXPECT_EQ(Sel({M(MatchType::kEqual, "__name__", "nope")}), (P{}));
  EXPECT_EQ(Sel({}), (P{1, 2, 3, 4}));
}

TEST_F(PostingsIndexTest, EmptyMatchersSelectSeriesWithoutLabel) {
  using P = Postings;
  EXPECT_EQ(Sel({M(MatchType::kEqual, "__name__", "up"), M(MatchType::kEqual, "env", "")}), (P{2}));
  EXPECT_EQ(Sel({M(MatchType::kEqual, "__name__", "up"), M(MatchType::kRegexNoMatch, "env", ".+")}),
            (P{2}));
  EXPECT_EQ(Sel({M(MatchType::kEqual, "__name__", "up"), M(MatchType::kRegexMatch, "env", "|dev")}),
            (P{2, 3}));
  EXPECT_EQ(Sel({M(MatchType::kEqual, "__name__", "up"), M(MatchType::kNotEqual, "env", "prod")}),
            (P{2, 3}));
  EXPECT_EQ(Sel({M(MatchType::kEqual, "__name__", "up"), M(MatchType::kRegexMatch, "env", ".+")}),
            (P{1, 3}));
  EXPECT_EQ(Sel({M(MatchType::kEqual, "__name__", "up"), M(MatchType::kNotEqual, "env", "")}),
            (P{1, 3}));
}

TEST_F(PostingsIndexTest, RemoveAndWithAll) {
  std::vector<LabelView> views = {{"__name__", "up"}, {"job", "web"}};
  EXPECT_EQ(index_.WithAll(views.data(), views.size()), (Postings{2}));
  index_.Remove({{2, &labels_[1]}});
  EXPECT_TRUE(index_.WithAll(views.data(), views.size()).empty());
  EXPECT_EQ(index_.all(), (Postings{1, 3, 4}));
  EXPECT_FALSE(index_.names().at("job").contains("web"));
}

}  // namespace
}  // namespace meridian
