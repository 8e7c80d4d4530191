# figure3.gp — the paper's Figure 3: cosine of each method's encoding
# directions with the true s_i (mean over concepts, with min–max bars).
# gnuplot -e "data='figure3.tsv'; output='figure3.png'" figure3.gp
set terminal pngcairo size 800,450 font ",11"
set output output
set title "Cosine with the true encoding directions (synthetic experiment)"
set ylabel "cosine"
set yrange [-1:1.05]
set xzeroaxis
set style fill solid 0.6 border -1
set boxwidth 0.6
set grid ytics
set xtics rotate by -30
plot data using 0:2:xtic(1) with boxes notitle lc rgb "#4477aa", \
     '' using 0:2:3:4 with yerrorbars notitle lc rgb "black" pt -1
