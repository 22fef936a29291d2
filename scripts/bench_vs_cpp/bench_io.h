// What every driver here shares: CPU time, the raw float32 input, and how a run ends
// (the output written where --out asks, the real-time factor on the last line).
#pragma once
#include <cstdio>
#include <ctime>
#include <fstream>
#include <vector>

static double cpu_seconds()
{
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// The whole file as float32 samples; empty when it cannot be read.
static std::vector<float> read_f32(const char* path)
{
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  std::vector<float> v((size_t)in.tellg() / 4);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), v.size() * 4);
  return v;
}

// The first `used` samples of y to out_path (when given), then the real-time factor of
// `used` samples at 48 kHz computed in `seconds` of CPU.
static int report(const char* out_path, const std::vector<float>& y, size_t used, double seconds)
{
  if (out_path) {
    std::ofstream out(out_path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(y.data()), used * 4);
  }
  std::printf("%.4f\n", used / 48000.0 / seconds);
  return 0;
}
