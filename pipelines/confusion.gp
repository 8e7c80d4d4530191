# confusion.gp — the watermark experiment's Tables 9 and 10 as heat maps:
# row-normalised confusion matrices of the original (top) and the corrected
# network (bottom) on the clean, poisoned and union test sets (data blocks
# 0-5 of confusion.tsv, rows "predicted true value").
# gnuplot -e "data='confusion.tsv'; output='confusion.png'; classes='Sandal Sneaker Boot'" confusion.gp
set terminal pngcairo size 1050,700 font ",10"
set output output
set multiplot layout 2,3 title "Rows: true class, columns: predicted. Top: original network; bottom: corrected by the watermark's signal vector"
set cbrange [0:1]
set palette defined (0 "white", 1 "#4a7ab7")
unset colorbox
set xrange [-0.5:2.5]
set yrange [2.5:-0.5]
set xtics ("" 0)
set ytics ("" 0)
do for [i=1:3] { set xtics add (word(classes, i) i-1); set ytics add (word(classes, i) i-1) }
titles = "Clean Poisoned Union"
do for [block=0:5] {
  set title word(titles, block%3+1)
  plot data index block using 1:2:3 with image notitle, \
       data index block using 1:2:(sprintf("%.2f", $3)) with labels notitle
}
unset multiplot
