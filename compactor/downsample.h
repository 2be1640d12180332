// Downsampling arithmetic, pure (no I/O): raw samples to aggregate windows,
// and fine windows to coarser ones, so that the coarse aggregates equal what
// the raw samples of the same windows would give (docs/compactor.md).
#ifndef MERIDIAN_COMPACTOR_DOWNSAMPLE_H_
#define MERIDIAN_COMPACTOR_DOWNSAMPLE_H_

#include "storage/compaction.h"

namespace meridian::compactor {

// The arithmetic lives in storage (storage/compaction.h), so that the read
// path folds recent raw data exactly as the compactor does.
using ::meridian::AddSample;
using ::meridian::DownsampleRaw;
using ::meridian::MergeWindows;

}  // namespace meridian::compactor

#endif  // MERIDIAN_COMPACTOR_DOWNSAMPLE_H_
