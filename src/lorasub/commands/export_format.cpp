#include "lorasub/commands/export_format.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "lorasub/core/error.h"

namespace lorasub::commands {
namespace {

using json = nlohmann::json;

io::TensorData int_data(const std::vector<int64_t>& v) {
  io::TensorData td;
  td.dtype = "I64";
  td.shape = {static_cast<int64_t>(v.size())};
  for (int64_t x : v) td.values.push_back(static_cast<float>(x));
  return td;
}

std::vector<int64_t> ints_of(const io::TensorData& t) {
  std::vector<int64_t> out;
  for (float v : t.values) out.push_back(static_cast<int64_t>(v));
  return out;
}

json shape_json(const model::VitShape& s) {
  return {{"image_size", s.image_size}, {"channels", s.channels}, {"patch", s.patch},    {"dim", s.dim},
          {"depth", s.depth},           {"heads", s.heads},       {"mlp_dim", s.mlp_dim}};
}

json transform_json(const TestTransform& t) {
  json j = {{"image_size", t.image_size},
            {"channels", t.channels},
            {"pixels", "uint8 / 255 in [0, 1], no mean/std normalisation"}};
  if (t.pipeline) {
    j["kind"] = "pipeline";
    j["pipeline"] = t.pipeline_name;
    j["resize_short"] = t.resize_short;  // test: Resize(short side) + CenterCrop(image_size)
  } else {
    j["kind"] = "identity";  // the small-image test transform: the pixels as they are
  }
  return j;
}

std::map<std::string, std::string> metadata(const ExportInfo& m) {
  char acc[64];
  std::snprintf(acc, sizeof(acc), "%.17g", m.accuracy);
  return {{"format", "pt"},  // what timm/transformers writers put here
          {"lorasub.format", kExportFormat},
          {"lorasub.format_version", std::to_string(kExportFormatVersion)},
          {"lorasub.version", LORASUB_VERSION},
          {"lorasub.run", m.run},
          {"lorasub.method", m.method},
          {"lorasub.dataset", m.dataset},
          {"lorasub.task", std::to_string(m.task)},
          {"lorasub.tasks", std::to_string(m.tasks)},
          {"lorasub.classes", std::to_string(m.class_order.size())},
          {"lorasub.accuracy", acc},
          {"lorasub.model", shape_json(m.shape).dump()},
          {"lorasub.transform", transform_json(m.transform).dump()},
          {"lorasub.feature", "CLS token after the final norm"},
          {"lorasub.ncm", "cosine: features and prototypes L2-normalised (eps 1e-8), nearest prototype"},
          {"lorasub.predict", m.head_weight.shape.empty() ? "ncm" : "heads"},
          {"lorasub.precision", m.precision},
          {"lorasub.eval_batch_size", std::to_string(m.eval_batch_size)},
          {"lorasub.backbone_sha256", m.backbone_sha256},
          {"lorasub.config_hash", m.config_hash}};
}

// Metadata entries as text, JSON objects or integers; FormatError naming file and key.
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
  int64_t number(const std::string& key) const {
    const std::string& v = get(key);
    char* end = nullptr;
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0')
      throw FormatError("'" + file.path() + "': __metadata__ '" + key + "' is not an integer");
    return x;
  }
};

void check_format(const Meta& meta) {
  const auto fmt = meta.file.metadata().find("lorasub.format");
  if (fmt == meta.file.metadata().end() || fmt->second != kExportFormat)
    throw FormatError("'" + meta.file.path() + "': not a model written by lorasub export (no lorasub.format '" +
                      std::string(kExportFormat) + "' in its __metadata__)");
  if (meta.get("lorasub.format_version") != std::to_string(kExportFormatVersion))
    throw FormatError("'" + meta.file.path() + "': export format version " + meta.get("lorasub.format_version") +
                      ", this lorasub (" LORASUB_VERSION ") reads version " + std::to_string(kExportFormatVersion));
}

TestTransform read_transform(const Meta& meta) {
  const json t = meta.object("lorasub.transform");
  TestTransform out;
  out.image_size = meta.integer(t, "image_size", "lorasub.transform");
  out.channels = meta.integer(t, "channels", "lorasub.transform");
  const std::string kind = t.value("kind", "");
  if (kind == "pipeline") {
    out.pipeline = true;
    out.pipeline_name = t.value("pipeline", "");
    out.resize_short = meta.integer(t, "resize_short", "lorasub.transform");
  } else if (kind != "identity") {
    throw FormatError("'" + meta.file.path() + "': unknown test transform kind in __metadata__ 'lorasub.transform'");
  }
  return out;
}

}  // namespace

void write_export(const std::string& path, const std::map<std::string, io::TensorData>& backbone,
                  const ExportInfo& info) {
  const int64_t classes = static_cast<int64_t>(info.class_order.size());
  if (info.prototypes.shape != std::vector<int64_t>{classes, info.shape.dim} ||
      info.prototype_counts.size() != info.class_order.size())
    throw std::invalid_argument("write_export: prototypes, class order and counts disagree in shape");
  std::map<std::string, io::TensorData> tensors = backbone;
  tensors[kExportPrototypes] = info.prototypes;
  tensors[kExportClassOrder] = int_data(info.class_order);
  tensors[kExportPrototypeCounts] = int_data(info.prototype_counts);
  if (!info.head_weight.shape.empty()) {
    if (info.head_weight.shape != std::vector<int64_t>{classes, info.shape.dim} ||
        info.head_bias.shape != std::vector<int64_t>{classes})
      throw std::invalid_argument("write_export: the heads disagree with the class order in shape");
    tensors[kExportHeadWeight] = info.head_weight;
    tensors[kExportHeadBias] = info.head_bias;
  }
  io::write_safetensors(path, tensors, metadata(info));
}

ExportFile read_export(const std::string& path) {
  ExportFile e{io::SafeTensorsFile::read(path), {}};
  const Meta meta{e.file};
  check_format(meta);
  ExportInfo& m = e.info;
  const json s = meta.object("lorasub.model");
  auto dim = [&](const char* k) { return meta.integer(s, k, "lorasub.model"); };
  m.shape = {dim("image_size"), dim("channels"), dim("patch"), dim("dim"), dim("depth"), dim("heads"), dim("mlp_dim")};
  m.prototypes = e.file.at(kExportPrototypes);
  const io::TensorData& order = e.file.at(kExportClassOrder);
  if (m.prototypes.shape.size() != 2 || m.prototypes.shape[1] != m.shape.dim || m.prototypes.shape[0] < 1 ||
      order.shape != std::vector<int64_t>{m.prototypes.shape[0]})
    throw FormatError("'" + path + "': " + kExportPrototypes + " must be [C, " + std::to_string(m.shape.dim) +
                      "] and " + kExportClassOrder + " [C]");
  m.class_order = ints_of(order);
  if (e.file.has(kExportPrototypeCounts)) m.prototype_counts = ints_of(e.file.at(kExportPrototypeCounts));
  const auto predict = e.file.metadata().find("lorasub.predict");
  if (predict != e.file.metadata().end() && predict->second == "heads") {
    if (!e.file.has(kExportHeadWeight) || !e.file.has(kExportHeadBias))
      throw FormatError("'" + path + "': __metadata__ 'lorasub.predict' is 'heads' but " + kExportHeadWeight + " or " +
                        kExportHeadBias + " is missing");
    m.head_weight = e.file.at(kExportHeadWeight);
    m.head_bias = e.file.at(kExportHeadBias);
    const int64_t c = m.prototypes.shape[0];
    if (m.head_weight.shape != std::vector<int64_t>{c, m.shape.dim} || m.head_bias.shape != std::vector<int64_t>{c} ||
        m.head_weight.dtype != "F32" || m.head_bias.dtype != "F32")
      throw FormatError("'" + path + "': " + kExportHeadWeight + " must be F32 [" + std::to_string(c) + ", " +
                        std::to_string(m.shape.dim) + "] and " + kExportHeadBias + " F32 [" + std::to_string(c) + "]");
  } else if (predict != e.file.metadata().end() && predict->second != "ncm") {
    throw FormatError("'" + path + "': unknown __metadata__ 'lorasub.predict' '" + predict->second + "'");
  }
  m.transform = read_transform(meta);
  m.precision = meta.get("lorasub.precision");
  m.eval_batch_size = std::max<int64_t>(1, meta.number("lorasub.eval_batch_size"));
  m.run = meta.get("lorasub.run");
  m.method = meta.get("lorasub.method");
  m.dataset = meta.get("lorasub.dataset");
  m.backbone_sha256 = meta.get("lorasub.backbone_sha256");
  m.config_hash = meta.get("lorasub.config_hash");
  m.task = meta.number("lorasub.task");
  m.tasks = meta.number("lorasub.tasks");
  m.accuracy = std::strtod(meta.get("lorasub.accuracy").c_str(), nullptr);
  return e;
}

}  // namespace lorasub::commands
