// IdentityMemo: a restart with unchanged files reads the stage hash from its record; any change
// to the file (even one that keeps the modification time) or a damaged record means hashing again.
#include "dist/identity_memo.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/synth.h"
#include "support/temp_dir.h"

namespace strata::dist {
namespace {

namespace fs = std::filesystem;

fs::path make_model(const testing::TempDir& dir, const char* name, uint64_t seed) {
  model::SynthOptions synth;
  synth.hparams = *model::synth_preset("tiny", model::Arch::kLlama);
  synth.target = *model::parse_quant_target("q8_0");
  synth.seed = seed;
  const fs::path path = dir / name;
  EXPECT_TRUE(model::synth_model(synth, path).ok());
  return path;
}

// The one record in dir (the tests write one at a time).
fs::path only_record(const fs::path& dir) {
  fs::path found;
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    found = e.path();
    ++n;
  }
  EXPECT_EQ(n, 1);
  return found;
}

// Replaces the content hash in a record, so a test can tell whether the record was used.
void forge_record(const fs::path& record, const std::string& fake_content) {
  std::ifstream in(record);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  const size_t last_line = s.rfind('\n', s.size() - 2) + 1;
  std::istringstream line(s.substr(last_line));
  std::string shape, content, bytes;
  line >> shape >> content >> bytes;
  s = s.substr(0, last_line) + shape + " " + fake_content + " " + bytes + "\n";
  std::ofstream(record, std::ios::trunc) << s;
}

TEST(IdentityMemoTest, RemembersUntilTheFileChanges) {
  testing::TempDir dir;
  const fs::path path = make_model(dir, "m.gguf", 1);
  const model::LayerRange range{0, 2};
  const IdentityMemo memo(dir / "memo");
  {
    const gguf::File file = *gguf::File::open(path);
    const StageIdentity want = *stage_identity(file, range);
    const StageIdentity first = *memo.identity(file, range);
    EXPECT_EQ(first.content, want.content);
    EXPECT_EQ(first.shape, want.shape);
    EXPECT_EQ(first.tensor_bytes, want.tensor_bytes);
    // Another range of the same file is another record.
    EXPECT_EQ(memo.identity(file, {1, 2})->content, stage_identity(file, {1, 2})->content);
  }
  fs::remove_all(dir / "memo");
  const gguf::File file = *gguf::File::open(path);
  const StageIdentity want = *stage_identity(file, range);
  ASSERT_TRUE(memo.identity(file, range).ok());
  const fs::path record = only_record(dir / "memo");

  // The record is what a second call answers from (a forged one shows it).
  const std::string fake(32, 'a');
  forge_record(record, fake);
  EXPECT_EQ(memo.identity(file, range)->content.hex(), fake);

  // Other bytes under the same name, with the old modification time put back: hashed again.
  struct stat before {};
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  fs::remove(path);
  make_model(dir, "m.gguf", 2);
  const struct utimbuf times{before.st_atime, before.st_mtime};
  ASSERT_EQ(::utime(path.c_str(), &times), 0);
  const gguf::File changed = *gguf::File::open(path);
  const StageIdentity now = *memo.identity(changed, range);
  EXPECT_EQ(now.content, stage_identity(changed, range)->content);
  EXPECT_NE(now.content, want.content);
}

TEST(IdentityMemoTest, DamagedRecordsAndUnwritableDirectoriesOnlyCostAHash) {
  testing::TempDir dir;
  const gguf::File file = *gguf::File::open(make_model(dir, "m.gguf", 3));
  const model::LayerRange range{0, 1};
  const StageIdentity want = *stage_identity(file, range);
  const IdentityMemo memo(dir / "memo");
  ASSERT_TRUE(memo.identity(file, range).ok());
  const fs::path record = only_record(dir / "memo");
  for (const char* text : {"", "garbage\n", "strata-stage-identity 1\n"}) {
    std::ofstream(record, std::ios::trunc) << text;
    EXPECT_EQ(memo.identity(file, range)->content, want.content) << "record: '" << text << "'";
  }
  forge_record(record, "not-a-hash");
  EXPECT_EQ(memo.identity(file, range)->content, want.content);

  // A directory path that is a file: nothing remembered, the answer still right.
  std::ofstream(dir / "plain-file") << "x";
  EXPECT_EQ(IdentityMemo(dir / "plain-file").identity(file, range)->content, want.content);
  // No directory: no memo at all.
  EXPECT_EQ(IdentityMemo().identity(file, range)->content, want.content);
}

}  // namespace
}  // namespace strata::dist
