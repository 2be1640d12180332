// TLS for meridian's listeners (OpenSSL, Debian's libssl): the server
// certificate and key (--tls-cert-file / --tls-private-key-file, Kubernetes'
// flag names), optional client-certificate CAs (--client-ca-file, and
// --requestheader-client-ca-file for kube-apiserver's front proxy), and a
// self-signed certificate when a listener needs TLS but has no files.
//
// Client certificates are requested, not required, and verified after the
// handshake against each CA pool separately, as Kubernetes does
// (tls.RequestClientCert plus its x509 authenticator): a request with an
// unverifiable certificate is unauthenticated (401), not a failed handshake.
//
// Reload() re-reads every file; a failed reload keeps the previous context.
// New connections use the newest context; open ones keep theirs.
//
// Thread-safety: all methods may be called from any thread.
#ifndef MERIDIAN_HTTP_TLS_H_
#define MERIDIAN_HTTP_TLS_H_

#include <memory>
#include <string>
#include <vector>

#include "model/status.h"
#include "model/sync.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace meridian::http {

struct TlsOptions {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;
  std::string requestheader_client_ca_file;
  // With no cert_file/key_file: make a self-signed certificate for these
  // names (DNS names or IP addresses) instead of failing.
  bool self_signed_if_missing = false;
  std::vector<std::string> self_signed_names;
  // Where the self-signed certificate's PEM is written (empty: not written).
  std::string self_signed_out;
};

// What a client's certificate proved, checked after the handshake.
struct PeerCertificate {
  bool present = false;
  std::string common_name;
  bool verified_client_ca = false;         // chains to --client-ca-file
  bool verified_requestheader_ca = false;  // chains to --requestheader-client-ca-file
};

class TlsServerContext {
 public:
  static absl::StatusOr<std::shared_ptr<TlsServerContext>> Create(TlsOptions options);
  ~TlsServerContext();

  // Re-reads certificate, key and CA files. On error the old context stays.
  absl::Status Reload();
  // True when one of the files changed (mtime or size) since the last load.
  bool FilesChanged() const;

  // A new server-side SSL object for one connection (nullptr on failure).
  SSL* NewConnection();
  // The client's certificate of a finished handshake, verified against each
  // CA pool of the current context.
  PeerCertificate Inspect(SSL* ssl) const;

  bool self_signed() const { return self_signed_; }
  std::string self_signed_pem() const { return self_signed_pem_; }
  std::string fingerprint_sha256() const;  // of the serving certificate

  struct State;

 private:
  explicit TlsServerContext(TlsOptions options) : options_(std::move(options)) {}
  absl::StatusOr<std::shared_ptr<State>> Load();

  TlsOptions options_;
  bool self_signed_ = false;
  std::string self_signed_pem_;
  std::string self_signed_key_pem_;
  mutable Mutex mu_;
  std::shared_ptr<State> state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meridian::http

#endif  // MERIDIAN_HTTP_TLS_H_
