// Error handling for meridian: absl::Status values, never exceptions.
//
// Status codes used across modules (the HTTP layer alone maps them to statuses):
//   kInvalidArgument     bad input from a client (HTTP 400, errorType bad_data)
//   kOutOfRange          a sample outside what the store accepts (HTTP 400)
//   kResourceExhausted   a size or count limit was exceeded (HTTP 413 on ingest,
//                        422 execution for query sample limits)
//   kFailedPrecondition  query execution errors such as many-to-many matching
//                        (HTTP 422, errorType execution)
//   kUnavailable         back-pressure or shutting down (HTTP 503 + Retry-After)
//   kDeadlineExceeded    query timeout (HTTP 503, errorType timeout)
//   kCancelled           the client went away (errorType canceled)
//   kInternal, kDataLoss real server faults (HTTP 500)
#ifndef MERIDIAN_MODEL_STATUS_H_
#define MERIDIAN_MODEL_STATUS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns from the enclosing function when `expr` is not OK.
#define MERIDIAN_RETURN_IF_ERROR(expr)                   \
  do {                                                   \
    ::absl::Status meridian_status_ = (expr);            \
    if (!meridian_status_.ok()) return meridian_status_; \
  } while (0)

#define MERIDIAN_CONCAT_INNER_(a, b) a##b
#define MERIDIAN_CONCAT_(a, b) MERIDIAN_CONCAT_INNER_(a, b)

// `MERIDIAN_ASSIGN_OR_RETURN(auto x, StatusOrExpr());`
#define MERIDIAN_ASSIGN_OR_RETURN(lhs, expr) \
  MERIDIAN_ASSIGN_OR_RETURN_IMPL_(MERIDIAN_CONCAT_(meridian_so_, __LINE__), lhs, expr)
#define MERIDIAN_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) return std::move(tmp).status();        \
  lhs = std::move(tmp).value()

#endif  // MERIDIAN_MODEL_STATUS_H_
