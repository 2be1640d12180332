#include "storage/keys.h"

#include <vector>

#include "storage/coding.h"

namespace meridian::keys {

using coding::PutFixed32BE;
using coding::PutFixed64BE;
using coding::PutLengthPrefixed;
using coding::PutVarint;

std::string TenantKey(std::string_view name) {
  std::string k(1, kTenantPrefix);
  k.append(name);
  return k;
}

std::string SeriesKey(uint64_t series_id) {
  std::string k(1, kSeriesPrefix);
  PutFixed64BE(&k, series_id);
  return k;
}

std::string RangeKey(uint64_t series_id) {
  std::string k(1, kRangePrefix);
  PutFixed64BE(&k, series_id);
  return k;
}

std::string MetadataPrefix(uint32_t tenant_id) {
  std::string k(1, kMetadataPrefix);
  PutFixed32BE(&k, tenant_id);
  return k;
}

std::string MetadataKey(uint32_t tenant_id, std::string_view family) {
  std::string k = MetadataPrefix(tenant_id);
  k.append(family);
  return k;
}

std::string ChunkKey(uint64_t series_id, int64_t min_t_ms) {
  std::string k;
  k.reserve(16);
  PutFixed64BE(&k, series_id);
  coding::PutTimeKey(&k, min_t_ms);
  return k;
}

std::string WalKey(uint64_t seq) {
  std::string k;
  PutFixed64BE(&k, seq);
  return k;
}

std::string AggrKey(uint8_t resolution, uint64_t series_id, int64_t block_start_ms) {
  std::string k(1, static_cast<char>(resolution));
  PutFixed64BE(&k, series_id);
  coding::PutTimeKey(&k, block_start_ms);
  return k;
}

std::string DownsampleStateKey(uint32_t tenant_id) {
  std::string k(1, kDownsampleStatePrefix);
  PutFixed32BE(&k, tenant_id);
  return k;
}

std::string HeadCountKey(uint32_t tenant_id) {
  std::string k(1, kHeadCountPrefix);
  PutFixed32BE(&k, tenant_id);
  return k;
}

std::string LateMarkPrefix(uint32_t tenant_id) {
  std::string k(1, kLateMarkPrefix);
  PutFixed32BE(&k, tenant_id);
  return k;
}

std::string LateMarkKey(uint32_t tenant_id, uint64_t series_id, int64_t block_start_ms) {
  std::string k = LateMarkPrefix(tenant_id);
  PutFixed64BE(&k, series_id);
  coding::PutTimeKey(&k, block_start_ms);
  return k;
}

std::string StagedPrefix(uint32_t tenant_id) {
  std::string k(1, kStagedPrefix);
  PutFixed32BE(&k, tenant_id);
  return k;
}

std::string StagedPrefix(uint32_t tenant_id, uint64_t series_id, int64_t day_ms) {
  std::string k = StagedPrefix(tenant_id);
  PutFixed64BE(&k, series_id);
  coding::PutTimeKey(&k, day_ms);
  return k;
}

std::string EncodeDownsampleState(const DownsampleState& s) {
  std::string v;
  for (int64_t x : {s.downsampled_5m_through, s.downsampled_1h_through, s.raw_deleted_before,
                    s.deleted_5m_before, s.deleted_1h_before}) {
    coding::PutSignedVarint(&v, x);
  }
  return v;
}

absl::Status DecodeDownsampleState(std::string_view value, DownsampleState* s) {
  coding::Reader r(value);
  for (int64_t* x : {&s->downsampled_5m_through, &s->downsampled_1h_through, &s->raw_deleted_before,
                     &s->deleted_5m_before, &s->deleted_1h_before}) {
    if (!r.GetSignedVarint(x)) return absl::DataLossError("corrupt downsample state");
  }
  if (!r.empty()) return absl::DataLossError("corrupt downsample state");
  return absl::OkStatus();
}

std::string EncodeSeriesValue(uint32_t tenant_id, const LabelView* labels, size_t n) {
  std::string v;
  PutVarint(&v, tenant_id);
  PutVarint(&v, n);
  for (size_t i = 0; i < n; ++i) {
    PutLengthPrefixed(&v, labels[i].name);
    PutLengthPrefixed(&v, labels[i].value);
  }
  return v;
}

absl::Status DecodeSeriesValue(std::string_view value, uint32_t* tenant_id, Labels* labels) {
  coding::Reader r(value);
  uint64_t t, n;
  if (!r.GetVarint(&t) || t > UINT32_MAX || !r.GetVarint(&n) || n > r.remaining()) {
    return absl::DataLossError("corrupt series value: bad header");
  }
  std::vector<Label> ls(n);
  for (Label& l : ls) {
    std::string_view name, val;
    if (!r.GetLengthPrefixed(&name) || !r.GetLengthPrefixed(&val)) {
      return absl::DataLossError("corrupt series value: truncated labels");
    }
    l.name.assign(name);
    l.value.assign(val);
  }
  *tenant_id = static_cast<uint32_t>(t);
  *labels = Labels::FromSorted(std::move(ls));
  return absl::OkStatus();
}

std::string EncodeHeadCountValue(uint64_t count, int64_t newest_t_ms) {
  std::string v;
  coding::PutFixed64BE(&v, count);
  coding::PutFixed64BE(&v, static_cast<uint64_t>(newest_t_ms));
  return v;
}

absl::Status DecodeHeadCountValue(std::string_view value, uint64_t* count, int64_t* newest_t_ms) {
  if (value.size() != 16) return absl::DataLossError("corrupt head count value");
  *count = coding::DecodeFixed64BE(value.data());
  *newest_t_ms = static_cast<int64_t>(coding::DecodeFixed64BE(value.data() + 8));
  return absl::OkStatus();
}

std::string EncodeRangeValue(int64_t min_t_ms, int64_t max_t_ms) {
  std::string v;
  coding::PutSignedVarint(&v, min_t_ms);
  coding::PutSignedVarint(&v, max_t_ms);
  return v;
}

absl::Status DecodeRangeValue(std::string_view value, int64_t* min_t_ms, int64_t* max_t_ms) {
  coding::Reader r(value);
  if (!r.GetSignedVarint(min_t_ms) || !r.GetSignedVarint(max_t_ms)) {
    return absl::DataLossError("corrupt series range value");
  }
  return absl::OkStatus();
}

std::string EncodeMetadataValue(const MetricMetadata& m) {
  std::string v;
  v.push_back(static_cast<char>(m.type));
  PutLengthPrefixed(&v, m.help);
  PutLengthPrefixed(&v, m.unit);
  return v;
}

absl::Status DecodeMetadataValue(std::string_view family, std::string_view value,
                                 MetricMetadata* m) {
  coding::Reader r(value);
  uint8_t type;
  std::string_view help, unit;
  if (!r.GetByte(&type) || type > static_cast<uint8_t>(MetricType::kStateset) ||
      !r.GetLengthPrefixed(&help) || !r.GetLengthPrefixed(&unit)) {
    return absl::DataLossError("corrupt metadata value for " + std::string(family));
  }
  m->metric_family.assign(family);
  m->type = static_cast<MetricType>(type);
  m->help.assign(help);
  m->unit.assign(unit);
  return absl::OkStatus();
}

}  // namespace meridian::keys
