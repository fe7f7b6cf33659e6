# plot_sweep.gp — the two plots of a tern sweep, from OUT/summary.csv.
#
#   gnuplot -e "dir='OUT'; methods='twn ttq'; base_acc=98.1; base_acc_std=0.1; base_us=14.2; have_zskip=1" \
#           experiments/plot_sweep.gp
#
# experiments/sweep.sh passes these (base_* = NaN without an fp32 baseline;
# have_zskip = 0 while the runtime has no zero-skipping kernels).
# Writes OUT/accuracy_vs_sparsity.png (test accuracy against overall ternary
# sparsity, mean over seeds with one-std error bars in both axes, each point
# labelled with its t, the fp32 baseline as a dashed line with its std band)
# and OUT/latency_vs_sparsity.png (dense and zero-skipping runtime latency
# per sample against sparsity). summary.csv columns:
#   1 method, 2 t, 3 n, 4 acc_mean, 5 acc_std, 6 sparsity_mean, 7 sparsity_std,
#   8 dense_us_mean, 9 dense_us_std, 10 zskip_us_mean, 11 zskip_us_std
set datafile separator ','
set datafile missing ''
f = dir.'/summary.csv'
is(m) = strcol(1) eq m
set terminal pngcairo size 1000,650 noenhanced font ',11'
set key bottom left box opaque
set grid
set xlabel 'ternary weight sparsity (% zeros), mean over seeds'
set xrange [-2:102]

set output dir.'/accuracy_vs_sparsity.png'
set title 'Test accuracy against sparsity (mean +- std over seeds; labels: t)'
set ylabel 'test accuracy (%)'
have_base = base_acc == base_acc
if (have_base) {
    set object 1 rect from graph 0, first base_acc - base_acc_std to graph 1, first base_acc + base_acc_std \
        fillstyle solid 0.15 noborder fillcolor 'gray' behind
}
plot for [i=1:words(methods)] f skip 1 \
         using (is(word(methods, i)) ? 100*$6 : NaN):(100*$4):(100*$7):(100*$5) \
         with xyerrorlines pt 7 ps 0.8 lw 1.5 title word(methods, i), \
     for [i=1:words(methods)] f skip 1 \
         using (is(word(methods, i)) ? 100*$6 : NaN):(100*$4):2 \
         with labels offset 0, 0.9 font ',8' tc 'gray40' notitle, \
     (have_base ? base_acc : NaN) with lines dt 2 lw 2 lc 'black' \
         title (have_base ? sprintf('fp32 baseline %.2f%%', base_acc) : '')
unset object 1

set output dir.'/latency_vs_sparsity.png'
set title 'Runtime latency per sample against sparsity (median of repeats, mean +- std over seeds)'
set ylabel 'latency per sample (us)'
set key top right
set yrange [0:*]
# The zero-skipping series only when measured (an empty series warns).
zskip = !have_zskip ? '' : \
    "for [i=1:words(methods)] f skip 1 using (is(word(methods, i)) ? 100*$6 : NaN):10:11 " . \
    "with yerrorlines pt 5 ps 0.8 lw 1.5 dt 3 title word(methods, i).' zero-skipping',"
plot for [i=1:words(methods)] f skip 1 \
         using (is(word(methods, i)) ? 100*$6 : NaN):8:9 \
         with yerrorlines pt 7 ps 0.8 lw 1.5 title word(methods, i).' dense', \
     @zskip \
     (base_us == base_us ? base_us : NaN) with lines dt 2 lw 2 lc 'black' \
         title (base_us == base_us ? sprintf('fp32 baseline %.1f us', base_us) : '')
