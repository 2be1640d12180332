// Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource), as
// the external metrics API carries values: "1500m", "2", "-250m".
#ifndef MERIDIAN_K8S_QUANTITY_H_
#define MERIDIAN_K8S_QUANTITY_H_

#include <string>
#include <string_view>

#include "model/status.h"

namespace meridian::k8s {

// The quantity of v in milli-units, rounded to the nearest milli (the HPA
// reads MilliValue()), canonical: "2" for whole numbers, else "1500m".
// Beyond int64 milli-units (|v| >= 9.2e15) a whole number without suffix.
// InvalidArgument for NaN and infinities (a quantity cannot hold them).
absl::StatusOr<std::string> FormatQuantity(double v);

// Parses a quantity: a decimal number with an optional suffix n u m k M G T
// P E, Ki Mi Gi Ti Pi Ei, or an exponent e3/E3.
absl::StatusOr<double> ParseQuantity(std::string_view s);

}  // namespace meridian::k8s

#endif  // MERIDIAN_K8S_QUANTITY_H_
