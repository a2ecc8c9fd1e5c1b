#include "lorasub/train/predict.h"

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
#include "lorasub/train/export.h"

namespace lorasub::train {
namespace {

using json = nlohmann::json;

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

// A metadata entry as JSON or an integer; FormatError naming the file and key.
struct Meta {
  const io::SafeTensorsFile& file;
  const std::string& get(const std::string& key) const {
    const auto it = file.metadata().find(key);
    if (it == file.metadata().end())
      throw FormatError("'" + file.path() + "': __metadata__ has no '" + key + "' (written by an older lorasub?)");
    return it->second;
  }
  json object(const std::string& key) const {
    json j = json::parse(get(key), nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) throw FormatError("'" + file.path() + "': __metadata__ '" + key + "' is not a JSON object");
    return j;
  }
  int64_t integer(const json& j, const std::string& key, const std::string& where) const {
    if (!j.contains(key) || !j[key].is_number_integer() || j[key].get<int64_t>() < 1)
      throw FormatError("'" + file.path() + "': __metadata__ '" + where + "' has no positive integer '" + key + "'");
    return j[key].get<int64_t>();
  }
};

Model load_model(const std::string& path) {
  const io::SafeTensorsFile file = io::SafeTensorsFile::read(path);
  const auto fmt = file.metadata().find("lorasub.format");
  if (fmt == file.metadata().end() || fmt->second != kExportFormat)
    throw FormatError("'" + path + "': not a model written by lorasub export (no lorasub.format '" +
                      std::string(kExportFormat) + "' in its __metadata__)");
  const Meta meta{file};
  if (meta.get("lorasub.format_version") != std::to_string(kExportFormatVersion))
    throw FormatError("'" + path + "': export format version " + meta.get("lorasub.format_version") +
                      ", this lorasub (" LORASUB_VERSION ") reads version " + std::to_string(kExportFormatVersion));
  const json s = meta.object("lorasub.model");
  auto dim = [&](const char* k) { return meta.integer(s, k, "lorasub.model"); };
  const model::VitShape shape{dim("image_size"), dim("channels"), dim("patch"), dim("dim"),
                              dim("depth"),      dim("heads"),    dim("mlp_dim")};
  Model m;
  m.vit = std::make_unique<model::Vit>(model::Vit::load(file, shape));
  const io::TensorData& protos = file.at(kExportPrototypes);
  const io::TensorData& order = file.at(kExportClassOrder);
  if (protos.shape.size() != 2 || protos.shape[1] != shape.dim || protos.shape[0] < 1 ||
      order.shape != std::vector<int64_t>{protos.shape[0]})
    throw FormatError("'" + path + "': " + kExportPrototypes + " must be [C, " + std::to_string(shape.dim) +
                      "] and " + kExportClassOrder + " [C]");
  m.prototypes = at::from_blob(const_cast<float*>(protos.values.data()), protos.shape, at::kFloat).clone();
  for (float c : order.values) m.class_order.push_back(static_cast<int64_t>(c));
  const json t = meta.object("lorasub.transform");
  m.transform.size = meta.integer(t, "image_size", "lorasub.transform");
  m.transform.channels = meta.integer(t, "channels", "lorasub.transform");
  m.transform.pipeline = t.value("kind", "") == "pipeline";
  if (m.transform.pipeline) {
    m.transform.steps = data::make_pipeline(t.value("pipeline", ""), m.transform.size);
    if (m.transform.steps.resize_short != meta.integer(t, "resize_short", "lorasub.transform"))
      throw FormatError("'" + path + "': its test transform resizes to " + std::to_string(t["resize_short"].get<int64_t>()) +
                        ", this lorasub's " + m.transform.steps.name + " pipeline to " +
                        std::to_string(m.transform.steps.resize_short));
  } else if (t.value("kind", "") != "identity") {
    throw FormatError("'" + path + "': unknown test transform kind in __metadata__ 'lorasub.transform'");
  }
  m.bf16 = meta.get("lorasub.precision") == "bf16";
  m.eval_batch_size = std::max<int64_t>(1, std::atoll(meta.get("lorasub.eval_batch_size").c_str()));
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

struct Pending {
  const Input* input;
  int64_t item, index;
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
  const Transform& tf = m.transform;
  const int64_t batch = opt.batch_size > 0 ? opt.batch_size : m.eval_batch_size;
  const int64_t per = tf.channels * tf.size * tf.size, k = std::min(opt.top_k, sum.classes);
  std::vector<float> pixels(static_cast<size_t>(batch * per));
  std::vector<Pending> pending;

  auto flush = [&] {
    if (pending.empty()) return;
    const int64_t n = static_cast<int64_t>(pending.size());
    const at::Tensor x = at::from_blob(pixels.data(), {n, tf.channels, tf.size, tf.size}, at::kFloat);
    at::Tensor feats;
    {
      model::AutocastScope autocast(at::kCPU, m.bf16);  // as the learner's features()
      feats = m.vit->features(x).to(at::kFloat);
    }
    // Stable: among equal distances the lowest position first, as argmin picks it.
    const auto sorted = at::sort(method::ncm_distances(feats, m.prototypes), /*stable=*/true, 1, false);
    const at::Tensor d2 = std::get<0>(sorted).to(at::kDouble), pos = std::get<1>(sorted);
    const auto d2_at = d2.accessor<double, 2>();
    const auto pos_at = pos.accessor<int64_t, 2>();
    for (int64_t i = 0; i < n; ++i) {
      const Pending& p = pending[static_cast<size_t>(i)];
      json line = {{"input", p.input->path}, {"index", p.index}};
      if (p.input->idx) line["item"] = p.item;
      json top = json::array();
      for (int64_t j = 0; j < k; ++j) {
        const double cosine = 1.0 - 0.5 * d2_at[i][j];
        top.push_back({{"class", m.class_order.at(static_cast<size_t>(pos_at[i][j]))},
                       {"score", std::round(cosine * 1e6) / 1e6}});
      }
      line["top"] = top;
      if (!labels.empty()) {
        const int64_t label = labels[static_cast<size_t>(p.index)];
        line["label"] = label;
        if (std::find(m.class_order.begin(), m.class_order.end(), label) == m.class_order.end()) {
          ++sum.outside;
        } else {
          ++sum.labelled;
          if (top[0]["class"].get<int64_t>() == label) ++sum.correct;
        }
      }
      std::fprintf(out, "%s\n", line.dump().c_str());
    }
    pending.clear();
  };

  int64_t index = 0;
  for (const Input& in : inputs) {
    for (int64_t item = 0; item < in.count(); ++item, ++index) {
      float* dst = pixels.data() + static_cast<int64_t>(pending.size()) * per;
      if (in.idx) {
        const data::ImageSet& s = *in.idx;
        to_input(tf, s.image(item), s.height, s.width, s.channels, in.path, dst);
      } else {
        const int64_t min_short = tf.pipeline ? tf.steps.min_decode_short_side(false) : 0;
        const data::DecodedImage im = data::decode_image_file(in.path, min_short);
        to_input(tf, im.pixels.data(), im.height, im.width, 3, in.path, dst);
      }
      pending.push_back({&in, item, index});
      if (static_cast<int64_t>(pending.size()) == batch) flush();
    }
  }
  flush();
  std::fflush(out);
  return sum;
}

}  // namespace lorasub::train
