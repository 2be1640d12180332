#include "ingest/labels_check.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "ingest/error_message.h"

namespace meridian::ingest {

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const uint8_t* end = p + s.size();
  while (p < end) {
    if (end - p >= 8) {
      uint64_t word;
      std::memcpy(&word, p, 8);
      if ((word & 0x8080808080808080ULL) == 0) {
        p += 8;
        continue;
      }
    }
    uint8_t c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;  // continuation byte, overlong 2-byte lead, or > U+10FFFF lead
    }
    if (end - p < len) return false;
    for (int i = 1; i < len; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    p += len;
  }
  return true;
}

namespace {

// Branch-free ASCII test; short strings are the common case for labels.
inline bool AllAscii(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  size_t n = s.size(), i = 0;
  uint64_t acc = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    acc |= w;
  }
  uint8_t tail = 0;
  for (; i < n; ++i) tail |= p[i];
  return ((acc & 0x8080808080808080ULL) | (tail & 0x80)) == 0;
}

// a < b bytewise, inline: label names are short and mostly differ in their
// first bytes, where a call to memcmp would cost more than the comparison.
inline bool NameLess(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]);
  }
  return a.size() < b.size();
}

inline bool IsMetricName(std::string_view name) {
  return name.size() == kMetricName.size() && name == kMetricName;
}

}  // namespace

bool IsAscii(std::string_view s) { return AllAscii(s); }

LabelsCheck NormalizeLabels(std::span<LabelView> labels, size_t* size, bool ascii) {
  size_t n = 0;
  // Strictly increasing names (the common case: senders sort) have no
  // duplicates and need no sort.
  bool increasing = true;
  bool has_name = false;
  LabelsCheck check;
  for (size_t i = 0; i < labels.size(); ++i) {
    const LabelView l = labels[i];
    if (l.value.empty()) continue;  // empty value == label absent
    if (check.problem == LabelsProblem::kNone) {
      if (l.name.empty()) {
        check = {LabelsProblem::kEmptyLabelName, l.name};
      } else if (ascii) {
        // ASCII is valid UTF-8.
      } else if (!AllAscii(l.name) && !IsValidUtf8(l.name)) {
        check = {LabelsProblem::kInvalidUtf8Name, l.name};
      } else if (!AllAscii(l.value) && !IsValidUtf8(l.value)) {
        check = {LabelsProblem::kInvalidUtf8Value, l.name};
      }
    }
    if (n > 0 && !NameLess(labels[n - 1].name, l.name)) increasing = false;
    has_name = has_name || IsMetricName(l.name);
    labels[n++] = l;
  }
  *size = n;
  if (check.problem != LabelsProblem::kNone) return check;
  if (!increasing) {
    std::sort(labels.begin(), labels.begin() + n,
              [](const LabelView& a, const LabelView& b) { return NameLess(a.name, b.name); });
    for (size_t i = 1; i < n; ++i) {
      if (labels[i - 1].name == labels[i].name) {
        return {LabelsProblem::kDuplicateLabelName, labels[i].name};
      }
    }
  }
  if (!has_name) return {LabelsProblem::kMissingMetricName, {}};
  return check;
}

namespace {

// Appends `s` quoted-string-escaped; invalid UTF-8 bytes become \xNN.
void AppendEscaped(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
      ++i;
    } else if (c == '\n') {
      out->append("\\n");
      ++i;
    } else if (c < 0x80) {
      out->push_back(static_cast<char>(c));
      ++i;
    } else {
      size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      if (i + len <= s.size() && IsValidUtf8(s.substr(i, len))) {
        out->append(s.substr(i, len));
        i += len;
      } else {
        out->append("\\x");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
        ++i;
      }
    }
  }
}

}  // namespace

std::string EscapeForMessage(std::string_view s, size_t max_bytes) {
  std::string out;
  AppendEscaped(s.substr(0, max_bytes), &out);
  return out;
}

std::string DescribeProblem(const LabelsCheck& check) {
  std::string name;
  AppendEscaped(check.label_name, &name);
  switch (check.problem) {
    case LabelsProblem::kNone:
      return "ok";
    case LabelsProblem::kMissingMetricName:
      return "missing metric name __name__";
    case LabelsProblem::kEmptyLabelName:
      return "empty label name";
    case LabelsProblem::kDuplicateLabelName:
      return ErrorMessage("duplicate label name \"", name, "\"");
    case LabelsProblem::kInvalidUtf8Name:
      return ErrorMessage("invalid UTF-8 in label name \"", name, "\"");
    case LabelsProblem::kInvalidUtf8Value:
      return ErrorMessage("invalid UTF-8 in the value of label \"", name, "\"");
  }
  return "unknown problem";
}

std::string FormatSeries(std::span<const LabelView> labels, size_t max_bytes) {
  std::string out;
  for (const LabelView& l : labels) {
    if (l.name == kMetricName) {
      AppendEscaped(l.value.substr(0, max_bytes), &out);
      break;
    }
  }
  out.push_back('{');
  bool first = true;
  for (const LabelView& l : labels) {
    if (l.name == kMetricName) continue;
    if (out.size() > max_bytes) {
      out.append(", ...");
      break;
    }
    if (!first) out.append(", ");
    first = false;
    AppendEscaped(l.name.substr(0, max_bytes), &out);
    out.append("=\"");
    AppendEscaped(l.value.substr(0, max_bytes), &out);
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

}  // namespace meridian::ingest
