// The values a PromQL expression evaluates to: scalar, instant vector,
// range vector (matrix), string. Times in milliseconds.
#ifndef MERIDIAN_QUERY_VALUE_H_
#define MERIDIAN_QUERY_VALUE_H_

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "model/labels.h"
#include "model/queryable.h"

namespace meridian::promql {

using Point = ::meridian::Sample;  // {t_ms, v}

// One element of an instant vector.
struct VectorElement {
  Labels metric;
  int64_t t_ms = 0;
  double v = 0;
};
using Vector = std::vector<VectorElement>;

// One series of a range vector or of a range query's result.
struct Series {
  Labels metric;
  std::vector<Point> points;
};
using Matrix = std::vector<Series>;

struct Scalar {
  int64_t t_ms = 0;
  double v = 0;
};

struct String {
  int64_t t_ms = 0;
  std::string v;
};

using Value = std::variant<Scalar, Vector, Matrix, String>;

}  // namespace meridian::promql

#endif  // MERIDIAN_QUERY_VALUE_H_
