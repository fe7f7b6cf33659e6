#!/usr/bin/python3
"""gen.py — the hostile-input corpus of tern: every case's input files and
the expectation its run is checked against (run.sh runs them).

    gen.py base DIR     DIR/base: tiny datasets and good configs (run.sh then
                        trains and exports into it with tern)
    gen.py cases DIR    DIR/cases/NAME/: each case's own files, laid over a
                        copy of DIR/base; DIR/manifest: one case a line

Manifest line (tab-separated): name, category, expectation, protect, note; the
same fields, the command and a setup command (run before the files are
recorded), one a line, in DIR/m/NAME.
  expectation  err:S1|S2   non-zero exit (no signal), one stderr line holding S1 and S2
               any:S1|S2   exit 0, or the error above
               ok          exit 0
               nocrash     any exit but a signal or a hang
               last:S      non-zero exit, the last stderr line (after progress lines) holds S
               usage       non-zero exit with the usage text
               skip:WHY    not run here (e.g. no h5py)
  protect      all: every file of the case directory that exists before the
               command must be there, byte for byte, after it; '-' none
  cmd          bash, run in the case directory with $TERN set

Deterministic: no clock, no unseeded randomness. Standard library only, but
cases that edit HDF5 objects need h5py; without it they are marked skip.
"""
import gzip
import os
import random
import shutil
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h5seal  # noqa: E402

try:
    import h5py
    import numpy as np
except ImportError:  # the h5py cases are skipped
    h5py = None

    class _Inert:
        """Stands in for numpy while the (skipped) h5py edits are listed."""
        def __getattr__(self, name):
            return self

        def __call__(self, *args, **kwargs):
            return self

    np = _Inert()

HERE = os.path.dirname(os.path.abspath(__file__))
FIFO, DIR = object(), object()


# ---- base: tiny datasets and configs ---------------------------------------

def idx_images(n, h=4, w=4, magic=2051, count=None):
    return struct.pack(">4I", magic, n if count is None else count, h, w) + bytes((i * 37) % 256 for i in range(n * h * w))


def idx_labels(n, magic=2049, count=None, labels=None):
    labels = labels if labels is not None else [i % 10 for i in range(n)]
    return struct.pack(">2I", magic, n if count is None else count) + bytes(labels)


def cifar_records(n, label=None):
    out = bytearray()
    for i in range(n):
        out.append(i % 10 if label is None else label)
        out += bytes(((i * 131 + k * 7) % 256) for k in range(3072))
    return bytes(out)


LAYERS_MLP = [
    {"type": "flatten"},
    {"type": "linear", "name": "fc1", "out": "8"},
    {"type": "linear", "name": "fc2", "out": "10", "ternary": "false"},
]
LAYERS_CONV = [
    {"type": "conv2d", "name": "c1", "out": "4", "kernel": "3", "pad": "1", "bias": "false"},
    {"type": "batchnorm", "name": "bn1", "act": "relu"},
    {"type": "conv2d", "name": "c2", "out": "4", "kernel": "3", "pad": "1", "ternary": "false"},
    {"type": "add", "from": "1"},
    {"type": "maxpool", "kernel": "2"},
    {"type": "flatten"},
    {"type": "linear", "name": "fc", "out": "10", "ternary": "false"},
]


def base_cfg(layers=None, data="data", out="run", name="mnist"):
    return {
        "dataset": {"name": name, "path": data},
        "model": {"layers": [dict(l) for l in (LAYERS_MLP if layers is None else layers)]},
        "quant": {"method": "twn"},
        "optimizer": {"name": "adam", "lr": "0.01"},
        "schedule": {"name": "constant"},
        "training": {"epochs": "1", "batch_size": "8", "threads": "1"},
        "output": {"dir": out},
    }


def flow(d):
    return "{" + ", ".join("%s: %s" % (k, v) for k, v in d.items()) + "}"


def render(cfg):
    out = []
    for sec, v in cfg.items():
        if sec == "model":
            out.append("model:")
            for k, val in v.items():
                if k == "layers":
                    out.append("  layers:")
                    for l in val:
                        out.append("    - " + (flow(l) if isinstance(l, dict) else str(l)))
                else:
                    out.append("  %s: %s" % (k, val))
        elif isinstance(v, dict):
            out.append("%s: %s" % (sec, flow(v)))
        else:
            out.append("%s: %s" % (sec, v))
    return ("\n".join(out) + "\n").encode()


def write_tree(root, files):
    for rel, content in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if content is FIFO:
            os.mkfifo(p)
        elif content is DIR:
            os.makedirs(p, exist_ok=True)
        elif isinstance(content, tuple) and content[0] == "link":
            os.symlink(content[1], p)
        elif isinstance(content, tuple) and content[0] == "sparse":
            with open(p, "wb") as f:
                f.truncate(content[1])
        else:
            with open(p, "wb") as f:
                f.write(content)


def gen_base(d):
    b = os.path.join(d, "base")
    files = {
        "data/train-images-idx3-ubyte": idx_images(20),
        "data/train-labels-idx1-ubyte": idx_labels(20),
        "data/t10k-images-idx3-ubyte": idx_images(10),
        "data/t10k-labels-idx1-ubyte": idx_labels(10),
        "cdata/data_batch_1.bin": cifar_records(12),
        "cdata/test_batch.bin": cifar_records(4),
        "good.yaml": render(base_cfg()),
        "conv.yaml": render(base_cfg(LAYERS_CONV, out="runc")),
        "cifar.yaml": render(base_cfg([{"type": "conv2d", "name": "c1", "out": "2", "kernel": "3", "stride": "4"},
                                       {"type": "flatten"},
                                       {"type": "linear", "name": "fc", "out": "10", "ternary": "false"}],
                                      data="cdata", out="runx", name="cifar10")),
        "hyb.yaml": render(dict(base_cfg(), dataset={"name": "mnist", "path": "data", "validation": "10"})),
        "afile": b"just a file\n",
        "img.pgm": b"P5\n4 4\n255\n" + bytes(range(0, 160, 10)),
    }
    write_tree(b, files)


# ---- cases --------------------------------------------------------------------

class Corpus:
    def __init__(self, d):
        self.d = d
        self.base = os.path.join(d, "base")
        self.lines = []
        self.names = set()

    def read(self, rel):
        with open(os.path.join(self.base, rel), "rb") as f:
            return f.read()

    def add(self, cat, name, expect, cmd, files=None, protect="all", note="", setup=""):
        name = "%s.%s" % (cat, name)
        assert name not in self.names, name
        if not setup and " && " in cmd and cmd.split()[0] in ("rm", "ln", "mknod", "cp"):
            setup, cmd = cmd.split(" && ", 1)
        assert "\t" not in cmd and "\n" not in cmd, name
        self.names.add(name)
        if files:
            write_tree(os.path.join(self.d, "cases", name), files)
        self.lines.append("\t".join([name, cat, expect, protect, note or "-"]))
        os.makedirs(os.path.join(self.d, "m"), exist_ok=True)
        with open(os.path.join(self.d, "m", name), "w") as f:
            f.write("\n".join([name, cat, expect, protect, note or "-", cmd, setup or "true"]) + "\n")

    def skip(self, cat, name, why):
        self.add(cat, name, "skip:" + why, "true")

    def write(self):
        with open(os.path.join(self.d, "manifest"), "w") as f:
            f.write("\n".join(self.lines) + "\n")


T = '"$TERN"'


def rotate(items, k, n):
    """n of items, starting at k: each field gets a different few values."""
    return [items[(k * n + i) % len(items)] for i in range(n)]


# ---- configs --------------------------------------------------------------------

INT_BAD = [("neg", "-1"), ("int_max1", "2147483648"), ("two62", "4611686018427387904"), ("e300", "1e300"),
           ("nan", ".nan"), ("inf", ".inf"), ("word", "ten"), ("empty", "''"), ("seq", "[1, 2]"),
           ("map", "{a: 1}"), ("frac", "1.5"), ("hex_junk", "0xZZ"), ("huge_digits", "9" * 400)]
FLOAT_BAD = [("nan", ".nan"), ("inf", ".inf"), ("ninf", "-.inf"), ("e300", "1e300"), ("word", "fast"),
             ("seq", "[0.1]"), ("map", "{a: 1}"), ("empty", "''"), ("huge_digits", "9" * 400)]
FLOAT_ODD = [("zero", "0"), ("neg", "-1"), ("denorm", "1e-320"), ("big", "1e30")]


def configs(c):
    cat = "config"
    bad = lambda cfg: {"bad.yaml": render(cfg)}
    run = T + " train bad.yaml --force"
    # Numeric fields of every section: invalid values are refused by name.
    int_fields = [("training", "epochs"), ("training", "batch_size"), ("training", "threads"),
                  ("training", "eval_every"), ("training", "checkpoint_every"), ("training", "seed")]
    for fi, (sec, key) in enumerate(int_fields):
        for tag, v in INT_BAD if fi == 0 else rotate(INT_BAD, fi, 3):
            cfg = base_cfg()
            cfg[sec][key] = v
            exp = "err:bad.yaml|%s.%s" % (sec, key)
            protect = "all"
            if key == "seed" and tag in ("neg",):
                exp = "any:bad.yaml|training.seed"
            if key == "seed" and tag in ("two62", "int_max1"):
                # A seed is 64 bits: a valid run, which --force lets replace the earlier one.
                exp, protect = "any:bad.yaml|training.seed", "-"
            c.add(cat, "%s_%s_%s" % (sec, key, tag), exp, run, bad(cfg), protect=protect)
        cfg = base_cfg(out="out")
        cfg[sec][key] = "0"
        c.add(cat, "%s_%s_zero" % (sec, key), "any:bad.yaml|%s.%s" % (sec, key), T + " train bad.yaml", bad(cfg))
    float_fields = [("optimizer", "lr"), ("optimizer", "weight_decay"), ("optimizer", "beta1"), ("optimizer", "beta2"),
                    ("optimizer", "eps"), ("optimizer", "clip"), ("quant", "t"), ("quant", "clip"), ("quant", "eps"),
                    ("quant", "alpha_lr"), ("schedule", "min_lr")]
    for fi, (sec, key) in enumerate(float_fields):
        for tag, v in FLOAT_BAD if fi == 0 else rotate(FLOAT_BAD, fi, 2):
            cfg = base_cfg()
            cfg[sec][key] = v
            c.add(cat, "%s_%s_%s" % (sec, key, tag), "err:bad.yaml|%s.%s" % (sec, key), run, bad(cfg))
        for tag, v in FLOAT_ODD if fi in (0, 6) else []:
            cfg = base_cfg(out="out")
            cfg[sec][key] = v
            # An odd learning rate may diverge: then the NaN guard's line, which names the step.
            exp = "any:step" if (key, tag) == ("lr", "big") else "any:bad.yaml|%s.%s" % (sec, key)
            c.add(cat, "%s_%s_%s" % (sec, key, tag), exp, T + " train bad.yaml", bad(cfg))
    # Schedules with their own numbers.
    for sched, key in [("cosine", "warmup_epochs"), ("step", "step_epochs"), ("step", "gamma")]:
        for tag, v in [("nan", ".nan"), ("inf", ".inf"), ("neg", "-1"), ("e300", "1e300")]:
            cfg = base_cfg()
            cfg["schedule"] = {"name": sched, key: v}
            if sched == "step" and key == "gamma":
                cfg["schedule"]["step_epochs"] = "1"
            c.add(cat, "schedule_%s_%s_%s" % (sched, key, tag), "err:bad.yaml|schedule.%s" % key, run, bad(cfg))
    for sched, extra in [("cosine", {"warmup_epochs": "5"}), ("step", {"step_epochs": "0.001", "gamma": "0"}),
                         ("step", {"step_epochs": "1e-30"})]:
        cfg = base_cfg(out="out")
        cfg["schedule"] = dict({"name": sched}, **extra)
        c.add(cat, "schedule_%s_odd_%d" % (sched, len(c.lines)), "any:bad.yaml|schedule", T + " train bad.yaml",
              bad(cfg))
    # Layer numbers.
    for li, key in [(1, "out"), (2, "out")]:
        extra = [("zero", "0"), ("two30", "1073741824")]
        for tag, v in (rotate(INT_BAD, li, 6) if li == 1 else rotate(INT_BAD, li, 3)) + extra:
            cfg = base_cfg()
            cfg["model"]["layers"][li][key] = v
            exp = "err:layer %d|more than" % li if tag == "two30" else "err:bad.yaml|model.layers.%d" % li
            c.add(cat, "layer%d_%s_%s" % (li, key, tag), exp, run, bad(cfg))
    conv = lambda **kw: [dict({"type": "conv2d", "name": "c1", "out": "4", "kernel": "3"}, **kw),
                         {"type": "flatten"}, {"type": "linear", "name": "fc", "out": "10", "ternary": "false"}]
    for key in ["kernel", "stride", "pad", "out"]:
        for tag, v in rotate(INT_BAD, len(key), 3) + [("zero", "0"), ("big", "65536")]:
            if key == "pad" and tag == "zero":
                continue
            cfg = base_cfg(conv(**{key: v}))
            if tag == "big" and key in ("out", "stride"):  # odd but valid: a 1x1 output
                cfg["output"]["dir"] = "out"
                c.add(cat, "conv_%s_%s" % (key, tag), "any:bad.yaml", T + " train bad.yaml", bad(cfg))
                continue
            exp = "err:bad.yaml|model.layers.0"
            c.add(cat, "conv_%s_%s" % (key, tag), exp, run, bad(cfg),
                  note="conv pad unbounded" if (key, tag) == ("pad", "big") else "")
    for key, vals in [("p", [".nan", "-0.5", "1", "1.5", ".inf"]), ("momentum", [".nan", "-1", "2"]),
                      ("eps", [".nan", "-1", "0", ".inf"])]:
        for i, v in enumerate(vals):
            typ = "dropout" if key == "p" else "batchnorm"
            layers = [dict(l) for l in LAYERS_MLP]
            layers.insert(2, {"type": typ, key: v})
            c.add(cat, "%s_%s_%d" % (typ, key, i), "err:bad.yaml|model.layers.2", run, bad(base_cfg(layers)))
    # Strings and names.
    for sec, key, v, exp in [
        ("dataset", "name", "''", "dataset.name"), ("dataset", "name", "MNIST", "dataset.name"),
        ("dataset", "name", "imagenet", "dataset.name"), ("dataset", "name", "'mnist\\0'", "dataset.name"),
        ("dataset", "name", "x" * 5000, "dataset.name"), ("dataset", "normalize", "bogus", "dataset.normalize"),
        ("quant", "method", "bogus", "quant.method"), ("quant", "method", "''", "quant.method"),
        ("quant", "granularity", "bogus", "quant.granularity"), ("quant", "ste", "bogus", "quant.ste"),
        ("quant", "act_bits", "4", "quant.act_bits"), ("quant", "act_bits", "-8", "quant.act_bits"),
        ("quant", "enabled", "maybe", "quant.enabled"), ("quant", "learned_alpha", "2", "quant.learned_alpha"),
        ("optimizer", "name", "bogus", "optimizer.name"), ("optimizer", "name", "''", "optimizer.name"),
        ("optimizer", "nesterov", "yes please", "optimizer.nesterov"), ("schedule", "name", "bogus", "schedule.name"),
        ("output", "dir", "''", "output.dir"), ("output", "dir", "afile", "afile"),
        ("output", "dir", "afile/run", "afile"), ("output", "dir", "x" * 5000, "output.dir"),
        ("dataset", "path", "x" * 5000, "dataset.path"), ("dataset", "path", "''", "dataset"),
        ("dataset", "path", "nowhere", "nowhere"), ("dataset", "path", "afile", "afile"),
        ("dataset", "path", "/dev/null", "/dev/null"), ("dataset", "path", "'data\\x01'", "dataset"),
    ]:
        cfg = base_cfg()
        cfg[sec][key] = v
        c.add(cat, "str_%s_%s_%d" % (sec, key, len(c.lines)), "err:" + exp, run, bad(cfg))
    for tag, extra in [("mean2", {"normalize": "given", "mean": "[0.1, 0.2]", "std": "[0.3, 0.3]"}),
                       ("std0", {"normalize": "given", "mean": "[0.1]", "std": "[0]"}),
                       ("stdneg", {"normalize": "given", "mean": "[0.1]", "std": "[-1]"}),
                       ("stdnan", {"normalize": "given", "mean": "[0.1]", "std": "[.nan]"}),
                       ("meaninf", {"normalize": "given", "mean": "[.inf]", "std": "[1]"}),
                       ("nomean", {"normalize": "given"}), ("mean4", {"mean": "[1, 2, 3, 4]"}),
                       ("mean_empty", {"normalize": "given", "mean": "[]", "std": "[]"}),
                       ("crop_neg", {"augment": "{crop_pad: -1}"}), ("crop_huge", {"augment": "{crop_pad: 100000}"}),
                       ("crop_two62", {"augment": "{crop_pad: 4611686018427387904}"}),
                       ("hflip_str", {"augment": "{hflip: sideways}"})]:
        cfg = base_cfg()
        cfg["dataset"].update(extra)
        c.add(cat, "dataset_%s" % tag, "err:bad.yaml|dataset", run, bad(cfg))
    # Layers: types, names, shapes, references.
    L = lambda *ls: base_cfg(list(ls))
    fc10 = {"type": "linear", "name": "fc", "out": "10", "ternary": "false"}
    flat = {"type": "flatten"}
    for tag, cfg, exp in [
        ("type_bogus", L(flat, {"type": "bogus"}, fc10), "model.layers.1"),
        ("type_empty", L(flat, {"type": "''"}, fc10), "model.layers.1"),
        ("type_upper", L(flat, {"type": "LINEAR", "out": "10"}), "model.layers.1"),
        ("no_type", L(flat, {"name": "x", "out": "10"}), "model.layers.1"),
        ("layers_empty", L(), "model.layers"),
        ("only_flatten", L(flat), "bad.yaml"),
        ("last_out_3", L(flat, {"type": "linear", "name": "fc", "out": "3"}), "bad.yaml"),
        ("last_out_11", L(flat, {"type": "linear", "name": "fc", "out": "11"}), "bad.yaml"),
        ("dup_name", L(flat, {"type": "linear", "name": "fc", "out": "8"}, fc10), "fc"),
        ("dup_auto_name", L(flat, {"type": "linear", "name": "flatten0", "out": "10"}), "flatten0"),
        ("name_slash", L(flat, {"type": "linear", "name": "a/b", "out": "10"}), "model.layers.1"),
        ("name_dot", L(flat, {"type": "linear", "name": ".", "out": "10"}), "model.layers.1"),
        ("name_empty", L(flat, {"type": "linear", "name": "''", "out": "10"}), "model.layers.1"),
        ("name_long", L(flat, {"type": "linear", "name": "n" * 300, "out": "10"}), "model.layers.1"),
        ("name_newline", L(flat, {"type": "linear", "name": '"a\\nb"', "out": "10"}), "model.layers.1"),
        ("name_nul", L(flat, {"type": "linear", "name": '"a\\0b"', "out": "10"}), "bad.yaml"),
        ("from_neg", L(flat, {"type": "linear", "name": "a", "out": "16"}, {"type": "add", "from": "-1"}, fc10),
         "model.layers.2"),
        ("from_self", L(flat, {"type": "linear", "name": "a", "out": "16"}, {"type": "add", "from": "2"}, fc10),
         "model.layers.2"),
        ("from_later", L(flat, {"type": "add", "from": "3"}, {"type": "linear", "name": "a", "out": "16"}, fc10),
         "model.layers.1"),
        ("from_huge", L(flat, {"type": "add", "from": "2147483647"}, fc10), "model.layers.1"),
        ("from_shape", L(flat, {"type": "linear", "name": "a", "out": "8"}, {"type": "add", "from": "0"}, fc10),
         "layer 2"),
        ("add_no_from", L(flat, {"type": "add"}, fc10), "model.layers.1"),
        ("from_on_linear", L(flat, {"type": "linear", "name": "a", "out": "10", "from": "0"}), "model.layers.1"),
        ("conv_k5_on_4x4", L({"type": "conv2d", "name": "c", "out": "2", "kernel": "5"}, flat, fc10),
         "layer 0"),
        ("pool_k8_on_4x4", L({"type": "maxpool", "kernel": "8"}, flat, fc10), "layer 0"),
        ("avgpool_k0", L({"type": "avgpool", "kernel": "0"}, flat, fc10), "model.layers.0"),
        ("pool_pad_gt_half", L({"type": "maxpool", "kernel": "2", "pad": "2"}, flat, fc10), "model.layers.0"),
        ("gap_on_flat", L(flat, {"type": "global_avgpool"}, fc10), "layer 1"),
        ("conv_after_flatten", L(flat, {"type": "conv2d", "name": "c", "out": "2", "kernel": "1"}, fc10),
         "layer 1"),
        ("bn_first_flat", L(flat, {"type": "batchnorm"}, fc10), "any"),
        ("kernel_on_linear", L(flat, {"type": "linear", "name": "a", "out": "10", "kernel": "3"}), "model.layers.1"),
        ("act_bogus", L(flat, {"type": "linear", "name": "a", "out": "10", "act": "gelu"}), "model.layers.1"),
        ("conv_pad_huge", L({"type": "conv2d", "name": "c", "out": "1", "kernel": "1", "pad": "30000"}, flat, fc10),
         "layer 0"),
        ("linear_out_huge", L(flat, {"type": "linear", "name": "a", "out": "2000000000"}, fc10), "layer 1|more than"),
        ("conv_stride_huge", L({"type": "conv2d", "name": "c", "out": "2", "kernel": "1", "stride": "2147483647"},
                               flat, fc10), "model.layers.0"),
    ]:
        if exp == "any":
            cfg["output"]["dir"] = "out"
            c.add(cat, "layers_" + tag, "any:bad.yaml", T + " train bad.yaml", bad(cfg))
        else:
            c.add(cat, "layers_" + tag, "err:" + exp, run, bad(cfg))
    # Many layers: linear in count, not quadratic, and bounded.
    for n in (2000, 20000):
        cfg = L(flat, *([{"type": "dropout", "p": "0.1"}] * n), fc10)
        c.add(cat, "layers_many_%d" % n, "any:bad.yaml", T + " train bad.yaml --set output.dir=out", bad(cfg),
              note="O(n^2) layer names")
    cfg = L(flat, *([{"type": "linear", "out": "16"}] * 300), fc10)
    # 300 linear layers diverge: a refused checkpoint (its optimizer state is no longer finite) ends the run.
    c.add(cat, "layers_300_linear", "any:", T + " train bad.yaml --set output.dir=out", bad(cfg))
    # Per-layer quant blocks.
    for tag, q in [("method", "{method: bogus}"), ("t_nan", "{t: .nan}"), ("enabled", "{enabled: false}"),
                   ("bits", "{act_bits: 3}"), ("seq", "[1]"), ("t_neg", "{t: -1}")]:
        c.add(cat, "layer_quant_" + tag, "err:bad.yaml|model.layers.1",
              run, bad(L(flat, {"type": "linear", "name": "a", "out": "10", "quant": q})))
    # Syntax and structure.
    good = c.read("good.yaml")
    for tag, text, exp in [
        ("empty", b"", "bad.yaml"), ("comment_only", b"# nothing\n", "bad.yaml"), ("null", b"~\n", "bad.yaml"),
        ("scalar", b"42\n", "bad.yaml"), ("list", b"- a\n- b\n", "bad.yaml"),
        ("unclosed_flow", good.replace(b"{type: flatten}", b"{type: flatten"), "bad.yaml"),
        ("unclosed_quote", good.replace(b"mnist", b'"mnist'), "bad.yaml"),
        ("tab_indent", good.replace(b"  layers:", b"\tlayers:"), "bad.yaml"),
        ("bad_indent", good.replace(b"    - {type: flatten}", b" - {type: flatten}"), "bad.yaml"),
        ("dup_section", good + b"training: {epochs: 2}\n", "bad.yaml"),
        ("dup_key", good.replace(b"epochs: 1,", b"epochs: 1, epochs: 2,"), "bad.yaml"),
        ("two_docs", good + b"---\n" + good, "bad.yaml"),
        ("doc_end_junk", good + b"...\ngarbage: [\n", "bad.yaml"),
        ("nul_inside", good.replace(b"mnist", b"mn\0ist"), "bad.yaml"),
        ("nul_prefix", b"\0" + good, "bad.yaml"),
        ("invalid_utf8", good.replace(b"mnist", b"mn\xff\xfeist"), "bad.yaml"),
        ("utf16", good.decode().encode("utf-16"), "bad.yaml"),
        ("binary_junk", bytes(random.Random(7).randrange(256) for _ in range(4096)), "bad.yaml"),
        ("unknown_top", good + b"extra: 1\n", "extra"),
        ("unknown_layer_key", good.replace(b"out: 8}", b"out: 8, outs: 9}"), "outs"),
        ("missing_model", b"\n".join(l for l in good.split(b"\n") if not l.startswith((b"model", b"  ", b"    "))),
         "model"),
        ("missing_optimizer", b"\n".join(l for l in good.split(b"\n") if not l.startswith(b"optimizer")), "optimizer"),
        ("missing_lr", good.replace(b", lr: 0.01", b""), "lr"),
        ("layers_is_map", good.replace(b"  layers:\n", b"  layers: {a: 1}\n  x:\n"), "bad.yaml"),
        ("layers_scalar", b"\n".join(l for l in good.split(b"\n") if not l.startswith(b"    ")).replace(
            b"  layers:", b"  layers: 3"), "model.layers"),
        ("undefined_alias", good.replace(b"lr: 0.01", b"lr: *nope"), "bad.yaml"),
        ("self_alias", good.replace(b"quant: {method: twn}", b"quant: &q {method: twn, t: *q}"), "bad.yaml"),
        ("alias_ok", good.replace(b"{type: linear, name: fc1, out: 8}", b"&l {type: linear, name: fc1, out: 8}"),
         "ok"),
        ("merge_key", good.replace(b"training: {", b"base: &b {epochs: 1}\ntraining: {<<: *b, "), "bad.yaml"),
        ("tagged", good.replace(b"lr: 0.01", b"lr: !!str 0.01"), "any"),
        ("tag_binary", good.replace(b"lr: 0.01", b"lr: !!binary AAAA"), "bad.yaml"),
        ("crlf", good.replace(b"\n", b"\r\n"), "ok"),
        ("bom", b"\xef\xbb\xbf" + good, "any"),
        ("no_final_newline", good.rstrip(b"\n"), "ok"),
        ("long_line", good.replace(b"# x", b"") + b"# " + b"x" * 2000000 + b"\n", "ok"),
        ("long_key", good + b"k" * 100000 + b": 1\n", "bad.yaml"),
        ("long_value", good.replace(b"name: mnist", b"name: " + b"m" * 1000000), "dataset.name"),
        ("deep_flow", good + b"deep: " + b"[" * 100000 + b"]" * 100000 + b"\n", "bad.yaml"),
        ("deep_block", good + b"deep:\n" + b"".join(b" " * i + b"- \n" for i in range(0, 3000)), "bad.yaml"),
        ("deep_in_layers", good.replace(b"{type: flatten}", b"{type: flatten, x: " + b"{a: " * 20000 + b"1" +
                                        b"}" * 20000 + b"}"), "bad.yaml"),
        ("many_keys", good + b"".join(b"k%d: 1\n" % i for i in range(50000)), "bad.yaml"),
    ]:
        if exp == "ok":
            c.add(cat, "syntax_" + tag, "ok", T + " train bad.yaml --set output.dir=out", {"bad.yaml": text})
        elif exp == "any":
            c.add(cat, "syntax_" + tag, "any:bad.yaml", T + " train bad.yaml --set output.dir=out", {"bad.yaml": text})
        else:
            c.add(cat, "syntax_" + tag, "err:" + exp, run, {"bad.yaml": text})
    # Billion laughs: aliases that expand exponentially, where the schema walks them.
    lol = [b"a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i in range(1, 10):
        lol.append(b"a%d: &a%d [%s]" % (i, i, b", ".join([b"*a%d" % (i - 1)] * 10)))
    c.add(cat, "laughs_top", "err:bad.yaml", run, {"bad.yaml": b"\n".join(lol) + b"\n" + good})
    laughs_in = good.replace(b"dataset: {name: mnist, path: data}",
                             b"dataset: {name: mnist, path: data, mean: " + b"\nx: ".join(lol).replace(b"a0: ", b"", 1)
                             + b"}")
    c.add(cat, "laughs_in_mean", "err:bad.yaml", run, {"bad.yaml": laughs_in})
    layer_lol = [b"    - &l0 {type: dropout, p: 0.1}"]
    body = good.replace(b"    - {type: flatten}\n", b"    - {type: flatten}\n" + layer_lol[0] + b"\n" +
                        b"".join(b"    - *l0\n" for _ in range(5000)))
    c.add(cat, "alias_5000_layers", "any:bad.yaml", T + " train bad.yaml --set output.dir=out", {"bad.yaml": body})
    nest = [b"n0: &n0 {a: 1, b: 1}"] + [b"n%d: &n%d {a: *n%d, b: *n%d}" % (i, i, i - 1, i - 1) for i in range(1, 40)]
    c.add(cat, "laughs_maps_40", "err:bad.yaml", run, {"bad.yaml": b"\n".join(nest) + b"\n" + good})
    nl = good.replace(b"quant: {method: twn}", b"quant: {method: twn, x: &x0 [1,1]}\n" +
                      b"".join(b"q%d: &x%d [*x%d, *x%d]\n" % (i, i, i - 1, i - 1) for i in range(1, 40)))
    c.add(cat, "laughs_after_unknown", "err:bad.yaml", run, {"bad.yaml": nl})
    # The validation split and model selection: the base's 20 training
    # samples are 2 per class, so 10 (one each) is the only count that
    # stratifies; a fraction that rounds to 0 or to all 20 is refused.
    val_bad = [("frac_over", "1.5"), ("neg", "-3"), ("all", "20"), ("more", "21"), ("class_short", "5"),
               ("rounds_to_all", "0.999"), ("rounds_to_none", "1e-300"), ("nan", ".nan"), ("inf", ".inf"),
               ("word", "half"), ("e300", "1e300"), ("seq", "[0.1]"), ("map", "{a: 1}"), ("empty", "''")]
    for tag, v in val_bad:
        cfg = base_cfg()
        cfg["dataset"]["validation"] = v
        c.add(cat, "dataset_validation_" + tag, "err:bad.yaml|dataset.validation", run, bad(cfg))
    for tag, v in [("count", "10"), ("half", "0.5"), ("zero", "0")]:
        cfg = base_cfg(out="out")
        cfg["dataset"]["validation"] = v
        cfg["training"]["early_stopping"] = "{patience: 1, min_delta: 1e30}"
        c.add(cat, "dataset_validation_ok_" + tag, "ok" if tag != "zero" else "err:bad.yaml|early_stopping.patience",
              T + " train bad.yaml", bad(cfg))
    for tag, v in [("foo", "foo"), ("int", "1"), ("test_acc", "test_acc"), ("empty", "''"), ("seq", "[val_acc]")]:
        cfg = base_cfg()
        cfg["training"]["best_metric"] = v
        c.add(cat, "training_best_metric_" + tag, "err:bad.yaml|training.best_metric", run, bad(cfg))
    for tag, v in INT_BAD:
        cfg = base_cfg()
        cfg["dataset"]["validation"] = "10"
        cfg["training"]["early_stopping"] = "{patience: %s}" % v
        c.add(cat, "training_patience_" + tag, "err:bad.yaml|training.early_stopping.patience", run, bad(cfg))
    for tag, v in FLOAT_BAD + [("neg", "-0.1")]:
        cfg = base_cfg()
        cfg["dataset"]["validation"] = "10"
        cfg["training"]["early_stopping"] = "{patience: 1, min_delta: %s}" % v
        c.add(cat, "training_min_delta_" + tag, "err:bad.yaml|training.early_stopping.min_delta", run, bad(cfg))
    cfg = base_cfg()
    cfg["training"]["early_stopping"] = "[1]"
    c.add(cat, "training_early_stopping_seq", "err:bad.yaml|training.early_stopping", run, bad(cfg))
    # The config file itself.
    for tag, files, path, exp in [
        ("missing", {}, "nowhere.yaml", "nowhere.yaml"), ("directory", {"d.yaml": DIR}, "d.yaml", "d.yaml"),
        ("fifo", {"f.yaml": FIFO}, "f.yaml", "f.yaml"), ("dev_null", {}, "/dev/null", "/dev/null"),
        ("dev_zero", {}, "/dev/zero", "/dev/zero"), ("dev_urandom", {}, "/dev/urandom", "/dev/urandom"),
        ("symlink_loop", {"l1.yaml": ("link", "l2.yaml"), "l2.yaml": ("link", "l1.yaml")}, "l1.yaml", "l1.yaml"),
        ("dangling", {"dl.yaml": ("link", "gone.yaml")}, "dl.yaml", "dl.yaml"),
        ("h5_file", {}, "run/last.h5", "run/last.h5"), ("binary", {}, "$TERN", "tern"),
        ("trailing_slash", {}, "good.yaml/", "good.yaml"), ("empty_name", {}, "''", "tern train"),
        ("long_path", {}, "a" * 5000 + ".yaml", "aaaa"), ("sparse_huge", {"big.yaml": ("sparse", 1 << 34)},
                                                          "big.yaml", "big.yaml"),
        ("proc_self", {}, "/proc/self/mem", "/proc/self/mem"),
    ]:
        c.add(cat, "file_" + tag, "err:" + exp, T + " train " + path + " --force", files)


# ---- --set --------------------------------------------------------------------

def sets(c):
    cat = "set"
    g = T + " train good.yaml --force --set "
    o = T + " train good.yaml --set output.dir=out --set "
    for tag, s, exp in [
        ("empty", "''", "err:"), ("eq_only", "=", "err:"), ("no_eq", "training.epochs", "err:training.epochs"),
        ("no_value", "training.epochs=", "err:training.epochs"), ("no_key", "=3", "err:"),
        ("section", "training=3", "err:training"), ("too_deep", "training.epochs.x=3", "err:training.epochs"),
        ("unknown_sec", "nosuch.key=1", "err:nosuch"), ("unknown_key", "training.epochz=1", "err:epochz"),
        ("unknown_layer", "model.layers.nosuch.out=3", "err:nosuch"), ("layer_neg", "model.layers.fc1.out=-1",
                                                                       "err:fc1"),
        ("layer_itself", "model.layers.fc1=3", "err:fc1"), ("layers_all", "model.layers=3", "err:model.layers"),
        ("layer_index", "model.layers.1.out=3", "any:model.layers"),
        ("layer_index_big", "model.layers.99.out=3", "err:model.layers"),
        ("layer_index_neg", "model.layers.-1.out=3", "err:model.layers"),
        ("nan", "optimizer.lr=.nan", "err:optimizer.lr"), ("e300", "optimizer.lr=1e300", "err:optimizer.lr"),
        ("two62", "training.epochs=4611686018427387904", "err:training.epochs"),
        ("yaml_inject_newline", "$'training.epochs=1\\nfoo: 2'", "err:training.epochs"),
        ("yaml_inject_flow", "'training.epochs=1, batch_size: 0'", "err:training.epochs"),
        ("yaml_inject_seq", "'training.epochs=[1'", "err:training.epochs"),
        ("yaml_map", "'training.epochs={a: 1}'", "err:training.epochs"),
        ("yaml_anchor", "'training.epochs=&a 1'", "any:training.epochs"),
        ("yaml_alias", "'training.epochs=*a'", "err:training.epochs"),
        ("yaml_comment", "'training.epochs=1 # c'", "any:training.epochs"),
        ("yaml_tag", "'training.epochs=!!float 1'", "any:training.epochs"),
        ("quote", "'dataset.path=\"data'", "err:dataset.path"),
        ("mean_seq", "'dataset.mean=[1,2]'", "err:dataset"),
        ("mean_scalar", "dataset.mean=0.5", "any:dataset.mean"),
        ("path_missing", "dataset.path=nowhere", "err:nowhere"),
        ("outdir_empty", "output.dir=", "err:output.dir"), ("outdir_file", "output.dir=afile", "err:afile"),
        ("quant_bogus", "quant.method=bogus", "err:quant.method"),
        ("name_cifar", "dataset.name=cifar10", "err:cifar"),
        ("huge_value", "training.epochs=" + "9" * 100000, "err:training.epochs"),
        ("huge_key", "k" * 100000 + "=1", "err:kkkk"),
        ("huge_path", "dataset.path=" + "p" * 100000, "err:dataset.path"),
        ("dots", "...=1", "err:"), ("dot_end", "training.=1", "err:training"),
        ("utf8_junk", "$'training.epochs=\\xff\\xfe'", "err:training.epochs"),
        ("control", "$'training.epochs=\\x01'", "err:training.epochs"),
    ]:
        cmd = (g if exp.startswith("err") else o) + s
        c.add(cat, tag, exp, cmd)
    c.add(cat, "repeated_64", "ok", o + " --set ".join(["training.epochs=1"] * 63))
    c.add(cat, "repeated_65", "err:--set", g + " --set ".join(["training.epochs=1"] * 65))
    c.add(cat, "repeated_last_wins_bad", "err:training.epochs", g + "training.epochs=1 --set training.epochs=0")
    c.add(cat, "set_before_config", "any:", T + " train --set training.epochs=1 good.yaml --set output.dir=out")
    c.add(cat, "set_missing_value", "err:--set", T + " train good.yaml --set")
    c.add(cat, "set_with_resume_bad", "err:training.epochs", T + " train --resume run/last.h5 --set training.epochs=-2")
    c.add(cat, "set_resume_other_arch", "err:run/last.h5",
          T + " train --resume run/last.h5 --set model.layers.fc1.out=9")
    c.add(cat, "set_resume_outdir_file", "err:afile", T + " train --resume run/last.h5 --set output.dir=afile")


# ---- datasets -------------------------------------------------------------------

def datasets(c):
    cat = "data"
    tr = T + " train good.yaml --force"
    ev = T + " eval model.h5 --data data"
    evt = T + " eval run/last.h5 --data data"
    ex = T + " export run/last.h5 -o new.h5 --data data"
    inf = T + " infer model.h5 mnist:test:3 --data data"
    ti, tl = "data/train-images-idx3-ubyte", "data/train-labels-idx1-ubyte"
    ei, el = "data/t10k-images-idx3-ubyte", "data/t10k-labels-idx1-ubyte"
    img20, lab20, img10, lab10 = idx_images(20), idx_labels(20), idx_images(10), idx_labels(10)
    variants = []  # (tag, relpath, content, expected substring)
    for rel, good in [(ti, img20), (tl, lab20)]:
        short = rel.split("/")[1][:11]
        for cut in (0, 3, 4, 7, 8, 12, 15, 16, 17, len(good) // 2, len(good) - 1):
            if cut <= 16 or rel == ti:
                variants.append(("%s_cut%d" % (short, cut), rel, good[:cut], rel))
        variants.append(("%s_trailing" % short, rel, good + b"\0" * 5, "any:" + rel))
    for tag, content, exp in [
        ("img_magic_label", idx_images(20, magic=2049), ti), ("img_magic_zero", idx_images(20, magic=0), ti),
        ("img_magic_le", b"\x03\x08\x00\x00" + img20[4:], ti), ("img_magic_float", idx_images(20, magic=0x0D03), ti),
        ("img_magic_rank4", idx_images(20, magic=0x0804), ti), ("img_magic_rank2", idx_images(20, magic=0x0802), ti),
        ("img_count_ffffffff", idx_images(20, count=0xFFFFFFFF), ti),
        ("img_count_7fffffff", idx_images(20, count=0x7FFFFFFF), ti),
        ("img_count_2_30", idx_images(20, count=1 << 30), ti), ("img_count_zero", idx_images(0), ti),
        ("img_count_21", idx_images(20, count=21), ti), ("img_count_19", idx_images(20, count=19), ti),
        ("img_h_zero", struct.pack(">4I", 2051, 20, 0, 4), ti), ("img_w_zero", struct.pack(">4I", 2051, 20, 4, 0), ti),
        ("img_dims_65536", struct.pack(">4I", 2051, 20, 65536, 65536) + img20[16:], ti),
        ("img_dims_ffff_ffff", struct.pack(">4I", 2051, 1, 0xFFFFFFFF, 0xFFFFFFFF) + img20[16:], ti),
        ("img_dims_overflow32", struct.pack(">4I", 2051, 0x10000, 0x10000, 0x10000) + img20[16:], ti),
        ("img_dims_8x2", idx_images(20, h=8, w=2), "any:"),
        ("lab_magic_img", idx_labels(20, magic=2051), tl), ("lab_count_ffffffff", idx_labels(20, count=0xFFFFFFFF), tl),
        ("lab_count_zero", idx_labels(0), tl), ("lab_count_19", idx_labels(19), tl), ("lab_count_21", idx_labels(21), tl),
        ("lab_10", idx_labels(20, labels=[10] + list(range(1, 20)) if False else [i % 10 for i in range(19)] + [10]),
         tl),
        ("lab_255", idx_labels(20, labels=[255] * 20), tl),
        ("lab_all_zero", idx_labels(20, labels=[0] * 20), "any:" + tl),
        ("lab_rank2", struct.pack(">4I", 0x0802, 20, 1, 1) + bytes(20), tl),
    ]:
        rel = tl if tag.startswith("lab") else ti
        variants.append((tag, rel, content, exp))
    for tag, rel, content, exp in [
        ("test_img_count_zero", ei, idx_images(0), ei), ("test_lab_count_9", el, idx_labels(9), el),
        ("test_img_dims_5x5", ei, idx_images(10, h=5, w=5), "data|(1,5,5)"), ("test_lab_11", el, idx_labels(10, labels=[11] * 10), el),
        ("test_img_cut", ei, img10[:100], ei),
    ]:
        variants.append((tag, rel, content, exp))
    for tag, rel, content, exp in variants:
        e = exp if exp.startswith("any:") else "err:" + exp
        if e.startswith("any:"):
            c.add(cat, "train_" + tag, e, T + " train good.yaml --set output.dir=out", {rel: content})
        else:
            c.add(cat, "train_" + tag, e, tr, {rel: content})
    # The test split through eval, export, infer and profile.
    for tag, rel, content in [("cut", ei, img10[:50]), ("magic", ei, idx_images(10, magic=2052)),
                              ("count_big", ei, idx_images(10, count=0x7FFFFFFF)), ("lab_cut", el, lab10[:9]),
                              ("lab_range", el, idx_labels(10, labels=[200] * 10)), ("zero", ei, idx_images(0)),
                              ("dims", ei, idx_images(10, h=28, w=28)), ("lab_count", el, idx_labels(9)),
                              ("dir", ei, DIR), ("fifo", ei, FIFO), ("loop", ei, ("link", "t10k-images-idx3-ubyte"))]:
        dcmds = [("eval", ev), ("evaltrain", evt), ("export", ex), ("infer", inf),
                 ("profile", T + " profile model.h5 --data data --n 4 --repeats 1")]
        k = len(tag)
        for cname, cmd in [dcmds[k % 5], dcmds[(k + 2) % 5]]:
            note = "dataset FIFO" if tag == "fifo" else ""
            exp = "err:" if tag == "dims" else "err:" + ei.split("/")[1][:4]
            c.add(cat, "%s_test_%s" % (cname, tag), exp, cmd, {rel: content}, note=note)
    # Files replaced by other kinds of things.
    for tag, content in [("dir", DIR), ("fifo", FIFO), ("loop", ("link", "train-images-idx3-ubyte")),
                         ("dangling", ("link", "gone")), ("devzero", ("link", "/dev/zero")),
                         ("devnull", ("link", "/dev/null")), ("proc", ("link", "/proc/self/status")),
                         ("sparse_huge", ("sparse", 1 << 36))]:
        c.add(cat, "train_img_" + tag, "err:train-images", tr, {ti: content},
              note="dataset FIFO" if tag in ("fifo", "devzero") else "")
    c.add(cat, "data_dir_is_file", "err:data", tr, {"data": b"x"})
    c.add(cat, "data_dir_loop", "err:data", tr, {"data": ("link", "data")})
    # gzip variants (idx.c reads NAME.gz when NAME is absent).
    gzf = lambda b: gzip.compress(b, mtime=0)
    rm_plain = "rm -f " + ti + " && "
    for tag, content, exp in [
        ("gz_ok", gzf(img20), "ok"), ("gz_cut", gzf(img20)[:40], "err:train-images"),
        ("gz_crc", gzf(img20)[:-8] + b"\0\0\0\0" + gzf(img20)[-4:], "err:train-images"),
        ("gz_junk", b"\x1f\x8b" + bytes(100), "err:train-images"), ("gz_empty", b"", "err:train-images"),
        ("gz_bomb_count", gzf(idx_images(20, count=0x3FFFFFFF)), "err:train-images"),
        ("gz_bomb_data", gzf(struct.pack(">4I", 2051, 1 << 20, 16, 16) + bytes(1 << 22)), "err:train-images"),
        ("gz_trailing_junk", gzf(img20) + b"garbage", "any:train-images"),
        ("gz_concat", gzf(img20[:100]) + gzf(img20[100:]), "any:train-images"),
        ("gz_plain_inside", img20, "any:train-images"),
    ]:
        cmd = rm_plain + (T + " train good.yaml --set output.dir=out" if exp != "err:train-images" else tr)
        c.add(cat, "train_" + tag, exp, cmd, {ti + ".gz": content})
    # CIFAR-10.
    ctr = T + " train cifar.yaml --force"
    cb, ct = "cdata/data_batch_1.bin", "cdata/test_batch.bin"
    rec = cifar_records(12)
    for tag, files, pre, exp in [
        ("ok", {}, "", "ok"), ("cut", {cb: rec[:-1]}, "", "data_batch_1"), ("extra", {cb: rec + b"\0"}, "", "data_batch_1"),
        ("empty", {cb: b""}, "", "data_batch_1"), ("label_10", {cb: cifar_records(12, label=10)}, "", "data_batch_1"),
        ("label_255", {ct: cifar_records(4, label=255)}, "", "test_batch"),
        ("size_3072", {cb: bytes(3072 * 12)}, "", "data_batch_1"), ("dir", {cb: DIR}, "", "data_batch_1"),
        ("fifo", {cb: FIFO}, "", "data_batch_1"), ("loop", {cb: ("link", "data_batch_1.bin")}, "", "data_batch_1"),
        ("no_test", {}, "rm " + ct + " && ", "test_batch"), ("no_train", {}, "rm " + cb + " && ", "data_batch"),
        ("glob_only", {"cdata/data_batch_x.bin": rec, "cdata/test_batch.first.bin": cifar_records(4)},
         "rm " + cb + " " + ct + " && ", "ok"),
        ("glob_dir", {"cdata/data_batch_x.bin": DIR}, "rm " + cb + " && ", "data_batch"),
        ("batch2_bad", {"cdata/data_batch_2.bin": rec[:100]}, "", "data_batch_2"),
        ("sparse_huge", {cb: ("sparse", 3073 * (1 << 30) + 3073)}, "", "data_batch_1"),
        ("sparse_max", {cb: ("sparse", 3073 * 4000000)}, "", "data_batch_1"),
        ("mnist_dims_in_cifar", {cb: idx_images(20)}, "", "data_batch_1"),
    ]:
        if exp == "ok":
            c.add(cat, "cifar_" + tag, "ok", pre + T + " train cifar.yaml --set output.dir=out", files)
        else:
            c.add(cat, "cifar_" + tag, "err:" + exp, pre + ctr, files,
                  note="huge allocation" if "sparse" in tag else "")
    c.add(cat, "cifar_config_on_mnist_data", "err:data", T + " train cifar.yaml --force --set dataset.path=data")
    c.add(cat, "mnist_config_on_cifar_data", "err:cdata", T + " train good.yaml --force --set dataset.path=cdata")
    c.add(cat, "eval_mnist_model_on_cifar", "err:cdata", T + " eval model.h5 --data cdata")


# ---- damage helpers ------------------------------------------------------------

def flip(data, pos, bit=0):
    b = bytearray(data)
    b[pos] ^= 1 << bit
    return bytes(b)


def h5edit(src, fn):
    """src's bytes after fn(h5py.File) in r+ mode, re-sealed; None without h5py."""
    if h5py is None:
        return None
    tmp = src + ".edit.tmp"
    shutil.copyfile(src, tmp)
    try:
        with h5py.File(tmp, "r+") as f:
            fn(f)
        with open(tmp, "rb") as fh:
            return h5seal.seal(fh.read())
    finally:
        os.unlink(tmp)


def damage_variants(data, magic_line):
    """(tag, bytes, expectation kind) of byte-level damage to a tern HDF5 file."""
    n = len(data)
    out = []
    for cut in (0, 100, 511, 512, 513, 2048, n // 2, n - 1):
        out.append(("cut%d" % cut, data[:cut], "err"))
    out.append(("appended", data + b"\0" * 16, "err"))
    out.append(("appended_sealed", h5seal.seal(data + b"\0" * 16), "any"))
    hdr = data[:512]
    ver = hdr[hdr.index(b"version "):hdr.index(b"\n", hdr.index(b"version ")) + 1]   # b"version V\n"
    nxt = b"version %d\n" % (int(ver[8:-1]) + 1)
    for tag, h in [
        ("hdr_version_next", hdr.replace(ver, nxt)), ("hdr_version_neg", hdr.replace(ver, b"version -1\n")),
        ("hdr_version_huge", hdr.replace(ver, b"version 99999999999999999999\n")),
        ("hdr_bytes_huge", hdr.replace(b"bytes ", b"bytes 9999999999999")),
        ("hdr_bytes_zero", hdr.replace(b"bytes ", b"bytes 0 ")),
        ("hdr_bytes_neg", hdr.replace(b"bytes ", b"bytes -")),
        ("hdr_crc_junk", hdr.replace(b"crc32 ", b"crc32 zz")), ("hdr_no_crc", hdr.replace(b"crc32", b"crc33")),
        ("hdr_zeroed", bytes(512)), ("hdr_ff", b"\xff" * 512),
        ("hdr_magic_case", hdr.replace(magic_line[:6], magic_line[:6].upper())),
        ("hdr_no_nul", hdr.split(b"\0")[0] + b"x" * (512 - len(hdr.split(b"\0")[0]))),
        ("hdr_spaces", hdr.replace(b"\n", b" \n")),
    ]:
        h = (h + bytes(512))[:512]
        # Padding that is not NUL leaves the header's lines, size and CRC intact: a valid file.
        out.append((tag, h + data[512:], "any" if tag == "hdr_no_nul" else "err"))
    rng = random.Random(len(data))
    for i in range(6):
        pos = 512 + (n - 512) * i // 6 + rng.randrange(max(1, (n - 512) // 6))
        out.append(("flip%d_raw" % i, flip(data, pos, i % 8), "err"))
    for i in range(24):
        pos = 512 + (n - 512) * i // 24 + rng.randrange(max(1, (n - 512) // 24))
        out.append(("flip%d_sealed" % i, h5seal.seal(flip(data, pos, rng.randrange(8))), "any"))
    for i in range(6):
        pos = 512 + (n - 512) * i // 6
        b = bytearray(data)
        b[pos:pos + 64] = (b"\xff" if i % 2 else b"\0") * 64
        out.append(("block%d_sealed" % i, h5seal.seal(bytes(b[:n])), "any"))
    # The HDF5 superblock and its signature, re-sealed.
    out.append(("sig_sealed", h5seal.seal(data[:512] + b"\x89HDG" + data[516:]), "err"))
    sb = bytearray(data)
    sb[512 + 8] = 9  # superblock version
    out.append(("sbver_sealed", h5seal.seal(bytes(sb)), "err"))
    sb = bytearray(data)
    sb[512 + 28:512 + 36] = b"\xff" * 8  # end-of-file address
    out.append(("eof_addr_sealed", h5seal.seal(bytes(sb)), "err"))
    return out


# ---- training checkpoints ----------------------------------------------------

def set_attr(path, name, value, dtype=None):
    def fn(f):
        obj = f[path] if path else f
        if name in obj.attrs:
            del obj.attrs[name]
        if dtype is None:
            obj.attrs[name] = value
        else:
            obj.attrs.create(name, value, dtype=dtype)
    return fn


def set_data(path, fn_value):
    def fn(f):
        d = f[path]
        v = d[...]
        d[...] = fn_value(v)
    return fn


def replace_dset(path, value):
    def fn(f):
        del f[path]
        f[path] = value
    return fn


def delete(path):
    def fn(f):
        del f[path]
    return fn


def set_config(text):
    def fn(f):
        del f["config"]
        f["config"] = np.array([text], dtype="S%d" % max(1, len(text)))
    return fn


def ckpts(c):
    cat = "ckpt"
    src = os.path.join(c.base, "run", "last.h5")
    data = c.read("run/last.h5")
    # Resumes read the damaged file as the run's own checkpoint: a refused
    # resume must leave the run as it was; an accepted one continues it.
    cmds = [("eval", T + " eval bad.h5 --data data"), ("resume", T + " train --resume run/last.h5"),
            ("resumecfg", T + " train good.yaml --resume run/last.h5"), ("export", T + " export bad.h5 -o new.h5 --data data"),
            ("inspect", T + " inspect bad.h5")]

    def add(name, kind_want, cname, cmd, b, note=""):
        resume = cname.startswith("resume")
        files = None if b is None else {"run/last.h5" if resume else "bad.h5": b}
        if resume:
            kind_want = kind_want.replace("bad.h5", "run/last.h5")
        protect = "-" if resume and kind_want.startswith("any") else "all"
        c.add(cat, name, kind_want, cmd, files, protect=protect, note=note)

    for vi, (tag, b, kind) in enumerate(damage_variants(data, b"tern-train checkpoint")):
        use = [cmds[vi % 5]] if tag.startswith(("flip", "block")) else [cmds[vi % 5], cmds[(vi + 2) % 5]]
        for cname, cmd in use:
            add("%s_%s" % (tag, cname), "%s:bad.h5" % kind, cname, cmd, b,
                note="damaged magic -> HDF5 dump" if tag.startswith("hdr") else "")
    # Objects edited with h5py, re-sealed: tern's own checks after HDF5's.
    nan = lambda v: np.full_like(v, np.nan)
    edits = [
        ("param_nan", set_data("params/fc1.weight", nan), "NaN in training checkpoints"),
        ("param_inf", set_data("params/fc2.bias", lambda v: np.full_like(v, np.inf)), "NaN in training checkpoints"),
        ("param_huge", set_data("params/fc1.weight", lambda v: np.full_like(v, 3e38)), ""),
        ("adam_v_neg", set_data("optim/adam_v/fc1.weight", lambda v: np.full_like(v, -1.0)), ""),
        ("adam_v_nan", set_data("optim/adam_v/fc2.weight", nan), "NaN in training checkpoints"),
        ("adam_m_inf", set_data("optim/adam_m/fc1.bias", lambda v: np.full_like(v, -np.inf)), ""),
        ("epoch_huge", set_attr("", "epoch", 1 << 62, "i8"), "epoch 2^62"),
        ("epoch_neg", set_attr("", "epoch", -5, "i4"), ""), ("epoch_int_max", set_attr("", "epoch", 2**31 - 1, "i4"), ""),
        ("epoch_over_epochs", set_attr("", "epoch", 7, "i4"), "finished-run resume"),
        ("step_huge", set_attr("", "step", 1 << 62, "i8"), ""), ("step_neg", set_attr("", "step", -1, "i8"), ""),
        ("epoch_str", set_attr("", "epoch", "one"), ""), ("epoch_float", set_attr("", "epoch", 1.5, "f8"), ""),
        ("epoch_vec", set_attr("", "epoch", [1, 2], "i4"), ""), ("version_str", set_attr("", "version", "1"), ""),
        ("version_2", set_attr("", "version", 2, "i4"), ""), ("format_other", set_attr("", "format", "tern-deploy"), ""),
        ("format_int", set_attr("", "format", 3, "i4"), ""), ("no_epoch", delete_attr("", "epoch"), ""),
        ("optim_step_huge", set_attr("optim", "step", 1 << 62, "i8"), ""),
        ("optim_step_neg", set_attr("optim", "step", -3, "i8"), ""),
        ("optim_kind_sgd", set_attr("optim", "kind", "sgd"), ""), ("optim_kind_bogus", set_attr("optim", "kind", "x" * 300), ""),
        ("optim_beta_nan", set_attr("optim", "beta1", np.nan, "f8"), ""),
        ("optim_eps_str", set_attr("optim", "eps", "small"), ""),
        ("meta_batch_huge", set_attr("meta", "batch", 1e18, "f8"), ""), ("meta_batch_nan", set_attr("meta", "batch", np.nan, "f8"), ""),
        ("meta_batch_neg", set_attr("meta", "batch", -1.0, "f8"), ""),
        ("meta_seen_neg", set_attr("meta", "epoch_seen", -10.0, "f8"), ""),
        ("meta_best_epoch_huge", set_attr("meta", "best_epoch", 1e18, "f8"), ""),
        ("meta_best_epoch_alone", set_attr("meta", "best_epoch", 1.0, "f8"), ""),
        ("meta_best_acc_over", lambda f: [f["meta"].attrs.__setitem__(k, np.float64(v)) for k, v in
                                          (("best_epoch", 1), ("best_val_loss", 0.5), ("best_val_acc", 1.5))], ""),
        ("meta_stale_neg", set_attr("meta", "early_stopping_stale", -2.0, "f8"), ""),
        ("meta_ranks_huge", set_attr("meta", "ranks", 1e300, "f8"), "processes"),
        ("meta_ranks_2", set_attr("meta", "ranks", 2.0, "f8"), "processes"),
        ("rng_short", replace_dset("rng/loader", np.zeros(2, dtype="u8")), ""),
        ("rng_zero", set_data("rng/model", lambda v: np.zeros_like(v)), ""),
        ("rng_float", replace_dset("rng/model", np.zeros(4, dtype="f4")), ""),
        ("rng_many", replace_dset("rng/model", np.arange(400, dtype="u8")), ""),
        ("rng_extra_streams", lambda f: [f.create_dataset("rng/s%d" % i, data=np.arange(4, dtype="u8")) for i in range(12)],
         "inspect >8 RNG streams"),
        ("no_params", delete("params"), ""), ("no_param_fc1", delete("params/fc1.weight"), ""),
        ("no_adam_v", delete("optim/adam_v"), ""), ("no_rng", delete("rng"), ""), ("no_meta", delete("meta"), ""),
        ("no_config", delete("config"), ""),
        ("param_shape", replace_dset("params/fc1.weight", np.zeros((16, 8), dtype="f4")), ""),
        ("param_rank3", replace_dset("params/fc1.weight", np.zeros((8, 16, 1), dtype="f4")), ""),
        ("param_f64", replace_dset("params/fc1.weight", np.zeros((8, 16), dtype="f8")), ""),
        ("param_int", replace_dset("params/fc1.weight", np.zeros((8, 16), dtype="i4")), ""),
        ("param_str", replace_dset("params/fc1.bias", np.array([b"x"] * 8)), ""),
        ("param_scalar", replace_dset("params/fc1.bias", np.float32(1)), ""),
        ("param_empty", replace_dset("params/fc1.bias", np.zeros((0,), dtype="f4")), ""),
        ("param_extra", lambda f: f.create_dataset("params/zz.weight", data=np.zeros(3, dtype="f4")), ""),
        ("param_group", lambda f: (f.__delitem__("params/fc1.bias"), f.create_group("params/fc1.bias")), ""),
        ("param_softlink", lambda f: (f.__delitem__("params/fc1.bias"),
                                      f.__setitem__("params/fc1.bias", h5py.SoftLink("/params/fc1.bias"))), ""),
        ("param_extlink", lambda f: (f.__delitem__("params/fc1.bias"),
                                     f.__setitem__("params/fc1.bias", h5py.ExternalLink("/etc/passwd", "/x"))), ""),
        ("param_hardlink_shared", lambda f: (f.__delitem__("optim/adam_v/fc1.bias"),
                                             f.__setitem__("optim/adam_v/fc1.bias", f["params/fc1.bias"])), ""),
        ("trainable_str", set_attr("params/fc1.weight", "trainable", "yes"), ""),
        ("config_empty", set_config(b""), ""), ("config_junk", set_config(b"\x00\xff{[" * 10), ""),
        ("config_other_arch", set_config(c.read("good.yaml").replace(b"out: 8", b"out: 9")), ""),
        ("config_bad_value", set_config(c.read("good.yaml").replace(b"epochs: 1", b"epochs: -1")), ""),
        ("config_laughs", set_config(b"\n".join([b"a0: &a0 [1,1,1,1,1,1,1,1,1,1]"] + [
            b"a%d: &a%d [%s]" % (i, i, b",".join([b"*a%d" % (i - 1)] * 10)) for i in range(1, 9)]) + b"\n"), ""),
        ("config_outdir_abs", set_config(c.read("good.yaml").replace(b"dir: run", b"dir: /proc/nope")), ""),
        ("config_vlen_utf8", lambda f: (f.__delitem__("config"),
                                        f.create_dataset("config", data=[c.read("good.yaml").decode()],
                                                         dtype=h5py.string_dtype("utf-8"))), "h5py UTF-8 vlen strings"),
        ("config_2d", lambda f: (f.__delitem__("config"), f.__setitem__("config", np.array([[b"a"], [b"b"]]))), ""),
        ("config_int", lambda f: (f.__delitem__("config"), f.__setitem__("config", np.arange(3))), ""),
    ]
    for ei, (tag, fn, note) in enumerate(edits):
        b = h5edit(src, fn)
        for cname, cmd in [cmds[ei % 5]] if not note else [cmds[ei % 5], cmds[(ei + 1) % 5], cmds[(ei + 3) % 5]]:
            if b is None:
                c.skip(cat, "h5_%s_%s" % (tag, cname), "no h5py")
                continue
            exp = "err:bad.h5"
            if tag == "param_f64":
                exp = "any:bad.h5"
            if tag in ("rng_extra_streams", "param_extra", "param_huge", "adam_v_neg", "adam_m_inf", "rng_zero",
                       "optim_beta_nan", "meta_batch_nan", "meta_batch_huge", "meta_batch_neg", "meta_seen_neg",
                       "meta_best_epoch_huge", "meta_best_epoch_alone", "meta_best_acc_over", "meta_stale_neg",
                       "meta_ranks_huge", "meta_ranks_2", "step_huge", "step_neg", "optim_step_neg", "optim_step_huge", "epoch_over_epochs",
                       "config_vlen_utf8", "config_outdir_abs", "trainable_str", "no_adam_v", "no_meta", "no_rng",
                       "optim_kind_sgd", "rng_many", "epoch_neg", "epoch_int_max", "epoch_huge", "epoch_str",
                       "epoch_float", "epoch_vec", "no_epoch", "rng_short", "rng_float", "optim_eps_str") and cname in ("eval", "export", "inspect"):
                exp = "any:bad.h5"
            if tag in ("config_vlen_utf8", "param_huge", "rng_zero", "param_extra", "config_outdir_abs", "rng_extra_streams"):
                exp = "any:bad.h5"
            add("h5_%s_%s" % (tag, cname), exp, cname, cmd, b, note=note)
    # Not checkpoints at all.
    for tag, files, path in [("deploy", {}, "model.h5"), ("yaml", {}, "good.yaml"), ("empty", {"bad.h5": b""}, "bad.h5"),
                             ("dir", {"bad.h5": DIR}, "bad.h5"), ("fifo", {"bad.h5": FIFO}, "bad.h5"),
                             ("devzero", {}, "/dev/zero"), ("loop", {"bad.h5": ("link", "bad.h5")}, "bad.h5"),
                             ("missing", {}, "nowhere.h5"), ("text_header_only", {"bad.h5": data[:512]}, "bad.h5"),
                             ("plain_hdf5", {"bad.h5": data[512:]}, "bad.h5")]:
        for cname, cmd in cmds:
            exp = "any:" if tag == "deploy" and cname in ("eval", "inspect") else "err:" + path
            c.add(cat, "notckpt_%s_%s" % (tag, cname), exp, cmd.replace("bad.h5", path).replace("run/last.h5", path), files)
    # A fine-tune's start (train --init-from) reads a checkpoint as well:
    # refused in one line naming it, before a run directory is made; a
    # layer's precision may change.
    init = T + " train good.yaml --init-from bad.h5 --set output.dir=ft"
    for tag, fn in [("param_nan", set_data("params/fc1.weight", nan)), ("no_param_fc1", delete("params/fc1.weight")),
                    ("param_shape", replace_dset("params/fc1.weight", np.zeros((16, 8), dtype="f4"))),
                    ("config_other_arch", set_config(c.read("good.yaml").replace(b"out: 8", b"out: 9")))]:
        b = h5edit(src, fn)
        if b is None:
            c.skip(cat, "h5_%s_initfrom" % tag, "no h5py")
        else:
            c.add(cat, "h5_%s_initfrom" % tag, "err:bad.h5", init, {"bad.h5": b})
    for tag, files, path in [("yaml", {}, "good.yaml"), ("deploy", {}, "model.h5"), ("empty", {"bad.h5": b""}, "bad.h5"),
                             ("dir", {"bad.h5": DIR}, "bad.h5"), ("missing", {}, "nowhere.h5")]:
        c.add(cat, "notckpt_%s_initfrom" % tag, "err:" + path, init.replace("bad.h5", path), files)
    c.add(cat, "initfrom_other_width", "err:run/last.h5|fc1.weight",
          init.replace("bad.h5", "run/last.h5") + " --set model.layers.fc1.out=9")
    c.add(cat, "initfrom_flip_ok", "ok", init.replace("bad.h5", "run/last.h5") + " --set model.layers.fc1.ternary=false")


def delete_attr(path, name):
    def fn(f):
        del (f[path] if path else f).attrs[name]
    return fn


# ---- deploy files ----------------------------------------------------------------

def teachers(c):
    """teacher: a distilled run reads another checkpoint: refused ones name it, and the run is not started."""
    cat = "teacher"
    run = T + " train good.yaml --set output.dir=kd --set 'teacher={checkpoint: %s}'"
    c.add(cat, "missing", "err:teacher.checkpoint|none.h5", run % "none.h5")
    c.add(cat, "text", "err:teacher.checkpoint|t.h5", run % "t.h5", {"t.h5": b"just text\n"})
    c.add(cat, "empty", "err:teacher.checkpoint|t.h5", run % "t.h5", {"t.h5": b""})
    c.add(cat, "dir", "err:teacher.checkpoint|t.h5", "mkdir t.h5 && " + run % "t.h5")
    c.add(cat, "deploy", "err:teacher.checkpoint|model.h5", run % "model.h5")
    c.add(cat, "other_norm", "err:teacher.checkpoint|normalize", run % "run/last.h5" +
          " --set dataset.normalize=compute")
    data = c.read("run/last.h5")
    for tag, b, kind in damage_variants(data, b"tern-train checkpoint")[:10:3]:
        c.add(cat, "damaged_" + tag, "%s:t.h5" % kind, run % "t.h5", {"t.h5": b})
    c.add(cat, "ok", "ok", run % "run2/last.h5")


def deploys(c):
    cat = "deploy"
    src = os.path.join(c.base, "model.h5")
    csrc = os.path.join(c.base, "convmodel.h5")
    data = c.read("model.h5")
    cmds = [("eval", T + " eval bad.h5 --data data"), ("infer", T + " infer bad.h5 img.pgm"),
            ("inspect", T + " inspect bad.h5"), ("profile", T + " profile bad.h5 --data random --n 4 --repeats 1"),
            ("bench", T + " bench kernels --model bad.h5 --repeats 1")]
    for vi, (tag, b, kind) in enumerate(damage_variants(data, b"tern-deploy model")):
        use = [cmds[vi % 4]] if tag.startswith(("flip", "block")) else [cmds[vi % 4], cmds[(vi + 1) % 4]]
        for cname, cmd in use:
            c.add(cat, "%s_%s" % (tag, cname), "%s:bad.h5" % kind, cmd, {"bad.h5": b},
                  note="damaged magic -> HDF5 dump" if tag.startswith("hdr") else "")
    L1, L0 = "layers/001", "layers/000"
    nanv = lambda v: np.full_like(v, np.nan)
    edits = [
        ("wp_nan", src, set_data(L1 + "/wp", nanv), "NaN in deploy"), ("bias_inf", src, set_data(L1 + "/bias", lambda v: np.full_like(v, np.inf)), "NaN in deploy"),
        ("weight_nan", src, set_data("layers/002/weight", nanv), "NaN in deploy"),
        ("qs_code3", src, set_data(L1 + "/qs", lambda v: np.full_like(v, 0xFF)), ""),
        ("qs_shape", src, replace_dset(L1 + "/qs", np.zeros((8, 2, 32), dtype="u1")), ""),
        ("qs_short", src, replace_dset(L1 + "/qs", np.zeros((8, 1, 16), dtype="u1")), ""),
        ("qs_float", src, replace_dset(L1 + "/qs", np.zeros((8, 1, 32), dtype="f4")), ""),
        ("wp_short", src, replace_dset(L1 + "/wp", np.ones(3, dtype="f4")), ""),
        ("no_qs", src, delete(L1 + "/qs"), ""), ("no_bias", src, delete(L1 + "/bias"), ""),
        ("no_layer1", src, delete(L1), ""), ("no_layers", src, delete("layers"), ""),
        ("no_input", src, delete("input"), ""), ("no_classes", src, delete("classes"), ""),
        ("n_layers_huge", src, set_attr("", "n_layers", 2**31 - 1, "i4"), ""),
        ("n_layers_zero", src, set_attr("", "n_layers", 0, "i4"), ""),
        ("n_layers_neg", src, set_attr("", "n_layers", -1, "i4"), ""),
        ("n_layers_4", src, set_attr("", "n_layers", 4, "i4"), ""),
        ("n_layers_2", src, set_attr("", "n_layers", 2, "i4"), ""),
        ("n_layers_i64", src, set_attr("", "n_layers", 1 << 40, "i8"), "int attr out of range"),
        ("n_layers_str", src, set_attr("", "n_layers", "3"), ""),
        ("n_classes_0", src, set_attr("", "n_classes", 0, "i4"), ""),
        ("n_classes_huge", src, set_attr("", "n_classes", 2**31 - 1, "i4"), ""),
        ("n_classes_5", src, set_attr("", "n_classes", 5, "i4"), ""),
        ("input_zero", src, set_attr("", "input_shape", np.array([0, 0, 0], dtype="i4")), ""),
        ("input_neg", src, set_attr("", "input_shape", np.array([1, -4, 4], dtype="i4")), ""),
        ("input_huge", src, set_attr("", "input_shape", np.array([1, 65536, 65536], dtype="i4")), ""),
        ("input_overflow", src, set_attr("", "input_shape", np.array([2**31 - 1, 2**31 - 1, 2**31 - 1], dtype="i4")), ""),
        ("input_rank2", src, set_attr("", "input_shape", np.array([4, 4], dtype="i4")), ""),
        ("input_c4", src, set_attr("", "input_shape", np.array([4, 2, 2], dtype="i4")), ""),
        ("dataset_bogus", src, set_attr("", "dataset", "imagenet"), ""),
        ("dataset_long", src, set_attr("", "dataset", "d" * 5000), ""),
        ("dataset_path", src, set_attr("", "dataset", "../../etc"), ""),
        ("weight_format_t3", src, set_attr("", "weight_format", "t3"), ""),
        ("format_train", src, set_attr("", "format", "tern-train"), ""),
        ("version_1", src, set_attr("", "version", 1, "i4"), ""),        # the row-order layout: re-export
        ("version_future", src, set_attr("", "version", 99, "i4"), ""),
        ("mean_short", src, set_attr("input", "mean", np.zeros(0, dtype="f4")), ""),
        ("mean_3", src, set_attr("input", "mean", np.zeros(3, dtype="f4")), ""),
        ("std_zero", src, set_attr("input", "std", np.zeros(1, dtype="f4")), ""),
        ("std_nan", src, set_attr("input", "std", np.full(1, np.nan, dtype="f4")), ""),
        ("classes_short", src, replace_dset("classes", np.array([b"a", b"b"])), ""),
        ("classes_long_names", src, replace_dset("classes", np.array([b"c" * 4000] * 10)), ""),
        ("classes_int", src, replace_dset("classes", np.arange(10, dtype="i4")), ""),
        ("type_bogus", src, set_attr(L1, "type", "transformer"), ""),
        ("type_int", src, set_attr(L1, "type", 1, "i4"), ""),
        ("act_bogus", src, set_attr(L1, "act", "gelu"), ""),
        ("act_bits_4", src, set_attr(L1, "act_bits", 4, "i4"), ""),
        ("ternary_2", src, set_attr(L1, "ternary", 2, "i4"), ""),
        ("ternary_0", src, set_attr(L1, "ternary", 0, "i4"), ""),
        ("in_features_big", src, set_attr(L1, "in_features", 1 << 20, "i4"), ""),
        ("in_features_neg", src, set_attr(L1, "in_features", -16, "i4"), ""),
        ("out_features_big", src, set_attr(L1, "out_features", 2**31 - 1, "i4"), ""),
        ("out_features_9", src, set_attr(L1, "out_features", 9, "i4"), ""),
        ("out_shape_wrong", src, set_attr(L1, "out_shape", np.array([9], dtype="i4")), ""),
        ("out_shape_rank3", src, set_attr(L0, "out_shape", np.array([1, 4, 4], dtype="i4")), ""),
        ("flatten_to_linear", src, set_attr(L0, "type", "linear"), ""),
        ("layer_name_long", src, set_attr(L1, "name", "n" * 3000), ""),
        ("group_extra_layer", src, lambda f: f.copy(f[L1], "layers/003"), "any"),
        ("layer_is_dataset", src, lambda f: (f.__delitem__(L1), f.__setitem__(L1, np.zeros(3))), ""),
        ("layer_softlink_loop", src, lambda f: (f.__delitem__(L1), f.__setitem__(L1, h5py.SoftLink("/layers/001"))), ""),
    ]
    cl = lambda i: "layers/%03d" % i
    conv_edits = [
        ("conv_kernel_huge", set_attr(cl(0), "kernel", 65535, "i4")), ("conv_kernel_0", set_attr(cl(0), "kernel", 0, "i4")),
        ("conv_stride_0", set_attr(cl(0), "stride", 0, "i4")), ("conv_stride_neg", set_attr(cl(0), "stride", -1, "i4")),
        ("conv_pad_huge", set_attr(cl(0), "pad", 100000, "i4")), ("conv_pad_neg", set_attr(cl(0), "pad", -3, "i4")),
        ("conv_in_channels_0", set_attr(cl(0), "in_channels", 0, "i4")),
        ("conv_in_channels_7", set_attr(cl(0), "in_channels", 7, "i4")),
        ("add_from_self", None), ("add_from_neg", None), ("add_from_huge", None),
        ("pool_kernel_0", None), ("pool_stride_0", None), ("pool_pad_huge", None),
    ]
    if h5py is not None and os.path.exists(csrc):
        with h5py.File(csrc, "r") as f:
            types = [f[cl(i)].attrs["type"].decode() for i in range(int(f.attrs["n_layers"]))]
        ia = types.index("add") if "add" in types else None
        ip = types.index("maxpool") if "maxpool" in types else None
        extra = []
        for tag, fn in conv_edits:
            if fn is None and tag.startswith("add") and ia is not None:
                v = {"add_from_self": ia, "add_from_neg": -1, "add_from_huge": 2**31 - 1}[tag]
                fn = set_attr(cl(ia), "from", v, "i4")
            elif fn is None and tag.startswith("pool") and ip is not None:
                k, v = {"pool_kernel_0": ("kernel", 0), "pool_stride_0": ("stride", 0),
                        "pool_pad_huge": ("pad", 1 << 20)}[tag]
                fn = set_attr(cl(ip), k, v, "i4")
            if fn is not None:
                extra.append((tag, csrc, fn, "crafted conv pad OOM" if "pad_huge" in tag else ""))
        edits += extra
    for ei, (tag, path, fn, note) in enumerate(edits):
        b = h5edit(path, fn)
        use = [cmds[ei % 4]] + ([cmds[4]] if tag in ("wp_nan", "qs_code3", "n_layers_huge") else [])
        if note or path == csrc:
            use.append(cmds[(ei + 2) % 4])
        for cname, cmd in use:
            if b is None:
                c.skip(cat, "h5_%s_%s" % (tag, cname), "no h5py")
                continue
            exp = "any:bad.h5" if note == "any" else "err:bad.h5"
            if tag in ("dataset_bogus", "dataset_long", "dataset_path", "layer_name_long", "classes_long_names") and \
                    cname != "eval":
                exp = "any:bad.h5"
            if tag in ("mean_3",) or (tag in ("wp_nan", "bias_inf", "weight_nan") and cname == "inspect"):
                exp = "any:bad.h5" if cname == "inspect" else exp
            c.add(cat, "h5_%s_%s" % (tag, cname), exp, cmd, {"bad.h5": b}, note="" if note == "any" else note)
    # Not deploy files.
    for tag, files, path in [("train_ckpt", {}, "run/last.h5"), ("yaml", {}, "good.yaml"), ("empty", {"bad.h5": b""}, "bad.h5"),
                             ("dir", {"bad.h5": DIR}, "bad.h5"), ("fifo", {"bad.h5": FIFO}, "bad.h5"),
                             ("devzero", {}, "/dev/zero"), ("missing", {}, "nowhere.h5")]:
        for cname, cmd in cmds[:4]:
            exp = "err:" + path
            if tag == "train_ckpt" and cname in ("eval", "inspect"):
                exp = "any:" + path
            c.add(cat, "not_%s_%s" % (tag, cname), exp, cmd.replace("bad.h5", path), files)


# ---- images for infer --------------------------------------------------------------

def images(c):
    cat = "image"
    px = bytes(range(0, 160, 10))
    inf = lambda p: T + " infer model.h5 " + p
    for tag, content, exp in [
        ("ok", b"P5\n4 4\n255\n" + px, "ok"), ("comment", b"P5\n# hi\n4 4\n255\n" + px, "any"),
        ("comment_everywhere", b"P5#a\n4#b\n4#c\n255\n" + px, "any"),
        ("ascii_p2", b"P2\n4 4\n255\n" + b" ".join(b"%d" % p for p in px) + b"\n", "ok"),
        ("p6_on_gray", b"P6\n4 4\n255\n" + px * 3, "ok"), ("p4", b"P4\n4 4\n" + bytes(2), "err"),
        ("magic_junk", b"PX\n4 4\n255\n" + px, "err"), ("empty", b"", "err"), ("only_magic", b"P5", "err"),
        ("no_maxval", b"P5\n4 4\n" + px, "err"), ("maxval0", b"P5\n4 4\n0\n" + px, "err"),
        ("maxval_neg", b"P5\n4 4\n-1\n" + px, "err"), ("maxval256", b"P5\n4 4\n256\n" + px * 2, "any"),
        ("maxval65535", b"P5\n4 4\n65535\n" + px * 2, "any"), ("maxval65536", b"P5\n4 4\n65536\n" + px * 2, "err"),
        ("maxval_huge", b"P5\n4 4\n99999999999999999999\n" + px, "err"), ("maxval100", b"P5\n4 4\n100\n" + px, "any"),
        ("dims0", b"P5\n0 0\n255\n", "err"), ("dims_neg", b"P5\n-4 -4\n255\n" + px, "err"),
        ("dims_huge", b"P5\n100000 100000\n255\n" + px, "err"),
        ("dims_overflow", b"P5\n4294967296 4294967296\n255\n" + px, "err"),
        ("dims_int_max", b"P5\n2147483647 2147483647\n255\n" + px, "err"),
        ("dims_mult_overflow", b"P5\n65536 65537\n255\n" + px, "err"),
        ("dims_5x5", b"P5\n5 5\n255\n" + bytes(25), "err"), ("dims_16x1", b"P5\n16 1\n255\n" + px, "err"),
        ("truncated", b"P5\n4 4\n255\n" + px[:7], "err"), ("extra", b"P5\n4 4\n255\n" + px + b"more", "any"),
        ("no_sep_after_maxval", b"P5\n4 4\n255" + px, "err"), ("hex_dims", b"P5\n0x4 0x4\n255\n" + px, "err"),
        ("plus_dims", b"P5\n+4 +4\n255\n" + px, "any"), ("long_header_ws", b"P5" + b" " * 100000 + b"4 4 255\n" + px, "any"),
        ("long_comment", b"P5\n#" + b"c" * 1000000 + b"\n4 4\n255\n" + px, "any"),
        ("nul_header", b"P5\0\n4 4\n255\n" + px, "err"), ("digits_many", b"P5\n" + b"0" * 100000 + b"4 4\n255\n" + px, "any"),
    ]:
        e = {"ok": "ok", "any": "any:x.pgm", "err": "err:x.pgm"}[exp]
        c.add(cat, "pgm_" + tag, e, inf("x.pgm"), {"x.pgm": content})
    for tag, content, exp in [("raw_ok", px, "ok"), ("raw_short", px[:15], "err:x.raw"), ("raw_long", px + b"x", "err:x.raw"),
                              ("raw_empty", b"", "err:x.raw"), ("raw_pgm_inside", b"P5\n4 4\n255\n" + px, "any:x.raw")]:
        c.add(cat, tag, exp, inf("x.raw"), {"x.raw": content})
    for tag, files, path in [("dir", {"x.pgm": DIR}, "x.pgm"), ("fifo", {"x.pgm": FIFO}, "x.pgm"),
                             ("devzero", {}, "/dev/zero"), ("loop", {"x.pgm": ("link", "x.pgm")}, "x.pgm"),
                             ("missing", {}, "none.pgm"), ("noext", {"x": b"P5\n4 4\n255\n" + px}, "x"),
                             ("upper_ext", {"x.PGM": b"P5\n4 4\n255\n" + px}, "x.PGM"),
                             ("ppm_ext_p5", {"x.ppm": b"P5\n4 4\n255\n" + px}, "x.ppm"),
                             ("sparse_huge", {"x.pgm": ("sparse", 1 << 36)}, "x.pgm")]:
        exp = "any:" + path if tag in ("noext", "upper_ext", "ppm_ext_p5") else "err:" + path
        c.add(cat, "file_" + tag, exp, inf(path), files)
    for spec, exp in [("mnist:test:3", "ok"), ("mnist:train:19", "ok"), ("mnist:test:-1", "err:mnist:test:-1"),
                      ("mnist:test:10", "err:10"), ("mnist:test:99999999999999", "err:99999999999999"),
                      ("mnist:test:", "err:mnist"), ("mnist:bogus:1", "err:bogus"), ("bogus:test:1", "err:bogus"),
                      ("::", "err:"), ("mnist:test:1:2", "err:mnist"), ("mnist:test:0x1", "err:0x1"),
                      ("cifar10:test:0", "err:cifar10"), ("mnist:test:1e3", "err:1e3"), ("'mnist:test: 1'", "any:mnist"),
                      ("fashion-mnist:test:0", "any:fashion")]:
        d = " --data cdata" if spec.startswith("cifar") else " --data data"
        c.add(cat, "spec_" + spec.replace(":", "_").replace("'", "").replace(" ", "sp"), exp if exp != "ok" else "ok",
              inf(spec) + d)


# ---- sweep specs ---------------------------------------------------------------

def png(w, h, rows=None, ihdr=None):
    """A gray 8-bit PNG; ihdr replaces the IHDR payload (hostile sizes)."""
    rows = rows or [bytes(w) for _ in range(h)]
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    raw = b"".join(b"\0" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr or struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def npy(descr, shape, data):
    hdr = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    hdr += " " * (63 - (10 + len(hdr)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + data


def user_data(c):
    """PNG, JPEG, .npy and .npz inputs cut short or declaring huge sizes."""
    cat = "user"
    inf = lambda p: T + " infer model.h5 " + p
    good = png(4, 4, [bytes(range(k, k + 4)) for k in range(4)])
    c.add(cat, "png_ok", "ok", inf("x.png"), {"x.png": good})
    for cut in (8, 16, 33, len(good) // 2, len(good) - 12):
        c.add(cat, "png_cut%d" % cut, "err:x.png", inf("x.png"), {"x.png": good[:cut]})
    for tag, ihdr in [("huge", struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)),
                      ("zero", struct.pack(">IIBBBBB", 0, 4, 8, 0, 0, 0, 0)),
                      ("2_31", struct.pack(">IIBBBBB", 1 << 31, 1 << 31, 8, 0, 0, 0, 0)),
                      ("depth3", struct.pack(">IIBBBBB", 4, 4, 3, 0, 0, 0, 0))]:
        c.add(cat, "png_ihdr_" + tag, "err:x.png", inf("x.png"), {"x.png": png(4, 4, ihdr=ihdr)})
    c.add(cat, "png_in_dir_cut", "err:x.png", inf("d"), {"d/x.png": good[:40]})
    for tag, content in [("soi_only", b"\xff\xd8\xff"), ("app0_cut", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"),
                         ("sof_huge", b"\xff\xd8\xff\xc0\x00\x0b\x08\xff\xff\xff\xff\x01\x01\x11\x00\xff\xd9")]:
        c.add(cat, "jpeg_" + tag, "err:x.jpg", inf("x.jpg"), {"x.jpg": content})
    cfg = lambda name: render(base_cfg(data="u", name=name))
    lab = npy("<i8", "(20,)", struct.pack("<20q", *[i % 10 for i in range(20)]))
    img = npy("|u1", "(20, 4, 4)", bytes(320))
    for tag, content in [("cut_header", img[:20]), ("cut_data", img[:-5]), ("trailing", img + b"x"),
                         ("shape_huge", npy("|u1", "(2147483647, 2147483647, 2147483647)", bytes(16))),
                         ("shape_5d", npy("|u1", "(1, 1, 1, 1, 1)", bytes(1))), ("descr_junk", npy("zz", "(1,)", b"")),
                         ("header_len_huge", b"\x93NUMPY\x02\x00\xff\xff\xff\xff{}"),
                         ("fortran", img.replace(b"False", b"True ")), ("f8", npy("<f8", "(20, 4, 4)", bytes(2560)))]:
        c.add(cat, "npy_" + tag, "err:train_images.npy", T + " train n.yaml --force",
              {"n.yaml": cfg("npy"), "u/train_images.npy": content, "u/train_labels.npy": lab,
               "u/test_images.npy": img, "u/test_labels.npy": lab})
    # A zip whose member declares 4 GiB from a few bytes: refused before allocating.
    body = zlib.compress(b"x")[2:-4]
    crc = zlib.crc32(b"x")
    name = b"images.npy"
    loc = struct.pack("<IHHHHHIIIHH", 0x04034b50, 20, 0, 8, 0, 0, crc, len(body), 0xfffffff0, len(name), 0) + name + body
    cd = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014b50, 20, 20, 0, 8, 0, 0, crc, len(body), 0xfffffff0, len(name),
                     0, 0, 0, 0, 0, 0) + name
    eocd = struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, 1, 1, len(cd), len(loc), 0)
    c.add(cat, "npz_member_huge", "err:train.npz", T + " train n.yaml --force",
          {"n.yaml": cfg("npy"), "u/train.npz": loc + cd + eocd, "u/test.npz": loc + cd + eocd})
    c.add(cat, "npz_not_zip", "err:train.npz", T + " train n.yaml --force",
          {"n.yaml": cfg("npy"), "u/train.npz": b"PK\x03\x04junk", "u/test.npz": b""})
    for tag, text in [("nan_cell", b"a,label\nnan,1\n"), ("huge_cell", b"a,label\n1e999,1\n"),
                      ("nul", b"a,label\n1\x00,1\n"), ("label_huge", b"a,label\n1,99999999999\n"),
                      ("no_rows", b"a,label\n"), ("commas", b"a,label\n" + b"," * 100000 + b"\n")]:
        c.add(cat, "csv_" + tag, "err:train.csv", T + " train n.yaml --force",
              {"n.yaml": cfg("csv"), "u/train.csv": text, "u/test.csv": b"a,label\n1,0\n"})


def sweeps(c):
    cat = "sweep"
    good = "base: good.yaml\nset: [training.epochs=1]\nmethods: [{quantizer: twn, t: [0.7]}]\nseeds: [1, 2, 3]\nout: sw\nlatency: {batch: 1, repeats: 2}\n"
    for tag, text, exp, mode in [
        ("ok_dry", good, "ok", "--dry-run"),
        ("base_missing", good.replace("good.yaml", "none.yaml"), "none.yaml", "--dry-run"),
        ("base_dir", good.replace("good.yaml", "data"), "data", "--dry-run"),
        ("base_bad", good.replace("good.yaml", "afile"), "afile", "--dry-run"),
        ("base_self", good.replace("good.yaml", "sw.yaml"), "sw.yaml", "--dry-run"),
        ("no_base", good.replace("base: good.yaml\n", ""), "base", "--dry-run"),
        ("methods_empty", good.replace("[{quantizer: twn, t: [0.7]}]", "[]"), "methods", "--dry-run"),
        ("quantizer_bogus", good.replace("twn", "bogus"), "bogus", "--dry-run"),
        ("t_empty", good.replace("[0.7]", "[]"), "sw.yaml", "--dry-run"),
        ("t_nan", good.replace("[0.7]", "[.nan]"), "sw.yaml", "--dry-run"),
        ("t_inf", good.replace("[0.7]", "[.inf]"), "sw.yaml", "--dry-run"),
        ("t_neg", good.replace("[0.7]", "[-1]"), "sw.yaml", "--dry-run"),
        ("t_dup", good.replace("[0.7]", "[0.7, 0.7]"), "sw.yaml", "--dry-run"),
        ("t_many", good.replace("[0.7]", "[" + ", ".join("%g" % (i / 1000) for i in range(20000)) + "]"), "any", "--dry-run"),
        ("t_str", good.replace("[0.7]", "[big]"), "sw.yaml", "--dry-run"),
        ("seeds_dup", good.replace("[1, 2, 3]", "[1, 1, 1]"), "seeds", "--dry-run"),
        ("seeds_neg", good.replace("[1, 2, 3]", "[-1, -2, -3]"), "seeds", "--dry-run"),
        ("seeds_huge", good.replace("[1, 2, 3]", "[4611686018427387904, 2, 3]"), "any", "--dry-run"),
        ("seeds_many", good.replace("[1, 2, 3]", "[" + ", ".join(str(i) for i in range(1, 5001)) + "]"), "any", "--dry-run"),
        ("out_file", good.replace("out: sw", "out: afile"), "afile", ""),
        ("out_empty", good.replace("out: sw", "out: ''"), "out", "--dry-run"),
        ("out_is_run", good.replace("out: sw", "out: run"), "any", ""),
        ("out_is_data", good.replace("out: sw", "out: data"), "any", ""),
        ("out_dot", good.replace("out: sw", "out: ."), "any", "--dry-run"),
        ("repeats_0", good.replace("repeats: 2", "repeats: 0"), "latency.repeats", "--dry-run"),
        ("repeats_huge", good.replace("repeats: 2", "repeats: 2000000000"), "any", "--dry-run"),
        ("batch_0", good.replace("batch: 1", "batch: 0"), "latency.batch", "--dry-run"),
        ("batch_huge", good.replace("batch: 1", "batch: 1000000000"), "latency.batch", "--dry-run"),
        ("set_bad", good.replace("training.epochs=1", "training.epochs=-1"), "training.epochs", "--dry-run"),
        ("set_junk", good.replace("training.epochs=1", "junk"), "junk", "--dry-run"),
        ("set_many", good.replace("training.epochs=1", ", ".join(["training.epochs=1"] * 200)), "any", "--dry-run"),
        ("unknown_key", good + "extra: 1\n", "extra", "--dry-run"),
        ("baseline_str", good + "baseline: perhaps\n", "baseline", "--dry-run"),
        ("empty", "", "sw.yaml", "--dry-run"), ("junk", "\x00\x01[[[", "sw.yaml", "--dry-run"),
        ("laughs", "\n".join(["a0: &a0 [1,1,1,1,1,1,1,1,1,1]"] + ["a%d: &a%d [%s]" % (i, i, ",".join(["*a%d" % (i - 1)] * 10))
                                                               for i in range(1, 9)]) + "\n" + good, "sw.yaml", "--dry-run"),
        ("base_laughs_seeds", good.replace("seeds: [1, 2, 3]", "seeds: &s [1, 2, 3]\nx: *s"), "sw.yaml", "--dry-run"),
    ]:
        cmd = T + " sweep sw.yaml " + mode
        if exp == "ok":
            c.add(cat, tag, "ok", cmd, {"sw.yaml": text.encode("latin-1")})
        elif exp == "any":
            c.add(cat, tag, "any:sw.yaml", cmd, {"sw.yaml": text.encode("latin-1")})
        else:
            c.add(cat, tag, "err:" + exp, cmd, {"sw.yaml": text.encode("latin-1")})
    for tag, files in [("missing", {}), ("dir", {"sw.yaml": DIR}), ("fifo", {"sw.yaml": FIFO})]:
        c.add(cat, "spec_" + tag, "err:sw.yaml", T + " sweep sw.yaml --dry-run", files)
    # --only-plot over a results.csv a user edited.
    good_spec = {"sw.yaml": good.encode()}
    hdr = "method,t,seed,test_acc,sparsity,dense_us,zskip_us,seconds,sparsity_fc1\n"
    for tag, csv in [("csv_empty", ""), ("csv_header_only", hdr), ("csv_junk", "\x00\xff,,,\n" * 10),
                     ("csv_nan", hdr + "twn,0.7,1,nan,nan,inf,-inf,1,0.5\n"),
                     ("csv_short_rows", hdr + "twn,0.7\n"), ("csv_long_row", hdr + "twn,0.7,1," + ",".join(["1"] * 100000) + "\n"),
                     ("csv_no_newline", hdr + "twn,0.7,1,0.5,0.5,1,1,1,0.5"),
                     ("csv_many_methods", hdr + "".join("m%d,%d,1,0.5,0.5,1,1,1,0.5\n" % (i, i) for i in range(20000))),
                     ("csv_quote", hdr + '"twn,0.7,1,0.5,0.5,1,1,1,0.5\n'), ("csv_long_field", hdr + "x" * 1000000 + ",0.7,1,0.5,0.5,1,1,1,0.5\n")]:
        files = dict(good_spec)
        files["sw/results.csv"] = csv.encode("latin-1")
        c.add(cat, "plot_" + tag, "any:results.csv", T + " sweep sw.yaml --only-plot", files)
    c.add(cat, "plot_no_results", "err:sw", T + " sweep sw.yaml --only-plot", good_spec)
    c.add(cat, "plot_results_dir", "err:results.csv", T + " sweep sw.yaml --only-plot",
          dict(good_spec, **{"sw/results.csv": DIR}))
    c.add(cat, "dry_and_plot", "any:", T + " sweep sw.yaml --dry-run --only-plot", good_spec)
    c.add(cat, "real_one_point", "ok", T + " sweep sw.yaml", {"sw.yaml": good.replace("[1, 2, 3]", "[1, 2, 3]").encode()})
    c.add(cat, "base_yaml_sweep_base_corrupt", "err:sweep_base.yaml", T + " sweep sw.yaml",
          dict(good_spec, **{"sw/sweep_base.yaml": b"\x00junk"}))
    c.add(cat, "sweep_base_is_dir", "err:sweep_base.yaml", T + " sweep sw.yaml",
          dict(good_spec, **{"sw/sweep_base.yaml": DIR}))
    c.add(cat, "runs_is_file", "last:runs", T + " sweep sw.yaml", dict(good_spec, **{"sw/runs": b"x"}))
    c.add(cat, "point_ckpt_corrupt", "last:last.h5", T + " sweep sw.yaml",
          dict(good_spec, **{"sw/runs/twn_t0.7_s1/last.h5": b"tern-train checkpoint\nversion 1\n"}))
    # A point's own row file (left by a distributed sweep), merged before training.
    row = "twn,0.7,%d,0.5,0.5,1,1,1,0.5\n"
    for tag, content in [("junk", b"\x00junk"), ("header_only", hdr.encode()), ("other_point", (hdr + row % 2).encode()),
                         ("two_rows", (hdr + row % 1 + row % 1).encode()), ("columns", (hdr.replace("fc1", "zz") + row % 1).encode()),
                         ("long_line", (hdr + "x" * 100000 + "\n").encode()), ("dir", DIR), ("fifo", FIFO)]:
        for mode in ("", " --dry-run"):
            c.add(cat, "row_file_" + tag + mode.replace(" --", "_"), "err:result.csv", T + " sweep sw.yaml" + mode,
                  dict(good_spec, **{"sw/runs/twn_t0.7_s1/result.csv": content}))


# ---- hybrid searches ------------------------------------------------------------

def hybrids(c):
    """tern hybrid over a search directory a user or a crash damaged. The base
    holds hyb/, a finished search of hyb.yaml (fc1 ternary, fc2 fp32: base TF)
    at seed 1; a rerun reads its tables and every run's result.csv."""
    cat = "hybrid"
    run = T + " hybrid hyb.yaml --out hyb --seeds 1 --confirm 0"
    c.add(cat, "rerun_ok", "ok", run, protect="none")  # a rerun rewrites its tables and plots
    layers_hdr = "name,index,base,weights,macs,bytes_t,bytes_f,latency_us_t,latency_us_f,energy_nj_t,energy_nj_f,delta\n"
    row1 = "fc1,1,T,128,128,100,544,1,2,1,2,\n"
    row2 = "fc2,2,F,80,80,100,360,1,2,1,2,\n"
    other = "(other),-1,,0,0,0,0,0.1,0.1,0,0,\n"
    for tag, text in [("junk", b"\x00junk\n"), ("empty", b""), ("header_only", layers_hdr.encode()),
                      ("other_names", (layers_hdr + row1.replace("fc1", "zz") + row2 + other).encode()),
                      ("nan", (layers_hdr + row1.replace(",100,544,", ",nan,544,") + row2 + other).encode()),
                      ("negative", (layers_hdr + row1.replace(",100,544,", ",-5,544,") + row2 + other).encode()),
                      ("inf", (layers_hdr + row1.replace(",1,2,1,2,", ",inf,2,1,2,") + row2 + other).encode()),
                      ("short_row", (layers_hdr + "fc1,1\n" + row2 + other).encode()),
                      ("no_other", (layers_hdr + row1 + row2).encode()),
                      ("extra_row", (layers_hdr + row1 + row2 + other + row2).encode()),
                      ("long_line", (layers_hdr + "x" * 200000 + "\n").encode()),
                      ("dir", DIR), ("fifo", FIFO)]:
        c.add(cat, "layers_" + tag, "err:layers.csv", run, {"hyb/layers.csv": text})
    hdr = "name,role,assignment,seed,val_acc,test_acc,bytes,latency_us,energy_nj,seconds\n"
    good = "TT_s1,reference,TT,1,0.5,0.5,300,1,1,1\n"
    for tag, text in [("junk", b"\x00junk"), ("empty", b""), ("header_only", hdr.encode()),
                      ("other_name", (hdr + good.replace("TT_s1,", "FF_s1,")).encode()),
                      ("other_assignment", (hdr + good.replace(",TT,", ",FT,")).encode()),
                      ("other_seed", (hdr + good.replace(",TT,1,", ",TT,2,")).encode()),
                      ("acc_above_one", (hdr + good.replace("0.5,0.5", "1.5,0.5")).encode()),
                      ("acc_nan", (hdr + good.replace("0.5,0.5", "0.5,nan")).encode()),
                      ("bytes_negative", (hdr + good.replace(",300,", ",-300,")).encode()),
                      ("two_rows", (hdr + good + good).encode()), ("short", (hdr + "TT_s1,reference\n").encode()),
                      ("long_line", (hdr + "x" * 200000 + "\n").encode()), ("dir", DIR), ("fifo", FIFO)]:
        c.add(cat, "result_" + tag, "err:result.csv", run, {"hyb/runs/TT_s1/result.csv": text})
    c.add(cat, "base_changed", "err:hybrid_base.yaml", run, {"hyb/hybrid_base.yaml": b"# another search\n"})
    c.add(cat, "base_is_dir", "err:hybrid_base.yaml", run, {"hyb/hybrid_base.yaml": DIR})
    c.add(cat, "out_is_file", "err:afile", T + " hybrid hyb.yaml --out afile --seeds 1 --confirm 0")
    c.add(cat, "ckpt_corrupt", "last:last.h5", run, setup="rm hyb/runs/TT_s1/result.csv",
          files={"hyb/runs/TT_s1/last.h5": b"tern-train checkpoint\nversion 1\n"})
    c.add(cat, "from_other_arch", "err:runc/last.h5", T + " hybrid hyb.yaml --out h2 --seeds 1 --from runc/last.h5")
    c.add(cat, "from_missing", "err:none.h5", T + " hybrid hyb.yaml --out h2 --seeds 1 --from none.h5")
    c.add(cat, "budget_impossible", "err:smallest", T + " hybrid hyb.yaml --out h2 --seeds 1 --max-bytes 1")
    c.add(cat, "no_validation", "err:dataset.validation", T + " hybrid good.yaml --out h2 --seeds 1")
    c.add(cat, "config_dir", "err:data", T + " hybrid data --out h2")
    for tag, args in [("bytes_word", "--max-bytes many"), ("bytes_neg", "--max-bytes -1"), ("two_budgets",
                      "--max-bytes 1000 --max-latency-us 5"), ("acc_over", "--min-accuracy 101"),
                      ("seeds_zero", "--seeds 0"), ("seeds_dup", "--seeds 1,1"), ("confirm_neg", "--confirm -1"),
                      ("finetune_zero", "--finetune-epochs 0"), ("cost_bogus", "--cost bogus --min-accuracy 50"),
                      ("seeds_many", "--seeds " + ",".join(str(i) for i in range(1, 40)))]:
        c.add(cat, "cli_" + tag, "err:" + args.split()[0], T + " hybrid hyb.yaml --out h2 " + args)


# ---- command lines --------------------------------------------------------------

def cmdlines(c):
    cat = "cli"
    for tag, args, exp in [
        ("no_args", "", "usage"), ("unknown_cmd", "frobnicate", "err:frobnicate"), ("empty_cmd", "''", "err:"),
        ("train_unknown_flag", "train good.yaml --bogus", "err:--bogus"), ("train_dash", "train -", "err:"),
        ("train_two_configs", "train good.yaml good.yaml", "err:good.yaml"),
        ("train_resume_novalue", "train good.yaml --resume", "err:--resume"),
        ("train_no_config", "train", "usage"), ("train_empty_config", "train ''", "err:"),
        ("train_force_twice", "train good.yaml --force --force --set output.dir=out", "ok"),
        ("eval_unknown", "eval model.h5 --bogus", "err:--bogus"), ("eval_data_novalue", "eval model.h5 --data", "err:--data"),
        ("eval_batch_novalue", "eval model.h5 --data data --batch", "err:--batch"),
        ("eval_batch_0", "eval model.h5 --data data --batch 0", "err:--batch"),
        ("eval_batch_neg", "eval model.h5 --data data --batch -1", "err:--batch"),
        ("eval_batch_huge", "eval model.h5 --data data --batch 99999999999", "err:--batch"),
        ("eval_batch_max", "eval model.h5 --data data --batch 2147483647", "any:--batch"),
        ("eval_batch_word", "eval model.h5 --data data --batch many", "err:many"),
        ("eval_act_bogus", "eval model.h5 --data data --act int4", "err:int4"),
        ("eval_act_on_train", "eval run/last.h5 --act int8", "err:--act"),
        ("eval_data_file", "eval model.h5 --data afile", "err:afile"), ("eval_data_empty", "eval model.h5 --data ''", "err:"),
        ("eval_two", "eval model.h5 model.h5", "err:model.h5"), ("eval_none", "eval", "usage"),
        ("export_no_o", "export run/last.h5", "usage"), ("export_o_novalue", "export run/last.h5 -o", "err:-o"),
        ("export_unknown", "export run/last.h5 -o x.h5 --bogus", "err:--bogus"),
        ("export_o_dir", "export run/last.h5 -o data", "err:data"),
        ("export_o_in_file", "export run/last.h5 -o afile/x.h5", "err:afile"),
        ("export_o_empty", "export run/last.h5 -o ''", "err:"),
        ("export_o_missing_dir", "export run/last.h5 -o nodir/x.h5", "err:nodir"),
        ("export_o_proc", "export run/last.h5 -o /proc/x.h5", "err:/proc/x.h5"),
        ("export_fp32_same", "export run/last.h5 -o x.h5 --fp32-out x.h5", "err:x.h5"),
        ("export_fp32_over_input", "export run/last.h5 -o x.h5 --fp32-out run/last.h5", "err:run/last.h5"),
        ("export_deploy_input", "export model.h5 -o x.h5", "err:model.h5"),
        ("exportc_format_bogus", "export model.h5 --format tflite -o outc", "err:--format|tflite"),
        ("exportc_format_novalue", "export model.h5 --format", "err:--format"),
        ("exportc_no_o", "export model.h5 --format c", "usage"),
        ("exportc_onto_input", "export model.h5 --format c -o model.h5 --force", "err:model.h5"),
        ("exportc_onto_file", "export model.h5 --format c -o afile --force", "err:afile"),
        ("exportc_onto_data", "export model.h5 --format c -o data --force", "err:data|not a file of a C export"),
        ("exportc_onto_dot", "export model.h5 --format c -o . --force", "err:not a file of a C export"),
        ("exportc_o_empty", "export model.h5 --format c -o ''", "err:"),
        ("exportc_o_proc", "export model.h5 --format c -o /proc/x", "err:/proc/x"),
        ("exportc_o_missing_dir", "export model.h5 --format c -o nodir/outc", "err:nodir"),
        ("exportc_max_ram_0", "export model.h5 --format c -o outc --max-ram 0", "err:--max-ram"),
        ("exportc_max_ram_neg", "export model.h5 --format c -o outc --max-ram -5", "err:--max-ram"),
        ("exportc_max_ram_huge", "export model.h5 --format c -o outc --max-ram 99999999999999999999999", "err:--max-ram"),
        ("exportc_max_ram_hex", "export model.h5 --format c -o outc --max-ram 0x10", "err:--max-ram"),
        ("exportc_max_ram_small", "export model.h5 --format c -o outc --max-ram 16", "err:needs|bytes of RAM"),
        ("exportc_fp32_out", "export model.h5 --format c -o outc --fp32-out f.h5", "err:--fp32-out"),
        ("exportc_deploy", "export model.h5 --format c -o outc", "ok"),
        ("exportc_conv", "export convmodel.h5 --format c -o outc --max-ram 1M", "ok"),
        ("exportc_train_ckpt", "export run/last.h5 --format c -o outc --data data", "ok"),
        ("infer_no_input", "infer model.h5", "usage"), ("infer_unknown", "infer model.h5 img.pgm --bogus", "err:--bogus"),
        ("infer_act_bogus", "infer model.h5 img.pgm --act x", "err:--act"),
        ("infer_two_images", "infer model.h5 img.pgm img.pgm", "ok"), ("infer_train_ckpt", "infer run/last.h5 img.pgm", "err:run/last.h5"),
        ("inspect_unknown", "inspect model.h5 --bogus", "err:--bogus"), ("inspect_none", "inspect", "usage"),
        ("inspect_json", "inspect model.h5 --json", "ok"), ("inspect_two", "inspect model.h5 model.h5", "err:model.h5"),
        ("profile_batch_0", "profile model.h5 --data random --batch 0", "err:--batch"),
        ("profile_n_0", "profile model.h5 --data random --n 0", "err:--n"),
        ("profile_n_huge", "profile model.h5 --data random --n 99999999999", "err:--n"),
        ("profile_n_max", "profile model.h5 --data random --n 2147483647 --repeats 1", "err:--n"),
        ("profile_repeats_0", "profile model.h5 --data random --repeats 0", "err:--repeats"),
        ("profile_repeats_novalue", "profile model.h5 --repeats", "err:--repeats"),
        ("profile_batch_huge", "profile model.h5 --data random --batch 1000000000 --n 4 --repeats 1", "err:--batch"),
        ("profile_unknown", "profile model.h5 --bogus", "err:--bogus"),
        ("profile_data_file", "profile model.h5 --data afile", "err:afile"),
        ("bench_unknown", "bench nosuch", "err:nosuch"), ("bench_kernels_repeats_0", "bench kernels --repeats 0", "err:--repeats"),
        ("bench_kernels_model_missing", "bench kernels --model none.h5 --repeats 1", "err:none.h5"),
        ("bench_train_steps_0", "bench train --steps 0", "err:--steps"),
        ("bench_train_batch_huge", "bench train --batch 2000000000 --steps 1 --warmup 0", "err:--batch"),
        ("bench_train_threads_neg", "bench train --threads -1 --steps 1", "err:--threads"),
        ("bench_train_model_bogus", "bench train --model resnet", "err:resnet"),
        ("bench_train_quant_bogus", "bench train --quant int4", "err:int4"),
        ("bench_train_config_bad", "bench train --config afile --steps 1 --warmup 0", "err:afile"),
        ("bench_train_config_ok", "bench train --config good.yaml --steps 1 --warmup 0 --batch 4", "ok"),
        ("bench_zskip_act", "bench zskip --act f16", "err:f16"),
        ("bench_gemm_repeats", "bench gemm --repeats -5", "err:--repeats"),
        ("sweep_unknown", "sweep sw.yaml --bogus", "err:--bogus"), ("sweep_none", "sweep", "usage"),
        ("long_arg", "train " + "x" * 200000, "err:xxxx"),
        ("help_extra", "train --help --bogus", "ok"),
    ]:
        c.add(cat, tag, exp, T + " " + args)
    # -o onto the input, by name, through a symlink and a hard link.
    c.add(cat, "export_o_input", "err:run/last.h5", T + " export run/last.h5 -o run/last.h5 --data data",
          note="export -o same file")
    c.add(cat, "export_o_input_dotpath", "err:last.h5", T + " export run/last.h5 -o run/./last.h5 --data data",
          note="export -o same file")
    c.add(cat, "export_o_symlink_to_input", "err:", T + " export run/last.h5 -o ln.h5 --data data",
          {"ln.h5": ("link", "run/last.h5")}, note="export -o same file")
    c.add(cat, "export_o_hardlink_to_input", "err:", "ln run/last.h5 hl.h5 && " + T + " export hl.h5 -o run/last.h5 --data data",
          note="export -o same file")
    c.add(cat, "export_fp32_hardlink_to_input", "err:", "ln run/last.h5 hl.h5 && " + T +
          " export run/last.h5 -o x.h5 --fp32-out hl.h5 --data data")
    c.add(cat, "export_o_symlink_dir", "err:", T + " export run/last.h5 -o lnd/last.h5 --data data",
          {"lnd": ("link", "run")}, note="export -o same file")
    c.add(cat, "export_o_over_deploy_ok", "ok", T + " export run/last.h5 -o model.h5", protect="-")
    c.add(cat, "export_o_is_config", "err:good.yaml|--force", T + " export run/last.h5 -o good.yaml --data data")
    c.add(cat, "export_o_is_config_force", "ok", T + " export run/last.h5 -o good.yaml --force --data data", protect="-")
    c.add(cat, "export_o_dangling_symlink", "any:", T + " export run/last.h5 -o dl.h5 --data data",
          {"dl.h5": ("link", "nowhere/x.h5")})
    # Never aim these at the real /dev: an atomic rename over a device replaces it.
    keep_kind = lambda test, p: ('; rc=$?; [ %s %s ] || echo "%s is no longer what it was" >&2; exit $rc' % (test, p, p))
    c.add(cat, "export_o_fifo", "err:x.h5", T + " export run/last.h5 -o x.h5 --data data" + keep_kind("-p", "x.h5"),
          {"x.h5": FIFO})
    c.add(cat, "export_o_chardev", "err:nul", "mknod -m 666 nul c 1 3 && " + T + " export run/last.h5 -o nul --data data" +
          keep_kind("-c", "nul"))
    c.add(cat, "export_fp32_chardev", "err:nul", "mknod -m 666 nul c 1 3 && " + T +
          " export run/last.h5 -o x.h5 --fp32-out nul --data data" + keep_kind("-c", "nul"))
    c.add(cat, "export_o_socketlike_dir_symlink", "any:", T + " export run/last.h5 -o lnk --data data" +
          keep_kind("-L", "lnk"), {"lnk": ("link", "data")})
    # Runs: resume, force, finished runs.
    c.add(cat, "resume_other_run", "err:", T + " train good.yaml --resume run2/last.h5", note="--resume of another run")
    c.add(cat, "resume_finished", "any:run/last.h5", T + " train --resume run/last.h5", note="finished-run resume")
    c.add(cat, "resume_finished_cfg", "any:", T + " train good.yaml --resume run/last.h5", note="finished-run resume")
    c.add(cat, "resume_extend", "ok", T + " train --resume run/last.h5 --set training.epochs=2", protect="-")
    c.add(cat, "resume_deploy", "err:model.h5", T + " train --resume model.h5")
    c.add(cat, "resume_conv_with_mlp_cfg", "err:", T + " train good.yaml --resume runc/last.h5")
    c.add(cat, "train_existing_no_force", "err:run", T + " train good.yaml")
    c.add(cat, "force_bad_dataset", "err:data", "rm data/t10k-images-idx3-ubyte && " + T + " train good.yaml --force",
          note="--force half-replaces a run")
    c.add(cat, "force_bad_set", "err:", T + " train good.yaml --force --set model.layers.fc1.out=0")
    c.add(cat, "force_into_data_dir", "any:data", T + " train good.yaml --force --set output.dir=data")
    c.add(cat, "force_into_cwd", "any:", T + " train good.yaml --force --set output.dir=.")
    c.add(cat, "force_into_proc", "err:/proc", T + " train good.yaml --force --set output.dir=/proc/self")
    c.add(cat, "force_into_cdata", "any:cdata", T + " train good.yaml --force --set output.dir=cdata")
    c.add(cat, "outdir_in_run_file", "err:run/last.h5", T + " train good.yaml --force --set output.dir=run/last.h5")
    c.add(cat, "outdir_is_symlink_loop", "err:lp", T + " train good.yaml --force --set output.dir=lp", {"lp": ("link", "lp")})
    # A directory with a run's files: --force replaces it whole, as any run.
    c.add(cat, "run_last_is_dir", "ok", T + " train good.yaml --force --set output.dir=run3", protect="-", files=
          {"run3/last.h5": DIR, "run3/config.yaml": c.read("run/config.yaml"), "run3/metrics.csv": b"epoch\n"})
    c.add(cat, "run_metrics_fifo", "any:run3", T + " train good.yaml --resume run3/last.h5 --set output.dir=run3",
          setup="cp -a run run3 && rm run3/metrics.csv && mkfifo run3/metrics.csv")
    c.add(cat, "run_metrics_junk_resume", "any:metrics.csv", "cp run/last.h5 run/last.h5.keep && " + T +
          " train --resume run/last.h5 --set training.epochs=2", {"run/metrics.csv": b"\x00\xff" * 1000}, protect="-")
    c.add(cat, "two_trains_same_dir", "nocrash", "(" + T + " train good.yaml --set output.dir=par >/dev/null 2>&1 &) ; " +
          T + " train good.yaml --set output.dir=par; wait")


def plots(c):
    """tern plot reads a run's metrics.csv and config.yaml; tern summary a
    config or a checkpoint: junk and odd files give one line naming them."""
    cat = "plot"
    good = c.read("run/metrics.csv")
    c.add(cat, "metrics_binary", "err:metrics.csv", T + " plot run", {"run/metrics.csv": b"\x00\xff" * 1000})
    c.add(cat, "metrics_dir", "err:metrics.csv", T + " plot run", {"run/metrics.csv": DIR})
    c.add(cat, "metrics_fifo", "err:metrics.csv", T + " plot run", setup="rm run/metrics.csv && mkfifo run/metrics.csv")
    c.add(cat, "metrics_empty", "err:metrics.csv: empty", T + " plot run", {"run/metrics.csv": b""})
    c.add(cat, "metrics_header_only", "err:no epoch rows", T + " plot run", {"run/metrics.csv": good.split(b"\n")[0] + b"\n"})
    c.add(cat, "metrics_one_long_line", "err:metrics.csv:1", T + " plot run", {"run/metrics.csv": b"x" * 3000000})
    c.add(cat, "metrics_short_row", "err:metrics.csv:2", T + " plot run", {"run/metrics.csv": good.split(b"\n")[0] + b"\n1,2\n"})
    c.add(cat, "metrics_name_too_long", "err:", T + " plot run", {"run/metrics.csv": b"epoch," + b"a" * 100 + b"\n1,2\n"})
    c.add(cat, "metrics_nan_inf", "any:", T + " plot run",
          {"run/metrics.csv": good.split(b"\n")[0] + b"\n" + b",".join([b"1"] + [b"nan", b"inf", b"-inf"] * 20)[:len(good.split(b"\n")[0].split(b",")) * 5] + b"\n"},
          protect="-")
    c.add(cat, "config_binary", "any:", T + " plot run", {"run/config.yaml": b"<\x00\xff&" * 1000}, protect="-")
    c.add(cat, "config_dir", "any:", T + " plot run", {"run/config.yaml": DIR}, protect="-")
    c.add(cat, "no_run_dir", "err:nonexistent/metrics.csv", T + " plot nonexistent")
    c.add(cat, "report_is_dir", "err:report.html", T + " plot run", {"run/report.html": DIR})
    c.add(cat, "summary_binary", "err:afile2", T + " summary afile2", {"afile2": b"\x00\xff" * 100})
    c.add(cat, "summary_fifo", "err:ff", T + " summary ff", setup="mkfifo ff")
    c.add(cat, "summary_dir", "err:data", T + " summary data")
    c.add(cat, "summary_h5_junk", "err:x.h5", T + " summary x.h5", {"x.h5": b"\x89HDF\r\n\x1a\n" + b"\x00" * 100})


def main():
    mode, d = sys.argv[1], sys.argv[2]
    if mode == "base":
        gen_base(d)
        return 0
    c = Corpus(d)
    for part in (configs, sets, datasets, ckpts, teachers, deploys, images, user_data, sweeps, hybrids, cmdlines, plots):
        part(c)
    c.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
