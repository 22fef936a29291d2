// Timing driver for scripts/bench_vs_cpp.sh (not part of the pedal): plays a .nam file with
// Mike Oliphant's NeuralAudio the way its plugins do (NeuralModelLoader::CreateFromFile, which
// picks its static/templated WaveNet, A2 or LSTM when the file's shape has one compiled in,
// its dynamic implementation otherwise, or NAM Core for what it leaves to Core; prewarmed on
// load) and prints which implementation it picked, then the real-time factor of one pass over
// the input, in blocks of BLOCK (the last line, as nam_core_bench prints it).
// usage: neural_audio_bench MODEL IN.f32 BLOCK [--out OUT.f32]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>
#include <NeuralAudio/NeuralModel.h>
#include "bench_io.h"


// What NeuralAudio says it runs: its own code, compile-time sized or not, or NAM Core's.
static const char* implementation(NeuralAudio::NeuralModel& model)
{
  switch (model.GetLoadMode()) {
    case NeuralAudio::EModelLoadMode::NAMCore: return "NAM Core";
    case NeuralAudio::EModelLoadMode::RTNeural: return model.IsStatic() ? "RTNeural static" : "RTNeural dynamic";
    default: return model.IsStatic() ? "static" : "dynamic";
  }
}

static std::unique_ptr<NeuralAudio::NeuralModel> load(NeuralAudio::NeuralModelLoader& loader, const char* path, int block)
{
  std::unique_ptr<NeuralAudio::NeuralModel> model(loader.CreateFromFile(std::filesystem::path(path)));
  if (!model) return nullptr;
  model->SetMaxAudioBufferSize(block);
  return model;
}

int main(int argc, char** argv)
{
  if (argc < 4) { std::fprintf(stderr, "usage: neural_audio_bench MODEL IN.f32 BLOCK [--out OUT.f32]\n"); return 2; }
  const char* out_path = nullptr;
  for (int i = 4; i < argc; i++)
    if (!std::strcmp(argv[i], "--out") && i + 1 < argc) out_path = argv[++i];
  const int block = std::atoi(argv[3]);
  if (block <= 0) { std::fprintf(stderr, "neural_audio_bench: BLOCK must be a positive number of frames\n"); return 2; }
  std::vector<float> x = read_f32(argv[2]);
  if (x.empty()) { std::fprintf(stderr, "neural_audio_bench: cannot read %s\n", argv[2]); return 2; }
  const size_t frames = x.size();
  std::vector<float> y(frames);

  NeuralAudio::NeuralModelLoader loader;
  loader.SetDefaultMaxAudioBufferSize(block);
  std::unique_ptr<NeuralAudio::NeuralModel> model;
  try {
    // Warm caches and branch predictors on the first second with one instance, then time a
    // freshly loaded (and so freshly prewarmed) one: NeuralAudio has no reset, a plugin reloads.
    model = load(loader, argv[1], block);
    if (!model) { std::fprintf(stderr, "neural_audio_bench: NeuralAudio could not load %s\n", argv[1]); return 2; }
    std::vector<float> ob(block);
    for (size_t pos = 0; pos + block <= std::min<size_t>(frames, 48000); pos += block)
      model->Process(&x[pos], ob.data(), block);
    model = load(loader, argv[1], block);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "neural_audio_bench: NeuralAudio could not load %s: %s\n", argv[1], e.what());
    return 2;
  }
  std::printf("implementation: %s\n", implementation(*model));

  const size_t used = frames / block * block;
  std::vector<float> ib(block), ob(block);
  const double t0 = cpu_seconds();
  for (size_t pos = 0; pos < used; pos += block) {
    for (int i = 0; i < block; i++) ib[i] = x[pos + i];
    model->Process(ib.data(), ob.data(), block);
    for (int i = 0; i < block; i++) y[pos + i] = ob[i];
  }
  const double seconds = cpu_seconds() - t0;
  return report(out_path, y, used, seconds);
}
