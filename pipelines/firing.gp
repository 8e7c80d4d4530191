# firing.gp — the watermark detector's firing m = σ(w·x − b) on the 2×2
# feature cells of one test image per class, clean (bottom row) and
# watermarked (top row); red marks where it fires.
# gnuplot -e "data='firing.dat'; output='firing.png'" firing.gp
set terminal pngcairo size 600,420 font ",10"
set output output
set title "Watermark detector: clean images (bottom), watermarked (top)"
unset xtics
unset ytics
unset border
set size ratio -1
plot data using 1:2:3:4:5 with rgbimage notitle
