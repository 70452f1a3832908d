#!/usr/bin/env bash
# Rebuilds the committed seed corpora under fuzz/seeds/ from the repository's small test
# fixtures (no MovieLens data), a tiny training run and make_seeds.py. Only needed when a
# format changes. Usage: bash fuzz/make-seeds.sh [python-with-pyarrow-safetensors-tokenizers-gguf]
set -euo pipefail
cd "$(dirname "$0")/.."
python="${1:-python3}"
seeds=fuzz/seeds
sep=$'\n--next file--\n'
fx=tests/fixtures
rm -rf "$seeds" && mkdir -p "$seeds"/{delimited_log,recbole,movielens,run_file,configs,weights}

# Joins files into one input (an option byte first when given).
join() { local first=1; for f in "$@"; do [ $first = 1 ] || printf '%s' "$sep"; cat "$f"; first=0; done; }

d=$seeds/delimited_log
{ printf '\x00'; cat $fx/generic/clicks.csv; } >$d/clicks-csv
{ printf '\x01'; cat $fx/generic/log.tsv; } >$d/log-tsv
{ printf '\x02'; cat $fx/errors/semicolon.csv; } >$d/semicolon
{ printf '\x10'; join $fx/generic/clicks.csv $fx/generic/products.csv; } >$d/clicks-with-items
{ printf '\x08'; printf 'u,i,t,r\n1,2,3,4\n1,3,4,5\n2,2,1,1\n'; } >$d/named-columns
for f in $fx/errors/*.csv; do { printf '\x00'; cat "$f"; } >"$d/error-$(basename "$f" .csv)"; done

join $fx/recbole/tiny.inter $fx/recbole/tiny.item >$seeds/recbole/tiny
join $fx/recbole-quoted/quoted.inter $fx/recbole-quoted/quoted.item >$seeds/recbole/quoted
printf 'user_id:token\titem_id:token\n1\t2\n' >$seeds/recbole/inter-only

m=$seeds/movielens
{ printf '\x00'; join $fx/ml-100k/u.data $fx/ml-100k/u.item; } >$m/ml-100k
{ printf '\x01'; join $fx/ml-1m/ratings.dat $fx/ml-1m/movies.dat; } >$m/ml-1m
{ printf '\x02'; join $fx/ml-latest/ratings.csv $fx/ml-latest/movies.csv; } >$m/ml-latest

cp experiments/*.toml $seeds/configs/
printf '{title} ({year}). {genres}.' >$seeds/configs/template

# A tiny SASRec run (6 items, hidden 8, 2 heads, 1 layer, feed-forward 16, length 4): the
# shape the weights target expects.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" - "$work/log.csv" <<'PY'
import random, sys
random.seed(1)
with open(sys.argv[1], "w") as f:
    f.write("user_id,item_id,timestamp,rating\n")
    for u in range(1, 9):
        for t in range(6):
            f.write(f"u{u},i{random.randint(1, 6)},{t * 10 + u},{random.randint(1, 5)}\n")
PY
cat >"$work/tiny.toml" <<'TOML'
model = "sasrec"
epochs = 2
batch_size = 4
seed = 7
[transformer]
hidden = 8
heads = 2
layers = 1
inner = 16
max_len = 4
TOML
# The reclab binary: $RECLAB, else the dev build in the shared target folder.
reclab="$(realpath "${RECLAB:-${CARGO_TARGET_DIR:-target}/debug/reclab}")"
(cd "$work" && "$reclab" train --config tiny.toml --data log.csv --no-cache --out runs >/dev/null 2>&1)
run=$(ls -d "$work"/runs/*/)
cp "$run/best.bin" $seeds/weights/best.bin
cp "$run"/checkpoint-model-*.bin $seeds/weights/checkpoint-model.bin
join "$run/run.json" "$run/per_user.bin" >$seeds/run_file/tiny-run
cp "$run/run.json" $seeds/run_file/run-json-only

"$python" fuzz/make_seeds.py "$seeds" ../shared/models/all-MiniLM-L6-v2
du -sh "$seeds"
