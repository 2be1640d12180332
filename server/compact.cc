#include "server/compact.h"

#include <cstdio>
#include <string>

#include "compactor/compactor.h"
#include "server/config.h"
#include "server/server.h"
#include "storage/storage.h"

namespace meridian::server {

int RunCompact(int argc, char** argv) {
  auto config = ParseConfig(argc, argv);
  if (!config.ok()) {
    bool help = config.status().code() == absl::StatusCode::kCancelled;
    std::fprintf(help ? stdout : stderr, "%s%s\n",
                 help ? "" : "meridian compact: ", std::string(config.status().message()).c_str());
    return help ? 0 : 2;
  }
  StorageOptions so;
  so.dir = config->data_dir;
  so.sync_wal = config->sync_wal;
  so.block_cache_bytes = static_cast<size_t>(config->block_cache_bytes);
  auto storage = Storage::Open(so);
  if (!storage.ok()) {
    std::fprintf(stderr, "meridian compact: %s (is a meridian still running on it?)\n",
                 std::string(storage.status().message()).c_str());
    return 1;
  }
  compactor::Compactor c(storage->get(), CompactorOptionsOf(*config));
  auto sum = c.RunPass(/*flush=*/true, /*throttled=*/false);
  if (!sum.ok()) {
    std::fprintf(stderr, "meridian compact: %s\n", sum.status().ToString().c_str());
    return 1;
  }
  std::printf("%s\n", compactor::Compactor::SummaryJson(*sum).c_str());
  absl::Status st = (*storage)->Flush();
  if (!st.ok()) {
    std::fprintf(stderr, "meridian compact: flush: %s\n", st.ToString().c_str());
    return 1;
  }
  return sum->failures == 0 ? 0 : 1;
}

}  // namespace meridian::server
