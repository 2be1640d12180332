// `meridian restore --from SNAPSHOT_DIR --data-dir NEW_DIR`: starts a new data
// dir from a snapshot made by POST /api/v1/admin/tsdb/snapshot.
#ifndef MERIDIAN_SERVER_RESTORE_H_
#define MERIDIAN_SERVER_RESTORE_H_

namespace meridian::server {

// Runs the subcommand; argv[0] is "restore". Returns the process exit code.
int RunRestore(int argc, char** argv);

}  // namespace meridian::server

#endif  // MERIDIAN_SERVER_RESTORE_H_
