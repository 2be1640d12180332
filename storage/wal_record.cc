#include "storage/wal_record.h"

namespace meridian {

WalRecordWriter::WalRecordWriter(std::string* out, uint32_t tenant_id) : out_(out) {
  out_->clear();
  coding::PutVarint(out_, tenant_id);
}

void WalRecordWriter::AddSeries(uint64_t series_id, std::span<const Sample> samples) {
  if (samples.empty()) return;
  coding::PutVarint(out_, series_id);
  coding::PutVarint(out_, samples.size());
  int64_t prev = 0;
  for (const Sample& s : samples) {
    coding::PutSignedVarint(out_, static_cast<int64_t>(static_cast<uint64_t>(s.t_ms) -
                                                       static_cast<uint64_t>(prev)));
    prev = s.t_ms;
    coding::PutFixed64LE(out_, coding::DoubleBits(s.v));
  }
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
