// Timing driver for scripts/bench_vs_cpp.sh (not part of the pedal): plays a .nam file with
// NeuralAmpModelerCore the way its plugin does (Reset prewarms; fast tanh unless --exact-tanh)
// and prints the real-time factor of one pass over the input, in blocks of BLOCK.
// usage: nam_core_bench MODEL IN.f32 BLOCK [--exact-tanh] [--out OUT.f32]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <vector>
#include "NAM/activations.h"
#include "NAM/dsp.h"
#include "NAM/get_dsp.h"
#include "bench_io.h"


int main(int argc, char** argv)
{
  if (argc < 4) { std::fprintf(stderr, "usage: nam_core_bench MODEL IN.f32 BLOCK [--exact-tanh] [--out OUT.f32]\n"); return 2; }
  bool fast = true;
  const char* out_path = nullptr;
  for (int i = 4; i < argc; i++) {
    if (!std::strcmp(argv[i], "--exact-tanh")) fast = false;
    else if (!std::strcmp(argv[i], "--out") && i + 1 < argc) out_path = argv[++i];
  }
  if (fast) nam::activations::Activation::enable_fast_tanh();
  else nam::activations::Activation::disable_fast_tanh();
  auto model = nam::get_dsp(std::filesystem::path(argv[1]));
  const int block = std::atoi(argv[3]);
  const std::vector<float> x = read_f32(argv[2]);
  const size_t frames = x.size();
  std::vector<float> y(frames);
  const double rate = model->GetExpectedSampleRate() > 0 ? model->GetExpectedSampleRate() : 48000.0;
  std::vector<NAM_SAMPLE> ib(block), ob(block * 8);
  NAM_SAMPLE* ip = ib.data();
  NAM_SAMPLE* op = ob.data();
  // Warm caches and branch predictors on the first second, then start again from Reset.
  model->Reset(rate, block);
  for (size_t pos = 0; pos + block <= std::min<size_t>(frames, 48000); pos += block) {
    for (int i = 0; i < block; i++) ib[i] = x[pos + i];
    model->process(&ip, &op, block);
  }
  model->Reset(rate, block);
  const size_t used = frames / block * block;
  const double t0 = cpu_seconds();
  for (size_t pos = 0; pos < used; pos += block) {
    for (int i = 0; i < block; i++) ib[i] = (NAM_SAMPLE)x[pos + i];
    model->process(&ip, &op, block);
    for (int i = 0; i < block; i++) y[pos + i] = (float)ob[i];
  }
  const double seconds = cpu_seconds() - t0;
  return report(out_path, y, used, seconds);
}
