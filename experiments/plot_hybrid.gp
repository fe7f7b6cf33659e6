# plot_hybrid.gp — the plots of a `tern hybrid` search: validation accuracy
# against deploy bytes and against latency, from OUT/search.csv (every
# predicted assignment, grey, and the predicted front, a line) and
# OUT/summary.csv (every trained assignment, mean with ±std bars over the
# seeds, each labelled, the references by name; the chosen one highlighted), with the
# budget as a line. tern hybrid runs it itself (the text is built into the
# program, cmake/embed_text.cmake); to redraw by hand:
#
#   gnuplot -e "dir='runs/hybrid-lenet5'; cost='bytes'; max_cost=60000" experiments/plot_hybrid.gp
#
# Variables (-e): dir (required); cost: the budget's axis, 'bytes',
# 'latency_us' or 'energy_nj' ['bytes']; max_cost: the budget in that unit,
# 0 for none [0]; min_acc: a minimum accuracy in percent, 0 for none [0];
# info: a subtitle ['']; out_bytes, out_latency: the PNGs
# [dir/accuracy_vs_bytes.png, dir/accuracy_vs_latency.png].
if (!exists("dir")) { print "plot_hybrid.gp: set dir, e.g. gnuplot -e \"dir='runs/hybrid-x'\" plot_hybrid.gp"; exit status 2 }
if (!exists("cost")) cost = 'bytes'
if (!exists("max_cost")) max_cost = 0
if (!exists("min_acc")) min_acc = 0
if (!exists("info")) info = ''
if (!exists("out_bytes")) out_bytes = dir.'/accuracy_vs_bytes.png'
if (!exists("out_latency")) out_latency = dir.'/accuracy_vs_latency.png'

search = dir.'/search.csv'
summary = dir.'/summary.csv'
set datafile separator comma
set terminal pngcairo size 960,600 noenhanced font ',11'
set grid
set key below
set offsets graph 0.03, graph 0.2, graph 0.08, graph 0.08
set ylabel 'validation accuracy (%)'

# The reference an assignment is ("" for none): all ternary, all fp32, or
# the rule of thumb (first and last layer fp32, the rest ternary).
n(a) = strlen(a)
ref(a) = strstrt(a, 'F') == 0 ? 'all-ternary' : strstrt(a, 'T') == 0 ? 'all-fp32' : \
         (a[1:1] eq 'F' && a[n(a):n(a)] eq 'F' && strstrt(a[2:n(a) - 1], 'F') == 0) ? 'first+last fp32' : ''
pct(x) = 100.0 * x
# A trained assignment's accuracy: the validation mean, else (no validation
# split, an empty cell) the test mean; likewise its std.
has_val(x) = (v = column('val_acc_mean'), v == v)
acc(x) = has_val(x) ? column('val_acc_mean') : column('test_acc_mean')
sd(x) = has_val(x) ? column('val_acc_std') : column('test_acc_std')

do for [axis in 'bytes latency_us'] {
    set output (axis eq 'bytes' ? out_bytes : out_latency)
    xl = axis eq 'bytes' ? 'deploy bytes' : 'latency per sample (us, batch 1, 1 thread)'
    set xlabel xl
    # Bytes span orders of magnitude (a ternary layer is ~16x smaller): log scale.
    if (axis eq 'bytes') { set logscale x; set format x '%.0s%c' } else { unset logscale x; set format x '%g' }
    # The front's points alone, by cost (the line joins them, skipping the rest).
    set table $FRONT separator comma
    plot search using (column(axis)):(pct(column('pred_acc'))) with table if (column('front') == 1)
    unset table
    set title sprintf("Hybrid precision search: validation accuracy against %s%s%s", \
        axis eq 'bytes' ? 'deploy bytes' : 'latency', info eq '' ? '' : "\n", info)
    unset arrow
    unset label
    if (max_cost > 0 && cost eq axis) {
        set arrow from max_cost, graph 0 to max_cost, graph 1 nohead lc rgb '#cc0000' dt 2 lw 2
        set label sprintf('budget %.4g', max_cost) at max_cost, graph 0.03 left offset 0.5, 0 tc rgb '#cc0000'
    }
    if (min_acc > 0) {
        set arrow from graph 0, first min_acc to graph 1, first min_acc nohead lc rgb '#cc0000' dt 2 lw 2
        set label sprintf('min accuracy %.4g%%', min_acc) at graph 0.02, first min_acc offset 0, 0.6 tc rgb '#cc0000'
    }
    front = sprintf('predicted front (%s)', cost)
    # The trained models at their measured cost (latency: the first seed's model, timed beside the others).
    sx = axis eq 'bytes' ? 'bytes' : 'latency_us'
    plot search using (column(axis)):(pct(column('pred_acc'))) with points pt 7 ps 0.6 lc rgb '#aaaaaa' title 'predicted', \
         $FRONT using 1:2 smooth unique with lines lw 2 lc rgb '#777777' title front, \
         summary using (column(sx)):(pct(acc(0))):(pct(sd(0))) with yerrorbars pt 7 ps 1 lc rgb '#1f77b4' \
             title 'trained (mean +- std over seeds)', \
         summary using (column(sx)):(pct(acc(0))):(ref(strcol('assignment')) eq '' ? strcol('assignment') : \
             ref(strcol('assignment')).' '.strcol('assignment')) with labels left offset 1, -0.8 notitle, \
         summary using (column('chosen') == 1 ? column(sx) : NaN):(pct(acc(0))) with points pt 3 ps 3 \
             lw 2 lc rgb '#d62728' title 'chosen', \
         summary using (column('chosen') == 1 ? column(sx) : NaN):(pct(acc(0))):('chosen '.strcol('assignment')) \
             with labels left offset 1, 0.9 tc rgb '#d62728' notitle
}
