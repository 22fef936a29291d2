// Timing driver for scripts/bench_vs_cpp.sh (not part of the pedal): a one-layer LSTM of
// hidden size H and a dense head, RTNeural's compile-time API (ModelT) with its default
// Eigen backend, weights as the PyTorch state dict holds them, loaded the way
// RTNeural::torch_helpers::loadLSTM does (W_ih and W_hh transposed, the two biases summed).
// Prewarms 0.5 s of silence as NAM Core does, then prints the real-time factor of one pass.
// usage: rtneural_bench H WEIGHTS.f32 IN.f32 BLOCK [--out OUT.f32]
// WEIGHTS.f32: W_ih (4H x 1), W_hh (4H x H), bias (4H, both summed), head w (H), head b (1).
#include <RTNeural/RTNeural.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <vector>
#include "bench_io.h"


template <int H>
static int run(const std::vector<float>& w, const std::vector<float>& x, int block, const char* out_path)
{
  RTNeural::ModelT<float, 1, 1, RTNeural::LSTMLayerT<float, 1, H>, RTNeural::DenseT<float, H, 1>> model;
  if (w.size() != (size_t)(4 * H + 4 * H * H + 4 * H + H + 1)) { std::fprintf(stderr, "weights: wrong size\n"); return 2; }
  const float* p = w.data();
  std::vector<std::vector<float>> wih(1, std::vector<float>(4 * H)), whh(H, std::vector<float>(4 * H));
  for (int g = 0; g < 4 * H; g++) wih[0][g] = *p++;
  for (int g = 0; g < 4 * H; g++)
    for (int j = 0; j < H; j++) whh[j][g] = *p++;
  std::vector<float> bias(p, p + 4 * H); p += 4 * H;
  auto& lstm = model.template get<0>();
  lstm.setWVals(wih);
  lstm.setUVals(whh);
  lstm.setBVals(bias);
  std::vector<std::vector<float>> dw(1, std::vector<float>(p, p + H)); p += H;
  std::vector<float> db(1, *p);
  auto& dense = model.template get<1>();
  dense.setWeights(dw);
  dense.setBias(db.data());

  const size_t frames = x.size();
  std::vector<float> y(frames), ib(block), ob(block);
  auto prewarm = [&]() { model.reset(); for (int i = 0; i < 24000; i++) model.forward(&ib[0]); };
  std::fill(ib.begin(), ib.end(), 0.0f);
  prewarm();
  for (size_t t = 0; t < std::min<size_t>(frames, 48000); t++) { float v = x[t]; model.forward(&v); }
  std::fill(ib.begin(), ib.end(), 0.0f);
  prewarm();
  const size_t used = frames / block * block;
  const double t0 = cpu_seconds();
  // Blocks as a plugin's process callback sees them: per-sample forward over the block.
  for (size_t pos = 0; pos < used; pos += block) {
    for (int i = 0; i < block; i++) ib[i] = x[pos + i];
    for (int i = 0; i < block; i++) ob[i] = model.forward(&ib[i]);
    for (int i = 0; i < block; i++) y[pos + i] = ob[i];
  }
  const double seconds = cpu_seconds() - t0;
  return report(out_path, y, used, seconds);
}

int main(int argc, char** argv)
{
  if (argc < 5) { std::fprintf(stderr, "usage: rtneural_bench H WEIGHTS.f32 IN.f32 BLOCK [--out OUT.f32]\n"); return 2; }
  const int H = std::atoi(argv[1]);
  const auto w = read_f32(argv[2]);
  const auto x = read_f32(argv[3]);
  const int block = std::atoi(argv[4]);
  const char* out_path = (argc > 6 && !std::strcmp(argv[5], "--out")) ? argv[6] : nullptr;
  switch (H) {
    case 8: return run<8>(w, x, block, out_path);
    case 12: return run<12>(w, x, block, out_path);
    case 16: return run<16>(w, x, block, out_path);
    case 24: return run<24>(w, x, block, out_path);
    case 32: return run<32>(w, x, block, out_path);
    case 40: return run<40>(w, x, block, out_path);
    default: std::fprintf(stderr, "hidden size %d not compiled in (8, 12, 16, 24, 32, 40)\n", H); return 2;
  }
}
