// A minimal HTTP/1.1 server for GET /metrics: one thread, one connection at a time,
// "Connection: close", optional basic auth.
//
// Why not prometheus-cpp's Exposer (civetweb): civetweb creates its threads with a fixed
// small stack, and glibc puts a thread's static TLS on its stack; in the lorasub process
// (LibTorch, OpenBLAS, glog: ~100 KiB of static TLS) pthread_create fails with no
// syscall and the Exposer throws "null context when constructing CivetServer". This
// server's thread uses the default stack size.
#pragma once
#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace lorasub::obs {

class HttpServer {
 public:
  // Body of GET /metrics (called on the server thread).
  using Handler = std::function<std::string()>;
  // Listens on bind:port (port 0 = any free port). basic_auth: "user:password" or "".
  // Throws std::runtime_error naming the address when it cannot listen.
  HttpServer(const std::string& bind, int port, std::string basic_auth, Handler metrics);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  int port() const { return port_; }

 private:
  void serve();
  void handle(int fd);
  int listen_fd_ = -1;
  int port_ = 0;
  std::string auth_b64_;  // expected Authorization: Basic value ("" = no auth)
  Handler metrics_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string base64(const std::string& in);

}  // namespace lorasub::obs
