#include "lorasub/commands/predict.h"

#include <sys/stat.h>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "lorasub/core/error.h"
#include "lorasub/core/rng.h"
#include "lorasub/data/decode.h"
#include "lorasub/data/image_transforms.h"
#include "lorasub/data/readers.h"
#include "lorasub/data/transforms.h"
#include "lorasub/io/safetensors.h"
#include "lorasub/method/ncm.h"
#include "lorasub/model/autocast.h"
#include "lorasub/model/vit.h"
#include "lorasub/commands/export_format.h"

namespace lorasub::commands {
namespace {

// The run's test transform, as recorded by export.
struct Transform {
  bool pipeline = false;      // else identity: the image must already be image_size square
  data::ImagePipeline steps;  // pipeline datasets: Resize + CenterCrop
  int64_t size = 0, channels = 0;
};

struct Model {
  std::unique_ptr<model::Vit> vit;
  at::Tensor prototypes;              // C x d
  at::Tensor head_weight, head_bias;  // C x d, C: predict with the heads (argmax); undefined: NCM
  std::vector<int64_t> class_order;   // position -> dataset class id
  Transform transform;
  bool bf16 = false;
  int64_t eval_batch_size = 256;
};

Model load_model(const std::string& path) {
  const ExportFile exported = read_export(path);
  const ExportInfo& info = exported.info;
  Model model;
  model.vit = std::make_unique<model::Vit>(model::Vit::load(exported.file, info.shape));
  model.prototypes =
      at::from_blob(const_cast<float*>(info.prototypes.values.data()), info.prototypes.shape, at::kFloat).clone();
  if (!info.head_weight.shape.empty()) {
    model.head_weight =
        at::from_blob(const_cast<float*>(info.head_weight.values.data()), info.head_weight.shape, at::kFloat).clone();
    model.head_bias =
        at::from_blob(const_cast<float*>(info.head_bias.values.data()), info.head_bias.shape, at::kFloat).clone();
  }
  model.class_order = info.class_order;
  model.transform.size = info.transform.image_size;
  model.transform.channels = info.transform.channels;
  model.transform.pipeline = info.transform.pipeline;
  if (model.transform.pipeline) {
    model.transform.steps = data::make_pipeline(info.transform.pipeline_name, model.transform.size);
    if (model.transform.steps.resize_short != info.transform.resize_short)
      throw FormatError("'" + path + "': its test transform resizes to " + std::to_string(info.transform.resize_short) +
                        ", this lorasub's " + model.transform.steps.name + " pipeline to " +
                        std::to_string(model.transform.steps.resize_short));
  }
  model.bf16 = info.precision == "bf16";
  model.eval_batch_size = info.eval_batch_size;
  return model;
}

// One input file: an image (decoded when its batch comes) or a whole IDX image file.
struct Input {
  std::string path;
  std::shared_ptr<const data::ImageSet> idx;
  int64_t count() const { return idx ? idx->size() : 1; }
};

Input open_input(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) throw FormatError("'" + path + "': cannot open: " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw FormatError("'" + path + "' is a directory, not an image or IDX file");
  std::ifstream in(path, std::ios::binary);
  uint8_t head[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // PNG's signature is 8 bytes, IDX's magic 4
  in.read(reinterpret_cast<char*>(head), 8);
  if (!in && in.gcount() == 0 && st.st_size > 0) throw FormatError("'" + path + "': cannot read");
  const size_t got = static_cast<size_t>(in.gcount());
  if (data::sniff_format(head, got) != data::ImageFormat::kUnknown) return {path, nullptr};
  const bool gzip = got >= 2 && head[0] == 0x1f && head[1] == 0x8b;
  const bool idx3 = got >= 4 && head[0] == 0 && head[1] == 0 && head[2] == 0x08 && head[3] == 0x03;
  if (!gzip && !idx3) throw FormatError("'" + path + "': not a JPEG, PNG or IDX image file");
  return {path, std::make_shared<const data::ImageSet>(data::read_idx_images(path))};
}

// HWC uint8 -> the model's CHW float input, as the run's evaluation transformed it.
void to_input(const Transform& transform, const uint8_t* src, int64_t height, int64_t width, int64_t channels,
              const std::string& name, float* dst) {
  Rng unused(0);  // test transforms draw nothing
  if (transform.pipeline) {
    transform.steps.apply(src, height, width, channels, /*train=*/false, unused, dst);
    return;
  }
  const int64_t size = transform.size;
  if (height != size || width != size)
    throw FormatError("'" + name + "': the image is " + std::to_string(height) + "x" + std::to_string(width) +
                      ", the model takes " + std::to_string(size) + "x" + std::to_string(size) +
                      " (the run's test transform does not resize)");
  std::vector<uint8_t> converted;
  if (channels != transform.channels) {  // grey <-> RGB; an RGB image of a grey one gives it back exactly
    converted.resize(static_cast<size_t>(height * width * transform.channels));
    for (int64_t i = 0; i < height * width; ++i) {
      const uint8_t* pixel = src + i * channels;
      for (int64_t k = 0; k < transform.channels; ++k)
        converted[static_cast<size_t>(i * transform.channels + k)] =
            channels == 1
                ? pixel[0]
                : static_cast<uint8_t>(std::lround(std::min(255.0f, data::grey_of(pixel[0], pixel[1], pixel[2]))));
    }
    src = converted.data();
  }
  data::SmallImageTransform{}.apply(src, height, width, transform.channels, unused, dst);
}

// Images go through the model in batches of the run's size; each gives one JSON line.
class Predictor {
 public:
  Predictor(const Model& model, const std::vector<int64_t>& labels, int64_t batch, int64_t top_k, std::FILE* out,
            PredictSummary& summary)
      : model_(model),
        labels_(labels),
        batch_(batch),
        top_k_(std::min(top_k, summary.classes)),
        out_(out),
        summary_(summary),
        image_floats_(model.transform.channels * model.transform.size * model.transform.size),
        pixels_(static_cast<size_t>(batch * image_floats_)) {}

  // Image `item` of `input` (the index-th of all inputs) into the batch; a full batch runs.
  void add(const Input& input, int64_t item, int64_t index) {
    const Transform& transform = model_.transform;
    float* dst = pixels_.data() + static_cast<int64_t>(pending_.size()) * image_floats_;
    if (input.idx) {
      const data::ImageSet& images = *input.idx;
      to_input(transform, images.image(item), images.height, images.width, images.channels, input.path, dst);
    } else {
      const int64_t min_short = transform.pipeline ? transform.steps.min_decode_short_side(false) : 0;
      const data::DecodedImage decoded = data::decode_image_file(input.path, min_short);
      to_input(transform, decoded.pixels.data(), decoded.height, decoded.width, 3, input.path, dst);
    }
    pending_.push_back({&input, item, index});
    if (static_cast<int64_t>(pending_.size()) == batch_) flush();
  }

  void flush() {
    if (pending_.empty()) return;
    const Transform& transform = model_.transform;
    const int64_t n = static_cast<int64_t>(pending_.size());
    const at::Tensor input =
        at::from_blob(pixels_.data(), {n, transform.channels, transform.size, transform.size}, at::kFloat);
    at::Tensor feats;
    {
      model::AutocastScope autocast(at::kCPU, model_.bf16);  // as the learner's features()
      feats = model_.vit->eval_features(input).to(at::kFloat);
    }
    // Stable: among equal distances (logits) the lowest position first, as argmin
    // (argmax) picks it. The score: the cosine for NCM, the softmax probability for heads.
    at::Tensor values, positions;
    if (model_.head_weight.defined()) {
      const at::Tensor logits = at::linear(feats, model_.head_weight, model_.head_bias);
      const auto sorted = at::sort(logits, /*stable=*/true, 1, /*descending=*/true);
      positions = std::get<1>(sorted);
      values = at::softmax(logits.to(at::kDouble), 1).gather(1, positions);
    } else {
      const auto sorted = at::sort(method::ncm_distances(feats, model_.prototypes), /*stable=*/true, 1, false);
      positions = std::get<1>(sorted);
      values = 1.0 - 0.5 * std::get<0>(sorted).to(at::kDouble);  // cosine
    }
    const auto value_at = values.accessor<double, 2>();
    const auto position_at = positions.accessor<int64_t, 2>();
    for (int64_t i = 0; i < n; ++i) {
      nlohmann::json top = nlohmann::json::array();
      for (int64_t j = 0; j < top_k_; ++j)
        top.push_back({{"class", model_.class_order.at(static_cast<size_t>(position_at[i][j]))},
                       {"score", std::round(value_at[i][j] * 1e6) / 1e6}});
      write_line(pending_[static_cast<size_t>(i)], top);
    }
    pending_.clear();
  }

 private:
  struct Pending {
    const Input* input;
    int64_t item, index;
  };

  void write_line(const Pending& pending, const nlohmann::json& top) {
    nlohmann::json line = {{"input", pending.input->path}, {"index", pending.index}};
    if (pending.input->idx) line["item"] = pending.item;
    line["top"] = top;
    if (!labels_.empty()) {
      const int64_t label = labels_[static_cast<size_t>(pending.index)];
      line["label"] = label;
      if (std::find(model_.class_order.begin(), model_.class_order.end(), label) == model_.class_order.end()) {
        ++summary_.outside;
      } else {
        ++summary_.labelled;
        if (top[0]["class"].get<int64_t>() == label) ++summary_.correct;
      }
    }
    std::fprintf(out_, "%s\n", line.dump().c_str());
  }

  const Model& model_;
  const std::vector<int64_t>& labels_;
  const int64_t batch_, top_k_;
  std::FILE* out_;
  PredictSummary& summary_;
  const int64_t image_floats_;
  std::vector<float> pixels_;
  std::vector<Pending> pending_;
};

}  // namespace

double PredictSummary::accuracy() const {
  return labelled > 0 ? 100.0 * static_cast<double>(correct) / static_cast<double>(labelled) : 0.0;
}

PredictSummary predict(const PredictOptions& opt, std::FILE* out) {
  at::NoGradGuard no_grad;
  const Model model = load_model(opt.model);
  std::vector<Input> inputs;
  PredictSummary summary;
  for (const std::string& path : opt.inputs) {
    inputs.push_back(open_input(path));
    summary.images += inputs.back().count();
  }
  std::vector<int64_t> labels;
  if (!opt.labels.empty()) {
    labels = data::read_idx_labels(opt.labels);
    if (static_cast<int64_t>(labels.size()) != summary.images)
      throw FormatError("'" + opt.labels + "' has " + std::to_string(labels.size()) + " labels for " +
                        std::to_string(summary.images) + " input images");
  }
  summary.classes = static_cast<int64_t>(model.class_order.size());
  Predictor predictor(model, labels, opt.batch_size > 0 ? opt.batch_size : model.eval_batch_size, opt.top_k, out,
                      summary);
  int64_t index = 0;
  for (const Input& input : inputs)
    for (int64_t item = 0; item < input.count(); ++item, ++index) predictor.add(input, item, index);
  predictor.flush();
  std::fflush(out);
  return summary;
}

}  // namespace lorasub::commands
