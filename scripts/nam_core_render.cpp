// Conformance helper (not part of the pedal): render raw float32 mono input through a .nam
// with NeuralAmpModelerCore, in blocks of a given size, optionally at a slimmable size.
// Built against a NAM Core checkout by scripts/make_nam_test_files.py --core DIR.
// usage: namrender MODEL IN.f32 OUT.f32 BLOCK [SLIM]
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <vector>
#include "NAM/dsp.h"
#include "NAM/get_dsp.h"
#include "NAM/slimmable.h"

int main(int argc, char** argv)
{
  if (argc < 5) { std::cerr << "usage: namrender MODEL IN.f32 OUT.f32 BLOCK [SLIM]\n"; return 1; }
  auto model = nam::get_dsp(std::filesystem::path(argv[1]));
  const int block = std::atoi(argv[4]);
  auto* slim = dynamic_cast<nam::SlimmableModel*>(model.get());
  if (slim) {
    std::cerr << "breakpoints:";
    for (double b : slim->GetSlimmableSizeBreakpoints()) std::cerr << " " << b;
    std::cerr << "\n";
  }
  if (argc > 5) {
    if (!slim) { std::cerr << "not slimmable\n"; return 1; }
    slim->SetSlimmableSize(std::atof(argv[5]));
  }
  std::ifstream in(argv[2], std::ios::binary);
  in.seekg(0, std::ios::end);
  const size_t bytes = in.tellg();
  in.seekg(0);
  std::vector<float> x(bytes / 4);
  in.read(reinterpret_cast<char*>(x.data()), bytes);
  model->Reset(model->GetExpectedSampleRate() > 0 ? model->GetExpectedSampleRate() : 48000.0, block);
  std::vector<NAM_SAMPLE> ib(block), ob(block * 8);
  NAM_SAMPLE* ip = ib.data(); NAM_SAMPLE* op = ob.data();
  std::vector<float> y; y.reserve(x.size());
  for (size_t pos = 0; pos < x.size(); pos += block) {
    int n = (int)std::min<size_t>(block, x.size() - pos);
    for (int i = 0; i < n; i++) ib[i] = x[pos + i];
    model->process(&ip, &op, n);
    for (int i = 0; i < n; i++) y.push_back((float)ob[i]);
  }
  std::ofstream out(argv[3], std::ios::binary);
  out.write(reinterpret_cast<const char*>(y.data()), y.size() * 4);
  std::cerr << "rate " << model->GetExpectedSampleRate() << " in " << model->NumInputChannels() << " out "
            << model->NumOutputChannels() << "\n";
  return 0;
}
