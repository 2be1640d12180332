#include "storage/postings_index.h"

#include <algorithm>
#include <iterator>

namespace meridian {

namespace {

// Appends (the usual case: ids grow) or inserts in order (a series that
// comes back to the head keeps its older id).
void AddSorted(Postings* p, uint64_t id) {
  if (p->empty() || p->back() < id) {
    p->push_back(id);
    return;
  }
  auto it = std::lower_bound(p->begin(), p->end(), id);
  if (it == p->end() || *it != id) p->insert(it, id);
}

}  // namespace

void PostingsIndex::Add(uint64_t id, const Labels& labels) {
  AddSorted(&all_, id);
  for (const Label& l : labels) AddSorted(&names_[l.name][l.value], id);
}

void PostingsIndex::Remove(const std::vector<std::pair<uint64_t, const Labels*>>& series) {
  if (series.empty()) return;
  absl::flat_hash_set<uint64_t> ids;
  for (const auto& [id, labels] : series) ids.insert(id);
  auto gone = [&](uint64_t id) { return ids.contains(id); };
  // Series churn: what a wave of series that left the head held is given
  // back, not kept as spare capacity until the next wave.
  auto shrink = [](Postings* p) {
    if (p->capacity() > 2 * p->size() + 8) p->shrink_to_fit();
  };
  std::erase_if(all_, gone);
  shrink(&all_);
  // Visit each affected posting list once.
  absl::flat_hash_set<std::pair<std::string_view, std::string_view>> touched;
  for (const auto& [id, labels] : series) {
    for (const Label& l : *labels) touched.insert({l.name, l.value});
  }
  for (const auto& [name, value] : touched) {
    auto n = names_.find(absl::string_view(name.data(), name.size()));
    if (n == names_.end()) continue;
    auto v = n->second.find(absl::string_view(value.data(), value.size()));
    if (v == n->second.end()) continue;
    std::erase_if(v->second, gone);
    shrink(&v->second);
    if (v->second.empty()) n->second.erase(v);
    if (n->second.empty()) {
      names_.erase(n);
    } else if (n->second.size() * 4 < n->second.capacity()) {
      n->second.rehash(0);  // to the size it holds now
    }
  }
}

Postings PostingsIndex::Select(const std::vector<Matcher>& matchers) const {
  std::vector<const Matcher*> positive, negative;
  for (const Matcher& m : matchers) (m.MatchesEmpty() ? negative : positive).push_back(&m);
  // Cheapest first: equality matchers.
  std::stable_sort(positive.begin(), positive.end(), [](const Matcher* a, const Matcher* b) {
    return a->type() == MatchType::kEqual && b->type() != MatchType::kEqual;
  });
  static const ValueMap kEmpty;
  auto values_of = [&](const std::string& name) -> const ValueMap& {
    auto it = names_.find(name);
    return it == names_.end() ? kEmpty : it->second;
  };
  Postings result;
  bool have = false;
  for (const Matcher* m : positive) {
    const ValueMap& values = values_of(m->name());
    Postings p;
    if (m->type() == MatchType::kEqual) {
      auto it = values.find(m->value());
      if (it != values.end()) p = it->second;
    } else {
      std::vector<const Postings*> lists;
      for (const auto& [v, ids] : values) {
        if (m->Matches(v)) lists.push_back(&ids);
      }
      p = Merge(lists);
    }
    result = have ? Intersect(result, p) : std::move(p);
    have = true;
    if (result.empty()) return result;
  }
  if (!have) result = all_;
  // A matcher that matches "" removes the series whose value does not match.
  for (const Matcher* m : negative) {
    std::vector<const Postings*> lists;
    for (const auto& [v, ids] : values_of(m->name())) {
      if (!m->Matches(v)) lists.push_back(&ids);
    }
    if (!lists.empty()) result = Subtract(result, Merge(lists));
  }
  return result;
}

Postings PostingsIndex::WithAll(const LabelView* labels, size_t n) const {
  Postings result;
  for (size_t i = 0; i < n; ++i) {
    auto name = names_.find(absl::string_view(labels[i].name.data(), labels[i].name.size()));
    if (name == names_.end()) return {};
    auto value =
        name->second.find(absl::string_view(labels[i].value.data(), labels[i].value.size()));
    if (value == name->second.end()) return {};
    result = i == 0 ? value->second : Intersect(result, value->second);
    if (result.empty()) break;
  }
  return result;
}

const Postings* PostingsIndex::ShortestOf(const LabelView* labels, size_t n) const {
  const Postings* best = nullptr;
  for (size_t i = 0; i < n; ++i) {
    auto name = names_.find(absl::string_view(labels[i].name.data(), labels[i].name.size()));
    if (name == names_.end()) return nullptr;
    auto value =
        name->second.find(absl::string_view(labels[i].value.data(), labels[i].value.size()));
    if (value == name->second.end()) return nullptr;
    if (best == nullptr || value->second.size() < best->size()) best = &value->second;
  }
  return best;
}

Postings Intersect(const Postings& a, const Postings& b) {
  Postings out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

Postings Subtract(const Postings& a, const Postings& b) {
  Postings out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

Postings Merge(const std::vector<const Postings*>& lists) {
  if (lists.empty()) return {};
  if (lists.size() == 1) return *lists[0];
  Postings out;
  size_t total = 0;
  for (const Postings* p : lists) total += p->size();
  out.reserve(total);
  for (const Postings* p : lists) out.insert(out.end(), p->begin(), p->end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace meridian
