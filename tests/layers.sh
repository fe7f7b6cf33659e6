#!/bin/bash
# layers.sh SOURCE_DIR BUILD_DIR — tern's structure, checked.
#
# tern is built in layers, lowest first; data flows up through them (README,
# "How the code is laid out"). A file may use its own layer and the layers
# below it, never one above, and no two files may use each other, directly or
# around a loop. Both are checked twice:
#   - by #include lines of src/, datasets/, include/ and trainers/;
#   - by symbols: every object file of libtern and of the tern program
#     against the object files that define what it calls (nm), which also sees
#     calls made through a shared header.
# Also: every public declaration is TERN_API and every public header C++-safe.
# Each violation is one line; the exit status is the number of them (capped).
set -u
SRC=${1:?usage: layers.sh SOURCE_DIR BUILD_DIR}
BUILD=${2:?usage: layers.sh SOURCE_DIR BUILD_DIR}
cd "$SRC" || exit 2

# Resolve an #include "x" of file f as the build does: beside f, then in the
# include folders (include/, src/).
resolve() {
    local c
    for c in "${2%/*}/$1" "include/$1" "src/$1"; do
        [ -f "$c" ] && { echo "$c"; return; }
    done
}

fail=0

# ---- the public surface: every declaration in include/tern/ is TERN_API ------
# (libtern is built with hidden visibility: an unmarked function would be
# missing from a shared libtern), and every header is wrapped for C++.
unmarked=$(grep -nE '^(const |unsigned |extern )?[A-Za-z_][A-Za-z0-9_ ]*[ *]+(const )?tern_[a-z0-9_]+ *(\(|\[|;)' include/tern/*.h |
           grep -vE ':[0-9]+:(typedef|static|TERN_API|return|struct|enum|union) ')
[ -z "$unmarked" ] || { echo "$unmarked" | sed 's/^/layers: not marked TERN_API: /'; fail=$((fail + $(echo "$unmarked" | wc -l))); }
for h in include/tern/*.h; do
    grep -q 'extern "C"' "$h" || { echo "layers: $h: no extern \"C\" block for C++"; fail=$((fail + 1)); }
done

# ---- edges by #include ------------------------------------------------------
edges=$(mktemp)
syms=$(mktemp)
trap 'rm -f "$edges" "$syms"' EXIT
while IFS= read -r f; do
    while IFS= read -r inc; do
        t=$(resolve "$inc" "$f")
        [ -n "$t" ] && [ "$t" != "$f" ] && echo "$f $t include"
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done < <(find src datasets include trainers -name '*.[ch]' | sort) >"$edges"

# ---- edges by symbol: who calls what another object defines ----------------
objs=$(find "$BUILD/CMakeFiles/tern.dir" "$BUILD/CMakeFiles/tern_cli.dir" -name '*.o' 2>/dev/null | sort)
[ -n "$objs" ] || { echo "layers: no object files under $BUILD/CMakeFiles (build tern first)"; exit 2; }
# "source-path kind symbol" for defined (D) and undefined (U) global symbols.
for o in $objs; do
    s=${o#*.dir/}
    s=${s%.o}
    nm -g "$o" | awk -v s="$s" '$1 == "U" {print s, "U", $2; next} NF == 3 {print s, "D", $3}'
done >"$syms"
awk '$2 == "D" {def[$3] = $1} $2 == "U" {use[NR] = $1 " " $3}
     END {for (i in use) {split(use[i], a, " "); if ((a[2] in def) && def[a[2]] != a[1]) print a[1], def[a[2]], "calls:" a[2]}}' \
    "$syms" | sort -u >>"$edges"

# ---- every use goes down or sideways, and no loops ---------------------------
awk -v layers="portable core kernels quant ops optim nn io datasets monitor runtime train sweep trainers" '
    # The layer of a file: by its folder; a public header by the module it declares.
    function layer(p,   h) {
        if (p == "include/tern.h") return "trainers"   # the umbrella header is for programs
        if (p ~ /^include\/tern\//) {
            h = p; sub(/^include\/tern\//, "", h); sub(/\.h$/, "", h)
            return (h in hdr) ? hdr[h] : "?"
        }
        if (p ~ /^datasets\//) return "datasets"
        if (p ~ /^trainers\//) return "trainers"
        if (p ~ /^src\//) { h = p; sub(/^src\//, "", h); sub(/\/.*/, "", h); return h }
        return "?"
    }
    function unit(p) { sub(/\.[ch]$/, "", p); return p }
    # Tarjan: components of more than one file are loops.
    function visit(v,   i, w, comp, k) {
        idx[v] = low[v] = ++counter; stack[++sp] = v; on[v] = 1
        for (i = 1; i <= nout[v]; i++) {
            w = out[v, i]
            if (!(w in idx)) { visit(w); if (low[w] < low[v]) low[v] = low[w] }
            else if (on[w] && idx[w] < low[v]) low[v] = idx[w]
        }
        if (low[v] == idx[v]) {
            comp = ""; k = 0
            do { w = stack[sp--]; on[w] = 0; comp = comp " " w; k++ } while (w != v)
            if (k > 1) { print "layers: files that use each other around a loop:" comp; bad++ }
        }
    }
    BEGIN {
        n = split(layers, L, " "); for (i = 1; i <= n; i++) rank[L[i]] = i
        split("api status tensor arena rng clock params tape pool comm data_types", m, " "); for (i in m) hdr[m[i]] = "core"
        hdr["kernels"] = "kernels"; hdr["ops"] = "ops"; hdr["quant"] = "quant"; hdr["optim"] = "optim"
        hdr["nn"] = "nn"; hdr["data"] = "datasets"
        split("checkpoint config deploy restore export export_c", m, " "); for (i in m) hdr[m[i]] = "io"
        hdr["monitor"] = "monitor"; hdr["runtime"] = "runtime"; hdr["train"] = "train"; hdr["sweep"] = "sweep"; hdr["hybrid"] = "sweep"
    }
    {
        from = $1; to = $2; how = $3; sub(/^calls:/, "", how)
        lf = layer(from); lt = layer(to)
        if (!(lf in rank)) { if (!(from in told)) print "layers: " from ": in no layer; add it to tests/layers.sh"; told[from] = 1; bad++; next }
        if (!(lt in rank)) { if (!(to in told)) print "layers: " to ": in no layer; add it to tests/layers.sh"; told[to] = 1; bad++; next }
        if (rank[lt] > rank[lf]) { print "layers: " from " (" lf ") uses " to " (" lt "), a higher layer: " how; bad++ }
        uf = unit(from); ut = unit(to)
        if (uf != ut && !((uf, ut) in seen)) { seen[uf, ut] = 1; out[uf, ++nout[uf]] = ut; node[uf] = 1; node[ut] = 1 }
    }
    END {
        for (v in node) if (!(v in idx)) visit(v)
        if (!bad) print "layers: " NR " uses, all downward or sideways, no loops"
        exit bad > 100 ? 100 : bad
    }' "$edges" || fail=$((fail + $?))
[ $fail -gt 100 ] && fail=100
exit $fail
