// Seeded random streams. Every stream is keyed by a tuple (seed, purpose, task, epoch,
// index...) so that what a sample or a tensor draws never depends on the rank count,
// the thread that happens to run it, or whether the run was resumed.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <random>

namespace lorasub {

// SplitMix64 finaliser: a bijective 64-bit mixer.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Folds a key tuple into one 64-bit stream seed.
inline uint64_t stream_seed(std::initializer_list<uint64_t> key) {
  uint64_t h = 0x6a09e667f3bcc908ULL;
  for (uint64_t k : key) h = splitmix64(h ^ splitmix64(k));
  return h;
}

// Purposes, so that streams for different uses never collide.
enum class Stream : uint64_t {
  kSampler = 1,
  kAugment = 2,
  kAdapterInit = 3,
  kHeadInit = 4,
  kClassOrder = 5,
  kBackboneInit = 6,
  kSynthetic = 7,
  kDriftSample = 8,
};

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  Rng(Stream s, std::initializer_list<uint64_t> key) : engine_(mix(s, key)) {}
  // Uniform in [lo, hi).
  double uniform(double lo = 0.0, double hi = 1.0) {
    return lo + (hi - lo) * std::uniform_real_distribution<double>(0.0, 1.0)(engine_);
  }
  double normal(double mean = 0.0, double stddev = 1.0) {
    return std::normal_distribution<double>(mean, stddev)(engine_);
  }
  // Uniform integer in [0, n).
  int64_t below(int64_t n) { return std::uniform_int_distribution<int64_t>(0, n - 1)(engine_); }
  bool bernoulli(double p) { return uniform() < p; }
  std::mt19937_64& engine() { return engine_; }

 private:
  static uint64_t mix(Stream s, std::initializer_list<uint64_t> key) {
    uint64_t h = stream_seed({static_cast<uint64_t>(s)});
    for (uint64_t k : key) h = splitmix64(h ^ splitmix64(k));
    return h;
  }
  std::mt19937_64 engine_;
};

}  // namespace lorasub
