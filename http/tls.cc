#include "http/tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>

namespace meridian::http {

namespace {

std::string SslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

struct FileStamp {
  std::string path;
  int64_t mtime_ns = -1;
  int64_t size = -1;
};

FileStamp Stamp(const std::string& path) {
  FileStamp f;
  f.path = path;
  struct stat st {};
  if (!path.empty() && stat(path.c_str(), &st) == 0) {
    f.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    f.size = static_cast<int64_t>(st.st_size);
  }
  return f;
}

// Accepts any client certificate during the handshake: it is verified
// afterwards, per CA pool (see Inspect).
int AcceptAnyCert(int, X509_STORE_CTX*) { return 1; }

X509_STORE* LoadStore(const std::string& file, std::string* error) {
  X509_STORE* store = X509_STORE_new();
  if (store == nullptr || X509_STORE_load_file(store, file.c_str()) != 1) {
    *error = "cannot load CA file " + file + ": " + SslError();
    if (store) X509_STORE_free(store);
    return nullptr;
  }
  return store;
}

bool VerifyAgainst(X509_STORE* store, X509* cert, STACK_OF(X509) * chain) {
  if (store == nullptr) return false;
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  if (ctx == nullptr) return false;
  bool ok = false;
  if (X509_STORE_CTX_init(ctx, store, cert, chain) == 1) {
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    ok = X509_verify_cert(ctx) == 1;
  }
  X509_STORE_CTX_free(ctx);
  return ok;
}

}  // namespace

struct TlsServerContext::State {
  SSL_CTX* ctx = nullptr;
  X509_STORE* client_store = nullptr;
  X509_STORE* requestheader_store = nullptr;
  std::vector<FileStamp> stamps;
  std::string fingerprint;
  ~State() {
    if (ctx) SSL_CTX_free(ctx);
    if (client_store) X509_STORE_free(client_store);
    if (requestheader_store) X509_STORE_free(requestheader_store);
  }
};

namespace {

// A self-signed EC P-256 certificate (also usable as its own CA) for names.
absl::Status MakeSelfSigned(const std::vector<std::string>& names, std::string* cert_pem,
                            std::string* key_pem) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) return absl::InternalError("self-signed key: " + SslError());
  X509* x = X509_new();
  X509_set_version(x, 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof(serial));
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("meridian-self-signed"), -1, -1,
                             0);
  X509_set_issuer_name(x, name);
  std::string san;
  for (const auto& n : names) {
    if (n.empty()) continue;
    if (!san.empty()) san += ",";
    bool ip =
        n.find_first_not_of("0123456789.") == std::string::npos || n.find(':') != std::string::npos;
    san += (ip ? "IP:" : "DNS:") + n;
  }
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  struct {
    int nid;
    std::string value;
  } exts[] = {
      {NID_basic_constraints, "critical,CA:TRUE"},
      {NID_key_usage, "critical,digitalSignature,keyEncipherment,keyCertSign"},
      {NID_ext_key_usage, "serverAuth"},
      {NID_subject_alt_name, san},
  };
  for (auto& e : exts) {
    if (e.value.empty()) continue;
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, e.nid, e.value.c_str());
    if (ext == nullptr) {
      X509_free(x);
      EVP_PKEY_free(key);
      return absl::InternalError("self-signed extension: " + SslError());
    }
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(x, key, EVP_sha256()) == 0) {
    X509_free(x);
    EVP_PKEY_free(key);
    return absl::InternalError("self-signed signature: " + SslError());
  }
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  char* data = nullptr;
  long len = BIO_get_mem_data(b, &data);
  cert_pem->assign(data, static_cast<size_t>(len));
  BIO_free(b);
  b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  len = BIO_get_mem_data(b, &data);
  key_pem->assign(data, static_cast<size_t>(len));
  BIO_free(b);
  X509_free(x);
  EVP_PKEY_free(key);
  return absl::OkStatus();
}

std::string Fingerprint(X509* x) {
  if (x == nullptr) return "";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  X509_digest(x, EVP_sha256(), md, &n);
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    if (i) out += ':';
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

}  // namespace

absl::StatusOr<std::shared_ptr<TlsServerContext>> TlsServerContext::Create(TlsOptions options) {
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert-file and --tls-private-key-file must be given together");
  }
  std::shared_ptr<TlsServerContext> t(new TlsServerContext(std::move(options)));
  if (t->options_.cert_file.empty()) {
    if (!t->options_.self_signed_if_missing) {
      return absl::InvalidArgumentError("TLS needs --tls-cert-file and --tls-private-key-file");
    }
    MERIDIAN_RETURN_IF_ERROR(MakeSelfSigned(t->options_.self_signed_names, &t->self_signed_pem_,
                                            &t->self_signed_key_pem_));
    t->self_signed_ = true;
    if (!t->options_.self_signed_out.empty()) {
      FILE* f = std::fopen(t->options_.self_signed_out.c_str(), "w");
      if (f != nullptr) {
        std::fwrite(t->self_signed_pem_.data(), 1, t->self_signed_pem_.size(), f);
        std::fclose(f);
      }
    }
  }
  auto st = t->Load();
  if (!st.ok()) return st.status();
  {
    MutexLock lock(&t->mu_);
    t->state_ = *std::move(st);
  }
  return t;
}

TlsServerContext::~TlsServerContext() = default;

absl::StatusOr<std::shared_ptr<TlsServerContext::State>> TlsServerContext::Load() {
  auto s = std::make_shared<State>();
  for (const std::string* f : {&options_.cert_file, &options_.key_file, &options_.client_ca_file,
                               &options_.requestheader_client_ca_file}) {
    if (!f->empty()) s->stamps.push_back(Stamp(*f));
  }
  s->ctx = SSL_CTX_new(TLS_server_method());
  if (s->ctx == nullptr) return absl::InternalError("SSL_CTX_new: " + SslError());
  SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(s->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                               SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(s->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                  SSL_OP_IGNORE_UNEXPECTED_EOF);
  static const unsigned char kSid[] = "meridian";
  SSL_CTX_set_session_id_context(s->ctx, kSid, sizeof(kSid) - 1);
  if (self_signed_) {
    BIO* b = BIO_new_mem_buf(self_signed_pem_.data(), static_cast<int>(self_signed_pem_.size()));
    X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    b = BIO_new_mem_buf(self_signed_key_pem_.data(), static_cast<int>(self_signed_key_pem_.size()));
    EVP_PKEY* k = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    bool ok =
        x && k && SSL_CTX_use_certificate(s->ctx, x) == 1 && SSL_CTX_use_PrivateKey(s->ctx, k) == 1;
    if (x) X509_free(x);
    if (k) EVP_PKEY_free(k);
    if (!ok) return absl::InternalError("self-signed certificate: " + SslError());
  } else {
    if (SSL_CTX_use_certificate_chain_file(s->ctx, options_.cert_file.c_str()) != 1) {
      return absl::InvalidArgumentError("cannot load --tls-cert-file " + options_.cert_file + ": " +
                                        SslError());
    }
    if (SSL_CTX_use_PrivateKey_file(s->ctx, options_.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return absl::InvalidArgumentError("cannot load --tls-private-key-file " + options_.key_file +
                                        ": " + SslError());
    }
    if (SSL_CTX_check_private_key(s->ctx) != 1) {
      return absl::InvalidArgumentError("--tls-private-key-file does not match --tls-cert-file");
    }
  }
  s->fingerprint = Fingerprint(SSL_CTX_get0_certificate(s->ctx));
  STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
  std::string error;
  if (!options_.client_ca_file.empty()) {
    s->client_store = LoadStore(options_.client_ca_file, &error);
    if (s->client_store == nullptr) {
      sk_X509_NAME_pop_free(names, X509_NAME_free);
      return absl::InvalidArgumentError("--client-ca-file: " + error);
    }
    SSL_add_file_cert_subjects_to_stack(names, options_.client_ca_file.c_str());
  }
  if (!options_.requestheader_client_ca_file.empty()) {
    s->requestheader_store = LoadStore(options_.requestheader_client_ca_file, &error);
    if (s->requestheader_store == nullptr) {
      sk_X509_NAME_pop_free(names, X509_NAME_free);
      return absl::InvalidArgumentError("--requestheader-client-ca-file: " + error);
    }
    SSL_add_file_cert_subjects_to_stack(names, options_.requestheader_client_ca_file.c_str());
  }
  if (s->client_store || s->requestheader_store) {
    SSL_CTX_set_client_CA_list(s->ctx, names);  // takes ownership
    SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER, AcceptAnyCert);
  } else {
    sk_X509_NAME_pop_free(names, X509_NAME_free);
  }
  ERR_clear_error();
  return s;
}

absl::Status TlsServerContext::Reload() {
  auto st = Load();
  if (!st.ok()) return st.status();
  MutexLock lock(&mu_);
  state_ = *std::move(st);
  return absl::OkStatus();
}

bool TlsServerContext::FilesChanged() const {
  std::shared_ptr<State> s;
  {
    MutexLock lock(&mu_);
    s = state_;
  }
  for (const auto& f : s->stamps) {
    FileStamp now = Stamp(f.path);
    if (now.mtime_ns != f.mtime_ns || now.size != f.size) return true;
  }
  return false;
}

SSL* TlsServerContext::NewConnection() {
  std::shared_ptr<State> s;
  {
    MutexLock lock(&mu_);
    s = state_;
  }
  return SSL_new(s->ctx);  // holds its own reference to the SSL_CTX
}

PeerCertificate TlsServerContext::Inspect(SSL* ssl) const {
  PeerCertificate p;
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return p;
  p.present = true;
  char cn[256] = "";
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn)) > 0) {
    p.common_name = cn;
  }
  std::shared_ptr<State> s;
  {
    MutexLock lock(&mu_);
    s = state_;
  }
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);  // server side: without the leaf
  p.verified_client_ca = VerifyAgainst(s->client_store, cert, chain);
  p.verified_requestheader_ca = VerifyAgainst(s->requestheader_store, cert, chain);
  X509_free(cert);
  ERR_clear_error();
  return p;
}

std::string TlsServerContext::fingerprint_sha256() const {
  MutexLock lock(&mu_);
  return state_->fingerprint;
}

}  // namespace meridian::http
