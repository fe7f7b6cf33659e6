# idx.sh — sourced by the portable-build tests: a small MNIST from the real one.

# The first N images of an IDX file, its count rewritten (big-endian).
idx_head() { # in, out, n, bytes per item, header bytes
    local n=$3
    { head -c 4 "$1"
      printf "\\x$(printf %02x $((n >> 24 & 255)))\\x$(printf %02x $((n >> 16 & 255)))"
      printf "\\x$(printf %02x $((n >> 8 & 255)))\\x$(printf %02x $((n & 255)))"
      head -c $(($5 + n * $4)) "$1" | tail -c +9; } > "$2"
}
