# idx.sh — tiny MNIST-format (IDX) datasets for the shell tests (tests/cli,
# tests/mpi): source it, then `make_idx DIR PREFIX N` writes N images of 4x4
# (bytes i*37 mod 256) with labels 0..9 in turn.
be32() { printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"; }
make_idx() { # dir prefix n
    local dir=$1 p=$2 n=$3
    mkdir -p "$dir"
    { be32 2051; be32 "$n"; be32 4; be32 4; for ((i = 0; i < n * 16; i++)); do printf "\\x$(printf %02x $((i * 37 % 256)))"; done; } > "$dir/$p-images-idx3-ubyte"
    { be32 2049; be32 "$n"; for ((i = 0; i < n; i++)); do printf "\\x0$((i % 10))"; done; } > "$dir/$p-labels-idx1-ubyte"
}
