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
  bool pipeline = false;        // else identity: the image must already be image_size square
  data::ImagePipeline steps;    // pipeline datasets: Resize + CenterCrop
  int64_t size = 0, channels = 0;
};

struct Model {
  std::unique_ptr<model::Vit> vit;
  at::Tensor prototypes;             // C x d
  std::vector<int64_t> class_order;  // position -> dataset class id
  Transform transform;
  bool bf16 = false;
  int64_t eval_batch_size = 256;
};

Model load_model(const std::string& path) {
  const ExportFile e = read_export(path);
  const ExportInfo& info = e.info;
  Model m;
  m.vit = std::make_unique<model::Vit>(model::Vit::load(e.file, info.shape));
  m.prototypes = at::from_blob(const_cast<float*>(info.prototypes.values.data()), info.prototypes.shape, at::kFloat)
                     .clone();
  m.class_order = info.class_order;
  m.transform.size = info.transform.image_size;
  m.transform.channels = info.transform.channels;
  m.transform.pipeline = info.transform.pipeline;
  if (m.transform.pipeline) {
    m.transform.steps = data::make_pipeline(info.transform.pipeline_name, m.transform.size);
    if (m.transform.steps.resize_short != info.transform.resize_short)
      throw FormatError("'" + path + "': its test transform resizes to " + std::to_string(info.transform.resize_short) +
                        ", this lorasub's " + m.transform.steps.name + " pipeline to " +
                        std::to_string(m.transform.steps.resize_short));
  }
  m.bf16 = info.precision == "bf16";
  m.eval_batch_size = info.eval_batch_size;
  return m;
}

// One input file: an image (decoded when its batch comes) or a whole IDX image file.
struct Input {
  std::string path;
  std::shared_ptr<const data::ImageSet> idx;
  int64_t count() const { return idx ? idx->size() : 1; }
};

Input open_input(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    throw FormatError("'" + path + "': cannot open: " + std::strerror(errno));
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
void to_input(const Transform& t, const uint8_t* src, int64_t h, int64_t w, int64_t c, const std::string& name,
              float* dst) {
  Rng unused(0);  // test transforms draw nothing
  if (t.pipeline) {
    t.steps.apply(src, h, w, c, /*train=*/false, unused, dst);
    return;
  }
  if (h != t.size || w != t.size)
    throw FormatError("'" + name + "': the image is " + std::to_string(h) + "x" + std::to_string(w) +
                      ", the model takes " + std::to_string(t.size) + "x" + std::to_string(t.size) +
                      " (the run's test transform does not resize)");
  std::vector<uint8_t> converted;
  if (c != t.channels) {  // grey <-> RGB; an RGB image of a grey one gives it back exactly
    converted.resize(static_cast<size_t>(h * w * t.channels));
    for (int64_t i = 0; i < h * w; ++i) {
      const uint8_t* p = src + i * c;
      for (int64_t k = 0; k < t.channels; ++k)
        converted[static_cast<size_t>(i * t.channels + k)] =
            c == 1 ? p[0] : static_cast<uint8_t>(std::lround(std::min(255.0f, data::grey_of(p[0], p[1], p[2]))));
    }
    src = converted.data();
  }
  data::SmallImageTransform{}.apply(src, h, w, t.channels, unused, dst);
}

// Images go through the model in batches of the run's size; each gives one JSON line.
class Predictor {
 public:
  Predictor(const Model& m, const std::vector<int64_t>& labels, int64_t batch, int64_t top_k, std::FILE* out,
            PredictSummary& sum)
      : m_(m), labels_(labels), batch_(batch), k_(std::min(top_k, sum.classes)), out_(out), sum_(sum),
        per_(m.transform.channels * m.transform.size * m.transform.size),
        pixels_(static_cast<size_t>(batch * per_)) {}

  // Image `item` of `in` (the index-th of all inputs) into the batch; a full batch runs.
  void add(const Input& in, int64_t item, int64_t index) {
    const Transform& tf = m_.transform;
    float* dst = pixels_.data() + static_cast<int64_t>(pending_.size()) * per_;
    if (in.idx) {
      const data::ImageSet& s = *in.idx;
      to_input(tf, s.image(item), s.height, s.width, s.channels, in.path, dst);
    } else {
      const int64_t min_short = tf.pipeline ? tf.steps.min_decode_short_side(false) : 0;
      const data::DecodedImage im = data::decode_image_file(in.path, min_short);
      to_input(tf, im.pixels.data(), im.height, im.width, 3, in.path, dst);
    }
    pending_.push_back({&in, item, index});
    if (static_cast<int64_t>(pending_.size()) == batch_) flush();
  }

  void flush() {
    if (pending_.empty()) return;
    const Transform& tf = m_.transform;
    const int64_t n = static_cast<int64_t>(pending_.size());
    const at::Tensor x = at::from_blob(pixels_.data(), {n, tf.channels, tf.size, tf.size}, at::kFloat);
    at::Tensor feats;
    {
      model::AutocastScope autocast(at::kCPU, m_.bf16);  // as the learner's features()
      feats = m_.vit->features(x).to(at::kFloat);
    }
    // Stable: among equal distances the lowest position first, as argmin picks it.
    const auto sorted = at::sort(method::ncm_distances(feats, m_.prototypes), /*stable=*/true, 1, false);
    const at::Tensor d2 = std::get<0>(sorted).to(at::kDouble), pos = std::get<1>(sorted);
    const auto d2_at = d2.accessor<double, 2>();
    const auto pos_at = pos.accessor<int64_t, 2>();
    for (int64_t i = 0; i < n; ++i) {
      nlohmann::json top = nlohmann::json::array();
      for (int64_t j = 0; j < k_; ++j)
        top.push_back({{"class", m_.class_order.at(static_cast<size_t>(pos_at[i][j]))},
                       {"score", std::round((1.0 - 0.5 * d2_at[i][j]) * 1e6) / 1e6}});  // cosine
      write_line(pending_[static_cast<size_t>(i)], top);
    }
    pending_.clear();
  }

 private:
  struct Pending {
    const Input* input;
    int64_t item, index;
  };

  void write_line(const Pending& p, const nlohmann::json& top) {
    nlohmann::json line = {{"input", p.input->path}, {"index", p.index}};
    if (p.input->idx) line["item"] = p.item;
    line["top"] = top;
    if (!labels_.empty()) {
      const int64_t label = labels_[static_cast<size_t>(p.index)];
      line["label"] = label;
      if (std::find(m_.class_order.begin(), m_.class_order.end(), label) == m_.class_order.end()) {
        ++sum_.outside;
      } else {
        ++sum_.labelled;
        if (top[0]["class"].get<int64_t>() == label) ++sum_.correct;
      }
    }
    std::fprintf(out_, "%s\n", line.dump().c_str());
  }

  const Model& m_;
  const std::vector<int64_t>& labels_;
  const int64_t batch_, k_;
  std::FILE* out_;
  PredictSummary& sum_;
  const int64_t per_;
  std::vector<float> pixels_;
  std::vector<Pending> pending_;
};

}  // namespace

double PredictSummary::accuracy() const {
  return labelled > 0 ? 100.0 * static_cast<double>(correct) / static_cast<double>(labelled) : 0.0;
}

PredictSummary predict(const PredictOptions& opt, std::FILE* out) {
  at::NoGradGuard no_grad;
  const Model m = load_model(opt.model);
  std::vector<Input> inputs;
  PredictSummary sum;
  for (const auto& p : opt.inputs) {
    inputs.push_back(open_input(p));
    sum.images += inputs.back().count();
  }
  std::vector<int64_t> labels;
  if (!opt.labels.empty()) {
    labels = data::read_idx_labels(opt.labels);
    if (static_cast<int64_t>(labels.size()) != sum.images)
      throw FormatError("'" + opt.labels + "' has " + std::to_string(labels.size()) + " labels for " +
                        std::to_string(sum.images) + " input images");
  }
  sum.classes = static_cast<int64_t>(m.class_order.size());
  Predictor predictor(m, labels, opt.batch_size > 0 ? opt.batch_size : m.eval_batch_size, opt.top_k, out, sum);
  int64_t index = 0;
  for (const Input& in : inputs)
    for (int64_t item = 0; item < in.count(); ++item, ++index) predictor.add(in, item, index);
  predictor.flush();
  std::fflush(out);
  return sum;
}

}  // namespace lorasub::commands
