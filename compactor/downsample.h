// Downsampling arithmetic, pure (no I/O): raw samples to aggregate windows,
// and fine windows to coarser ones, so that the coarse aggregates equal what
// the raw samples of the same windows would give (docs/compactor.md).
#ifndef MERIDIAN_COMPACTOR_DOWNSAMPLE_H_
#define MERIDIAN_COMPACTOR_DOWNSAMPLE_H_

#include <cstdint>
#include <span>
#include <vector>

#include "storage/compaction.h"

namespace meridian::compactor {

// Appends the windows of `res_ms` that hold samples of `samples` (sorted by
// time, unique timestamps) to *out. Stale markers count only as `last`.
void DownsampleRaw(std::span<const Sample> samples, int64_t res_ms,
                   std::vector<AggregateWindow>* out);

// Appends the windows of `res_ms` made of `fine` (sorted, finer windows
// that each lie inside one coarse window) to *out.
void MergeWindows(std::span<const AggregateWindow> fine, int64_t res_ms,
                  std::vector<AggregateWindow>* out);

// Adds one sample (t later than every sample added before) to *w, as
// DownsampleRaw does. `w->count == 0 && w->last_t == kNoTime` is empty.
void AddSample(const Sample& s, AggregateWindow* w);

}  // namespace meridian::compactor

#endif  // MERIDIAN_COMPACTOR_DOWNSAMPLE_H_
