# plot_sweep.gp — the two plots of a tern sweep, from OUT/summary.csv.
#
#   gnuplot -e "dir='OUT'; methods='twn ttq'; base_acc=98.1; base_acc_std=0.1; base_us=14.2; base_us_std=0.5; \
#               have_zskip=1; info='LeNet-5 (configs/mnist_lenet5.yaml) on mnist, 2 epochs, 3 seeds, ...'; \
#               timing='batch 1, 1 thread, median of 50 repeats'" experiments/plot_sweep.gp
#
# experiments/sweep.sh passes these from what the sweep knows (its spec, its
# sweep_base.yaml and summary.csv): base_* = NaN without an fp32 baseline;
# have_zskip = 0 while the runtime has no zero-skipping kernels; info names
# the model, dataset, epochs, seeds and activation precision (the subtitle).
# Writes OUT/accuracy_vs_sparsity.png (test accuracy against overall ternary
# sparsity, mean over seeds with one-std error bars in both axes, each point
# labelled with its t above and right of it, clear of its error bars, the fp32
# baseline as a dashed line inside its one-std band, both in the legend) and
# OUT/latency_vs_sparsity.png (runtime latency per sample against sparsity:
# each method one colour, dense solid with filled points, zero-skipping
# dashed with open points). summary.csv columns:
#   1 method, 2 t, 3 n, 4 acc_mean, 5 acc_std, 6 sparsity_mean, 7 sparsity_std,
#   8 dense_us_mean, 9 dense_us_std, 10 zskip_us_mean, 11 zskip_us_std
set encoding utf8
set datafile separator ','
set datafile missing ''
f = dir.'/summary.csv'
is(m) = strcol(1) eq m
set terminal pngcairo size 1000,680 noenhanced font ',11'
set key bottom left box opaque
set grid
set xlabel 'ternary weight sparsity (% zeros), mean over seeds'
set xrange [-2:102]
set samples 2
have_base = base_acc == base_acc
band = 'fill solid 0.18 noborder lc rgb "#9a9a9a"'

set output dir.'/accuracy_vs_sparsity.png'
set title "Test accuracy against sparsity (mean ± std over seeds; labels: threshold t)\n".info
set ylabel 'test accuracy (%)'
plot '+' using 1:(have_base ? base_acc - base_acc_std : NaN):(base_acc + base_acc_std) \
         with filledcurves @band title (have_base ? 'fp32 baseline ± 1 std over seeds' : ''), \
     for [i=1:words(methods)] f skip 1 \
         using (is(word(methods, i)) ? 100*$6 : NaN):(100*$4):(100*$7):(100*$5) \
         with xyerrorlines lc i pt 7 ps 0.8 lw 1.5 title word(methods, i), \
     for [i=1:words(methods)] f skip 1 \
         using (is(word(methods, i)) ? 100*$6 : NaN):(100*$4):2 \
         with labels left offset 0.8, 0.7 font ',8' tc 'gray30' notitle, \
     (have_base ? base_acc : NaN) with lines dt 2 lw 2 lc 'black' \
         title (have_base ? sprintf('fp32 baseline %.2f%% (mean)', base_acc) : '')

set output dir.'/latency_vs_sparsity.png'
set title "Runtime latency per sample against sparsity (".timing.", mean ± std over seeds)\n".info
set ylabel 'latency per sample (µs)'
set key top right
set yrange [0:*]
have_base_us = base_us == base_us
# The zero-skipping series only when measured (an empty series warns).
zskip = !have_zskip ? '' : \
    "for [i=1:words(methods)] f skip 1 using (is(word(methods, i)) ? 100*$6 : NaN):10:11 " . \
    "with yerrorlines lc i pt 4 ps 1 lw 1.5 dt 2 title word(methods, i).' zero-skipping',"
plot '+' using 1:(have_base_us ? base_us - base_us_std : NaN):(base_us + base_us_std) \
         with filledcurves @band title (have_base_us ? 'fp32 baseline ± 1 std over seeds' : ''), \
     for [i=1:words(methods)] f skip 1 \
         using (is(word(methods, i)) ? 100*$6 : NaN):8:9 \
         with yerrorlines lc i pt 7 ps 0.8 lw 1.5 title word(methods, i).' dense', \
     @zskip \
     (have_base_us ? base_us : NaN) with lines dt 2 lw 2 lc 'black' \
         title (have_base_us ? sprintf('fp32 baseline %.1f µs (mean)', base_us) : '')
