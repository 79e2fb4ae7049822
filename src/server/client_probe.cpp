// ClientProbe: find the request's socket by its addresses, then peek it.
#include "server/client_probe.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>

namespace strata::server {
namespace {

// "host", port of a socket address; false for families other than IPv4/IPv6.
bool address_of(const sockaddr_storage& addr, std::string& host, int& port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
    if (inet_ntop(AF_INET, &a.sin_addr, text, sizeof(text)) == nullptr) return false;
    port = ntohs(a.sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
    if (inet_ntop(AF_INET6, &a.sin6_addr, text, sizeof(text)) == nullptr) return false;
    port = ntohs(a.sin6_port);
  } else {
    return false;
  }
  host = text;
  return true;
}

bool matches(int fd, const std::string& remote_addr, int remote_port, const std::string& local_addr, int local_port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  std::string host;
  int port = 0;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return false;
  if (!address_of(addr, host, port) || port != remote_port || host != remote_addr) return false;
  len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return false;
  if (!address_of(addr, host, port) || port != local_port) return false;
  return local_addr.empty() || host == local_addr;
}

}  // namespace

int ClientProbe::find_socket() const {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int found = -1;
  while (const dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    if (matches(static_cast<int>(fd), remote_addr_, remote_port_, local_addr_, local_port_)) {
      found = static_cast<int>(fd);
      break;
    }
  }
  closedir(dir);
  return found;
}

bool ClientProbe::client_gone() const {
  if (fd_ == kNotLookedUp) fd_ = find_socket();
  if (fd_ < 0) return false;
  char byte = 0;
  const ssize_t n = recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return false;
  if (n == 0) return true;
  return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

}  // namespace strata::server
