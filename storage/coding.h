// Byte-level encoding helpers shared by storage's codecs: LEB128 varints,
// zigzag for signed integers, big-endian fixed-width integers (so that keys
// sort numerically), and an order-preserving encoding of int64 timestamps.
// All functions are pure; readers bounds-check and report failure by value.
#ifndef MERIDIAN_STORAGE_CODING_H_
#define MERIDIAN_STORAGE_CODING_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace meridian::coding {

// A little-endian 64-bit word loaded with memcpy, in host order.
inline uint64_t LittleEndian(uint64_t x) {
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return __builtin_bswap64(x);
#else
  return x;
#endif
}

inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

// Appends `v` as an unsigned LEB128 varint (1..10 bytes).
inline void PutVarint(std::string* out, uint64_t v) {
  char buf[10];
  int n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, n);
}
inline void PutSignedVarint(std::string* out, int64_t v) { PutVarint(out, ZigZag(v)); }

inline size_t VarintLength(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Appends 8 bytes, big endian.
inline void PutFixed64BE(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 7; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out->append(buf, 8);
}
inline void PutFixed32BE(std::string* out, uint32_t v) {
  char buf[4];
  for (int i = 3; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out->append(buf, 4);
}
inline uint64_t DecodeFixed64BE(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline uint32_t DecodeFixed32BE(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
// Timestamps in keys: sign bit flipped so that negative times sort first.
inline void PutTimeKey(std::string* out, int64_t t) {
  PutFixed64BE(out, static_cast<uint64_t>(t) ^ (1ULL << 63));
}
inline int64_t DecodeTimeKey(const char* p) {
  return static_cast<int64_t>(DecodeFixed64BE(p) ^ (1ULL << 63));
}

inline uint64_t DoubleBits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, 8);
  return b;
}
inline double BitsDouble(uint64_t b) {
  double v;
  std::memcpy(&v, &b, 8);
  return v;
}

// A bounds-checked cursor over encoded bytes. Each Get* returns false (and
// leaves the reader in an unspecified position) when the input is truncated or
// malformed.
class Reader {
 public:
  explicit Reader(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}

  bool GetVarint(uint64_t* v) {
    if (end_ - p_ >= 8) {
      // Branch-free for varints of up to 8 bytes (56 bits): the first byte
      // without a continuation bit ends it; each byte gives 7 bits.
      uint64_t word;
      std::memcpy(&word, p_, 8);
      word = LittleEndian(word);
      const uint64_t stops = ~word & 0x8080808080808080ULL;
      if (stops != 0) {
        const int len = (__builtin_ctzll(stops) >> 3) + 1;
        if (len < 8) word &= (uint64_t{1} << (8 * len)) - 1;
        uint64_t r = word & 0x7f;
        r |= (word >> 1) & (uint64_t{0x7f} << 7);
        r |= (word >> 2) & (uint64_t{0x7f} << 14);
        r |= (word >> 3) & (uint64_t{0x7f} << 21);
        r |= (word >> 4) & (uint64_t{0x7f} << 28);
        r |= (word >> 5) & (uint64_t{0x7f} << 35);
        r |= (word >> 6) & (uint64_t{0x7f} << 42);
        r |= (word >> 7) & (uint64_t{0x7f} << 49);
        p_ += len;
        *v = r;
        return true;
      }
    }
    uint64_t result = 0;
    for (int shift = 0; shift <= 63 && p_ < end_; shift += 7) {
      uint64_t byte = static_cast<uint8_t>(*p_++);
      result |= (byte & 0x7f) << shift;
      if (!(byte & 0x80)) {
        *v = result;
        return true;
      }
    }
    return false;
  }
  bool GetSignedVarint(int64_t* v) {
    uint64_t u;
    if (!GetVarint(&u)) return false;
    *v = UnZigZag(u);
    return true;
  }
  bool GetByte(uint8_t* b) {
    if (p_ >= end_) return false;
    *b = static_cast<uint8_t>(*p_++);
    return true;
  }
  bool GetFixed64LE(uint64_t* v) {
    if (end_ - p_ < 8) return false;
    uint64_t r = 0;
    for (int i = 7; i >= 0; --i) r = (r << 8) | static_cast<uint8_t>(p_[i]);
    p_ += 8;
    *v = r;
    return true;
  }
  // A varint length followed by that many bytes.
  bool GetLengthPrefixed(std::string_view* s) {
    uint64_t n;
    if (!GetVarint(&n) || static_cast<uint64_t>(end_ - p_) < n) return false;
    *s = std::string_view(p_, n);
    p_ += n;
    return true;
  }
  bool GetRaw(size_t n, std::string_view* s) {
    if (static_cast<size_t>(end_ - p_) < n) return false;
    *s = std::string_view(p_, n);
    p_ += n;
    return true;
  }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  bool empty() const { return p_ == end_; }

 private:
  const char* p_;
  const char* end_;
};

inline void PutFixed64LE(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 0; i < 8; ++i) {
    buf[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out->append(buf, 8);
}
inline void PutLengthPrefixed(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s);
}

}  // namespace meridian::coding

#endif  // MERIDIAN_STORAGE_CODING_H_
