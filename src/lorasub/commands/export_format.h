// The file `lorasub export` writes and `lorasub predict` reads (docs/export.md), in one
// place: a safetensors file whose tensors are the merged backbone under timm names
// plus lorasub.prototypes, lorasub.class_order and lorasub.prototype_counts (and the
// heads, lorasub.head.*, of methods that predict with them), and whose
// __metadata__ says what predict needs (model shape, test transform, precision) and
// where the model came from (run, task, method, backbone, config hash).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lorasub/io/safetensors.h"
#include "lorasub/model/vit.h"

namespace lorasub::commands {

constexpr const char* kExportFormat = "lorasub-export";                     // __metadata__ "lorasub.format"
constexpr int64_t kExportFormatVersion = 1;                                 // __metadata__ "lorasub.format_version"
constexpr const char* kExportPrototypes = "lorasub.prototypes";             // F32 [C, d] by class-order position
constexpr const char* kExportClassOrder = "lorasub.class_order";            // I64 [C]: position -> dataset class id
constexpr const char* kExportPrototypeCounts = "lorasub.prototype_counts";  // I64 [C]: training images per mean
// Methods that predict with their heads (inflora, sd-lora; __metadata__ "lorasub.predict"
// "heads"): every seen task's head, concatenated by class-order position.
constexpr const char* kExportHeadWeight = "lorasub.head.weight";  // F32 [C, d]
constexpr const char* kExportHeadBias = "lorasub.head.bias";      // F32 [C]

// The run's test transform: a dataset pipeline (Resize(short side) + CenterCrop) or the
// identity of the small-image datasets (the image must already be image_size square).
struct TestTransform {
  bool pipeline = false;
  std::string pipeline_name;  // data::make_pipeline's name (pipeline only)
  int64_t resize_short = 0;   // pipeline only
  int64_t image_size = 0, channels = 0;
};

// Everything in an export but the backbone's tensors.
struct ExportInfo {
  model::VitShape shape;
  TestTransform transform;
  std::string precision = "fp32";  // the run's train.precision (predict autocasts bf16 alike)
  int64_t eval_batch_size = 256;
  io::TensorData prototypes;                           // F32 [C, d]
  io::TensorData head_weight, head_bias;               // [C, d], [C]; empty: the prediction is NCM
  std::vector<int64_t> class_order, prototype_counts;  // [C] each
  std::string run, method, dataset, backbone_sha256, config_hash;
  int64_t task = 0, tasks = 0;  // the exported task (0-based) of the run's `tasks`
  double accuracy = 0;          // the run's own A_t after `task`, %
};

struct ExportFile {
  io::SafeTensorsFile file;  // the backbone as model::Vit::load reads it (and the lorasub.* tensors)
  ExportInfo info;
};

// Writes `backbone` (timm names) and `info` to `path` atomically (io::write_safetensors).
// Throws std::invalid_argument when the prototypes and class order disagree in shape.
void write_export(const std::string& path, const std::map<std::string, io::TensorData>& backbone,
                  const ExportInfo& info);

// Reads and checks an export: FormatError naming the file and what is wrong (not a
// lorasub export, another format version, a missing or malformed key or tensor).
ExportFile read_export(const std::string& path);

}  // namespace lorasub::commands
