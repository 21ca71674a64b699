set title "Round-trip latency p99 vs concurrent connections (64 B)\n{/*0.8 AMD EPYC, 2 CPUs, Linux 6.18.44-fc-v657, 2026-11-23 14:54 UTC}"
set xlabel "connections"
set ylabel "p99 round trip (us)"
set grid
set key inside top left box opaque
set border 3
set tics nomirror
set logscale x
set logscale y
set terminal pngcairo size 800,500 font 'sans,10'
set output 'concurrency-latency.png'
plot 'concurrency-latency.dat' index 0 using 1:2:3:4 with yerrorlines lc rgb "#000000" pt 1 ps 1.2 lw 2 title 'blocking', \
     'concurrency-latency.dat' index 1 using 1:2:3:4 with yerrorlines lc rgb "#e69f00" pt 2 ps 1.2 lw 2 title 'spin', \
     'concurrency-latency.dat' index 2 using 1:2:3:4 with yerrorlines lc rgb "#56b4e9" pt 5 ps 1.2 lw 2 title 'select', \
     'concurrency-latency.dat' index 3 using 1:2:3:4 with yerrorlines lc rgb "#009e73" pt 7 ps 1.2 lw 2 title 'poll', \
     'concurrency-latency.dat' index 4 using 1:2:3:4 with yerrorlines lc rgb "#0072b2" pt 9 ps 1.2 lw 2 title 'epoll', \
     'concurrency-latency.dat' index 5 using 1:2:3:4 with yerrorlines lc rgb "#d55e00" pt 11 ps 1.2 lw 2 title 'threads', \
     'concurrency-latency.dat' index 6 using 1:2:3:4 with yerrorlines lc rgb "#cc79a7" pt 13 ps 1.2 lw 2 title 'fork'
set terminal svg size 800,500 font 'sans,10' dynamic
set output 'concurrency-latency.svg'
replot
