#include "remote/codec.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace meridian::remote {
namespace {

std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}

#if defined(__x86_64__)
// SSE 4.2's crc32 instruction computes CRC32C (the Castagnoli polynomial):
// 8 bytes per instruction instead of one table lookup per byte.
__attribute__((target("sse4.2"))) uint32_t Crc32cSse42(std::string_view data) {
  const char* p = data.data();
  size_t n = data.size();
  uint64_t c = 0xffffffffu;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t v;
    std::memcpy(&v, p, sizeof(v));
    c = _mm_crc32_u64(c, v);
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  for (; n > 0; ++p, --n) c32 = _mm_crc32_u8(c32, static_cast<unsigned char>(*p));
  return c32 ^ 0xffffffffu;
}
#endif

}  // namespace

uint32_t Crc32c(std::string_view data) {
#if defined(__x86_64__)
  static const bool kSse42 = __builtin_cpu_supports("sse4.2");
  if (kSse42) return Crc32cSse42(data);
#endif
  static const std::array<uint32_t, 256> kTable = MakeCrcTable();
  uint32_t c = 0xffffffffu;
  for (unsigned char b : data) c = kTable[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

void AppendFrame(std::string_view msg, std::string* out) {
  uint64_t n = msg.size();
  while (n >= 0x80) {
    out->push_back(static_cast<char>(n | 0x80));
    n >>= 7;
  }
  out->push_back(static_cast<char>(n));
  const uint32_t crc = Crc32c(msg);
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(crc >> shift));
  out->append(msg);
}

absl::Status SplitFrames(std::string_view body, std::vector<std::string_view>* msgs) {
  size_t pos = 0;
  for (size_t frame = 0; pos < body.size(); ++frame) {
    auto bad = [frame](const char* what) {
      return absl::InvalidArgumentError("streamed remote-read response: frame " +
                                        std::to_string(frame) + ": " + what);
    };
    uint64_t len = 0;
    int shift = 0;
    while (true) {
      if (pos >= body.size() || shift > 63) return bad("bad length");
      const uint8_t b = static_cast<uint8_t>(body[pos++]);
      len |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) break;
      shift += 7;
    }
    if (body.size() - pos < 4 || body.size() - pos - 4 < len) return bad("truncated");
    uint32_t crc = 0;
    for (int i = 0; i < 4; ++i) crc = (crc << 8) | static_cast<uint8_t>(body[pos + i]);
    pos += 4;
    std::string_view msg = body.substr(pos, len);
    pos += len;
    if (Crc32c(msg) != crc) return bad("CRC32C mismatch");
    msgs->push_back(msg);
  }
  return absl::OkStatus();
}

absl::StatusOr<Matcher> FromProto(const prometheus::LabelMatcher& m) {
  MatchType t;
  switch (m.type()) {
    case prometheus::LabelMatcher::EQ:
      t = MatchType::kEqual;
      break;
    case prometheus::LabelMatcher::NEQ:
      t = MatchType::kNotEqual;
      break;
    case prometheus::LabelMatcher::RE:
      t = MatchType::kRegexMatch;
      break;
    case prometheus::LabelMatcher::NRE:
      t = MatchType::kRegexNoMatch;
      break;
    default:
      return absl::InvalidArgumentError("invalid matcher type " + std::to_string(m.type()));
  }
  return Matcher::Make(t, m.name(), m.value());
}

void ToProto(const Matcher& m, prometheus::LabelMatcher* out) {
  switch (m.type()) {
    case MatchType::kEqual:
      out->set_type(prometheus::LabelMatcher::EQ);
      break;
    case MatchType::kNotEqual:
      out->set_type(prometheus::LabelMatcher::NEQ);
      break;
    case MatchType::kRegexMatch:
      out->set_type(prometheus::LabelMatcher::RE);
      break;
    case MatchType::kRegexNoMatch:
      out->set_type(prometheus::LabelMatcher::NRE);
      break;
  }
  out->set_name(m.name());
  out->set_value(m.value());
}

absl::StatusOr<Labels> LabelsFromProto(
    const google::protobuf::RepeatedPtrField<prometheus::Label>& ls) {
  std::vector<Label> v;
  v.reserve(ls.size());
  for (const auto& l : ls) {
    if (l.value().empty()) continue;
    v.push_back(Label{l.name(), l.value()});
  }
  std::sort(v.begin(), v.end(), [](const Label& a, const Label& b) { return a.name < b.name; });
  for (size_t i = 1; i < v.size(); ++i) {
    if (v[i].name == v[i - 1].name) {
      return absl::InvalidArgumentError("remote series has duplicate label name \"" + v[i].name +
                                        "\"");
    }
  }
  return Labels::FromSorted(std::move(v));
}

void LabelsToProto(const Labels& ls, google::protobuf::RepeatedPtrField<prometheus::Label>* out) {
  out->Reserve(static_cast<int>(ls.size()));
  for (const Label& l : ls) {
    auto* p = out->Add();
    p->set_name(l.name);
    p->set_value(l.value);
  }
}

}  // namespace meridian::remote
