#include "model/labels.h"

#include <algorithm>
#include <cstring>

namespace meridian {
namespace {

// FNV-1a style mixing over bytes with a 0xff separator after each field; the
// same function serves Labels and LabelView runs so both hash identically.
constexpr uint64_t kSeed = 0xcbf29ce484222325ULL;
constexpr uint64_t kPrime = 0x100000001b3ULL;

inline uint64_t Mix(uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= kPrime;
  }
  h ^= 0xff;
  h *= kPrime;
  return h;
}

inline uint64_t Finish(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

bool Contains(const std::vector<std::string>& names, std::string_view n) {
  for (const auto& s : names) {
    if (s == n) return true;
  }
  return false;
}

void AppendQuoted(std::string* out, std::string_view v) {
  out->push_back('"');
  for (char c : v) {
    switch (c) {
      case '\\':
        out->append("\\\\");
        break;
      case '"':
        out->append("\\\"");
        break;
      case '\n':
        out->append("\\n");
        break;
      default:
        out->push_back(c);
    }
  }
  out->push_back('"');
}

bool IsLegacyName(std::string_view n, bool metric) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (metric && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Labels Labels::FromSorted(std::vector<Label> sorted) {
  Labels l;
  l.labels_ = std::move(sorted);
  return l;
}

Labels Labels::FromUnsorted(std::vector<Label> labels) {
  std::stable_sort(labels.begin(), labels.end(),
                   [](const Label& a, const Label& b) { return a.name < b.name; });
  std::vector<Label> out;
  out.reserve(labels.size());
  for (auto& l : labels) {
    if (!out.empty() && out.back().name == l.name) {
      out.back() = std::move(l);
    } else {
      out.push_back(std::move(l));
    }
  }
  std::erase_if(out, [](const Label& l) { return l.value.empty(); });
  return FromSorted(std::move(out));
}

Labels Labels::FromViews(const LabelView* views, size_t n) {
  std::vector<Label> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(Label{std::string(views[i].name), std::string(views[i].value)});
  }
  return FromSorted(std::move(out));
}

std::string_view Labels::Get(std::string_view name) const {
  for (const auto& l : labels_) {
    if (l.name == name) return l.value;
  }
  return {};
}

uint64_t Labels::Hash() const {
  uint64_t h = kSeed;
  for (const auto& l : labels_) {
    h = Mix(Mix(h, l.name), l.value);
  }
  return Finish(h);
}

uint64_t HashLabelViews(const LabelView* views, size_t n) {
  uint64_t h = kSeed;
  for (size_t i = 0; i < n; ++i) {
    h = Mix(Mix(h, views[i].name), views[i].value);
  }
  return Finish(h);
}

uint64_t Labels::HashFor(const std::vector<std::string>& names, bool include) const {
  uint64_t h = kSeed;
  for (const auto& l : labels_) {
    if (Contains(names, l.name) == include) h = Mix(Mix(h, l.name), l.value);
  }
  return Finish(h);
}

std::string Labels::ToString() const {
  std::string out;
  std::string_view name = MetricName();
  bool name_outside = !name.empty() && IsLegacyName(name, true);
  if (name_outside) out.append(name);
  out.push_back('{');
  bool first = true;
  for (const auto& l : labels_) {
    if (name_outside && l.name == kMetricName) continue;
    if (!first) out.append(", ");
    first = false;
    if (l.name == kMetricName) {
      AppendQuoted(&out, l.value);  // UTF-8 metric name: {"my.metric"}
      continue;
    }
    if (IsLegacyName(l.name, false)) {
      out.append(l.name);
    } else {
      AppendQuoted(&out, l.name);
    }
    out.push_back('=');
    AppendQuoted(&out, l.value);
  }
  out.push_back('}');
  return out;
}

int Labels::Compare(const Labels& a, const Labels& b) {
  size_t n = std::min(a.labels_.size(), b.labels_.size());
  for (size_t i = 0; i < n; ++i) {
    if (int c = a.labels_[i].name.compare(b.labels_[i].name); c != 0) return c;
    if (int c = a.labels_[i].value.compare(b.labels_[i].value); c != 0) return c;
  }
  if (a.labels_.size() == b.labels_.size()) return 0;
  return a.labels_.size() < b.labels_.size() ? -1 : 1;
}

LabelsBuilder::LabelsBuilder(const Labels& base) : labels_(base.items()) {}

LabelsBuilder& LabelsBuilder::Set(std::string_view name, std::string_view value) {
  auto it = std::lower_bound(labels_.begin(), labels_.end(), name,
                             [](const Label& l, std::string_view n) { return l.name < n; });
  if (it != labels_.end() && it->name == name) {
    if (value.empty()) {
      labels_.erase(it);
    } else {
      it->value.assign(value);
    }
  } else if (!value.empty()) {
    labels_.insert(it, Label{std::string(name), std::string(value)});
  }
  return *this;
}

LabelsBuilder& LabelsBuilder::Del(std::string_view name) { return Set(name, {}); }

LabelsBuilder& LabelsBuilder::Keep(const std::vector<std::string>& names) {
  std::erase_if(labels_, [&](const Label& l) { return !Contains(names, l.name); });
  return *this;
}

std::string_view LabelsBuilder::Get(std::string_view name) const {
  for (const auto& l : labels_) {
    if (l.name == name) return l.value;
  }
  return {};
}

Labels LabelsBuilder::Build() const { return Labels::FromSorted(labels_); }

}  // namespace meridian
