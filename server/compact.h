// `meridian compact --data-dir DIR [FLAGS]`: one full compactor pass
// (flush, downsample everything due, retention) on a stopped instance's
// data dir, with the same flags as the server (retention, downsampling
// ages, tenant overrides). Prints the pass summary as JSON.
#ifndef MERIDIAN_SERVER_COMPACT_H_
#define MERIDIAN_SERVER_COMPACT_H_

namespace meridian::server {

// Runs the subcommand; argv[0] is "compact". Returns the process exit code.
int RunCompact(int argc, char** argv);

}  // namespace meridian::server

#endif  // MERIDIAN_SERVER_COMPACT_H_
