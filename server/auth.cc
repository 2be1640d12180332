#include "server/auth.h"

#include <httplib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <fstream>
#include <sstream>

namespace meridian::server {
namespace {

std::string Sha256(std::string_view s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), md, &n, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), n);
}

absl::StatusOr<std::string> FromHex(const std::string& hex, const std::string& where) {
  if (hex.size() != 64) return absl::InvalidArgumentError(where + ": want 64 hex digits (SHA-256)");
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    auto v = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = v(hex[i]), lo = v(hex[i + 1]);
    if (hi < 0 || lo < 0) return absl::InvalidArgumentError(where + ": not hex");
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

bool IStarts(const std::string& s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

bool SameDigest(const std::string& a, const std::string& b) {
  return !a.empty() && a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string Base64Decode(std::string_view in) {
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    int d;
    if (c >= 'A' && c <= 'Z')
      d = c - 'A';
    else if (c >= 'a' && c <= 'z')
      d = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      d = c - '0' + 52;
    else if (c == '+')
      d = 62;
    else if (c == '/')
      d = 63;
    else if (c == '=')
      break;
    else
      return "";
    val = (val << 6) + d;
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

void FileStamp(const std::string& path, int64_t* mtime_ns, int64_t* size) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    *mtime_ns = -1;
    *size = -1;
    return;
  }
  *mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  *size = static_cast<int64_t>(st.st_size);
}

}  // namespace

const char* RoleName(Role r) {
  switch (r) {
    case Role::kRead:
      return "read";
    case Role::kWrite:
      return "write";
    default:
      return "admin";
  }
}

bool AuthUser::Has(Role r) const {
  if (admin) return true;
  return r == Role::kRead ? read : r == Role::kWrite ? write : false;
}

absl::StatusOr<AuthFile> AuthFile::Parse(const std::string& text) {
  AuthFile f;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(std::string("YAML: ") + e.what());
  }
  if (!root.IsMap()) return absl::InvalidArgumentError("expected a mapping with users:");
  std::set<std::string> names, tokens;
  try {
    for (const auto& kv : root) {
      std::string key = kv.first.as<std::string>();
      if (key != "users") return absl::InvalidArgumentError("unknown field \"" + key + "\"");
      if (!kv.second.IsSequence()) return absl::InvalidArgumentError("users: expected a list");
      int i = 0;
      for (const auto& u : kv.second) {
        std::string where = "users[" + std::to_string(i++) + "]";
        if (!u.IsMap()) return absl::InvalidArgumentError(where + ": expected a mapping");
        auto user = std::make_shared<AuthUser>();
        for (const auto& field : u) {
          std::string fk = field.first.as<std::string>();
          const YAML::Node& v = field.second;
          if (fk == "name") {
            user->name = v.as<std::string>();
          } else if (fk == "token") {
            std::string t = v.as<std::string>();
            if (t.empty()) return absl::InvalidArgumentError(where + ".token: empty");
            user->token_sha256 = Sha256(t);
          } else if (fk == "token_sha256") {
            auto d = FromHex(v.as<std::string>(), where + ".token_sha256");
            if (!d.ok()) return d.status();
            user->token_sha256 = *d;
          } else if (fk == "password") {
            std::string p = v.as<std::string>();
            if (p.empty()) return absl::InvalidArgumentError(where + ".password: empty");
            user->password_sha256 = Sha256(p);
          } else if (fk == "password_sha256") {
            auto d = FromHex(v.as<std::string>(), where + ".password_sha256");
            if (!d.ok()) return d.status();
            user->password_sha256 = *d;
          } else if (fk == "tenants") {
            if (!v.IsSequence())
              return absl::InvalidArgumentError(where + ".tenants: expected a list");
            for (const auto& t : v) {
              std::string tn = t.as<std::string>();
              if (tn == "*") {
                user->all_tenants = true;
              } else {
                user->tenants.insert(tn);
              }
            }
          } else if (fk == "roles") {
            if (!v.IsSequence())
              return absl::InvalidArgumentError(where + ".roles: expected a list");
            for (const auto& r : v) {
              std::string rn = r.as<std::string>();
              if (rn == "read")
                user->read = true;
              else if (rn == "write")
                user->write = true;
              else if (rn == "admin")
                user->admin = true;
              else
                return absl::InvalidArgumentError(where + ".roles: unknown role \"" + rn +
                                                  "\" (read, write, admin)");
            }
          } else {
            return absl::InvalidArgumentError(where + ": unknown field \"" + fk + "\"");
          }
        }
        if (user->name.empty()) return absl::InvalidArgumentError(where + ": needs a name");
        if (!names.insert(user->name).second) {
          return absl::InvalidArgumentError(where + ": user \"" + user->name + "\" listed twice");
        }
        if (!user->token_sha256.empty() && !tokens.insert(user->token_sha256).second) {
          return absl::InvalidArgumentError(where + ": the same token as another user");
        }
        f.users.push_back(std::move(user));
      }
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(std::string("YAML: ") + e.what());
  }
  return f;
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Create(std::string file,
                                                                     std::string allowed_names) {
  std::vector<std::string> names;
  std::stringstream ss(allowed_names);
  std::string n;
  while (std::getline(ss, n, ',')) {
    size_t b = n.find_first_not_of(' '), e = n.find_last_not_of(' ');
    if (b != std::string::npos) names.push_back(n.substr(b, e - b + 1));
  }
  std::unique_ptr<Authenticator> a(new Authenticator(std::move(file), std::move(names)));
  MERIDIAN_RETURN_IF_ERROR(a->Reload());
  return a;
}

absl::Status Authenticator::Reload() {
  int64_t mtime, size;
  FileStamp(file_, &mtime, &size);
  std::ifstream in(file_);
  if (!in) return absl::InvalidArgumentError("cannot read auth file " + file_);
  std::stringstream ss;
  ss << in.rdbuf();
  auto f = AuthFile::Parse(ss.str());
  {
    MutexLock lock(&mu_);
    mtime_ns_ = mtime;  // a bad file is not retried until it changes again
    size_ = size;
    if (!f.ok()) {
      return absl::InvalidArgumentError(file_ + ": " + std::string(f.status().message()));
    }
    auth_ = std::make_shared<const AuthFile>(*std::move(f));
  }
  return absl::OkStatus();
}

bool Authenticator::FileChanged() const {
  int64_t mtime, size;
  FileStamp(file_, &mtime, &size);
  MutexLock lock(&mu_);
  return mtime != mtime_ns_ || size != size_;
}

absl::StatusOr<std::shared_ptr<const AuthUser>> Authenticator::Identify(
    const httplib::Request& req, const http::PeerCertificate* peer) const {
  std::shared_ptr<const AuthFile> auth;
  {
    MutexLock lock(&mu_);
    auth = auth_;
  }
  auto by_name = [&](const std::string& name,
                     const char* how) -> absl::StatusOr<std::shared_ptr<const AuthUser>> {
    for (const auto& u : auth->users) {
      if (u->name == name) return u;
    }
    return absl::PermissionDeniedError("user \"" + name + "\" (" + how +
                                       ") is not granted anything in the auth file");
  };
  if (peer != nullptr && peer->present && peer->verified_requestheader_ca) {
    bool allowed = allowed_names_.empty();
    for (const auto& n : allowed_names_) allowed |= n == peer->common_name;
    if (allowed) {
      std::string user = req.get_header_value("X-Remote-User");
      if (user.empty()) {
        return absl::UnauthenticatedError("front-proxy request without X-Remote-User");
      }
      return by_name(user, "X-Remote-User");
    }
  }
  if (peer != nullptr && peer->present && peer->verified_client_ca) {
    return by_name(peer->common_name, "client certificate");
  }
  std::string authz = req.get_header_value("Authorization");
  if (authz.size() > 7 && IStarts(authz, "bearer ")) {
    std::string digest = Sha256(authz.substr(7));
    for (const auto& u : auth->users) {
      if (SameDigest(u->token_sha256, digest)) return u;
    }
    return absl::UnauthenticatedError("invalid bearer token");
  }
  if (authz.size() > 6 && IStarts(authz, "basic ")) {
    std::string cred = Base64Decode(authz.substr(6));
    size_t colon = cred.find(':');
    if (colon != std::string::npos) {
      std::string name = cred.substr(0, colon);
      std::string digest = Sha256(cred.substr(colon + 1));
      for (const auto& u : auth->users) {
        if (u->name == name && SameDigest(u->password_sha256, digest)) return u;
      }
    }
    return absl::UnauthenticatedError("invalid user name or password");
  }
  if (peer != nullptr && peer->present) {
    return absl::UnauthenticatedError("client certificate not signed by a trusted CA");
  }
  return absl::UnauthenticatedError(
      "credentials required (bearer token, basic auth or a client "
      "certificate)");
}

Role RequiredRole(const std::string& path) {
  if (path == "/api/v1/write" || path == "/api/v1/receive" || path == "/api/v1/push") {
    return Role::kWrite;
  }
  if (path.rfind("/api/v1/admin/", 0) == 0 || path.rfind("/internal/", 0) == 0 ||
      path == "/-/reload") {
    return Role::kAdmin;
  }
  return Role::kRead;
}

bool PublicPath(const std::string& path) {
  return path == "/-/healthy" || path == "/-/ready" || path == "/healthz" || path == "/livez" ||
         path == "/readyz";
}

}  // namespace meridian::server
