// score.cc — scores a file of samples with a trained dgm model through the
// library, as `dgm score FILE -f FORMAT -m MODEL` does: one line a sample,
// tab-separated: its source (FILE:LINE for text, FILE#K for binary records),
// log P(x) in nats, bits/dim. A text model reads text through its codec.
//
//   score MODEL DATA [FORMAT]     FORMAT as in docs/formats.md; default from the name
#include <cmath>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include <dgm/codec.h>
#include <dgm/error.h>
#include <dgm/io/read.h>
#include <dgm/model.h>
#include <dgm/model_file.h>
#include <dgm/thread_pool.h>

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: %s MODEL DATA [FORMAT]\n", argv[0]);
    return 2;
  }
  try {
    const std::unique_ptr<dgm::Model> model = dgm::load_model(argv[1]);
    dgm::json source = {{"path", argv[2]}};
    if (argc == 4) source["format"] = argv[3];
    const dgm::Records records = dgm::read_records(source, model->space(), model->codec());
    const dgm::Dataset& data = records.data;
    dgm::ThreadPool pool(0);  // every core; the scores do not depend on it
    const std::vector<double> lp = model->log_prob(data, pool);
    for (size_t i = 0; i < data.size(); ++i) {
      // A sequence's end marker counts as a position.
      const double dims = double(data.length(i)) + (data.space().variable_length() ? 1.0 : 0.0);
      const double bits_per_dim = -lp[i] / std::log(2.0) / dims;
      std::printf("%s\t%.10g\t%.6g\n", records.source(i).c_str(), lp[i], bits_per_dim);
    }
  } catch (const dgm::Error& e) {  // one line naming the file and the problem
    std::fprintf(stderr, "score: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "score: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
