#include "storage/wal_record.h"

#include <algorithm>
#include <cstring>

namespace meridian {

namespace {

inline char* PutVarintRaw(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

}  // namespace

WalRecordWriter::WalRecordWriter(std::string* out, uint32_t tenant_id) : out_(out) {
  if (out_->size() < 16) out_->resize(16);
  pos_ = static_cast<size_t>(PutVarintRaw(out_->data(), tenant_id) - out_->data());
}

void WalRecordWriter::AddSeries(uint64_t series_id, std::span<const Sample> samples) {
  if (samples.empty()) return;
  // Worst case: two 10-byte varints, then 10 + 8 bytes per sample.
  // Grows geometrically; the zero fill of resize() is amortized away.
  const size_t need = pos_ + 20 + samples.size() * 18;
  if (need > out_->size()) out_->resize(std::max(need, 2 * out_->size()));
  char* p = out_->data() + pos_;
  p = PutVarintRaw(p, series_id);
  p = PutVarintRaw(p, samples.size());
  uint64_t prev = 0;
  for (const Sample& s : samples) {
    p = PutVarintRaw(p, coding::ZigZag(static_cast<int64_t>(static_cast<uint64_t>(s.t_ms) - prev)));
    prev = static_cast<uint64_t>(s.t_ms);
    uint64_t bits = coding::DoubleBits(s.v);
    std::memcpy(p, &bits, 8);  // little endian hosts only (x86-64, arm64)
    p += 8;
  }
  pos_ = static_cast<size_t>(p - out_->data());
  ++num_series_;
}

WalRecordReader::WalRecordReader(std::string_view record) : r_(record) {
  uint64_t t;
  if (!r_.GetVarint(&t) || t > UINT32_MAX) {
    status_ = absl::DataLossError("corrupt wal record: bad tenant id");
    return;
  }
  tenant_id_ = static_cast<uint32_t>(t);
}

bool WalRecordReader::Next(uint64_t* series_id, std::vector<Sample>* samples) {
  if (!status_.ok() || r_.empty()) return false;
  uint64_t n;
  if (!r_.GetVarint(series_id) || !r_.GetVarint(&n) || n > r_.remaining()) {
    status_ = absl::DataLossError("corrupt wal record: bad series entry");
    return false;
  }
  samples->resize(n);
  uint64_t t = 0;
  for (Sample& s : *samples) {
    int64_t d;
    uint64_t bits;
    if (!r_.GetSignedVarint(&d) || !r_.GetFixed64LE(&bits)) {
      status_ = absl::DataLossError("corrupt wal record: truncated samples");
      return false;
    }
    t += static_cast<uint64_t>(d);
    s.t_ms = static_cast<int64_t>(t);
    s.v = coding::BitsDouble(bits);
  }
  return true;
}

}  // namespace meridian
