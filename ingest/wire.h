// WireReader: a bounds-checked cursor over protobuf binary wire format, the
// primitive under ingest's hand-written remote-write decoder.
//
// It never reads outside [data, data + size). Every method returns false on
// malformed or truncated input and leaves a static reason in error(); after a
// failure the reader must not be used further. Strings and sub-messages are
// returned as views into the input buffer (zero-copy): the caller keeps the
// buffer alive.
//
//   WireReader r(buf);
//   while (!r.done()) {
//     uint32_t field; WireType wt;
//     if (!r.ReadTag(&field, &wt)) return Error(r.error());
//     if (field == 1 && wt == WireType::kLen) { std::string_view s; r.ReadBytes(&s); ... }
//     else if (!r.Skip(field, wt)) return Error(r.error());
//   }
//
// Thread-safety: not thread-safe; a value type, cheap to copy.
#ifndef MERIDIAN_INGEST_WIRE_H_
#define MERIDIAN_INGEST_WIRE_H_

#include <cstdint>
#include <cstring>
#include <string_view>

namespace meridian::ingest {

enum class WireType : uint8_t {
  kVarint = 0,
  kFixed64 = 1,
  kLen = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

class WireReader {
 public:
  explicit WireReader(std::string_view buf)
      : begin_(buf.data()), p_(buf.data()), end_(buf.data() + buf.size()) {}

  bool done() const { return p_ == end_; }
  // Byte offset of the cursor from the start of the buffer.
  size_t offset() const { return static_cast<size_t>(p_ - begin_); }
  // Why the last call failed; a static string.
  const char* error() const { return error_; }

  // Reads a field tag. Fails on field number 0, numbers over 2^29-1 and wire
  // types 6 and 7.
  bool ReadTag(uint32_t* field, WireType* wt) {
    uint64_t tag;
    if (!ReadVarint(&tag)) return false;
    if (tag > 0xFFFFFFFFu) return Fail("field tag out of range");
    uint32_t type = static_cast<uint32_t>(tag & 7);
    *field = static_cast<uint32_t>(tag >> 3);
    if (*field == 0) return Fail("field number 0");
    if (type > 5) return Fail("invalid wire type");
    *wt = static_cast<WireType>(type);
    return true;
  }

  // Reads a base-128 varint of at most 10 bytes.
  bool ReadVarint(uint64_t* v) {
    if (p_ < end_ && static_cast<uint8_t>(*p_) < 0x80) {
      *v = static_cast<uint8_t>(*p_++);
      return true;
    }
    uint64_t result = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (p_ == end_) return Fail("truncated varint");
      uint8_t b = static_cast<uint8_t>(*p_++);
      result |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (b < 0x80) {
        *v = result;
        return true;
      }
    }
    return Fail("varint longer than 10 bytes");
  }

  bool ReadFixed64(uint64_t* v) {
    if (end_ - p_ < 8) return Fail("truncated fixed64");
    std::memcpy(v, p_, 8);  // little-endian hosts only (x86-64, arm64)
    p_ += 8;
    return true;
  }

  bool ReadFixed32(uint32_t* v) {
    if (end_ - p_ < 4) return Fail("truncated fixed32");
    std::memcpy(v, p_, 4);
    p_ += 4;
    return true;
  }

  // Reads a double bit-exactly (NaN payloads survive).
  bool ReadDouble(double* d) {
    uint64_t bits;
    if (!ReadFixed64(&bits)) return false;
    std::memcpy(d, &bits, 8);
    return true;
  }

  // Reads a length-delimited field (string, bytes, sub-message, packed run).
  bool ReadBytes(std::string_view* s) {
    uint64_t len;
    if (!ReadVarint(&len)) return false;
    if (len > static_cast<uint64_t>(end_ - p_)) return Fail("length past end of message");
    *s = std::string_view(p_, static_cast<size_t>(len));
    p_ += len;
    return true;
  }

  // Fails with the reason protobuf gives for a known field whose tag carries
  // another wire type than its declared type's (Prometheus's gogo-generated
  // decoders reject it: "proto: wrong wireType").
  bool FailWrongWireType() { return Fail("wrong wire type for a known field"); }

  // Skips the value of a field whose tag was just read. Groups (deprecated,
  // never emitted by proto3) are skipped up to a nesting depth of 32.
  bool Skip(uint32_t field, WireType wt, int depth = 0) {
    uint64_t u64;
    uint32_t u32;
    std::string_view s;
    switch (wt) {
      case WireType::kVarint:
        return ReadVarint(&u64);
      case WireType::kFixed64:
        return ReadFixed64(&u64);
      case WireType::kFixed32:
        return ReadFixed32(&u32);
      case WireType::kLen:
        return ReadBytes(&s);
      case WireType::kStartGroup:
        return SkipGroup(field, depth);
      case WireType::kEndGroup:
        return Fail("unexpected end-group tag");
    }
    return Fail("invalid wire type");
  }

 private:
  bool SkipGroup(uint32_t group_field, int depth) {
    if (depth >= 32) return Fail("groups nested too deep");
    for (;;) {
      if (done()) return Fail("unterminated group");
      uint32_t field;
      WireType wt;
      if (!ReadTag(&field, &wt)) return false;
      if (wt == WireType::kEndGroup) {
        if (field != group_field) return Fail("mismatched end-group tag");
        return true;
      }
      if (!Skip(field, wt, depth + 1)) return false;
    }
  }

  bool Fail(const char* why) {
    error_ = why;
    return false;
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  const char* error_ = "";
};

// Zigzag decoding for sint32/sint64 fields.
inline int64_t ZigZagDecode64(uint64_t n) {
  return static_cast<int64_t>(n >> 1) ^ -static_cast<int64_t>(n & 1);
}

}  // namespace meridian::ingest

#endif  // MERIDIAN_INGEST_WIRE_H_
