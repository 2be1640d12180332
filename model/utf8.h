// UTF-8 encoding of one code point, shared by the PromQL lexer's Go-style
// text helpers and the query API answer reader of remote/.
#ifndef MERIDIAN_MODEL_UTF8_H_
#define MERIDIAN_MODEL_UTF8_H_

#include <cstdint>
#include <string>

namespace meridian {

// Appends the UTF-8 encoding of code point `r` (0 to 0x10FFFF; callers
// exclude surrogates where their input must not produce them).
void AppendUtf8(std::string* out, int32_t r);

}  // namespace meridian

#endif  // MERIDIAN_MODEL_UTF8_H_
