# sweep.gp — the synthetic sweep (pipelines/sweep.mk): min matched IoU of
# each configuration-seed against its concept-frequency imbalance (max/min),
# after step (a) and after step (d).
# gnuplot -e "data='rows.tsv'; output='summary.png'" sweep.gp
set terminal pngcairo size 800,500 font ",11"
set output output
set title "Synthetic sweep: the worst-recovered concept against frequency imbalance"
set xlabel "concept frequency imbalance (max / min)"
set ylabel "min matched IoU over concepts"
set yrange [0:1.05]
set xrange [0.9:3.1]
set grid
set key bottom left
set datafile separator "\t"
plot 0.9 with lines dt 2 lc rgb "gray" title "IoU 0.9", \
     data using "imbalance":"iou_a_min" with points pt 6 ps 1.2 lc rgb "#aaaaaa" title "step (a)", \
     data using "imbalance":"iou_d_min" with points pt 7 ps 1.2 lc rgb "#4477aa" title "step (d)"
