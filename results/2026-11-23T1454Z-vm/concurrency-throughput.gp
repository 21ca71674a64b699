set title "Echo throughput vs concurrent connections (64 B, one message in flight each)\n{/*0.8 AMD EPYC, 2 CPUs, Linux 6.18.44-fc-v657, 2026-11-23 14:54 UTC}"
set xlabel "connections"
set ylabel "messages/s (median, min-max)"
set grid
set key inside top right box opaque
set border 3
set tics nomirror
set logscale x
set logscale y
set terminal pngcairo size 800,500 font 'sans,10'
set output 'concurrency-throughput.png'
plot 'concurrency-throughput.dat' index 0 using 1:2:3:4 with yerrorlines lc rgb "#000000" pt 1 ps 1.2 lw 2 title 'blocking (1 client served)', \
     'concurrency-throughput.dat' index 1 using 1:2:3:4 with yerrorlines lc rgb "#e69f00" pt 2 ps 1.2 lw 2 title 'spin', \
     'concurrency-throughput.dat' index 2 using 1:2:3:4 with yerrorlines lc rgb "#56b4e9" pt 5 ps 1.2 lw 2 title 'select', \
     'concurrency-throughput.dat' index 3 using 1:2:3:4 with yerrorlines lc rgb "#009e73" pt 7 ps 1.2 lw 2 title 'poll', \
     'concurrency-throughput.dat' index 4 using 1:2:3:4 with yerrorlines lc rgb "#0072b2" pt 9 ps 1.2 lw 2 title 'epoll', \
     'concurrency-throughput.dat' index 5 using 1:2:3:4 with yerrorlines lc rgb "#d55e00" pt 11 ps 1.2 lw 2 title 'threads', \
     'concurrency-throughput.dat' index 6 using 1:2:3:4 with yerrorlines lc rgb "#cc79a7" pt 13 ps 1.2 lw 2 title 'fork'
set terminal svg size 800,500 font 'sans,10' dynamic
set output 'concurrency-throughput.svg'
replot
