#include "server/restore.h"

#include <cstdio>
#include <string>

#include "storage/format.h"

namespace meridian::server {
namespace {

constexpr char kUsage[] =
    "usage: meridian restore --from SNAPSHOT_DIR --data-dir NEW_DIR\n\n"
    "Copies a snapshot (made by POST /api/v1/admin/tsdb/snapshot, found in\n"
    "<data-dir>/snapshots/<name>) into NEW_DIR, which must not exist or be empty,\n"
    "and checks that it opens. Then start meridian with --data-dir NEW_DIR.\n";

}  // namespace

int RunRestore(int argc, char** argv) {
  std::string from, to;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::string value;
    std::string name = a;
    if (size_t eq = a.find('='); eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    }
    if (name == "--from") {
      from = value;
    } else if (name == "--data-dir") {
      to = value;
    } else {
      std::fprintf(stderr, "meridian restore: unexpected argument \"%s\"\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (from.empty() || to.empty()) {
    std::fprintf(stderr, "meridian restore: --from and --data-dir are required\n%s", kUsage);
    return 2;
  }
  std::string summary;
  absl::Status st = RestoreSnapshot(from, to, &summary);
  if (!st.ok()) {
    std::fprintf(stderr, "meridian restore: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  std::printf("meridian restore: restored %s into %s (%s)\n", from.c_str(), to.c_str(),
              summary.c_str());
  return 0;
}

}  // namespace meridian::server
