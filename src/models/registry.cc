// registry.cc — the one table of model kinds. Adding a model: one source file
// in src/models/, one line here, one configs/<kind>.json, and its tests; the
// contract tests (tests/models/contract_test.cc) then cover it.
#include "dgm/model.h"
#include "dgm/models/autoregressive.h"
#include "dgm/models/empirical.h"
#include "dgm/models/independent.h"
#include "dgm/models/mixture.h"
#include "dgm/models/ngram.h"
#include "dgm/models/pixelcnn.h"
#include "dgm/models/transformer.h"
#include "dgm/models/wavenet.h"

namespace dgm {

const std::vector<ModelKind>& model_kinds() {
  static const std::vector<ModelKind> kinds = {
      {"empirical", "the training set's empirical distribution, optionally smoothed over all of X",
       create_empirical_model, R"({"model": {"type": "empirical", "smoothing": 0.5}})"},
      {"independent", "product of per-position categoricals (closed form, smoothed)", create_independent_model,
       R"({"model": {"type": "independent"}, "train": {}})"},
      {"mixture", "mixture of products of categoricals, trained by EM", create_mixture_model,
       R"({"model": {"type": "mixture", "components": 3}, "train": {"max_iterations": 15, "restarts": 2}})"},
      {"ngram", "n-gram language model, interpolated modified Kneser-Ney (KenLM-compatible), ARPA in and out",
       &NgramModel::create, R"({"model": {"type": "ngram", "order": 3}, "train": {}})", &NgramModel::recognise_arpa,
       &NgramModel::import_arpa},
      {"fvsbn", "fully visible sigmoid belief net: each position a logistic/softmax regression on earlier ones",
       create_fvsbn, R"({"model": {"type": "fvsbn"}, "train": {"epochs": 4, "batch_size": 16, "learning_rate": 0.05}})"},
      {"nade", "NADE (Larochelle & Murray 2011): autoregressive net with one shared hidden layer",
       create_nade, R"({"model": {"type": "nade", "hidden": 6}, "train": {"epochs": 4, "batch_size": 16, "learning_rate": 0.05}})"},
      {"made", "MADE (Germain et al. 2015): masked autoencoder, natural or random orderings, mask ensembles",
       create_made,
       R"({"model": {"type": "made", "hidden": [6, 5], "ordering": "random", "masks": 2, "ensemble": 2}, "train": {"epochs": 4, "batch_size": 16, "learning_rate": 0.05}})"},
      {"pixelcnn", "PixelCNN (van den Oord et al. 2016): masked convolutions, RGB channel masks, logistic-mixture or softmax outputs",
       create_pixelcnn,
       R"({"model": {"type": "pixelcnn", "channels": 6, "layers": 1, "kernel": 3, "first_kernel": 3, "mixtures": 2}, "train": {"epochs": 3, "batch_size": 16, "learning_rate": 0.02}})"},
      {"transformer", "decoder-only transformer (GPT-2 / Image GPT): any space in raster order, KV-cached sampling",
       create_transformer,
       R"({"model": {"type": "transformer", "layers": 1, "heads": 2, "width": 8, "context": 3, "stride": 2, "dropout": 0.1}, "train": {"epochs": 2, "batch_size": 32, "learning_rate": 0.02, "optimizer": "adamw", "weight_decay": 0.01, "warmup_steps": 5, "schedule": "cosine"}})"},
      {"wavenet", "WaveNet (van den Oord et al. 2016): dilated causal convolutions, gated units, residual and skip connections, softmax; cached sampling",
       create_wavenet,
       R"({"model": {"type": "wavenet", "channels": 4, "skip": 5, "hidden": 6, "layers": 3, "cycle": 2}, "train": {"epochs": 3, "batch_size": 16, "learning_rate": 0.02}})"},
  };
  return kinds;
}

}  // namespace dgm
