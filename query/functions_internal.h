// Internal to the query module: the evaluator's function identifiers,
// shared by functions_impl.cc (EvalCall and instant-vector functions) and
// functions_range.cc (range-vector functions). Not a public interface.
#ifndef MERIDIAN_QUERY_FUNCTIONS_INTERNAL_H_
#define MERIDIAN_QUERY_FUNCTIONS_INTERNAL_H_

#include <string_view>

namespace meridian::promql::eval {

enum class Fn {
  kUnknown,
  // Range-vector functions.
  kRate, kIncrease, kDelta, kIrate, kIdelta, kDeriv, kPredictLinear, kChanges, kResets,
  kAvgOT, kMinOT, kMaxOT, kSumOT, kCountOT, kLastOT, kFirstOT, kPresentOT, kStddevOT,
  kStdvarOT, kMadOT, kQuantileOT, kTsMinOT, kTsMaxOT, kTsFirstOT, kTsLastOT, kAbsentOT,
  kDoubleExpSmoothing,
  // Element-wise float functions.
  kAbs, kCeil, kFloor, kExp, kSqrt, kLn, kLog2, kLog10, kSgn, kSin, kCos, kTan, kAsin, kAcos,
  kAtan, kSinh, kCosh, kTanh, kAsinh, kAcosh, kAtanh, kDeg, kRad, kRound, kClamp, kClampMin,
  kClampMax,
  // Others.
  kTime, kPi, kVector, kScalar, kAbsent, kTimestamp, kDaysInMonth, kDayOfMonth, kDayOfWeek,
  kDayOfYear, kHour, kMinute, kMonth, kYear, kSort, kSortDesc, kSortByLabel, kSortByLabelDesc,
  kHistogramQuantile, kHistogramFraction, kHistogramQuantiles, kLabelReplace, kLabelJoin,
  kStep, kRange, kStart, kEnd, kMinOf, kMaxOf, kNativeHistogramOnly, kInfo,
};

// The function implementing PromQL function `name`, or kUnknown.
Fn LookupFn(std::string_view name);

// Go's math.Max / math.Min (NaN and signed-zero rules).
double GoMax(double x, double y);
double GoMin(double x, double y);

}  // namespace meridian::promql::eval

#endif  // MERIDIAN_QUERY_FUNCTIONS_INTERNAL_H_
