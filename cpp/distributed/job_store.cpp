#include "cpp/distributed/job_store.h"

#if TORCHVIDEO_DISTRIBUTED
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <vector>

namespace torchvideo {
namespace {

using Clock = std::chrono::steady_clock;
// What rank 0 answers a rank that asks where the store is: the magic, then the path, then a newline.
constexpr char kMagic[] = "torchvideo-job-store 1\n";
constexpr size_t kMaxPath = 4096;

std::string systemError(const std::string& what) { return what + ": " + std::strerror(errno); }

c10::intrusive_ptr<c10d::Store> prefixed(const GroupOptions& options, c10::intrusive_ptr<c10d::Store> store) {
  // Our keys stay apart from a launcher's own (torchrun keeps its rendezvous in the same store).
  return c10::make_intrusive<c10d::PrefixStore>(options.storePrefix + "/torchvideo", std::move(store));
}

// A file descriptor closed on every path out.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = other.fd_;
      other.fd_ = -1;
    }
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

void setReplyTimeout(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

bool sendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// Reads up to the second newline (the magic line, then the path line), at most kMaxPath bytes.
std::string receiveReply(int fd) {
  std::string reply;
  char chunk[512];
  while (std::count(reply.begin(), reply.end(), '\n') < 2) {
    const auto n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) throw std::runtime_error("rank 0 closed the connection before saying where the store is");
    reply.append(chunk, static_cast<size_t>(n));
    if (reply.size() > kMaxPath + sizeof(kMagic)) throw std::runtime_error("rank 0's answer is too long");
  }
  return reply;
}

// The folder a store path names must be one only this user can enter: a path handed over a socket could
// otherwise point a rank at a store another local user controls.
void checkPrivateFolder(const std::string& path) {
  const auto folder = std::filesystem::path(path).parent_path().string();
  struct stat status {};
  if (path.empty() || path.front() != '/' || ::lstat(folder.c_str(), &status) != 0) {
    throw std::runtime_error("rank 0 named a store at '" + path + "', which is not an existing absolute path");
  }
  if (!S_ISDIR(status.st_mode) || status.st_uid != ::geteuid() || (status.st_mode & 077) != 0) {
    throw std::runtime_error("rank 0 named a store in '" + folder +
                             "', which is not a private folder of this user (mode 0700, not a link)");
  }
}

// Rank 0's side of a local job: the store is a file in a folder made for this job, and a socket on
// 127.0.0.1:masterPort tells each rank its path (and, while bound, keeps a second job off the port).
class LocalJobStore : public JobStore {
 public:
  explicit LocalJobStore(const GroupOptions& options) : options_(options) {
    if (options.rank == 0) {
      host();
    } else {
      path_ = askRank0();
      checkPrivateFolder(path_);
    }
    folder_ = std::filesystem::path(path_).parent_path().string();
    store_ = connectAgain(options.timeout);
  }

  ~LocalJobStore() override { stopServing(); }

  c10::intrusive_ptr<c10d::Store> store() override { return store_; }

  c10::intrusive_ptr<c10d::Store> connectAgain(std::chrono::milliseconds reply) override {
    // numWorkers -1: FileStore never deletes the file itself; leave() removes the folder.
    auto file = c10::make_intrusive<c10d::FileStore>(path_, -1);
    file->setTimeout(reply);
    return prefixed(options_, file);
  }

  std::string exposure() const override { return ""; }
  std::string describe() const override { return "the job's local store in " + folder_ + " (rank 0 made it)"; }

  // Called once every FileStore of this rank is gone (a FileStore's destructor writes to the file): the
  // rank marks that it left, and whoever finds every rank's mark removes the folder.
  void leave() override {
    stopServing();
    store_.reset();
    const auto mark = folder_ + "/left-" + std::to_string(options_.rank);
    Fd(::open(mark.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    for (int r = 0; r < options_.worldSize; ++r) {
      if (::access((folder_ + "/left-" + std::to_string(r)).c_str(), F_OK) != 0) return;
    }
    std::error_code ignored;
    std::filesystem::remove_all(folder_, ignored);
  }

 private:
  void host() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp == '/' ? tmp : "/tmp") + "/torchvideo-job-XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    // mkdtemp makes the folder with mode 0700 under a name nobody can predict.
    if (::mkdtemp(buffer.data()) == nullptr)
      throw std::runtime_error(systemError("cannot make a folder for the store"));
    path_ = std::string(buffer.data()) + "/store";
    Fd file(::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (file.get() < 0) throw std::runtime_error(systemError("cannot create the store " + path_));

    listener_ = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (listener_.get() < 0) throw std::runtime_error(systemError("cannot make a socket"));
    const int yes = 1;
    ::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    const auto address = loopback(options_.masterPort);
    if (::bind(listener_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
        ::listen(listener_.get(), options_.worldSize) != 0) {
      throw std::runtime_error(systemError("cannot listen on 127.0.0.1:" + std::to_string(options_.masterPort) +
                                           " (is another job using this port?)"));
    }
    if (options_.worldSize > 1) server_ = std::thread([this] { serve(); });
  }

  // Answers each other rank once, then stops listening.
  void serve() {
    std::vector<bool> answered(options_.worldSize, false);
    int remaining = options_.worldSize - 1;
    const std::string reply = std::string(kMagic) + path_ + "\n";
    while (remaining > 0 && !stopping_) {
      pollfd waiting{listener_.get(), POLLIN, 0};
      if (::poll(&waiting, 1, 100) <= 0) continue;
      Fd connection(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (connection.get() < 0) continue;
      setReplyTimeout(connection.get(), std::chrono::milliseconds(5000));
      int32_t rank = -1;
      if (::recv(connection.get(), &rank, sizeof(rank), MSG_WAITALL) != sizeof(rank)) continue;
      // A stranger (or a rank that already asked) is not answered: the path is only for this job's ranks.
      if (rank <= 0 || rank >= options_.worldSize || answered[rank]) continue;
      if (sendAll(connection.get(), reply)) {
        answered[rank] = true;
        --remaining;
      }
    }
  }

  void stopServing() {
    stopping_ = true;
    if (server_.joinable()) server_.join();
    listener_ = Fd();
  }

  std::string askRank0() const {
    const auto deadline = Clock::now() + options_.timeout;
    std::string lastError = "nobody listened";
    for (;;) {
      Fd connection(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (connection.get() < 0) throw std::runtime_error(systemError("cannot make a socket"));
      setReplyTimeout(connection.get(), std::chrono::milliseconds(5000));
      const auto address = loopback(options_.masterPort);
      if (::connect(connection.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0) {
        const int32_t rank = options_.rank;
        if (!sendAll(connection.get(), std::string(reinterpret_cast<const char*>(&rank), sizeof(rank)))) {
          throw std::runtime_error(systemError("cannot ask rank 0 where the store is"));
        }
        const auto reply = receiveReply(connection.get());
        if (reply.rfind(kMagic, 0) != 0) {
          throw std::runtime_error("something other than this job's rank 0 answered on 127.0.0.1:" +
                                   std::to_string(options_.masterPort));
        }
        return reply.substr(sizeof(kMagic) - 1, reply.size() - sizeof(kMagic));
      }
      lastError = std::strerror(errno);
      if (Clock::now() >= deadline) {
        throw std::runtime_error("rank 0 did not answer on 127.0.0.1:" + std::to_string(options_.masterPort) + " (" +
                                 lastError + ")");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  GroupOptions options_;
  std::string path_, folder_;
  c10::intrusive_ptr<c10d::Store> store_;
  Fd listener_;
  std::thread server_;
  std::atomic<bool> stopping_{false};
};

c10::intrusive_ptr<c10d::TCPStore> connectTcp(const GroupOptions& options, bool host, bool countWorker,
                                              std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions store;
  store.port = static_cast<std::uint16_t>(options.masterPort);
  store.isServer = host;
  // Counting workers makes the host wait for all ranks; extra clients (the heartbeat) are not ranks.
  if (countWorker) store.numWorkers = static_cast<std::size_t>(options.worldSize);
  store.waitWorkers = countWorker;
  store.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(options.masterAddr, store);
}

// c10d's TCPStore: rank 0 hosts it (listening on every interface), or a launcher's agent does.
class TcpJobStore : public JobStore {
 public:
  explicit TcpJobStore(const GroupOptions& options)
      : options_(options),
        host_(options.rank == 0 && !options.agentStore),
        store_(prefixed(options, connectTcp(options, host_, true, options.timeout))) {}

  c10::intrusive_ptr<c10d::Store> store() override { return store_; }

  c10::intrusive_ptr<c10d::Store> connectAgain(std::chrono::milliseconds reply) override {
    auto client = connectTcp(options_, false, false, options_.timeout);
    // A store that does not answer within `reply` counts as gone: the store's timeout bounds its waits,
    // and a wait puts the same limit on the connection's reads (TCPStore sets SO_RCVTIMEO there).
    client->setTimeout(reply);
    return prefixed(options_, client);
  }

  std::string exposure() const override {
    if (!host_) return "";
    return "the job's rendezvous store (c10d's TCPStore, unauthenticated) listens on every interface of this "
           "host, port " +
           std::to_string(options_.masterPort) + ", until the job ends: run multi-host jobs on a trusted network";
  }

  std::string describe() const override {
    const std::string at = options_.masterAddr + ":" + std::to_string(options_.masterPort);
    return options_.agentStore ? "the launcher's agent, which hosts the store at " + at
                               : "rank 0, which hosts the store at " + at + ",";
  }

  void leave() override { store_.reset(); }

 private:
  GroupOptions options_;
  bool host_;
  c10::intrusive_ptr<c10d::Store> store_;
};

}  // namespace

bool isLoopbackAddress(const std::string& address) {
  return address == "localhost" || address.rfind("127.", 0) == 0 || address == "::1" || address == "[::1]";
}

std::unique_ptr<JobStore> JobStore::open(const GroupOptions& options) {
  if (!options.agentStore && isLoopbackAddress(options.masterAddr)) return std::make_unique<LocalJobStore>(options);
  return std::make_unique<TcpJobStore>(options);
}

}  // namespace torchvideo
#endif
