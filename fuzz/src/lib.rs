//! What each fuzz target does with its input, as plain functions: the libFuzzer targets in
//! `fuzz_targets/` call them, and `tests/fuzz_corpora.rs` (stable toolchain, in CI) replays the
//! committed seeds and every crash the fuzzer found through them.
//!
//! reclab's readers take paths, so each input is written to files in a scratch folder (on a
//! RAM disk where there is one) before it is read. An input that stands for several files holds
//! them one after another, separated by [`FILE_SEPARATOR`]; the seeds are written the same way,
//! so they stay readable. Every function must return without panicking, whatever the bytes.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use reclab::data::{ColumnMapping, Format, ItemTableSpec, LoadSpec, load};
use reclab::eval::Stage;
use reclab::lm::{ModelFolder, Template, TextEncoder};
use reclab::model::{TransformerConfig, Vocabulary};
use reclab::runs::{self, RunFile, per_user::PerUserRanks};
use reclab::sweep::Sweep;
use reclab::train::{Inference, TrainConfig, load_weights};

/// Separates the files of one input.
pub const FILE_SEPARATOR: &[u8] = b"\n--next file--\n";

/// Run once before the first input. libfuzzer-sys aborts on any panic, even one reclab catches
/// (`reclab::guard`: a third-party reader's panic turned into an error naming the file); with
/// this hook only panics that escape the target abort it — libfuzzer-sys still aborts on
/// those — and the message is printed without a backtrace.
pub fn init() {
    std::panic::set_hook(Box::new(|info| eprintln!("{info}")));
}

/// Splits an input into at most `N` files; missing ones are `None` (the file is absent).
pub fn files<const N: usize>(data: &[u8]) -> [Option<&[u8]>; N] {
    let mut out = [None; N];
    let mut rest = data;
    for slot in out.iter_mut() {
        match find(rest, FILE_SEPARATOR) {
            Some(at) => {
                *slot = Some(&rest[..at]);
                rest = &rest[at + FILE_SEPARATOR.len()..];
            }
            None => {
                *slot = Some(rest);
                break;
            }
        }
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An empty scratch folder for this input (the same path every time on a thread, emptied
/// first).
pub fn scratch() -> PathBuf {
    static ROOT: OnceLock<tempfile::TempDir> = OnceLock::new();
    let root = ROOT.get_or_init(|| {
        let ram = Path::new("/dev/shm");
        let made = if ram.is_dir() {
            tempfile::tempdir_in(ram)
        } else {
            tempfile::tempdir()
        };
        made.expect("a scratch folder for fuzzing")
    });
    let dir = root
        .path()
        .join(format!("input-{:?}", std::thread::current().id()).replace(['(', ')'], ""));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the scratch folder is writable");
    dir
}

/// Writes `bytes` to `path` when present, creating parent folders.
pub fn write(path: &Path, bytes: Option<&[u8]>) {
    if let Some(bytes) = bytes {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("the scratch folder is writable");
        }
        std::fs::write(path, bytes).expect("the scratch folder is writable");
    }
}

/// A CSV / TSV interaction log, with the options a person can set: the separator, column
/// names, an item table, and k-core preprocessing. The whole load runs (detection, reading,
/// preprocessing, indexing); errors are rendered as the app shows them.
pub fn delimited_log(data: &[u8]) {
    let Some((&options, rest)) = data.split_first() else {
        return;
    };
    let [log, items] = files::<2>(rest);
    let dir = scratch();
    let log_path = dir.join(if options & 1 == 0 {
        "log.csv"
    } else {
        "log.tsv"
    });
    write(&log_path, log);
    let mut spec = LoadSpec::new(log_path.to_string_lossy());
    spec.separator = match (options >> 1) & 3 {
        0 => None,
        1 => Some(';'),
        2 => Some('|'),
        _ => Some(' '),
    };
    if options & 8 != 0 {
        spec.columns = ColumnMapping {
            user: Some("u".into()),
            item: Some("i".into()),
            timestamp: Some("t".into()),
            rating: Some("r".into()),
        };
    }
    if items.is_some() {
        let path = dir.join("items.csv");
        write(&path, items);
        spec.item_table = Some(ItemTableSpec {
            path,
            categories_separator: "|".into(),
            ..ItemTableSpec::default()
        });
    }
    if options & 16 != 0 {
        spec.preprocessing.min_user_interactions = 2;
        spec.preprocessing.min_rating = Some(2.0);
        spec.preprocessing.min_item_interactions = 2;
        spec.preprocessing.dedup = true;
        spec.preprocessing.max_seq_len = Some(3);
    }
    if let Err(e) = load(&spec, None) {
        let _ = e.to_string();
    }
}

/// RecBole atomic files: `<name>.inter` and `<name>.item`, found by detection as a folder.
pub fn recbole(data: &[u8]) {
    let [inter, item] = files::<2>(data);
    let dir = scratch();
    write(&dir.join("set.inter"), inter);
    write(&dir.join("set.item"), item);
    if let Err(e) = load(&LoadSpec::new(dir.to_string_lossy()), None) {
        let _ = e.to_string();
    }
}

/// MovieLens as distributed: 100K (`u.data`, `u.item`), 1M (`ratings.dat`, `movies.dat`) and
/// latest (`ratings.csv`, `movies.csv`); the first byte picks which.
pub fn movielens(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let (format, names) = match which % 3 {
        0 => (Format::Ml100k, ["u.data", "u.item"]),
        1 => (Format::Ml1m, ["ratings.dat", "movies.dat"]),
        _ => (Format::MlLatest, ["ratings.csv", "movies.csv"]),
    };
    let [ratings, movies] = files::<2>(rest);
    let dir = scratch();
    write(&dir.join(names[0]), ratings);
    write(&dir.join(names[1]), movies);
    let mut spec = LoadSpec::new(dir.to_string_lossy());
    spec.format = Some(format);
    if let Err(e) = load(&spec, None) {
        let _ = e.to_string();
    }
}

/// A Parquet interaction log.
pub fn parquet(data: &[u8]) {
    let path = scratch().join("log.parquet");
    write(&path, Some(data));
    if let Err(e) = load(&LoadSpec::new(path.to_string_lossy()), None) {
        let _ = e.to_string();
    }
}

/// A run folder written elsewhere: `run.json` and `per_user.bin`, read the way the Compare
/// panel and `reclab runs` read them (listing, then each file, then a metric per user).
pub fn run_file(data: &[u8]) {
    let [run, ranks] = files::<2>(data);
    let root = scratch();
    let dir = root.join("run-1");
    write(&dir.join("run.json"), run);
    write(&dir.join("per_user.bin"), ranks);
    if let Ok(listed) = runs::list(&root) {
        for run in listed {
            if let Err(e) = run.run {
                let _ = e.to_string();
            }
        }
    }
    match RunFile::load(&dir) {
        Ok(run) => {
            let _ = serde_json::to_string(&run);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    match PerUserRanks::load(&dir) {
        Ok(Some(ranks)) => {
            for stage in [Stage::Valid, Stage::Test] {
                let _ = ranks.metric(stage, "ndcg@10");
                let _ = ranks.metric(stage, "mrr@5");
            }
        }
        Ok(None) => {}
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Text a person writes: a train config (TOML), a sweep config (TOML with a `[sweep]` table),
/// and an item-text template.
pub fn configs(data: &[u8]) {
    // Configs are read as UTF-8 text; other bytes are refused when the file is read.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = TrainConfig::from_toml(text) {
        let _ = config.problem();
    }
    if let Ok(sweep) = Sweep::parse(text, Path::new("sweep.toml")) {
        for trial in sweep.plan().iter().take(4) {
            let _ = sweep.config_of(trial);
        }
    }
    let _ = Template::parse(text);
}

/// A Hugging Face model folder: `config.json`, `modules.json`, `sentence_bert_config.json`,
/// `1_Pooling/config.json`, `tokenizer.json` and `model.safetensors`. The folder is opened,
/// loaded (tokenizer and weights) and, when that succeeds, one text is encoded.
pub fn model_folder(data: &[u8]) {
    let [config, modules, sentence, pooling, tokenizer, weights] = files::<6>(data);
    let dir = scratch();
    write(&dir.join("config.json"), config);
    write(&dir.join("modules.json"), modules);
    write(&dir.join("sentence_bert_config.json"), sentence);
    write(&dir.join("1_Pooling/config.json"), pooling);
    write(&dir.join("tokenizer.json"), tokenizer);
    write(&dir.join("model.safetensors"), weights);
    let folder = match ModelFolder::open(&dir) {
        Ok(folder) => folder,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    // A config larger than its weights file is refused before any memory is reserved for it
    // (`Bert::load`), so every input here loads in milliseconds.
    match TextEncoder::<Inference>::load(folder, Default::default()) {
        Ok(encoder) => {
            let texts = vec!["a funny film".to_string(), String::new()];
            let _ = encoder.encode(&texts, 2, &mut |_, _| true);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// A weights file (`best.bin` or a checkpoint's model file) read into a SASRec of the seed's
/// shape: 6 items + padding, hidden 8, 2 heads, 1 layer, feed-forward 16, length 4.
pub fn weights(data: &[u8]) {
    let dir = scratch();
    write(&dir.join("best.bin"), Some(data));
    let shape = TransformerConfig {
        hidden: 8,
        heads: 2,
        layers: 1,
        inner: 16,
        max_len: 4,
        ..TransformerConfig::default()
    };
    if let Err(e) = load_weights(&dir.join("best"), &shape, Vocabulary { num_items: 6 }) {
        let _ = e.to_string();
    }
}

/// A GGUF file given to `reclab generate`: parsed (metadata, tensor table), its configuration,
/// tokenizer and chat template read, its weights loaded with quantized blocks kept (the CPU's
/// `auto`), and, when that all succeeds, two tokens generated from a chat prompt.
pub fn gguf(data: &[u8]) {
    use reclab::lm::decoder::{Dtype, Message, ModelFiles, Sampling};
    let path = scratch().join("model.gguf");
    write(&path, Some(data));
    let files = match ModelFiles::open(&path) {
        Ok(files) => files,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let llm = match files.load(Dtype::Auto, reclab::train::DeviceChoice::Cpu) {
        Ok(llm) => llm,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let prompt = match llm.chat_ids(&[Message::new("user", "Hi 🎬")]) {
        Ok(ids) if !ids.is_empty() => ids,
        _ => match llm.prompt_ids("Hi") {
            Ok(ids) if !ids.is_empty() => ids,
            _ => return,
        },
    };
    let sampling = Sampling {
        max_new_tokens: 2,
        ..Sampling::default()
    };
    let _ = llm.generate(&[prompt], &sampling, &mut |_, _| true);
}
