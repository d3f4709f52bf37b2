#include "cpp/train/checkpoint.h"

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include "cpp/errors.h"
#include "cpp/regular_file.h"
#include "cpp/torch_errors.h"
#include "cpp/train/atomic_file.h"

namespace torchvideo {
namespace {

std::string momentumKey(size_t index) { return "momentum_" + std::to_string(index); }

// The archive stores tensors and IValues; the module's bytes travel as a uint8 tensor.
torch::Tensor bytesTensor(const std::string& bytes) {
  return torch::from_blob(const_cast<char*>(bytes.data()), {static_cast<int64_t>(bytes.size())}, torch::kUInt8);
}

std::string bytesOf(const torch::Tensor& tensor) {
  const auto contiguous = tensor.contiguous();
  const auto* data = reinterpret_cast<const char*>(contiguous.data_ptr<uint8_t>());
  return std::string(data, data + contiguous.numel());
}

// Reads `key` from the archive, or throws ERR_CHECKPOINT naming what is missing.
c10::IValue required(torch::serialize::InputArchive& archive, const std::string& key, const std::string& path) {
  c10::IValue value;
  if (!archive.try_read(key, value)) {
    throw Error::torchvideo(codes::kCheckpoint, "checkpoint '" + path + "' is damaged: it has no '" + key + "'");
  }
  return value;
}

torch::Tensor requiredTensor(torch::serialize::InputArchive& archive, const std::string& key, const std::string& path) {
  torch::Tensor tensor;
  if (!archive.try_read(key, tensor, /*is_buffer=*/true)) {
    throw Error::torchvideo(codes::kCheckpoint, "checkpoint '" + path + "' is damaged: it has no '" + key + "'");
  }
  return tensor;
}

// A stored value out of range: ERR_CHECKPOINT naming the field, what it holds and what was expected.
[[noreturn]] void damaged(const std::string& path, const std::string& key, int64_t value, const std::string& expected) {
  throw Error::torchvideo(codes::kCheckpoint, "checkpoint '" + path + "' is damaged: its '" + key + "' is " +
                                                  std::to_string(value) + ", expected " + expected);
}

}  // namespace

void writeCheckpoint(const std::string& path, const CheckpointState& state) {
  torch::serialize::OutputArchive archive;
  rethrowTorchErrors(codes::kCheckpoint, "cannot write checkpoint '" + path + "'", [&] {
    archive.write("format", c10::IValue(std::string(kCheckpointFormat)));
    archive.write("version", c10::IValue(kCheckpointVersion));
    archive.write("module", bytesTensor(state.moduleBytes), /*is_buffer=*/true);
    const auto& options = state.options;
    archive.write("num_classes", c10::IValue(options.numClasses));
    archive.write("labels", c10::IValue(c10::List<std::string>(options.labels)));
    archive.write("momentum", c10::IValue(options.momentum));
    archive.write("weight_decay", c10::IValue(options.weightDecay));
    archive.write("freeze_backbone", c10::IValue(options.freezeBackbone));
    archive.write("amp", c10::IValue(options.amp));
    archive.write("seed", c10::IValue(static_cast<int64_t>(options.seed)));
    archive.write("momentum_buffers", c10::IValue(static_cast<int64_t>(state.momentumBuffers.size())));
    for (size_t i = 0; i < state.momentumBuffers.size(); ++i) {
      // Undefined buffers (parameters not yet stepped) are simply absent.
      if (state.momentumBuffers[i].defined()) {
        archive.write(momentumKey(i), state.momentumBuffers[i].to(torch::kCPU), /*is_buffer=*/true);
      }
    }
    if (state.lossScale.defined()) {
      archive.write("scale", state.lossScale.to(torch::kCPU), /*is_buffer=*/true);
      archive.write("growth_tracker", state.growthTracker.to(torch::kCPU), /*is_buffer=*/true);
    }
    archive.write("rng", state.rngState, /*is_buffer=*/true);
    archive.write("learning_rate", c10::IValue(state.learningRate));
    archive.write("step_count", c10::IValue(state.stepCount));
    archive.write("metadata", c10::IValue(state.metadata));
  });
  writeFileAtomically(path, codes::kCheckpoint, [&](std::ostream& out) {
    rethrowTorchErrors(codes::kCheckpoint, "cannot write checkpoint '" + path + "'", [&] { archive.save_to(out); });
  });
}

CheckpointState readCheckpoint(const std::string& path) {
  requireRegularFile(path, "checkpoint");
  torch::serialize::InputArchive archive;
  // A torn file has lost the zip's central directory at its end; a foreign file is no zip at all:
  // both fail here.
  rethrowTorchErrors(codes::kCheckpoint, "cannot read checkpoint '" + path + "' (torn or not a checkpoint)",
                     [&] { archive.load_from(path, torch::Device(torch::kCPU)); });
  CheckpointState state;
  rethrowTorchErrors(codes::kCheckpoint, "cannot read checkpoint '" + path + "'", [&] {
    c10::IValue format;
    // Any TorchScript file is an archive too (a model export loads here): the marker tells them apart.
    if (!archive.try_read("format", format) || !format.isString() || format.toStringRef() != kCheckpointFormat) {
      throw Error::torchvideo(codes::kCheckpoint,
                              "'" + path + "' is not a torchvideo trainer checkpoint (no '" + kCheckpointFormat +
                                  "' marker; a model export is restored with Trainer.create({ model }))");
    }
    const auto version = required(archive, "version", path).toInt();
    if (version < 1) damaged(path, "version", version, "a format version >= 1");
    if (version > kCheckpointVersion) {
      throw Error::torchvideo(codes::kCheckpoint, "checkpoint '" + path + "' has format version " +
                                                      std::to_string(version) + ", newer than this torchvideo's " +
                                                      std::to_string(kCheckpointVersion));
    }
    state.moduleBytes = bytesOf(requiredTensor(archive, "module", path));
    auto& options = state.options;
    if (state.moduleBytes.empty()) damaged(path, "module", 0, "the network's bytes");
    options.numClasses = required(archive, "num_classes", path).toInt();
    if (options.numClasses < 1 || options.numClasses > kMaxClasses) {
      damaged(path, "num_classes", options.numClasses, "a class count in [1, " + std::to_string(kMaxClasses) + "]");
    }
    const auto labels = required(archive, "labels", path);
    // The labels are restored against num_classes: every class has one name, as Trainer.create requires.
    const auto& labelList = labels.toListRef();
    if (static_cast<int64_t>(labelList.size()) != options.numClasses) {
      damaged(path, "labels", static_cast<int64_t>(labelList.size()),
              "num_classes (" + std::to_string(options.numClasses) + ") names");
    }
    for (const auto& label : labelList) options.labels.push_back(label.toStringRef());
    options.momentum = required(archive, "momentum", path).toDouble();
    options.weightDecay = required(archive, "weight_decay", path).toDouble();
    options.freezeBackbone = required(archive, "freeze_backbone", path).toBool();
    options.amp = required(archive, "amp", path).toBool();
    options.seed = static_cast<uint64_t>(required(archive, "seed", path).toInt());
    // The count drives the loop below: checked first, and checked again against the network's trained
    // parameters once the network is loaded (Sgd::setMomentumBuffers).
    const auto buffers = required(archive, "momentum_buffers", path).toInt();
    if (buffers < 0 || buffers > kMaxMomentumBuffers) {
      damaged(path, "momentum_buffers", buffers, "a count in [0, " + std::to_string(kMaxMomentumBuffers) + "]");
    }
    for (int64_t i = 0; i < buffers; ++i) {
      torch::Tensor buffer;
      archive.try_read(momentumKey(i), buffer, /*is_buffer=*/true);
      state.momentumBuffers.push_back(buffer);
    }
    if (options.amp) {
      state.lossScale = requiredTensor(archive, "scale", path);
      state.growthTracker = requiredTensor(archive, "growth_tracker", path);
    }
    state.rngState = requiredTensor(archive, "rng", path);
    state.learningRate = required(archive, "learning_rate", path).toDouble();
    state.stepCount = required(archive, "step_count", path).toInt();
    if (state.stepCount < 0) damaged(path, "step_count", state.stepCount, "a step count >= 0");
    state.metadata = required(archive, "metadata", path).toStringRef();
  });
  return state;
}

}  // namespace torchvideo
