// PostingsIndex: the in-memory inverted index of one tenant: for every
// label pair the sorted list of series ids carrying it (postings), plus the
// list of all series. Answers matcher queries with Prometheus semantics: a
// matcher that matches the empty string also selects series without the
// label.
//
// Not thread-safe: the owner guards it (see TenantHead).
#ifndef MERIDIAN_STORAGE_POSTINGS_INDEX_H_
#define MERIDIAN_STORAGE_POSTINGS_INDEX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "model/labels.h"
#include "model/matcher.h"

namespace meridian {

using Postings = std::vector<uint64_t>;  // sorted, unique series ids

class PostingsIndex {
 public:
  using ValueMap = absl::flat_hash_map<std::string, Postings>;
  using NameMap = absl::flat_hash_map<std::string, ValueMap>;

  // Cheapest when `id` is larger than every id added before (ids are
  // allocated in increasing order); an older id (a series re-admitted to
  // the head) is inserted in order.
  void Add(uint64_t id, const Labels& labels);
  // Removes the given series (labels must be those passed to Add).
  void Remove(const std::vector<std::pair<uint64_t, const Labels*>>& series);

  // Sorted ids of the series matching every matcher (all series when empty).
  Postings Select(const std::vector<Matcher>& matchers) const;
  // Sorted ids of the series whose labels include all of `labels`.
  Postings WithAll(const LabelView* labels, size_t n) const;
  // The shortest posting list among the pairs of `labels` (a superset of the
  // series with exactly these labels), or null when a pair has none. Used to
  // find a series by its label set when the cache misses; borrowed until
  // the next mutation.
  const Postings* ShortestOf(const LabelView* labels, size_t n) const;

  const Postings& all() const { return all_; }
  const NameMap& names() const { return names_; }

 private:
  NameMap names_;
  Postings all_;
};

// Set operations on sorted postings.
Postings Intersect(const Postings& a, const Postings& b);
Postings Subtract(const Postings& a, const Postings& b);
// Union of several sorted lists.
Postings Merge(const std::vector<const Postings*>& lists);

}  // namespace meridian

#endif  // MERIDIAN_STORAGE_POSTINGS_INDEX_H_
