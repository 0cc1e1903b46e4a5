# SPDX-License-Identifier: MIT
# The echo benchmark's plot, made by run.sh:
#   gnuplot -e "datafile='echo.dat'; outfile='echo.png'; n=6; t1='epoll'; ..." echo.gp
# echo.dat has one block per server (gnuplot's `index`), rows of
# "server conns runs rt_per_s p50_us p99_us cpu_us_per_rt ...": left, the
# server's CPU time per round trip; right, round trips per second; both
# against the number of connections on a log axis.
set terminal pngcairo size 1280,520 font ",10"
set output outfile
set multiplot layout 1, 2 title "Echo server, 64-byte ping-pong on loopback, server pinned to one core"
set logscale x
set xrange [0.7:14000]
set xtics ("1" 1, "10" 10, "100" 100, "1,000" 1000, "10,000" 10000)
set xlabel "connections"
set grid
set key top right
set yrange [0:*]
set ylabel "server CPU µs per round trip"
set title "CPU per round trip (lower is better)"
plot for [i = 1:n] datafile index (i - 1) using 2:7 with linespoints \
    lw 2 pt 7 title value(sprintf("t%d", i))
set ylabel "round trips per second"
set title "Throughput (higher is better)"
set format y "%.0s%c"
set key top right
plot for [i = 1:n] datafile index (i - 1) using 2:4 with linespoints \
    lw 2 pt 7 title value(sprintf("t%d", i))
unset multiplot
