#include "remote/xor_chunk.h"

#include <bit>
#include <cstring>

namespace meridian::remote {
namespace {

uint64_t Bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof(b));
  return b;
}

double FromBits(uint64_t b) {
  double v;
  std::memcpy(&v, &b, sizeof(v));
  return v;
}

// Prometheus's bitRange: x fits in nbits as the decoder reads it back.
bool FitsBits(int64_t x, int nbits) {
  return -((int64_t{1} << (nbits - 1)) - 1) <= x && x <= (int64_t{1} << (nbits - 1));
}

class BitReader {
 public:
  explicit BitReader(std::string_view d) : d_(d) {}
  bool ReadBit(bool* bit) {
    if (pos_ >= d_.size() * 8) return false;
    *bit = (static_cast<uint8_t>(d_[pos_ / 8]) >> (7 - pos_ % 8)) & 1;
    ++pos_;
    return true;
  }
  // Up to a byte at a time (the reads of whole fields dominate decoding).
  bool ReadBits(int n, uint64_t* v) {
    *v = 0;
    if (pos_ + static_cast<size_t>(n) > d_.size() * 8) return false;
    while (n > 0) {
      const int avail = 8 - static_cast<int>(pos_ % 8);
      const int k = n < avail ? n : avail;
      const uint64_t byte = static_cast<uint8_t>(d_[pos_ / 8]);
      *v = (*v << k) | ((byte >> (avail - k)) & ((uint64_t{1} << k) - 1));
      pos_ += static_cast<size_t>(k);
      n -= k;
    }
    return true;
  }
  bool ReadUvarint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      uint64_t byte;
      if (!ReadBits(8, &byte)) return false;
      *v |= (byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }

 private:
  std::string_view d_;
  size_t pos_ = 0;
};

}  // namespace

XorChunkEncoder::XorChunkEncoder() : buf_(2, '\0') {}

void XorChunkEncoder::WriteBit(bool bit) {
  if (free_bits_ == 0) {
    buf_.push_back('\0');
    free_bits_ = 8;
  }
  --free_bits_;
  if (bit) buf_.back() = static_cast<char>(static_cast<uint8_t>(buf_.back()) | (1u << free_bits_));
}

// The low `nbits` of v, most significant first, up to a byte at a time.
void XorChunkEncoder::WriteBits(uint64_t v, int nbits) {
  while (nbits > 0) {
    if (free_bits_ == 0) {
      buf_.push_back('\0');
      free_bits_ = 8;
    }
    const int k = nbits < free_bits_ ? nbits : free_bits_;
    const uint64_t bits = (v >> (nbits - k)) & ((uint64_t{1} << k) - 1);
    buf_.back() = static_cast<char>(static_cast<uint8_t>(buf_.back()) |
                                    static_cast<uint8_t>(bits << (free_bits_ - k)));
    free_bits_ -= k;
    nbits -= k;
  }
}

void XorChunkEncoder::WriteValue(double v) {
  const uint64_t delta = Bits(v) ^ v_bits_;
  if (delta == 0) {
    WriteBit(false);
    return;
  }
  WriteBit(true);
  uint8_t leading = static_cast<uint8_t>(std::countl_zero(delta));
  uint8_t trailing = static_cast<uint8_t>(std::countr_zero(delta));
  if (leading >= 32) leading = 31;
  if (leading_ != 0xff && leading >= leading_ && trailing >= trailing_) {
    WriteBit(false);
    WriteBits(delta >> trailing_, 64 - leading_ - trailing_);
  } else {
    leading_ = leading;
    trailing_ = trailing;
    WriteBit(true);
    WriteBits(leading, 5);
    const int sigbits = 64 - leading - trailing;
    WriteBits(static_cast<uint64_t>(sigbits) & 63, 6);  // 64 is written as 0
    WriteBits(delta >> trailing, sigbits);
  }
}

void XorChunkEncoder::Append(int64_t t, double v) {
  uint64_t t_delta = 0;
  if (n_ == 0) {
    uint64_t zz = (static_cast<uint64_t>(t) << 1) ^ static_cast<uint64_t>(t >> 63);
    while (zz >= 0x80) {
      WriteByte(static_cast<uint8_t>(zz | 0x80));
      zz >>= 7;
    }
    WriteByte(static_cast<uint8_t>(zz));
    WriteBits(Bits(v), 64);
  } else if (n_ == 1) {
    t_delta = static_cast<uint64_t>(t - t_);
    uint64_t d = t_delta;
    while (d >= 0x80) {
      WriteByte(static_cast<uint8_t>(d | 0x80));
      d >>= 7;
    }
    WriteByte(static_cast<uint8_t>(d));
    WriteValue(v);
  } else {
    t_delta = static_cast<uint64_t>(t - t_);
    const int64_t dod = static_cast<int64_t>(t_delta - t_delta_);
    if (dod == 0) {
      WriteBit(false);
    } else if (FitsBits(dod, 14)) {
      WriteBits(0b10, 2);
      WriteBits(static_cast<uint64_t>(dod), 14);
    } else if (FitsBits(dod, 17)) {
      WriteBits(0b110, 3);
      WriteBits(static_cast<uint64_t>(dod), 17);
    } else if (FitsBits(dod, 20)) {
      WriteBits(0b1110, 4);
      WriteBits(static_cast<uint64_t>(dod), 20);
    } else {
      WriteBits(0b1111, 4);
      WriteBits(static_cast<uint64_t>(dod), 64);
    }
    WriteValue(v);
  }
  t_ = t;
  v_bits_ = Bits(v);
  t_delta_ = t_delta;
  ++n_;
  buf_[0] = static_cast<char>((n_ >> 8) & 0xff);
  buf_[1] = static_cast<char>(n_ & 0xff);
}

std::string EncodeXorChunk(std::span<const Sample> samples) {
  XorChunkEncoder e;
  for (const Sample& s : samples) e.Append(s.t_ms, s.v);
  return e.bytes();
}

absl::Status DecodeXorChunk(std::string_view data, std::vector<Sample>* out) {
  auto truncated = [] { return absl::InvalidArgumentError("XOR chunk ends early"); };
  if (data.size() < 2) return truncated();
  const size_t n =
      (static_cast<size_t>(static_cast<uint8_t>(data[0])) << 8) | static_cast<uint8_t>(data[1]);
  BitReader r(data.substr(2));
  int64_t t = 0;
  uint64_t t_delta = 0, v = 0;
  uint8_t leading = 0, trailing = 0;
  auto read_value = [&]() -> bool {
    bool bit;
    if (!r.ReadBit(&bit)) return false;
    if (!bit) return true;
    if (!r.ReadBit(&bit)) return false;
    if (bit) {
      uint64_t l, m;
      if (!r.ReadBits(5, &l) || !r.ReadBits(6, &m)) return false;
      if (m == 0) m = 64;
      if (l + m > 64) return false;
      leading = static_cast<uint8_t>(l);
      trailing = static_cast<uint8_t>(64 - l - m);
    }
    uint64_t bits;
    if (!r.ReadBits(64 - leading - trailing, &bits)) return false;
    v ^= bits << trailing;
    return true;
  };
  for (size_t i = 0; i < n; ++i) {
    if (i == 0) {
      uint64_t zz;
      if (!r.ReadUvarint(&zz) || !r.ReadBits(64, &v)) return truncated();
      t = static_cast<int64_t>(zz >> 1) ^ -static_cast<int64_t>(zz & 1);
    } else if (i == 1) {
      if (!r.ReadUvarint(&t_delta)) return truncated();
      t += static_cast<int64_t>(t_delta);
      if (!read_value()) return truncated();
    } else {
      int ones = 0;
      bool bit = true;
      while (ones < 4) {
        if (!r.ReadBit(&bit)) return truncated();
        if (!bit) break;
        ++ones;
      }
      static constexpr int kSizes[] = {0, 14, 17, 20, 64};
      const int sz = kSizes[ones];
      int64_t dod = 0;
      if (sz > 0) {
        uint64_t bits;
        if (!r.ReadBits(sz, &bits)) return truncated();
        if (sz < 64 && bits > (uint64_t{1} << (sz - 1))) bits -= uint64_t{1} << sz;
        dod = static_cast<int64_t>(bits);
      }
      t_delta = static_cast<uint64_t>(static_cast<int64_t>(t_delta) + dod);
      t += static_cast<int64_t>(t_delta);
      if (!read_value()) return truncated();
    }
    out->push_back(Sample{t, FromBits(v)});
  }
  return absl::OkStatus();
}

}  // namespace meridian::remote
